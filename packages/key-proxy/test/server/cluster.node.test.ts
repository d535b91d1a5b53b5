// `--workers 2`: two worker processes on one port and one data folder, as one instance. Every connection goes to
// one worker or the other; admin writes from both at once lose nothing; an acknowledged rotation is what every
// worker uses from then on; a worker killed is started again while the other keeps answering.
import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { verifyExport } from '../../src/audit/chain.ts'
import { workerExecArgv } from '../../src/server/cluster.ts'
import { fetchPerConnection } from '../harness/fetch-per-connection.ts'
import { admin, send } from '../harness/http.ts'
import { type Instance, startInstance, workerPids } from '../harness/instance.ts'
import { hashKey } from '../proxy-process.ts'

const API_KEY = 'cluster-test-key'
let instance: Instance

beforeAll(async () => {
  instance = await startInstance({
    workers: 2,
    config: {
      tenants: ['w'],
      apiKeys: [{ id: 'w', sha256: await hashKey(API_KEY), tenants: ['w'] }],
    },
  })
})
afterAll(() => instance?.stop())

const client = () =>
  createKeyProxyClient({ baseUrl: instance.url, apiKey: API_KEY, tenant: 'w', fetch: fetchPerConnection, retries: 0 })

/** Workers that answered request lines with this request-id prefix. */
const workersOf = (prefix: string) =>
  new Set(
    instance
      .logs()
      .filter((l) => l.msg === 'request' && String(l.requestId).startsWith(prefix))
      .map((l) => l.worker),
  )

