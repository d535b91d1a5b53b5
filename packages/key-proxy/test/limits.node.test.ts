// Resource bounds of the key proxy, each against a real process on loopback: credentials are checked before a
// byte of the body is read; stalled connections are cut by the header and request timeouts; the connection cap
// holds; every audit field is bounded; the context-hash memo is bounded by bytes.

import { readdirSync } from 'node:fs'
import { request } from 'node:http'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { contextHash } from '../src/kms/edek-jwe.ts'
import { NAME_PATTERN } from '../src/names.ts'
import { answerOf } from './harness/http.ts'
import { hashKey, type RunningProxy, startProxy } from './proxy-process.ts'

const API_KEY = 'limits-key'
let proxy: RunningProxy
let signing: CryptoKey

beforeAll(async () => {
  const pair = await generateKeyPair('ES256')
  signing = pair.privateKey
  proxy = await startProxy({
    tenants: ['acme'],
    headersTimeoutMs: 1000,
    requestTimeoutMs: 1500,
    apiKeys: [{ id: 'limits', sha256: await hashKey(API_KEY), tenants: ['*'] }],
    jwt: {
      jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k', alg: 'ES256' }] },
      issuer: 'https://id.test',
      audience: 'envelope',
    },
  })
})
afterAll(() => proxy?.stop())

const POST_ROUTES = [
  ...['generate', 'batch-generate', 'unwrap', 'batch-unwrap', 'rekey'].map((r) => `/v1/keys/${r}`),
  ...['create', 'rotate', 'disable', 'enable', 'schedule-deletion', 'cancel-deletion', 'destroy'].map(
    (a) => `/v1/admin/tenants/acme/keys/default/${a}`,
  ),
]

/**
 * Sends the headers and the first bytes of a body that never comes (chunked, or shorter than its Content-Length)
 * and resolves with the answer that arrives meanwhile.
 */
function stalledBody(path: string, framing: 'chunked' | 'content-length', authorization?: string) {
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (authorization) headers.authorization = authorization
  if (framing === 'content-length') headers['content-length'] = '1000'
  const req = request(`${proxy.url}${path}`, { method: 'POST', headers })
  const answer = answerOf(req)
  req.write('{"context":') // and nothing more
  return answer
}

describe('credentials before the body', () => {
  test('every POST route answers a request without valid credentials while its body is still unsent', async () => {
    for (const path of POST_ROUTES) {
      for (const framing of ['chunked', 'content-length'] as const) {
        expect({ path, framing, ...(await stalledBody(path, framing)) }).toEqual({
          path,
          framing,
          status: 401,
          code: 'ERR_UNAUTHENTICATED',
        })
        expect({ path, framing, ...(await stalledBody(path, framing, 'ApiKey wrong')) }).toMatchObject({
          status: 401,
          code: 'ERR_API_KEY_UNKNOWN',
        })
      }
    }
    // A data-key credential (a key user) on an admin route is refused as early.
    expect(await stalledBody(POST_ROUTES.at(-3)!, 'chunked', `ApiKey ${API_KEY}`)).toEqual({
      status: 403,
      code: 'ERR_ROLE_FORBIDDEN',
    })
  }, 20_000)
})

/** Opens a raw connection, sends `text`, and resolves `closed` with everything the server sent once it closes. */
async function rawConnection(text: string): Promise<{ socket: Socket; closed: Promise<string> }> {
  const { hostname, port } = new URL(proxy.url)
  const socket = connect(Number(port), hostname)
  let received = ''
  socket.on('data', (d) => {
    received += d
  })
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(received)))
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('connect', resolve))
  socket.write(text)
  return { socket, closed }
}

