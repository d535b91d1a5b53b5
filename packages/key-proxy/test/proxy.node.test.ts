// The key proxy and its fetch client against a real proxy process: round trips through the core, tenant
import { readFileSync } from 'node:fs'
import { request } from 'node:http'
// isolation, every bad-credential case, bad bodies, bad EDEKs, key states, rotation, rekey, batches,
// coalescing; each refusal with its code and an audit line.
import { decrypt, decryptToString, encrypt, type KeyProvider, readHeader, replaceEdeks } from '@envelope/core'
import { createKeyProxyClient, type KeyProxyClient } from '@envelope/fetch-client'
import * as protocol from '@envelope/fetch-client/protocol'
import { compactDecrypt, exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { answerOf } from './harness/http.ts'
import { codeOf, hashKey, type RunningProxy, startProxy } from './proxy-process.ts'

const KEYS = {
  acme: 'acme-service-key',
  acmeNext: 'acme-service-key-2',
  globex: 'globex-service-key',
  both: 'migration-key',
}
const ISSUER = 'https://id.example.test'
const AUDIENCE = 'envelope-proxy'
let proxy: RunningProxy
let signing: CryptoKey
let otherSigning: CryptoKey

async function token(
  claims: Record<string, unknown> = {},
  options: { key?: CryptoKey; exp?: string | number; aud?: string; iss?: string } = {},
) {
  return new SignJWT({ tenant: 'acme', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: 'test' })
    .setSubject('user-1')
    .setIssuer(options.iss ?? ISSUER)
    .setAudience(options.aud ?? AUDIENCE)
    .setExpirationTime(options.exp ?? '5m')
    .sign(options.key ?? signing)
}

const TENANT_OF: Record<string, string> = {
  [KEYS.acme]: 'acme',
  [KEYS.acmeNext]: 'acme',
  [KEYS.globex]: 'globex',
}
const client = (apiKey: string, extra: Partial<Parameters<typeof createKeyProxyClient>[0]> = {}): KeyProxyClient =>
  createKeyProxyClient({ baseUrl: proxy.url, apiKey, tenant: TENANT_OF[apiKey], retries: 0, ...extra })

const last = (action: string) =>
  proxy
    .auditLines()
    .filter((l) => l.action === action)
    .at(-1)

beforeAll(async () => {
  const pair = await generateKeyPair('ES256')
  signing = pair.privateKey
  otherSigning = (await generateKeyPair('ES256')).privateKey
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'test', alg: 'ES256' }
  proxy = await startProxy({
    tenants: ['acme', 'globex'],
    minDeletionDays: 0,
    apiKeys: [
      { id: 'acme-svc', sha256: await hashKey(KEYS.acme), tenants: ['acme'] },
      { id: 'acme-svc-next', sha256: await hashKey(KEYS.acmeNext), tenants: ['acme'] },
      { id: 'globex-svc', sha256: await hashKey(KEYS.globex), tenants: ['globex'] },
      { id: 'migration', sha256: await hashKey(KEYS.both), tenants: ['acme', 'globex'] },
    ],
    jwt: {
      jwks: { keys: [jwk] },
      issuer: ISSUER,
      audience: AUDIENCE,
      tenantClaim: 'tenant',
      algorithms: ['ES256'],
      keyAdminRole: 'key-admin',
    },
  })
})

afterAll(async () => {
  await proxy?.stop()
})