describe('--workers 2', () => {
  test('both workers serve the one port', async () => {
    for (let i = 0; i < 16; i++) {
      const r = await send(`${instance.url}/v1/health`, { headers: { 'x-request-id': `spread-${i}` } })
      expect(r.status).toBe(200)
    }
    await instance.waitFor((l) => l.requestId === 'spread-15')
    expect(workersOf('spread-').size).toBe(2)
  })

  test('the workers run with a larger young generation, unless the operator chose one', () => {
    for (const pid of workerPids(instance)) {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      expect(argv).toEqual(expect.arrayContaining(['--min-semi-space-size=32', '--max-semi-space-size=32']))
    }
    expect(workerExecArgv(['--max-semi-space-size=8'], '')).toEqual(['--max-semi-space-size=8'])
    expect(workerExecArgv([], '--max-semi-space-size=64')).toEqual([])
    expect(workerExecArgv(['--enable-source-maps'], '')).toEqual([
      '--enable-source-maps',
      '--min-semi-space-size=32',
      '--max-semi-space-size=32',
    ])
  })

  test('rotations, disables and enables from both workers at once: no acknowledged change is lost', async () => {
    const before = (await admin(instance.url, instance.adminKey, 'w')).json<{ versions: number[] }>()
    const actions = Array.from({ length: 30 }, (_, i) => (i % 6 === 2 ? 'disable' : i % 6 === 5 ? 'enable' : 'rotate'))
    const replies = await Promise.all(actions.map((a) => admin(instance.url, instance.adminKey, 'w', a)))
    const rotated = replies.filter((r, i) => actions[i] === 'rotate' && r.status === 200).length
    expect(rotated).toBeGreaterThan(0)
    // Every reply is a success or a refusal of the state at that moment (a rotation while disabled).
    for (const r of replies) expect([200, 409]).toContain(r.status)
    await admin(instance.url, instance.adminKey, 'w', 'enable')
    const after = (await admin(instance.url, instance.adminKey, 'w')).json<{
      versions: number[]
      primaryVersion: number
    }>()
    expect(after.versions.length).toBe(before.versions.length + rotated)
    expect(after.primaryVersion).toBe(Math.max(...after.versions))
    // The file says the same as the instance.
    const file = JSON.parse(readFileSync(join(instance.dataDir, 'keys.json'), 'utf8'))
    expect(Object.keys(file.records['local-key']['w/default'].versions).length).toBe(after.versions.length)
  })

  test('once a rotation is acknowledged, every worker makes data keys with the new version', async () => {
    for (let round = 0; round < 3; round++) {
      const r = await admin(instance.url, instance.adminKey, 'w', 'rotate')
      expect(r.status).toBe(200)
      const primary = String(r.json<{ primaryVersion: number }>().primaryVersion)
      const c = client()
      const made = await Promise.all(
        Array.from({ length: 6 }, (_, i) => c.generateDataKey({ round: String(round), i: String(i) })),
      )
      for (const m of made) expect(m.edeks[0]!.keyVersion).toBe(primary)
    }
  })

  test("both workers' key uses land in the tenant's one chain, written by the primary; the export verifies", async () => {
    const since = instance.logs().length
    const c = client()
    await Promise.all(Array.from({ length: 40 }, (_, i) => c.generateDataKey({ chain: String(i) })))
    const served = new Set(
      instance
        .logs()
        .slice(since)
        .filter((l) => l.msg === 'request' && l.route === '/v1/keys/generate')
        .map((l) => l.worker),
    )
    expect(served.size).toBe(2) // both workers wrote lines of the tenant
    const r = await fetch(`${instance.url}/v1/admin/tenants/w/audit?format=ndjson`, {
      headers: { authorization: `ApiKey ${instance.adminKey}` },
    })
    expect(r.status).toBe(200)
    const exported = await r.text()
    const publicJwk = await (await fetch(`${instance.url}/v1/audit/signing-key`)).json()
    const report = verifyExport(exported, publicJwk)
    expect(report).toMatchObject({ ok: true })
    const lines = exported
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .filter((l) => l.type !== 'checkpoint')
    expect(lines.map((l) => l.seq)).toEqual(Array.from({ length: lines.length }, (_, i) => i + 1))
    expect(lines.filter((l) => l.action === 'generate' && l.outcome === 'ok').length).toBeGreaterThanOrEqual(40)
  })

  test('a worker killed is started again; the other answers meanwhile', async () => {
    const [victim] = workerPids(instance)
    expect(victim).toBeGreaterThan(0)
    const since = instance.logs().length
    process.kill(victim!, 'SIGKILL')
    await instance.waitFor((l) => l.msg === 'worker stopped: starting another', 'the restart', since)
    // Connections made while it is gone go to the other worker.
    for (let i = 0; i < 8; i++) expect((await send(`${instance.url}/v1/health`)).status).toBe(200)
    await instance.waitFor((l) => l.msg === 'worker serving', 'the new worker', since)
    expect(workerPids(instance)).toHaveLength(2)
    expect(workerPids(instance)).not.toContain(victim)
    const data = await client().generateDataKey({ after: 'restart' })
    expect(data.edeks).toHaveLength(1)
  })
})

test('in a worker, maxConnections holds: a connection past it is closed at once, unanswered', async () => {
  // (Node's own maxConnections would hand it back to the primary, which offers it again, without end.)
  const capped = await startInstance({
    workers: 1,
    config: { maxConnections: 2, headersTimeoutMs: 30_000, requestTimeoutMs: 30_000 },
  })
  const { port } = new URL(capped.url)
  const open = (request: string) => {
    const s = connect(Number(port), '127.0.0.1')
    let answer = ''
    s.on('data', (d) => {
      answer += d
    })
    s.on('error', () => {})
    const closed = new Promise<string>((resolve) => s.once('close', () => resolve(answer)))
    return new Promise<{ s: Socket; closed: Promise<string> }>((resolve) =>
      s.once('connect', () => {
        s.write(request)
        resolve({ s, closed })
      }),
    )
  }
  const held = [await open('GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n'), await open('GET /v1/health HTTP/1.1\r\n')]
  try {
    const extra = await open('GET /v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
    expect(await extra.closed).toBe('')
    for (const h of held) h.s.destroy()
    await Promise.all(held.map((h) => h.closed))
    let status = 0
    for (let i = 0; i < 50 && status !== 200; i++)
      status = (await send(`${capped.url}/v1/health`).catch(() => ({ status: 0 }))).status
    expect(status).toBe(200)
  } finally {
    for (const h of held) h.s.destroy()
    await capped.stop()
  }
})