describe('stalled connections', () => {
  test('headers that never end: the connection is cut at headersTimeoutMs', async () => {
    const { closed } = await rawConnection(
      `POST /v1/keys/generate HTTP/1.1\r\nHost: ${new URL(proxy.url).host}\r\nX-Slow: `,
    )
    const answer = await closed
    expect(answer === '' || answer.startsWith('HTTP/1.1 408')).toBe(true)
  }, 20_000)

  test('an authenticated body that never ends: the request is cut at requestTimeoutMs', async () => {
    const { closed } = await rawConnection(
      `POST /v1/keys/generate HTTP/1.1\r\nHost: ${new URL(proxy.url).host}\r\nAuthorization: ApiKey ${API_KEY}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"context":',
    )
    expect(await closed).toMatch(/^HTTP\/1\.1 408/)
  }, 20_000)

  test('past maxConnections a new connection is dropped; once one closes, requests are served again', async () => {
    // One process: the cap is per serving process (with --workers, each worker's; test/server/cluster.node.test.ts).
    const capped = await startProxy({
      workers: 0,
      maxConnections: 4,
      headersTimeoutMs: 30_000,
      requestTimeoutMs: 30_000,
    })
    const held: Socket[] = []
    try {
      const { hostname, port } = new URL(capped.url)
      for (let i = 0; i < 4; i++) {
        const s = connect(Number(port), hostname)
        s.on('error', () => {})
        await new Promise((resolve) => s.once('connect', resolve))
        s.write(`GET /v1/health HTTP/1.1\r\nHost: ${new URL(proxy.url).host}\r\n`) // headers never finished
        held.push(s)
      }
      // One more: closed at once, without an answer (a raw socket: fetch would retry a dropped connection).
      const extra = connect(Number(port), hostname)
      let answer = ''
      extra.on('data', (d) => {
        answer += d
      })
      extra.on('error', () => {})
      extra.write(`GET /v1/health HTTP/1.1\r\nHost: ${new URL(proxy.url).host}\r\n\r\n`)
      await new Promise((resolve) => extra.once('close', resolve))
      expect(answer).toBe('')
      for (const s of held) s.destroy()
      // The proxy sees the closes at once; a few tries at most until it has.
      let status = 0
      for (let i = 0; i < 50 && status !== 200; i++)
        status = await fetch(`${capped.url}/v1/health`).then(
          (r) => r.status,
          () => 0,
        )
      expect(status).toBe(200)
    } finally {
      for (const s of held) s.destroy()
      await capped.stop()
    }
  }, 30_000)
})

describe('audit lines are bounded', () => {
  const post = (path: string, body: unknown, authorization = `ApiKey ${API_KEY}`) =>
    fetch(`${proxy.url}/v1/keys/${path}`, {
      method: 'POST',
      headers: { authorization, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then((r) => r.status)

  test('a huge requested tenant, JWT subject, EDEK key id or version leaves a short line', async () => {
    const seen = proxy.auditLines().length
    const huge = 'x'.repeat(200_000)
    expect(await post('generate', { context: {}, tenant: huge })).toBe(400)
    expect(await post('rekey', { edeks: [], context: {}, tenant: 'acme', toTenant: huge })).toBe(400)
    const edek = { providerId: 'envelope-local-kms', keyId: `acme/${huge}`, keyVersion: huge, ciphertext: 'AAAA' }
    expect(await post('rekey', { edeks: [edek], context: {}, tenant: 'acme' })).toBe(400)
    const token = await new SignJWT({ tenant: 'acme' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k' })
      .setSubject('s'.repeat(6000))
      .setIssuer('https://id.test')
      .setAudience('envelope')
      .setExpirationTime('5m')
      .sign(signing)
    expect(await post('generate', { context: {}, tenant: 'globex' }, `Bearer ${token}`)).toBe(403)
    const lines = proxy.auditLines().slice(seen)
    expect(lines).toHaveLength(4)
    for (const line of lines) {
      expect(JSON.stringify(line).length).toBeLessThan(1024)
      for (const value of Object.values(line))
        if (typeof value === 'string') expect(value.length).toBeLessThanOrEqual(128)
    }
    expect(lines.at(-1)).toMatchObject({ caller: expect.stringMatching(/^jwt:s+…$/), outcome: 'ERR_TENANT_FORBIDDEN' })
    // A requested tenant that is no name makes no tenant log (it once made the proxy refuse everything after).
    expect(readdirSync(join(proxy.dataDir, 'audit')).every((name) => NAME_PATTERN.test(name))).toBe(true)
    expect(await post('generate', { context: {}, tenant: 'acme' })).toBe(400) // served (no nonce), not 503
  })
})

test('the context-hash memo is bounded by bytes: hashing many large contexts keeps no copy of them', async () => {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  gc()
  const before = process.memoryUsage().heapUsed
  const filler = 'v'.repeat(60_000)
  for (let i = 0; i < 1000; i++) await contextHash({ doc: `${i}`, filler })
  gc()
  // 1000 contexts of 60 kB: a memo keeping their encodings would hold 60 MB or more.
  expect(process.memoryUsage().heapUsed - before).toBeLessThan(16 << 20)
})
