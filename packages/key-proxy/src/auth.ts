/**
 * Who is calling, and for which tenant. Services use API keys (`Authorization: ApiKey <key>`), stored only as
 * SHA-256 hashes, each allowed a list of tenants; several may be active at once, for rotation. End users use JWTs
 * (`Authorization: Bearer <jwt>`) verified with jose against the configured JWKS: signature, algorithm allow-list
 * (never `none`), issuer, audience, expiry, and a tenant claim. What a caller may then do is the tenant's key
 * policy's business (src/policy/): roles from a JWT's roles claim or an API key's scopes; admin keys are the
 * operator's.
 * @module
 */
import { createHash } from 'node:crypto'
import { createLocalJWKSet, decodeProtectedHeader, type JWTVerifyGetKey, errors as joseErrors, jwtVerify } from 'jose'
import { ProxyError } from './errors.ts'
import { createRemoteJwks } from './jwks.ts'
import { checkName, isName } from './names.ts'
import type { Role } from './policy/policy.ts'

/**
 * A service API key in the configuration: stored as its SHA-256 only; several may be active at once, for rotation.
 *
 * @example
 * ```ts
 * const key: ApiKeyConfig = { id: 'billing', sha256: await sha256Hex(apiKey), tenants: ['acme'] }
 * // or make one with the CLI: npx envelope-admin new-api-key acme
 * ```
 */
export interface ApiKeyConfig {
  /** A name for the key in audit lines (never the key). */
  readonly id: string
  /** Hex SHA-256 of the key. */
  readonly sha256: string
  /** Tenants it may act for; `["*"]` for all. */
  readonly tenants: readonly string[]
  /**
   * Its roles for those tenants (src/policy/policy.ts): `key-user` (generate, unwrap, rekey), `key-admin`,
   * `auditor`. Default `["key-user"]`, what a service key did before roles existed.
   */
  readonly scopes?: readonly Role[]
}

/**
 * How end-user JWTs are verified (jose): the identity provider's JWKS, issuer, audience, and the claims that name the tenant and roles.
 *
 * @example
 * ```ts
 * const jwt: JwtConfig = {
 *   jwksUrl: 'https://id.example.com/.well-known/jwks.json',
 *   issuer: 'https://id.example.com',
 *   audience: 'envelope',
 *   keyAdminRole: 'key-admin',
 * }
 * ```
 */
export interface JwtConfig {
  /** A JWKS ({ keys: [...] }) held in configuration, or `jwksUrl`. */
  readonly jwks?: { keys: object[] }
  readonly jwksUrl?: string
  readonly issuer: string
  readonly audience: string
  /** Claim naming the tenant. Default `tenant`. */
  readonly tenantClaim?: string
  /** Accepted algorithms. Default `["ES256", "EdDSA", "RS256"]`. */
  readonly algorithms?: readonly string[]
  /**
   * The role-claim value that makes a token's bearer a key administrator of its own tenant in the default key
   * policy (src/policy/policy.ts; a tenant's own policy maps its claim values itself). Unset: in the default
   * policy, JWTs never administer keys.
   */
  readonly keyAdminRole?: string
  /** Claim holding the token's roles (a string array or a space-separated string). Default `roles`. */
  readonly rolesClaim?: string
  /** The `typ` header a token must carry (e.g. `at+jwt`, RFC 9068); unset: any. */
  readonly typ?: string
  /** Oldest token accepted, in seconds since its `iat` (then required); unset: only `exp` counts. */
  readonly maxTokenAgeSeconds?: number
  /** `jwksUrl`: how long a fetched JWKS is fresh. Default 10 minutes. */
  readonly jwksMaxAgeMs?: number
  /** `jwksUrl`: how long past its freshness the last good JWKS serves while fetches fail. Default 1 hour. */
  readonly jwksMaxStaleMs?: number
  /** `jwksUrl`: least time between two fetches of the JWKS (also after a failed one). Default 30 s. */
  readonly jwksRetryMs?: number
}

