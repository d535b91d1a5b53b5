// The demo's own services (identity: scripts/demo-identity.mjs, storage: scripts/demo-storage.mjs) for real on
// loopback, fed malformed requests as raw bytes: odd request targets (`//`, `*`, absolute URLs, `/\host`, dot
// segments, prototype names), methods, Host and Authorization headers, lengths and bodies (cut off, chunked
// wrong, conflicting). Each answer is a refusal or an answer, never a 5xx, and after every one the service still
// answers a good request. A Host other than the service's own loopback name and port is refused (DNS rebinding).
import { mkdtempSync, rmSync } from 'node:fs'
import { connect, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import fc from 'fast-check'
import { importJWK, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
// @ts-expect-error: a plain ES module of the demo scripts, without types
import { identityKey, startIdentity } from '../../scripts/demo-identity.mjs'
// @ts-expect-error: a plain ES module of the demo scripts, without types
import { startStorage } from '../../scripts/demo-storage.mjs'

const ISSUER = 'http://127.0.0.1:1'
const AUDIENCE = 'envelope-demo'
let dataDir: string
let identity: Server
let storage: Server
let token: string
let pendingId: string
let storedId: string
const portOf = (server: Server) => (server.address() as { port: number }).port

beforeAll(async () => {
  dataDir = mkdtempSync(`${tmpdir()}/envelope-services-test-`)
  const settings = { host: '127.0.0.1', port: 0, dataDir, origin: 'http://127.0.0.1:2', audience: AUDIENCE }
  identity = await startIdentity({ ...settings, tenants: ['acme', 'globex'], issuer: ISSUER })
  const { privateJwk, publicJwk } = await identityKey(dataDir)
  storage = await startStorage({
    ...settings,
    verifyKey: await importJWK(publicJwk, 'ES256'),
    issuer: ISSUER,
  })
  token = await new SignJWT({ tenant: 'acme' })
    .setProtectedHeader({ alg: 'ES256' })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setExpirationTime('10m')
    .sign(await importJWK(privateJwk, 'ES256'))
  // One upload in progress and one stored submission, so that requests reach every route's code.
  const call = (method: string, path: string, body?: string) =>
    fetch(`http://127.0.0.1:${portOf(storage)}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}` },
      ...(body === undefined ? {} : { body }),
    }).then((r) => r.json() as Promise<{ id: string }>)
  storedId = (await call('POST', '/submissions')).id
  await call('PUT', `/submissions/${storedId}/objects/fields?offset=0`, '{}')
  await call('POST', `/submissions/${storedId}/commit`)
  pendingId = (await call('POST', '/submissions')).id
})
afterAll(() => {
  identity?.close()
  storage?.close()
  rmSync(dataDir, { recursive: true, force: true })
})

/**
 * Writes `bytes` and resolves with the status of the answer as soon as its status line came (then drops the
 * connection), `closed` if the server closed without one, `hung` if it did neither. `cut`: the client goes away
 * after writing.
 */
function rawRequest(port: number, bytes: string, { cut = false } = {}): Promise<number | 'closed' | 'hung'> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let answer = ''
    let hung = false
    const status = () => Number(/^HTTP\/1\.[01] (\d{3}) /.exec(answer)?.[1]) || (hung ? 'hung' : 'closed')
    // Only a failing case waits this long: a server that neither answers nor closes.
    const timer = setTimeout(() => {
      hung = true
      socket.destroy()
    }, 20_000)
    socket.setEncoding('latin1')
    socket.on('data', (d) => {
      answer += d
      if (typeof status() === 'number') socket.destroy()
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      resolve(status())
    })
    if (cut) socket.end(bytes, 'latin1')
    else socket.write(bytes, 'latin1')
  })
}

const stillAnswers = async (name: 'identity' | 'storage') => {
  const r =
    name === 'identity'
      ? await fetch(`http://127.0.0.1:${portOf(identity)}/.well-known/jwks.json`)
      : await fetch(`http://127.0.0.1:${portOf(storage)}/submissions`, {
          headers: { authorization: `Bearer ${token}` },
        })
  await r.arrayBuffer()
  return r.status
}

