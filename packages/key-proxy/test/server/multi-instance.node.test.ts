// Three proxy instances on loopback sharing one PostgreSQL keystore (a real server of the test's own), one of
// them with two workers: admin writes from all three at once lose nothing; a rotation, a disable or a destroy
// on one is what the others use next; behind a real nginx, kill -9 of one instance under load, and every client
// request completes through the others with no acknowledged write lost.
import { decryptToString, encrypt } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { admin, send } from '../harness/http.ts'
import { type Instance, startInstance } from '../harness/instance.ts'
import { NGINX_UPSTREAM_HOST, type RunningNginx, startNginx } from '../harness/nginx.ts'
import { type RunningPostgres, startPostgres } from '../harness/postgres.ts'
import { codeOf, hashKey } from '../proxy-process.ts'

const API_KEY = 'multi-instance-key'
const ADMIN_KEY = 'multi-instance-admin-key' // one operator credential for the three
const ROOT_KEY = 'IiEgHx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAM' // the same for the three: one keystore, one root key
let pg: RunningPostgres
let instances: Instance[] = []

beforeAll(async () => {
  pg = await startPostgres()
  const config = {
    rootKey: ROOT_KEY,
    allowedHosts: [NGINX_UPSTREAM_HOST],
    tenants: ['mi', 'gone'],
    minDeletionDays: 0,
    apiKeys: [{ id: 'mi', sha256: await hashKey(API_KEY), tenants: ['*'] }],
    adminKeys: [{ id: 'ops', sha256: await hashKey(ADMIN_KEY) }],
    keystore: { url: pg.url, pollMs: 100 },
  }
  instances = await Promise.all([
    startInstance({ workers: 1, config }),
    startInstance({ workers: 1, config }),
    startInstance({ workers: 2, config }),
  ])
})
afterAll(async () => {
  await Promise.all(instances.map((i) => i.stop()))
  await pg?.stop()
})

const clientOf = (url: string | string[], tenant = 'mi', retries?: number) =>
  createKeyProxyClient({ baseUrl: url, apiKey: API_KEY, tenant, batchWindowMs: 0, retries })
type Info = { state: string; primaryVersion: number; versions: number[] }
const describeOn = async (i: Instance, tenant = 'mi') => (await admin(i.url, ADMIN_KEY, tenant)).json<Info>()

/** Asks `check` until it holds, at most `tries` times, 20 ms apart: a bounded wait for another instance. */
async function eventually(check: () => Promise<boolean>, tries = 300): Promise<boolean> {
  for (let i = 0; i < tries; i++) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 20))
  }
  return false
}

describe('three instances on one PostgreSQL keystore', () => {
  test('admin writes from the three at once: every acknowledged rotation is kept, every instance agrees', async () => {
    const before = await describeOn(instances[0]!)
    const actions = Array.from({ length: 36 }, (_, i) => (i % 9 === 4 ? 'disable' : i % 9 === 8 ? 'enable' : 'rotate'))
    const replies = await Promise.all(
      actions.map((a, i) => {
        const on = instances[i % 3]!
        return admin(on.url, ADMIN_KEY, 'mi', a)
      }),
    )
    for (const r of replies) expect([200, 409]).toContain(r.status) // 409: a rotation while disabled
    const rotated = replies.filter((r, i) => actions[i] === 'rotate' && r.status === 200).length
    expect(rotated).toBeGreaterThan(0)
    await admin(instances[0]!.url, ADMIN_KEY, 'mi', 'enable')
    const after = await describeOn(instances[0]!)
    expect(after.versions).toHaveLength(before.versions.length + rotated)
    for (const i of instances) {
      expect(await eventually(async () => (await describeOn(i)).versions.length === after.versions.length)).toBe(true)
    }
  })

  test('a rotation on one is what the others make data keys with next, and old data still opens everywhere', async () => {
    const sealed = await encrypt('before the rotation', { provider: clientOf(instances[1]!.url), context: { n: '1' } })
    const r = await admin(instances[0]!.url, ADMIN_KEY, 'mi', 'rotate')
    const version = String(r.json<Info>().primaryVersion)
    for (const other of instances.slice(1)) {
      const c = clientOf(other.url)
      expect(await eventually(async () => (await c.generateDataKey({})).edeks[0]!.keyVersion === version)).toBe(true)
      // From then on, never an older one (it applied the change; it does not flip back).
      for (let i = 0; i < 5; i++) expect((await c.generateDataKey({})).edeks[0]!.keyVersion).toBe(version)
      expect(await decryptToString(sealed, { provider: c, expectedContext: { n: '1' } })).toBe('before the rotation')
    }
  })

  test('a disable on one is refused by every instance; a destroy on one leaves no instance able to open the data', async () => {
    const sealed = await encrypt('to be shredded', { provider: clientOf(instances[2]!.url, 'gone'), context: {} })
    const [a, b, c] = instances as [Instance, Instance, Instance]
    expect((await admin(b.url, ADMIN_KEY, 'gone', 'disable')).status).toBe(200)
    for (const i of [a, c]) {
      const refusedHere = async () => (await codeOf(clientOf(i.url, 'gone').generateDataKey({}))) === 'ERR_KEY_DISABLED'
      expect(await eventually(refusedHere)).toBe(true)
    }
    expect((await admin(a.url, ADMIN_KEY, 'gone', 'schedule-deletion', { waitingDays: 0 })).status).toBe(200)
    expect((await admin(a.url, ADMIN_KEY, 'gone', 'destroy')).status).toBe(200)
    for (const i of instances) {
      const shredded = async () =>
        (await codeOf(decryptToString(sealed, { provider: clientOf(i.url, 'gone') }))) === 'ERR_KEY_DESTROYED'
      expect(await eventually(shredded)).toBe(true)
    }
  })
})