describe('data keys', () => {
  test('a message sealed with a proxy DEK opens through the proxy; DEKs are non-extractable', async () => {
    const provider = client(KEYS.acme)
    const context = { tenant: 'acme', doc: 'r1' }
    const message = await encrypt('hello through the proxy', { provider, context })
    const h = readHeader(message)
    expect(h.edeks[0]).toMatchObject({ providerId: 'envelope-local-kms', keyId: 'acme/default', keyVersion: '1' })
    expect(await decryptToString(message, { provider: client(KEYS.acme), expectedContext: context })).toBe(
      'hello through the proxy',
    )
    const dek = await provider.unwrapDataKey(h.edeks, context)
    expect(dek.extractable).toBe(false)
    expect(dek.algorithm.name).toBe('HKDF')
    expect(last('generate')).toMatchObject({
      tenant: 'acme',
      keyId: 'acme/default',
      keyVersion: '1',
      caller: 'apikey:acme-svc',
      outcome: 'ok',
    })
    expect(last('unwrap')).toMatchObject({ outcome: 'ok', contextHash: expect.any(String) })
    // The audit log holds no key material or credentials.
    const log = JSON.stringify(proxy.auditLines())
    expect(log).not.toContain(KEYS.acme)
    expect(log).not.toContain(Buffer.from(h.edeks[0]!.ciphertext).toString())
  })

  test('the EDEK is a compact JWE naming its key and version, bound to the context', async () => {
    const message = await encrypt('x', { provider: client(KEYS.acme), context: { a: '1' } })
    const jwe = Buffer.from(readHeader(message).edeks[0]!.ciphertext).toString()
    expect(jwe.split('.')).toHaveLength(5)
    const header = JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString())
    expect(header).toMatchObject({ alg: 'A256GCMKW', enc: 'A256GCM', kid: 'acme/default#1', ctx: expect.any(String) })
    // Same EDEK, another context: refused by the proxy before anything is unwrapped.
    expect(await codeOf(client(KEYS.acme).unwrapDataKey(readHeader(message).edeks, { a: '2' }))).toBe(
      'ERR_EDEK_CONTEXT_MISMATCH',
    )
  })

  test('disaster recovery: the CMK from keys.json and any JOSE library recover the DEK, without the proxy', async () => {
    const message = await encrypt('recover me', { provider: client(KEYS.acme), context: { doc: 'dr' } })
    const edek = readHeader(message).edeks[0]!
    const jwe = Buffer.from(edek.ciphertext).toString()
    const kid = JSON.parse(Buffer.from(jwe.split('.')[0]!, 'base64url').toString()).kid as string // acme/default#1
    const [, tenant, keyName, version] = /^([^/]+)\/([^#]+)#(\d+)$/.exec(kid)!
    // docs/key-proxy-api.md, "Disaster recovery": unseal the version's key with the root key...
    const keys = JSON.parse(readFileSync(`${proxy.dataDir}/keys.json`, 'utf8'))
    const sealed = Buffer.from(keys.records['local-key'][`${tenant}/${keyName}`].versions[version!].sealed, 'base64url')
    const root = Buffer.from(readFileSync(`${proxy.dataDir}/root.key`, 'utf8').trim(), 'base64url')
    const rootKey = await crypto.subtle.importKey('raw', root, 'AES-GCM', false, ['decrypt'])
    const aad = new TextEncoder().encode(`envelope-local-kms/1 ${kid}`)
    const cmk = new Uint8Array(
      await crypto.subtle.decrypt(
        { name: 'AES-GCM', iv: sealed.subarray(0, 12), additionalData: aad },
        rootKey,
        sealed.subarray(12),
      ),
    )
    // ...then any JOSE library opens the EDEK, and the core's key commitment confirms it is the message's DEK.
    const { plaintext: dekBytes } = await compactDecrypt(jwe, cmk)
    expect(dekBytes).toHaveLength(32)
    const dek = await crypto.subtle.importKey('raw', new Uint8Array(dekBytes), 'HKDF', false, [
      'deriveKey',
      'deriveBits',
    ])
    const offline: KeyProvider = { ...client(KEYS.acme), unwrapDataKey: async () => dek }
    await proxy.stop()
    try {
      expect(await decryptToString(message, { provider: offline })).toBe('recover me')
    } finally {
      await proxy.restart()
    }
  })

  test('a tenant never touches another tenant’s keys', async () => {
    const message = await encrypt('acme only', { provider: client(KEYS.acme), context: { t: 'acme' } })
    expect(await codeOf(decrypt(message, { provider: client(KEYS.globex) }))).toBe('ERR_TENANT_FORBIDDEN')
    expect(last('unwrap')).toMatchObject({
      tenant: 'globex',
      caller: 'apikey:globex-svc',
      outcome: 'ERR_TENANT_FORBIDDEN',
    })
    expect(await codeOf(client(KEYS.acme, { tenant: 'globex' }).generateDataKey({}))).toBe('ERR_TENANT_FORBIDDEN')
    const globexUser = createKeyProxyClient({
      baseUrl: proxy.url,
      retries: 0,
      getToken: () => token({ tenant: 'globex' }),
    })
    expect(await codeOf(decrypt(message, { provider: globexUser }))).toBe('ERR_TENANT_FORBIDDEN')
  })

  test('batch unwrap answers per item: one bad EDEK does not fail the others', async () => {
    const provider = client(KEYS.acme, { batchWindowMs: 20 })
    const good = readHeader(await encrypt('a', { provider, context: { n: '1' } })).edeks
    const other = readHeader(await encrypt('b', { provider, context: { n: '2' } })).edeks
    const results = await provider.unwrapDataKeys([
      { edeks: good, context: { n: '1' } },
      { edeks: other, context: { n: 'wrong' } },
      {
        edeks: [{ ...good[0]!, ciphertext: new TextEncoder().encode('garbage') as Uint8Array<ArrayBuffer> }],
        context: {},
      },
      { edeks: other, context: { n: '2' } },
    ])
    expect(results.map((r) => (r.ok ? 'ok' : r.error.code))).toEqual([
      'ok',
      'ERR_EDEK_CONTEXT_MISMATCH',
      'ERR_EDEK_INVALID',
      'ok',
    ])
  })

  test('concurrent unwraps of one EDEK make one proxy unwrap; unwraps in one window make one request', async () => {
    let requests = 0
    const counting: typeof fetch = (input, init) => {
      requests++
      return fetch(input, init)
    }
    const provider = client(KEYS.acme, { fetch: counting, batchWindowMs: 20 })
    const m1 = readHeader(await encrypt('1', { provider: client(KEYS.acme), context: {} })).edeks
    const m2 = readHeader(await encrypt('2', { provider: client(KEYS.acme), context: {} })).edeks
    const before = proxy.auditLines().filter((l) => l.action === 'unwrap').length
    await Promise.all([
      ...Array.from({ length: 10 }, () => provider.unwrapDataKey(m1, {})),
      provider.unwrapDataKey(m2, {}),
    ])
    expect(requests).toBe(1)
    expect(proxy.auditLines().filter((l) => l.action === 'unwrap').length - before).toBe(2)
  })
})

describe('batches and health', () => {
  test('batch-generate makes one DEK per item, each bound to its own context', async () => {
    const { privateKey, publicJwk } = await protocol.generateDeliveryKeyPair()
    const nonce = protocol.newNonce()
    const r = await fetch(`${proxy.url}/v1/keys/batch-generate`, {
      method: 'POST',
      headers: { authorization: `ApiKey ${KEYS.acme}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        items: [{ context: { n: '1' } }, { context: { n: 2 } }, { context: { n: '3' } }],
        clientKey: publicJwk,
        nonce,
      }),
    })
    const body = (await r.json()) as protocol.BatchGenerateResponseJson
    expect(body.results.map((x) => (x.ok ? 'ok' : x.error.code))).toEqual(['ok', 'ERR_BAD_REQUEST', 'ok'])
    const kek = await protocol.openDelivery(body, privateKey)
    for (const [i, n] of [
      [0, '1'],
      [2, '3'],
    ] as const) {
      const item = body.results[i] as { edek: protocol.EdekJson; wrappedDek: string }
      const edek = protocol.edekFromJson(item.edek)!
      const binding = { nonce: protocol.readNonce(nonce)!, tenant: 'acme', edek, context: { n } }
      const dek = await protocol.unwrapDelivered(item, kek, binding)
      expect(dek.extractable).toBe(false)
      // Bound to its own item: the same DEK does not open as another item's.
      await expect(protocol.unwrapDelivered(item, kek, { ...binding, context: { n: '2' } })).rejects.toThrow()
      const unwrapped = await client(KEYS.acme).unwrapDataKey([edek], { n })
      expect(unwrapped.algorithm.name).toBe('HKDF')
    }
  })

  test('health and readiness answer without credentials', async () => {
    expect(await (await fetch(`${proxy.url}/v1/health`)).json()).toEqual({ status: 'ok' })
    expect(await (await fetch(`${proxy.url}/v1/ready`)).json()).toEqual({ status: 'ready' })
  })

  test('two API keys of one tenant work at once, so a key can be rotated without downtime', async () => {
    const m = await encrypt('old key', { provider: client(KEYS.acme), context: {} })
    expect(await decryptToString(m, { provider: client(KEYS.acmeNext) })).toBe('old key')
    expect(last('unwrap')).toMatchObject({ caller: 'apikey:acme-svc-next', outcome: 'ok' })
  })
})

describe('authentication', () => {
  const raw = (authorization?: string, body: unknown = { context: {}, clientKey: {} }) =>
    fetch(`${proxy.url}/v1/keys/generate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body: JSON.stringify(body),
    }).then(async (r) => ({ status: r.status, code: ((await r.json()) as { error?: { code?: string } }).error?.code }))

  test('a valid end-user JWT works for its own tenant', async () => {
    const provider = createKeyProxyClient({ baseUrl: proxy.url, retries: 0, getToken: () => token() })
    const m = await encrypt('user data', { provider, context: { tenant: 'acme' } })
    expect(await decryptToString(m, { provider })).toBe('user data')
    expect(last('generate')).toMatchObject({ caller: 'jwt:user-1', tenant: 'acme' })
  })

  test('each bad credential gets its own code, and an audit line', async () => {
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ tenant: 'acme', iss: ISSUER, aud: AUDIENCE, exp: 9e9 })).toString('base64url')}.`
    const cases: [string | undefined, string, number][] = [
      [undefined, 'ERR_UNAUTHENTICATED', 401],
      ['Basic abc', 'ERR_UNAUTHENTICATED', 401],
      ['ApiKey not-a-key', 'ERR_API_KEY_UNKNOWN', 401],
      [`Bearer ${none}`, 'ERR_TOKEN_ALG_UNSUPPORTED', 401],
      [`Bearer ${await token({}, { exp: Math.floor(Date.now() / 1000) - 60 })}`, 'ERR_TOKEN_EXPIRED', 401],
      [`Bearer ${await token({}, { aud: 'someone-else' })}`, 'ERR_TOKEN_AUDIENCE', 401],
      [`Bearer ${await token({}, { iss: 'https://evil.test' })}`, 'ERR_TOKEN_ISSUER', 401],
      [`Bearer ${await token({}, { key: otherSigning })}`, 'ERR_TOKEN_SIGNATURE', 401],
      [`Bearer ${await token({ tenant: undefined })}`, 'ERR_TOKEN_NO_TENANT', 401],
      ['Bearer not.a.jwt', 'ERR_TOKEN_INVALID', 401],
      [`Bearer ${await token({ tenant: 'globex' })}`, 'ERR_TENANT_FORBIDDEN', 403],
    ]
    for (const [authorization, code, status] of cases) {
      // A JWT names its tenant itself: asking for another one is refused.
      const body = code === 'ERR_TENANT_FORBIDDEN' ? { context: {}, clientKey: {}, tenant: 'acme' } : undefined
      const r = await raw(authorization, body)
      expect({ authorization: authorization?.slice(0, 12), ...r }).toEqual({
        authorization: authorization?.slice(0, 12),
        status,
        code,
      })
      expect(last('generate')).toMatchObject({ outcome: code })
    }
  })

  test('a 401 makes the client refresh its token once, then succeed', async () => {
    let calls = 0
    const provider = createKeyProxyClient({
      baseUrl: proxy.url,
      retries: 0,
      getToken: async ({ refresh }) => {
        calls++
        return refresh ? token() : token({}, { exp: Math.floor(Date.now() / 1000) - 60 })
      },
    })
    await provider.generateDataKey({})
    expect(calls).toBe(2)
  })
})

/** Sends only the headers of a 2 MiB request: the proxy must refuse on Content-Length, before reading a byte. */
function announceHugeBody(path: string): Promise<{ status: number; code?: string }> {
  const req = request(`${proxy.url}${path}`, {
    method: 'POST',
    headers: {
      authorization: `ApiKey ${KEYS.acme}`,
      'content-type': 'application/json',
      'content-length': String(2 << 20),
    },
  })
  const answer = answerOf(req)
  req.flushHeaders()
  return answer
}

/**
 * Streams a body without a length (chunked), past the 1 MiB limit, a chunk at a time: the proxy must count it as
 * it comes and refuse once past the limit (the Content-Length shortcut does not apply).
 */
function streamHugeBody(path: string): Promise<{ status: number; code?: string }> {
  const req = request(`${proxy.url}${path}`, {
    method: 'POST',
    headers: { authorization: `ApiKey ${KEYS.acme}`, 'content-type': 'application/json' },
  })
  const answer = answerOf(req)
  let answered = false
  req.once('response', () => {
    answered = true
  })
  const chunk = `{"pad":"${'x'.repeat(64 << 10)}`
  let sent = 0
  const more = () => {
    while (!answered && sent < 40) {
      sent++
      if (!req.write(chunk)) return void req.once('drain', more)
    }
    if (!answered) req.end('"}')
  }
  more()
  return answer
}

describe('bad requests', () => {
  const post = (path: string, body: BodyInit, apiKey = KEYS.acme) =>
    fetch(`${proxy.url}/v1${path}`, {
      method: 'POST',
      headers: { authorization: `ApiKey ${apiKey}`, 'content-type': 'application/json' },
      body,
    }).then(async (r) => ({ status: r.status, code: ((await r.json()) as { error?: { code?: string } }).error?.code }))

  test('malformed, oversized and out-of-range bodies are refused with their codes, each with an audit line', async () => {
    const seen = proxy.auditLines().length
    expect(await post('/keys/generate', '{not json')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST' })
    expect(await post('/keys/generate', '[]')).toEqual({ status: 400, code: 'ERR_BAD_REQUEST' })
    expect(await post('/keys/generate', JSON.stringify({ context: { a: 1 }, clientKey: {} }))).toEqual({
      status: 400,
      code: 'ERR_BAD_REQUEST',
    })
    expect(await post('/keys/generate', JSON.stringify({ context: {}, clientKey: { kty: 'EC' } }))).toEqual({
      status: 400,
      code: 'ERR_BAD_REQUEST',
    })
    expect(await announceHugeBody('/v1/keys/generate')).toEqual({ status: 413, code: 'ERR_BODY_TOO_LARGE' })
    expect(await streamHugeBody('/v1/keys/generate')).toEqual({ status: 413, code: 'ERR_BODY_TOO_LARGE' })
    const items = Array.from({ length: 1001 }, () => ({ edeks: [], context: {} }))
    const { publicJwk } = await import('@envelope/fetch-client').then((m) => m.protocol.generateDeliveryKeyPair())
    expect(await post('/keys/batch-unwrap', JSON.stringify({ items, clientKey: publicJwk }))).toEqual({
      status: 413,
      code: 'ERR_BATCH_TOO_LARGE',
    })
    expect(await post('/keys/nowhere', '{}')).toEqual({ status: 404, code: 'ERR_NOT_FOUND' })
    const lines = proxy.auditLines().slice(seen)
    const outcomes = lines.map((l) => `${l.action}:${l.outcome}`)
    expect(outcomes.filter((o) => o === 'generate:ERR_BAD_REQUEST')).toHaveLength(4)
    expect(outcomes.filter((o) => o === 'generate:ERR_BODY_TOO_LARGE')).toHaveLength(2)
    expect(outcomes).toContain('unwrap:ERR_BATCH_TOO_LARGE')
    expect(lines.find((l) => l.outcome === 'ERR_BAD_REQUEST')).toMatchObject({ caller: 'apikey:acme-svc' })
    expect(outcomes.some((o) => o.includes('ERR_NOT_FOUND'))).toBe(false) // an unknown route is not a key use
  })

  test('unknown and garbled EDEKs are refused with ERR_EDEK_INVALID', async () => {
    const provider = client(KEYS.acme)
    const edek = readHeader(await encrypt('x', { provider })).edeks[0]!
    const jwe = Buffer.from(edek.ciphertext).toString()
    const variants = [
      { ...edek, providerId: 'someone-else' },
      { ...edek, ciphertext: new Uint8Array([0xff, 0xfe]) },
      { ...edek, ciphertext: new TextEncoder().encode(`${jwe.slice(0, -4)}AAAA`) },
      { ...edek, keyVersion: '9' },
      { ...edek, ciphertext: new TextEncoder().encode(jwe.replace('.', '..')) },
      // A leading U+FEFF is not stripped: the same JWE behind other bytes is another, invalid, EDEK.
      { ...edek, ciphertext: new TextEncoder().encode(`\uFEFF${jwe}`) },
    ]
    for (const v of variants) {
      expect(await codeOf(provider.unwrapDataKey([v as typeof edek], {}))).toBe('ERR_EDEK_INVALID')
    }
    expect(last('unwrap')).toMatchObject({ outcome: 'ERR_EDEK_INVALID' })
  })
})

describe('key administration', () => {
  test('rotation: old EDEKs still open, new DEKs use the new version', async () => {
    const provider = client(KEYS.globex)
    const before = await encrypt('v1 data', { provider, context: {} })
    const r = proxy.admin('rotate', 'globex')
    expect(r.status).toBe(0)
    expect(JSON.parse(r.stdout)).toMatchObject({ primaryVersion: 2, versions: [1, 2] })
    const after = await encrypt('v2 data', { provider, context: {} })
    expect(readHeader(after).edeks[0]!.keyVersion).toBe('2')
    expect(await decryptToString(before, { provider })).toBe('v1 data')
    expect(await decryptToString(after, { provider })).toBe('v2 data')
    expect(last('admin.rotate')).toMatchObject({ tenant: 'globex', caller: 'admin:local-admin', outcome: 'ok' })
  })

  test('rekey: to the newest version, and across tenants, without the DEK leaving the proxy', async () => {
    const migration = client(KEYS.both, { tenant: 'acme' })
    const message = await encrypt('moving house', { provider: client(KEYS.acme), context: { doc: 'm' } })
    const edeks = readHeader(message).edeks
    const toGlobex = await migration.rekey(edeks, { doc: 'm' }, { toTenant: 'globex' })
    expect(toGlobex).toMatchObject({ keyId: 'globex/default' })
    const moved = replaceEdeks(message, [toGlobex])
    expect(await decryptToString(moved, { provider: client(KEYS.globex) })).toBe('moving house')
    expect(await codeOf(decrypt(moved, { provider: client(KEYS.acme) }))).toBe('ERR_TENANT_FORBIDDEN')
    expect(last('rekey')).toMatchObject({ tenant: 'acme', toTenant: 'globex', outcome: 'ok' })
    // A single-tenant credential cannot move data to another tenant.
    expect(await codeOf(client(KEYS.acme).rekey(edeks, { doc: 'm' }, { toTenant: 'globex' }))).toBe(
      'ERR_TENANT_FORBIDDEN',
    )
  })

  test('a message with EDEKs for two tenants opens for each, through its own EDEK', async () => {
    const message = await encrypt('shared', { provider: client(KEYS.acme), context: { doc: 'two' } })
    const acmeEdek = readHeader(message).edeks[0]!
    const globexEdek = await client(KEYS.both, { tenant: 'acme' }).rekey(
      [acmeEdek],
      { doc: 'two' },
      { toTenant: 'globex' },
    )
    const both = replaceEdeks(message, [acmeEdek, globexEdek])
    expect(await decryptToString(both, { provider: client(KEYS.globex) })).toBe('shared')
    expect(await decryptToString(both, { provider: client(KEYS.acme) })).toBe('shared')
    expect(last('unwrap')).toMatchObject({ tenant: 'acme', keyId: 'acme/default', outcome: 'ok' })
  })

  test('disable, enable, schedule deletion, cancel, and shred: each state refuses or allows as it should', async () => {
    const admin = (...a: string[]) => proxy.admin(...a)
    expect(admin('create', 'initech').status).toBe(0)
    const provider = createKeyProxyClient({
      baseUrl: proxy.url,
      retries: 0,
      getToken: () => token({ tenant: 'initech' }),
    })
    const m = await encrypt('initech secret', { provider, context: {} })
    expect(admin('disable', 'initech').status).toBe(0)
    expect(
      await codeOf(
        decrypt(m, {
          provider: createKeyProxyClient({
            baseUrl: proxy.url,
            retries: 0,
            getToken: () => token({ tenant: 'initech' }),
          }),
        }),
      ),
    ).toBe('ERR_KEY_DISABLED')
    expect(last('unwrap')).toMatchObject({ outcome: 'ERR_KEY_DISABLED' })
    expect(admin('enable', 'initech').status).toBe(0)
    const fresh = () =>
      createKeyProxyClient({ baseUrl: proxy.url, retries: 0, getToken: () => token({ tenant: 'initech' }) })
    expect(await decryptToString(m, { provider: fresh() })).toBe('initech secret')
    expect(admin('schedule-deletion', 'initech', '--days', '30').status).toBe(0)
    expect(await codeOf(decrypt(m, { provider: fresh() }))).toBe('ERR_KEY_PENDING_DELETION')
    expect(admin('cancel-deletion', 'initech').status).toBe(0)
    expect(JSON.parse(admin('describe', 'initech').stdout)).toMatchObject({ state: 'disabled' })
    expect(admin('enable', 'initech').status).toBe(0)
    expect(await decryptToString(m, { provider: fresh() })).toBe('initech secret')
    // Shred: a zero-day waiting period is allowed by this test configuration (minDeletionDays: 0).
    expect(admin('schedule-deletion', 'initech', '--days', '0').status).toBe(0)
    const destroyed = admin('destroy', 'initech')
    expect(destroyed.status).toBe(0)
    expect(JSON.parse(destroyed.stdout)).toMatchObject({ state: 'destroyed' })
    expect(await codeOf(decrypt(m, { provider: fresh() }))).toBe('ERR_KEY_DESTROYED')
    expect(await codeOf(encrypt('more', { provider: fresh() }))).toBe('ERR_KEY_DESTROYED')
    expect(
      JSON.stringify(
        JSON.parse(readFileSync(`${proxy.dataDir}/keys.json`, 'utf8')).records['local-key']['initech/default'],
      ),
    ).not.toContain('sealed')
  })

  test('admin routes need an admin key; the CLI explains itself', async () => {
    const r = await fetch(`${proxy.url}/v1/admin/tenants/acme/keys/default/rotate`, {
      method: 'POST',
      headers: { authorization: `ApiKey ${KEYS.acme}` },
    })
    expect(r.status).toBe(403)
    // A service key is a key user (its default scopes): the role is refused, not the tenant.
    expect(((await r.json()) as { error: { code: string } }).error.code).toBe('ERR_ROLE_FORBIDDEN')
    expect(proxy.admin('--help').stdout).toContain('schedule-deletion')
    expect(proxy.admin('rotate', 'nobody').status).toBe(1)
    expect(proxy.admin('rotate', 'nobody').stderr).toContain('ERR_KEY_NOT_FOUND')
  })

  test('a key-admin JWT administers its own tenant’s key only, and never creates keys', async () => {
    const call = async (path: string, claims: Record<string, unknown>, method = 'POST') => {
      const r = await fetch(`${proxy.url}/v1/admin/tenants/${path}`, {
        method,
        headers: { authorization: `Bearer ${await token(claims)}` },
      })
      const body = (await r.json()) as { state?: string; primaryVersion?: number; error?: { code: string } }
      return { status: r.status, code: body.error?.code, body }
    }
    const admin = { tenant: 'acme', roles: ['key-admin'] }
    expect(await call('acme/keys/default/rotate', { tenant: 'acme' })).toMatchObject({
      status: 403,
      code: 'ERR_ROLE_FORBIDDEN',
    })
    expect(await call('acme/keys/default/rotate', { tenant: 'acme', roles: 'reader key-admins' })).toMatchObject({
      code: 'ERR_ROLE_FORBIDDEN',
    })
    expect(await call('globex/keys/default/disable', admin)).toMatchObject({
      status: 403,
      code: 'ERR_TENANT_FORBIDDEN',
    })
    expect(last('admin.disable')).toMatchObject({
      tenant: 'globex',
      caller: 'jwt:user-1',
      outcome: 'ERR_TENANT_FORBIDDEN',
    })
    expect(await call('acme/keys/second/create', admin)).toMatchObject({ status: 403, code: 'ERR_ADMIN_REQUIRED' })
    expect(JSON.parse(proxy.admin('describe', 'globex').stdout)).toMatchObject({ state: 'enabled' })

    const before = await call('acme/keys/default', admin, 'GET')
    expect(before.status).toBe(200)
    const rotated = await call('acme/keys/default/rotate', { tenant: 'acme', roles: 'reader key-admin' })
    expect(rotated.status).toBe(200)
    expect(JSON.stringify(rotated.body)).not.toBe(JSON.stringify(before.body))
    expect(last('admin.rotate')).toMatchObject({ tenant: 'acme', caller: 'jwt:user-1', outcome: 'ok' })
    expect((await call('acme/keys/default/disable', admin)).body).toMatchObject({ state: 'disabled' })
    expect((await call('acme/keys/default/enable', admin)).body).toMatchObject({ state: 'enabled' })
  })
})