const methods = ['GET', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', 'TRACE', 'CONNECT', 'get', 'FOO', '']
const fixedTargets = () => [
  '/',
  '//',
  '///',
  '//evil.example/token?tenant=acme&role=admin',
  '/\\evil.example/token?tenant=acme',
  '*',
  'http://evil.example/token?tenant=acme',
  'evil',
  '/token?tenant=acme&role=admin',
  '/token?tenant=__proto__',
  '/token?tenant=constructor&tenant=acme',
  '/token?%zz=%zz&tenant=%E0%A4%A',
  '/.well-known/jwks.json?x#y',
  '/%00',
  '/%',
  `/${'a'.repeat(20_000)}`,
  `/?${'a=1&'.repeat(2000)}`,
  `/submissions/${pendingId}/objects/file-0?offset=1e309`,
  `/submissions/${pendingId}/objects/file-0?offset=NaN`,
  `/submissions/${pendingId}/objects/file-0?offset=0&offset=1`,
  `/submissions/${storedId}/commit`,
  '/tenants/acme/submissions/..%2F..%2F/objects/fields',
  `/tenants/__proto__/submissions/${storedId}/objects/fields`,
  `/tenants/acme/submissions/${storedId}/objects/file-999`,
  `/tenants/acme/submissions/${storedId}/objects/fields/and/more`,
]
const segment = () =>
  fc.constantFrom(
    'submissions',
    'tenants',
    'acme',
    'objects',
    'commit',
    'fields',
    'file-0',
    'token',
    '.well-known',
    'jwks.json',
    '..',
    '.',
    '%2e%2e',
    '',
    '__proto__',
    'constructor',
    pendingId,
    storedId,
  )
const target = () =>
  fc.oneof(
    fc.constantFrom(...fixedTargets()),
    fc
      .tuple(
        fc.array(segment(), { maxLength: 7 }),
        fc.constantFrom('', '?offset=0', '?offset=-5', '?offset=abc', '?tenant=acme', '?offset=0&offset=1'),
      )
      .map(([parts, query]) => `/${parts.join('/')}${query}`),
    fc.string({ maxLength: 40 }).map((s) => `/${encodeURI(s)}`),
  )
/** [headers, body, the client goes away after it] */
const bodies: [string, string, boolean?][] = [
  ['', ''],
  ['content-length: 5\r\n', 'hello'],
  ['content-length: 100\r\n', 'cut off', true],
  ['content-length: 5\r\n', 'he', true],
  ['', '', true],
  ['content-length: 2\r\n', 'hello and more'],
  ['content-length: -1\r\n', 'x'],
  ['content-length: abc\r\n', 'x'],
  ['content-length: 99999999999999999999\r\n', 'x'],
  [`content-length: ${17 * 2 ** 20}\r\n`, 'x'],
  ['content-length: 1\r\ncontent-length: 2\r\n', 'xy'],
  ['transfer-encoding: chunked\r\n', '5\r\nhello\r\n0\r\n\r\n'],
  ['transfer-encoding: chunked\r\n', 'zz\r\nhello\r\n'],
  ['transfer-encoding: chunked\r\n', '5\r\nhel'],
  ['transfer-encoding: chunked\r\ncontent-length: 3\r\n', '3\r\nabc\r\n0\r\n\r\n'],
  ['transfer-encoding: gzip, chunked\r\n', '0\r\n\r\n'],
]
const request = (port: number) =>
  fc.record({
    method: fc.constantFrom(...methods),
    target: target(),
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.1', 'HTTP/1.0', 'HTTP/2.0', 'HTTP/9.9', ''),
    host: fc.constantFrom(
      `host: 127.0.0.1:${port}\r\n`,
      `host: localhost:${port}\r\n`,
      'host: evil.example\r\n',
      `host: 127.0.0.1:${port}\r\nhost: evil.example\r\n`,
      '',
    ),
    auth: fc.constantFrom(
      '',
      `authorization: Bearer ${token}\r\n`,
      `authorization: Bearer ${token}\r\n`,
      'authorization: Bearer\r\n',
      'authorization: Bearer a.b.c\r\n',
      'authorization: Basic YTpi\r\n',
      `authorization: Bearer ${'a'.repeat(9000)}\r\n`,
    ),
    extra: fc.constantFrom(
      '',
      'content-type: application/json\r\n',
      'expect: 100-continue\r\n',
      'connection: upgrade\r\nupgrade: websocket\r\n',
      'x-bad header: 1\r\n',
      `x-big: ${'b'.repeat(20_000)}\r\n`,
    ),
    body: fc.constantFrom(...bodies),
  })

describe.each(['identity', 'storage'] as const)('the demo %s service', (name) => {
  const server = () => (name === 'identity' ? identity : storage)

  test('answers every malformed request with a status below 500, and a good request after each', async () => {
    const port = portOf(server())
    await fc.assert(
      fc.asyncProperty(request(port), async (r) => {
        const head = `${r.method} ${r.target} ${r.version}`.trim()
        const [headers, body, cut] = r.body
        const status = await rawRequest(port, `${head}\r\n${r.host}${r.auth}${r.extra}${headers}\r\n${body}`, { cut })
        // An answer below 500, or the connection closed (CONNECT, an upgrade, the client gone); never a hang.
        if (typeof status === 'number') expect(status).toBeLessThan(500)
        else expect(status === 'closed' || cut).toBe(true)
        expect(await stillAnswers(name)).toBe(200)
      }),
      { numRuns: 500 },
    )
  })

  test('`GET //` and targets naming another host are refused (never resolved as URLs), and the service lives on', async () => {
    const port = portOf(server())
    for (const t of ['//', '//evil.example/token?tenant=acme', '/\\evil.example/token?tenant=acme', '*', 'http://x/']) {
      const status = await rawRequest(
        port,
        `GET ${t} HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: Bearer ${token}\r\n\r\n`,
      )
      expect([400, 404], t).toContain(status)
      expect(await stillAnswers(name)).toBe(200)
    }
  })

  test('a Host other than its own loopback name and port is refused (DNS rebinding)', async () => {
    const port = portOf(server())
    const path = name === 'identity' ? '/token?tenant=acme&role=admin' : '/submissions'
    const withHost = (host: string) =>
      rawRequest(
        port,
        `GET ${path} HTTP/1.1\r\n${host ? `host: ${host}\r\n` : ''}authorization: Bearer ${token}\r\nconnection: close\r\n\r\n`,
      )
    for (const host of ['evil.example', `evil.example:${port}`, `127.0.0.1:${port + 1}`, `127.0.0.1.evil:${port}`]) {
      expect(await withHost(host), host).toBe(403)
    }
    const http10 = await rawRequest(port, `GET ${path} HTTP/1.0\r\nauthorization: Bearer ${token}\r\n\r\n`)
    expect(http10, 'no Host at all').toBe(403)
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`]) {
      expect(await withHost(host), host).toBe(200)
    }
  })
})