describe('behind nginx', () => {
  let nginx: RunningNginx | undefined
  afterAll(() => nginx?.stop())

  test('kill -9 of one instance under load: every request completes through the others; no acknowledged write lost', async () => {
    nginx = await startNginx(instances.map((i) => i.url))
    const lb = nginx.url
    const acked: number[] = []
    const failures: unknown[] = []
    let done = 0
    let killed: Promise<void> | undefined
    const victim = instances[1]!
    const work = Array.from({ length: 4 }, async (_, c) => {
      const provider = clientOf(lb, 'mi', 0) // no client retries: nginx moves a request off a dead instance
      for (let r = 0; r < 25; r++) {
        try {
          const context = { c: String(c), r: String(r) }
          const sealed = await encrypt(`client ${c} round ${r}`, { provider, context })
          expect(await decryptToString(sealed, { provider, expectedContext: context })).toBe(`client ${c} round ${r}`)
        } catch (err) {
          failures.push(err)
        }
        if (++done === 30) killed = victim.kill9()
      }
    })
    const rotations = (async () => {
      for (let r = 0; r < 12; r++) {
        const reply = await admin(lb, ADMIN_KEY, 'mi', 'rotate').catch(() => undefined)
        if (reply?.status === 200) acked.push(reply.json<Info>().primaryVersion)
      }
    })()
    await Promise.all([...work, rotations])
    await killed
    expect(failures).toEqual([])
    expect(done).toBe(100)
    expect(acked.length).toBeGreaterThan(0)
    for (const survivor of [instances[0]!, instances[2]!]) {
      const info = await describeOn(survivor)
      for (const v of acked) expect(info.versions).toContain(v)
    }
    expect(nginx.errorLog()).toMatch(/connect\(\) failed|upstream prematurely closed|Connection refused|reset/i)
  })
})

describe('what the instances hold to', () => {
  test('an instance with another root key refuses to start on the keystore (its keys would not open elsewhere)', async () => {
    const other = startInstance({
      workers: 0,
      config: { rootKey: `${ROOT_KEY.slice(0, -2)}AA`, keystore: { url: pg.url } },
    })
    await expect(other).rejects.toThrow(
      /ERR_CONFIG: the keystore postgres:\/\/.* holds keys sealed under another root key/,
    )
  })

  test('the database unreachable: readiness says ERR_KEYSTORE_UNAVAILABLE, and ready again once it is back', async () => {
    const probe = instances[0]!
    const ready = async () => (await send(`${probe.url}/v1/ready`)).json<{ error?: { code: string } }>().error?.code
    pg.halt()
    try {
      expect(await eventually(async () => (await ready()) === 'ERR_KEYSTORE_UNAVAILABLE')).toBe(true)
      // Key use is refused: each tenant's own audit log is in that database too, and no DEK leaves without its
      // line there (ERR_AUDIT_UNAVAILABLE, fail closed), even while the keystore's copy is still fresh.
      const refused = async () =>
        (await codeOf(clientOf(probe.url, 'mi', 0).generateDataKey({}))) === 'ERR_AUDIT_UNAVAILABLE'
      expect(await eventually(refused)).toBe(true)
    } finally {
      pg.resume()
    }
    expect(await eventually(async () => (await ready()) === undefined)).toBe(true)
    expect((await clientOf(probe.url).generateDataKey({})).edeks).toHaveLength(1)
  })
})
