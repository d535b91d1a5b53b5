// Identity: the JWKS of a real identity provider on loopback going down and coming back (negative caching, a
// bounded stale period, a distinct retryable code), JWT `typ` and maximum token age, and the client key of DEK
// delivery checked before anything is cached for it.
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { generateDeliveryKeyPair } from '@envelope/fetch-client/protocol'
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { createAuthenticator } from '../src/auth.ts'
import { resolveConfig } from '../src/config.ts'
import { codeOf, hashKey, type RunningProxy, startProxy } from './proxy-process.ts'

const ISSUER = 'https://id.test'
const AUDIENCE = 'envelope'
let idp: Server
let idpUrl: string
let idpUp = true
let jwksFetches = 0
let signing: CryptoKey
let jwk: JWK
const running: RunningProxy[] = []

beforeAll(async () => {
  const pair = await generateKeyPair('ES256')
  signing = pair.privateKey
  jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }
  idp = createServer((_req, res) => {
    jwksFetches++
    if (!idpUp) {
      res.writeHead(503)
      return res.end()
    }
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify({ keys: [jwk] }))
  })
  idp.listen(0, '127.0.0.1')
  await once(idp, 'listening')
  idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks.json`
})
afterAll(async () => {
  for (const p of running) await p.stop()
  idp?.close()
})

/** A token valid at `nowMs` (by default the real clock). */
function token(options: { nowMs?: number; kid?: string; typ?: string; iatAgoS?: number; noIat?: boolean } = {}) {
  const now = Math.floor((options.nowMs ?? Date.now()) / 1000)
  const t = new SignJWT({ tenant: 'acme' })
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? 'k1', ...(options.typ ? { typ: options.typ } : {}) })
    .setSubject('u')
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setExpirationTime(now + 300)
  if (!options.noIat) t.setIssuedAt(now - (options.iatAgoS ?? 0))
  return t.sign(signing)
}

describe('JWKS while the identity provider is down', () => {
  test('a proxy that never got the JWKS answers 503 ERR_JWKS_UNAVAILABLE, fetching it once; junk never fetches', async () => {
    idpUp = false
    // One process: each serving process keeps its own JWKS (with --workers, one fetch per worker).
    const proxy = await startProxy({
      workers: 0,
      tenants: ['acme'],
      jwt: { jwksUrl: idpUrl, issuer: ISSUER, audience: AUDIENCE },
    })
    running.push(proxy)
    const { publicJwk } = await generateDeliveryKeyPair()
    const generate = async (authorization: string) => {
      const r = await fetch(`${proxy.url}/v1/keys/generate`, {
        method: 'POST',
        headers: { authorization, 'content-type': 'application/json' },
        body: JSON.stringify({ context: {}, clientKey: publicJwk, nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }),
      })
      return { status: r.status, code: ((await r.json()) as { error?: { code: string } }).error?.code }
    }
    jwksFetches = 0
    expect(await generate('Bearer not.a.jwt')).toEqual({ status: 401, code: 'ERR_TOKEN_INVALID' })
    expect(jwksFetches).toBe(0)
    for (let i = 0; i < 20; i++) {
      expect(await generate(`Bearer ${await token({ kid: i % 2 ? 'k1' : `junk-${i}` })}`)).toEqual({
        status: 503,
        code: 'ERR_JWKS_UNAVAILABLE',
      })
    }
    expect(jwksFetches).toBe(1)
    idpUp = true
  })

  test('the last good JWKS serves for jwksMaxStaleMs past its age, fetches are spaced by jwksRetryMs', async () => {
    let clock = Date.parse('2026-06-01T00:00:00Z')
    const authenticate = createAuthenticator(
      {
        jwt: {
          jwksUrl: idpUrl,
          issuer: ISSUER,
          audience: AUDIENCE,
          jwksMaxAgeMs: 600_000,
          jwksMaxStaleMs: 3_600_000,
          jwksRetryMs: 30_000,
        },
      },
      { now: () => clock },
    )
    const use = async () => codeOf(authenticate(`Bearer ${await token({ nowMs: clock })}`))
    idpUp = true
    jwksFetches = 0
    expect(await use()).toBeUndefined()
    expect(jwksFetches).toBe(1)
    expect(await use()).toBeUndefined()
    expect(jwksFetches).toBe(1) // fresh: no fetch

    idpUp = false
    clock += 11 * 60_000 // past jwksMaxAgeMs: a fetch is tried, fails, the last good set still serves
    for (let i = 0; i < 10; i++) expect(await use()).toBeUndefined()
    expect(jwksFetches).toBe(2) // one failed fetch, then none for jwksRetryMs
    clock += 31_000
    expect(await use()).toBeUndefined()
    expect(jwksFetches).toBe(3)

    clock += 60 * 60_000 // past jwksMaxAgeMs + jwksMaxStaleMs: refused, with the retryable code
    expect(await use()).toBe('ERR_JWKS_UNAVAILABLE')
    expect(await use()).toBe('ERR_JWKS_UNAVAILABLE')
    expect(jwksFetches).toBe(4)

    idpUp = true
    clock += 31_000 // the next try succeeds
    expect(await use()).toBeUndefined()
    expect(jwksFetches).toBe(5)

    // A token naming a key the set lacks refetches the set at most once per jwksRetryMs.
    clock += 31_000
    for (let i = 0; i < 10; i++) {
      expect(await codeOf(authenticate(`Bearer ${await token({ nowMs: clock, kid: `unknown-${i}` })}`))).toBe(
        'ERR_TOKEN_SIGNATURE',
      )
    }
    expect(jwksFetches).toBe(6)
  })
})

describe('JWT type and age', () => {
  test('jwt.typ and jwt.maxTokenAgeSeconds are enforced, each with its code', async () => {
    const proxy = await startProxy({
      tenants: ['acme'],
      jwt: { jwks: { keys: [jwk] }, issuer: ISSUER, audience: AUDIENCE, typ: 'at+jwt', maxTokenAgeSeconds: 600 },
    })
    running.push(proxy)
    const { publicJwk } = await generateDeliveryKeyPair()
    const generate = async (jwt: string) => {
      const r = await fetch(`${proxy.url}/v1/keys/generate`, {
        method: 'POST',
        headers: { authorization: `Bearer ${jwt}`, 'content-type': 'application/json' },
        body: JSON.stringify({ context: {}, clientKey: publicJwk, nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }),
      })
      return { status: r.status, code: ((await r.json()) as { error?: { code: string } }).error?.code }
    }
    expect(await generate(await token({ typ: 'at+jwt' }))).toEqual({ status: 200, code: undefined })
    expect(await generate(await token({ typ: 'application/at+jwt' }))).toEqual({ status: 200, code: undefined })
    expect(await generate(await token())).toEqual({ status: 401, code: 'ERR_TOKEN_TYPE' })
    expect(await generate(await token({ typ: 'JWT' }))).toEqual({ status: 401, code: 'ERR_TOKEN_TYPE' })
    expect(await generate(await token({ typ: 'at+jwt', iatAgoS: 3600 }))).toEqual({
      status: 401,
      code: 'ERR_TOKEN_EXPIRED',
    })
    expect(await generate(await token({ typ: 'at+jwt', noIat: true }))).toEqual({
      status: 401,
      code: 'ERR_TOKEN_INVALID',
    })
    const jwt = { jwks: { keys: [jwk] }, issuer: ISSUER, audience: AUDIENCE }
    expect(() => resolveConfig({ jwt: { ...jwt, typ: '' } }, {})).toThrow(/"jwt.typ"/)
    expect(() => resolveConfig({ jwt: { ...jwt, maxTokenAgeSeconds: 0 } }, {})).toThrow(/"jwt.maxTokenAgeSeconds"/)
    expect(() => resolveConfig({ jwt: { ...jwt, jwksRetryMs: -1 } }, {})).toThrow(/"jwt.jwksRetryMs"/)
  })
})

test('a client key is checked before anything is cached for it: a malformed key with known x, y is refused', async () => {
  const apiKey = 'client-key-check'
  const proxy = await startProxy({
    tenants: ['acme'],
    apiKeys: [{ id: 'c', sha256: await hashKey(apiKey), tenants: ['acme'] }],
  })
  running.push(proxy)
  const { publicJwk } = await generateDeliveryKeyPair()
  const generate = async (clientKey: unknown) => {
    const r = await fetch(`${proxy.url}/v1/keys/generate`, {
      method: 'POST',
      headers: { authorization: `ApiKey ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ context: {}, clientKey, nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }),
    })
    return { status: r.status, code: ((await r.json()) as { error?: { code: string } }).error?.code }
  }
  expect(await generate(publicJwk)).toEqual({ status: 200, code: undefined })
  for (const bad of [
    { ...publicJwk, kty: 'RSA' },
    { ...publicJwk, crv: 'P-384' },
    { ...publicJwk, kty: undefined },
    { ...publicJwk, d: publicJwk.x }, // a private key sent by mistake
    { x: publicJwk.x, y: publicJwk.y },
  ]) {
    expect({ bad, ...(await generate(bad)) }).toEqual({ bad, status: 400, code: 'ERR_BAD_REQUEST' })
  }
  expect(await generate(publicJwk)).toEqual({ status: 200, code: undefined })
})