/**
 * Who may call the proxy: service API keys, admin API keys, end-user JWTs.
 *
 * @example
 * ```ts
 * const auth: AuthConfig = { apiKeys: [billingKey], adminKeys: [{ id: 'ops', sha256: opsKeyHash }], jwt }
 * ```
 */
export interface AuthConfig {
  readonly apiKeys?: readonly ApiKeyConfig[]
  readonly adminKeys?: readonly Omit<ApiKeyConfig, 'tenants'>[]
  readonly jwt?: JwtConfig
}

/** A verified caller. */
export interface Caller {
  /** For audit: `apikey:<id>`, `jwt:<sub>` or `admin:<id>`. */
  readonly id: string
  readonly tenants: readonly string[] | '*'
  /** The operator: an admin API key. */
  readonly admin: boolean
  /** A JWT's role-claim values (the tenant's policy maps them to roles). */
  readonly claimRoles?: readonly string[]
  /** A service API key's roles (its `scopes`). */
  readonly scopes?: readonly Role[]
}

// node:crypto's SHA-256, synchronous: on every API-key request, where a WebCrypto digest was a thread-pool round
// trip that cost a tenth of a single unwrap's CPU.
async function sha256Hex(text: string): Promise<string> {
  return createHash('sha256').update(text, 'utf8').digest('hex')
}

