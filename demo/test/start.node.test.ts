// `npm start` (scripts/start.mjs) for real, on free ports and a temporary data folder: malformed requests to every
// port it serves leave every service running (the same processes), a Host that is not the service's own is
// refused, a service killed is started again while the rest keeps running, and stopping it stops them all. The
// data folder starts in the older layout (the proxy's files in proxy/), which must be moved, not lost.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'

const root = fileURLToPath(new URL('../..', import.meta.url))
type Service = 'identity' | 'proxy' | 'storage' | 'demo'
const SERVICES: Service[] = ['identity', 'proxy', 'storage', 'demo']
let dataDir: string
let start: ChildProcess
let log = ''
const ports = {} as Record<Service, number>

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
const pids = () => JSON.parse(readFileSync(`${dataDir}/pids.json`, 'utf8')) as Record<Service | 'start', number>
const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
/** A good request to each service, as the demo makes it: the status it answers. */
const probes: Record<Service, string> = {
  identity: '/.well-known/jwks.json',
  proxy: '/v1/ready',
  storage: '/submissions', // 401 without a token, and an answer all the same
  demo: '/',
}
const probe = (service: Service) =>
  fetch(`http://127.0.0.1:${ports[service]}${probes[service]}`).then(
    async (r) => {
      await r.arrayBuffer()
      return r.status
    },
    () => 0,
  )
const answering = async () => Object.fromEntries(await Promise.all(SERVICES.map(async (s) => [s, await probe(s)])))
const UP = { identity: 200, proxy: 200, storage: 401, demo: 200 }

/** Raw bytes to a port; resolves with the status the server answered (0 if it closed without one). */
const raw = (port: number, bytes: string) =>
  new Promise<number>((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let status = 0
    socket.on('data', (d) => {
      status = Number(/^HTTP\/1\.[01] (\d{3}) /.exec(String(d))?.[1] ?? 0)
      socket.destroy()
    })
    socket.on('error', () => {})
    socket.on('close', () => resolve(status))
    socket.write(bytes, 'latin1')
  })

const oldRootKey = Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64url')
const oldAuditLine = '{"action":"from the older layout"}'

beforeAll(async () => {
  dataDir = mkdtempSync(`${tmpdir()}/envelope-start-test-`)
  mkdirSync(`${dataDir}/proxy`)
  writeFileSync(`${dataDir}/proxy/root.key`, `${oldRootKey}\n`, { mode: 0o600 })
  writeFileSync(`${dataDir}/proxy/audit.log`, `${oldAuditLine}\n`, { mode: 0o600 })
  for (const s of SERVICES) ports[s] = await freePort()
  start = spawn(
    process.execPath,
    [
      'scripts/start.mjs',
      '--data',
      dataDir,
      '--proxy-port',
      String(ports.proxy),
      '--identity-port',
      String(ports.identity),
      '--storage-port',
      String(ports.storage),
      '--demo-port',
      String(ports.demo),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  start.stdout!.on('data', (d) => {
    log += d
  })
  start.stderr!.on('data', (d) => {
    log += d
  })
  // Polled (expect.poll works only inside a test): the stack is up when every service answers.
  for (let tries = 0; JSON.stringify(await answering()) !== JSON.stringify(UP); tries++) {
    if (tries > 250 || start.exitCode !== null) throw new Error(`npm start did not come up:\n${log}`)
    await new Promise((r) => setTimeout(r, 200))
  }
}, 60_000)
afterAll(async () => {
  if (start.exitCode === null) {
    const exited = new Promise((resolve) => start.once('exit', resolve))
    start.kill('SIGTERM')
    await exited
  }
  rmSync(dataDir, { recursive: true, force: true })
})

describe('npm start', () => {
  test('the key proxy’s files of the older layout (proxy/) are moved to the data folder’s top, not lost', () => {
    expect(readFileSync(`${dataDir}/root.key`, 'utf8').trim()).toBe(oldRootKey)
    expect(readFileSync(`${dataDir}/audit.log`, 'utf8').split('\n')[0]).toBe(oldAuditLine)
    expect(existsSync(`${dataDir}/proxy`)).toBe(false)
    expect(JSON.parse(readFileSync(`${dataDir}/keys.json`, 'utf8')).records['local-key']).toHaveProperty([
      'acme/default',
    ])
    expect(existsSync(`${dataDir}/admin.key`)).toBe(true)
  })

  test('malformed requests to every port it serves leave every service running, the same processes', async () => {
    const before = pids()
    const targets = ['//', '///x', '//evil.example/token?tenant=acme', '/\\evil/x', '*', 'http://evil.example/', '/%']
    for (const service of SERVICES) {
      const port = ports[service]
      const host = `host: 127.0.0.1:${port}\r\n`
      const requests = [
        ...targets.map((t) => `GET ${t} HTTP/1.1\r\n${host}\r\n`),
        ...targets.map((t) => `OPTIONS ${t} HTTP/1.1\r\n${host}\r\n`),
        `GET / HTTP/1.1\r\n${host}authorization: Bearer a.b.c\r\n\r\n`,
        `POST /token HTTP/1.1\r\n${host}content-length: 10\r\n\r\nabc`,
        `PUT /submissions/x/objects/fields?offset=0 HTTP/1.1\r\n${host}transfer-encoding: chunked\r\n\r\nzz\r\n`,
        `GET / HTTP/1.0\r\n\r\n`,
        `BREW / HTTP/1.1\r\n${host}\r\n`,
        `GET / HTTP/1.1\r\nhost: evil.example\r\n\r\n`,
        `\r\n\r\nGET // HTTP/1.1\r\n${host}\r\n`,
        'GET\r\n\r\n',
      ]
      for (const r of requests) await raw(port, r)
    }
    expect(await answering()).toEqual(UP)
    expect(pids()).toEqual(before)
    expect(alive(start.pid!)).toBe(true)
    expect(log).not.toMatch(/exited \(/)
  })

  test('a Host other than the service’s own is refused (DNS rebinding)', async () => {
    for (const service of ['identity', 'storage', 'demo'] as const) {
      const port = ports[service]
      const get = (host: string) => raw(port, `GET ${probes[service]} HTTP/1.1\r\nhost: ${host}\r\n\r\n`)
      expect(await get(`evil.example:${port}`), service).toBe(403)
      expect(await get(`127.0.0.1:${port}`), service).toBe(UP[service])
    }
    expect(await raw(ports.identity, 'GET /token?tenant=acme&role=admin HTTP/1.1\r\nhost: evil.example\r\n\r\n')).toBe(
      403,
    )
  })

  test('a service killed is started again with the others left running; the proxy answers again', async () => {
    for (const service of ['proxy', 'identity', 'storage'] as const) {
      const before = pids()
      process.kill(before[service], 'SIGKILL')
      await expect.poll(() => pids()[service], { timeout: 20_000 }).not.toBe(before[service])
      await expect.poll(answering, { timeout: 20_000, interval: 100 }).toEqual(UP)
      expect({ ...pids(), [service]: 0 }).toEqual({ ...before, [service]: 0 })
    }
    expect(alive(start.pid!)).toBe(true)
    expect(log).toMatch(/proxy exited \(SIGKILL\); restarting it in \d+ ms/)
  })

  test('stopping it stops every service', async () => {
    const running = pids()
    const exited = new Promise((resolve) => start.once('exit', resolve))
    start.kill('SIGTERM')
    expect(await exited).toBe(0)
    for (const service of SERVICES) expect(alive(running[service]), service).toBe(false)
  })
})