/** Compares hex digests without an early exit. */
function sameHex(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

/** A claim of the token's own (never one inherited from Object.prototype, whatever the claim's name). */
const claim = (payload: object, name: string): unknown =>
  Object.hasOwn(payload, name) ? (payload as Record<string, unknown>)[name] : undefined

/**
 * Verifies `Authorization` headers. `now` (ms since the epoch) is for tests: it drives token times and the JWKS
 * policy.
 */
export function createAuthenticator(config: AuthConfig, options: { now?: () => number } = {}) {
  const jwt = config.jwt
  const now = options.now ?? Date.now
  let keySet: JWTVerifyGetKey | undefined
  if (jwt?.jwks) keySet = createLocalJWKSet(jwt.jwks as Parameters<typeof createLocalJWKSet>[0])
  else if (jwt?.jwksUrl) {
    keySet = createRemoteJwks({
      url: jwt.jwksUrl,
      maxAgeMs: jwt.jwksMaxAgeMs ?? 600_000,
      maxStaleMs: jwt.jwksMaxStaleMs ?? 3_600_000,
      retryMs: jwt.jwksRetryMs ?? 30_000,
      now,
    })
  }
  const algorithms = [...(jwt?.algorithms ?? ['ES256', 'EdDSA', 'RS256'])]

  async function verifyJwt(token: string): Promise<Caller> {
    if (!jwt || !keySet) throw new ProxyError('ERR_UNAUTHENTICATED', 'this proxy does not accept JWTs')
    let alg: unknown
    try {
      alg = decodeProtectedHeader(token).alg
    } catch {
      throw new ProxyError('ERR_TOKEN_INVALID', 'token is not a JWT')
    }
    if (alg === 'none' || typeof alg !== 'string' || !algorithms.includes(alg)) {
      throw new ProxyError('ERR_TOKEN_ALG_UNSUPPORTED', `token algorithm ${String(alg)} is not accepted`)
    }
    try {
      const { payload } = await jwtVerify(token, keySet, {
        issuer: jwt.issuer,
        audience: jwt.audience,
        algorithms,
        typ: jwt.typ,
        maxTokenAge: jwt.maxTokenAgeSeconds,
        currentDate: new Date(now()),
        requiredClaims: jwt.maxTokenAgeSeconds === undefined ? ['exp'] : ['exp', 'iat'],
      })
      const tenant = claim(payload, jwt.tenantClaim ?? 'tenant')
      if (!isName(tenant)) throw new ProxyError('ERR_TOKEN_NO_TENANT', 'token names no tenant, or not a valid name')
      const roles = claim(payload, jwt.rolesClaim ?? 'roles')
      const roleList = typeof roles === 'string' ? roles.split(' ') : Array.isArray(roles) ? roles : []
      // Bounded: at most 64 values are looked at, each a string.
      const claimRoles = roleList.slice(0, 64).filter((r): r is string => typeof r === 'string' && r.length <= 64)
      return { id: `jwt:${payload.sub ?? '?'}`, tenants: [tenant], admin: false, claimRoles }
    } catch (err) {
      if (err instanceof ProxyError) throw err
      if (err instanceof joseErrors.JWTExpired) throw new ProxyError('ERR_TOKEN_EXPIRED', 'token has expired')
      if (err instanceof joseErrors.JWTClaimValidationFailed) {
        if (err.claim === 'typ') throw new ProxyError('ERR_TOKEN_TYPE', 'token is not of the accepted type')
        if (err.claim === 'aud') throw new ProxyError('ERR_TOKEN_AUDIENCE', 'token is for another audience')
        if (err.claim === 'iss') throw new ProxyError('ERR_TOKEN_ISSUER', 'token is from another issuer')
        throw new ProxyError('ERR_TOKEN_INVALID', `token claim "${err.claim}" is invalid`)
      }
      if (err instanceof joseErrors.JWSSignatureVerificationFailed || err instanceof joseErrors.JWKSNoMatchingKey)
        throw new ProxyError('ERR_TOKEN_SIGNATURE', 'token signature is invalid')
      if (err instanceof joseErrors.JOSEAlgNotAllowed)
        throw new ProxyError('ERR_TOKEN_ALG_UNSUPPORTED', 'token algorithm is not accepted')
      throw new ProxyError('ERR_TOKEN_INVALID', 'token is invalid', { cause: err })
    }
  }

  /**
   * Verifies the Authorization header: who is calling, not yet what it may do (src/policy/authorize.ts). Admin
   * routes pass `admin: true`: an API key that is both an admin key and a service key is then the admin key.
   */
  return async function authenticate(header: string | undefined, admin = false): Promise<Caller> {
    if (!header) throw new ProxyError('ERR_UNAUTHENTICATED', 'no credentials')
    const [scheme, value] = [header.slice(0, header.indexOf(' ')), header.slice(header.indexOf(' ') + 1).trim()]
    if (/^bearer$/i.test(scheme)) return verifyJwt(value)
    if (/^apikey$/i.test(scheme) && value) {
      const hash = await sha256Hex(value)
      const adminKey = config.adminKeys?.find((k) => sameHex(k.sha256.toLowerCase(), hash))
      const key = config.apiKeys?.find((k) => sameHex(k.sha256.toLowerCase(), hash))
      if (adminKey && (admin || !key)) return { id: `admin:${adminKey.id}`, tenants: '*', admin: true }
      if (!key) throw new ProxyError('ERR_API_KEY_UNKNOWN', 'unknown API key')
      return {
        id: `apikey:${key.id}`,
        tenants: key.tenants.includes('*') ? '*' : key.tenants,
        admin: false,
        scopes: key.scopes ?? ['key-user'],
      }
    }
    throw new ProxyError('ERR_UNAUTHENTICATED', 'unsupported Authorization scheme')
  }
}

/** The tenant a request acts for: the JWT's, or the one named in the body among the API key's tenants. */
export function tenantFor(caller: Caller, requested: unknown, field = '"tenant"'): string {
  const name = requested === undefined ? undefined : checkName(requested, field)
  if (caller.tenants !== '*' && caller.tenants.length === 1 && name === undefined) return caller.tenants[0]!
  if (name === undefined)
    throw new ProxyError('ERR_BAD_REQUEST', 'this credential serves several tenants: name one in "tenant"')
  if (caller.tenants !== '*' && !caller.tenants.includes(name)) {
    throw new ProxyError('ERR_TENANT_FORBIDDEN', `not allowed to act for tenant "${name}"`)
  }
  return name
}

export { sha256Hex }
