/**
 * Configuration: a JSON file (`ENVELOPE_PROXY_CONFIG` or `--config`), then environment variables over it, then
 * embedded defaults: 127.0.0.1:7777, data in ./.envelope-data, a root key and an admin key made on first start
 * in 0600 files there. Bad settings stop the start with a {@link ConfigError} naming the setting.
 * @module
 */

import type { WebhookConfig } from './audit/webhook.ts'
import type { ApiKeyConfig, AuthConfig, JwtConfig } from './auth.ts'
import { ConfigError } from './errors.ts'
import type { ConfiguredTenant } from './kms/tenant-kms.ts'
import { isName, NAME_RULE } from './names.ts'
import { checkPolicy, ROLES, type Role, type TenantPolicy } from './policy/policy.ts'

/**
 * The resolved configuration of a proxy process (see {@link resolveConfig}; every setting in the package README).
 *
 * @example
 * ```ts
 * const config: ProxyConfig = resolveConfig(JSON.parse(readFileSync('proxy.json', 'utf8')), process.env)
 * console.log(`${config.host}:${config.port}`, config.dataDir)
 * ```
 */
export interface ProxyConfig {
  readonly host: string
  readonly port: number
  readonly dataDir: string
  /** base64url root key; default: `<dataDir>/root.key`, made on first start. */
  readonly rootKey?: string
  /**
   * Tenants made on start when missing: a name (one local key, `default`), or `{ id, kms: [{ id, provider,
   * settings, mode? }], primary? }` (its KMS entries; their settings win over the keystore's at every start).
   */
  readonly tenants: readonly ConfiguredTenant[]
  readonly apiKeys: readonly ApiKeyConfig[]
  readonly adminKeys: readonly Omit<ApiKeyConfig, 'tenants'>[]
  readonly jwt?: JwtConfig
  readonly corsOrigins: readonly string[]
  readonly minDeletionDays: number
  readonly maxBodyBytes: number
  readonly maxBatch: number
  /** Most versions of one key; one rotation more is refused (`ERR_KEY_VERSION_LIMIT`). */
  readonly maxKeyVersions: number
  /** Time allowed for a request's headers, in ms (Node's `headersTimeout`). */
  readonly headersTimeoutMs: number
  /** Time allowed for a whole request, headers and body, in ms (Node's `requestTimeout`). */
  readonly requestTimeoutMs: number
  /** Most open connections of a serving process (each `--workers` worker); past it new ones are dropped. */
  readonly maxConnections: number
  /**
   * The shared keystore, for several instances: PostgreSQL (`keystore.url`, `postgres://…`). Default none: the
   * file keystore in the data folder (`keys.json`). A password belongs in `PGPASSWORD` or `~/.pgpass`, not here.
   */
  readonly keystore?: {
    readonly url: string
    readonly poolSize?: number
    readonly pollMs?: number
    readonly staleAfterMs?: number
  }
  /** Leased mode: an unwrapped lease key is used this long after the KMS last gave it (ms). */
  readonly leaseTtlMs: number
  /** Leased mode: refresh a lease in the background this long before it expires (default min(30 s, leaseTtlMs / 5)). */
  readonly leaseRefreshAheadMs?: number
  /** Leased mode: a new lease after this long (ms) … */
  readonly leaseMaxAgeMs: number
  /** … or after this many DEKs made by one process. */
  readonly leaseMaxDeks: number
  /** Unwrapped leases held in memory at most. */
  readonly maxLeases: number
  /** PKCS#11 libraries a key registered through the admin API may load. */
  readonly pkcs11Modules: readonly string[]
  /** KMS/STS endpoint URLs an AWS key registered through the admin API may name (besides AWS's own). */
  readonly awsKmsEndpoints: readonly string[]
  /** How often the rotation schedule is checked, in ms (one instance rotates: src/rotation/); 0: never here. */
  readonly rotationCheckMs: number
  /**
   * `Host` values requests must carry besides the proxy's own loopback names with its port (allowedHostsFor);
   * default none: those loopback names when bound to loopback, else any.
   */
  readonly allowedHosts?: readonly string[]
  /** The key policy of a tenant that has none of its own (default: docs/key-proxy-api.md, "Key policy"). */
  readonly defaultPolicy?: TenantPolicy
  /** Whether a tenant's key administrators may manage its KMS entries (create, register, primary, retire). Default false. */
  readonly tenantKmsAdmin: boolean
  /** Tenant audit lines older than this many days are dropped (whole segments, from a signed checkpoint). Default: kept. */
  readonly auditRetentionDays?: number
  /** Each tenant's audit lines also go to its own sink (src/audit/webhook.ts). Default none. */
  readonly auditWebhooks: readonly WebhookConfig[]
  /** Webhook delivery: first retry after (ms; doubled per failure, at most 60 s), a POST's timeout (ms), lines queued per webhook. */
  readonly auditWebhookRetryMs: number
  readonly auditWebhookTimeoutMs: number
  readonly auditWebhookMaxQueue: number
}

const DEFAULTS: ProxyConfig = {
  host: '127.0.0.1',
  port: 7777,
  dataDir: '.envelope-data',
  tenants: [],
  apiKeys: [],
  adminKeys: [],
  corsOrigins: [],
  minDeletionDays: 7,
  maxBodyBytes: 1 << 20,
  maxBatch: 1000,
  maxKeyVersions: 100,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  maxConnections: 1024,
  leaseTtlMs: 300_000,
  leaseMaxAgeMs: 86_400_000,
  leaseMaxDeks: 1_000_000,
  maxLeases: 10_000,
  pkcs11Modules: [],
  awsKmsEndpoints: [],
  rotationCheckMs: 60_000,
  tenantKmsAdmin: false,
  auditWebhooks: [],
  auditWebhookRetryMs: 1000,
  auditWebhookTimeoutMs: 10_000,
  auditWebhookMaxQueue: 10_000,
}

function check(cond: unknown, setting: string, expected: string): asserts cond {
  if (!cond) throw new ConfigError(`configuration "${setting}" must be ${expected}`)
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string')
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)
const isInt = (v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): v is number =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max
const hex64 = /^[0-9a-f]{64}$/i

/**
 * Merges file settings and environment over the defaults, and validates the result.
 *
 * @example
 * ```ts
 * resolveConfig({ port: 9000, tenants: ['acme'] }, { ENVELOPE_PROXY_PORT: '9100' }).port // 9100: the environment wins
 * ```
 * @throws {ConfigError} a setting is missing a required part or has the wrong type or range; the message names it.
 */
export function resolveConfig(file: Record<string, unknown>, env: Record<string, string | undefined>): ProxyConfig {
  const merged: Record<string, unknown> = { ...DEFAULTS, ...file }
  if (env.ENVELOPE_PROXY_HOST) merged.host = env.ENVELOPE_PROXY_HOST
  if (env.ENVELOPE_PROXY_PORT !== undefined) merged.port = Number(env.ENVELOPE_PROXY_PORT)
  if (env.ENVELOPE_DATA_DIR) merged.dataDir = env.ENVELOPE_DATA_DIR
  if (env.ENVELOPE_ROOT_KEY) merged.rootKey = env.ENVELOPE_ROOT_KEY
  if (env.ENVELOPE_TENANTS) merged.tenants = env.ENVELOPE_TENANTS.split(',').filter(Boolean)
  if (env.ENVELOPE_ALLOWED_HOSTS) merged.allowedHosts = env.ENVELOPE_ALLOWED_HOSTS.split(',').filter(Boolean)
  if (env.ENVELOPE_CORS_ORIGINS) merged.corsOrigins = env.ENVELOPE_CORS_ORIGINS.split(',').filter(Boolean)
  if (env.ENVELOPE_KEYSTORE_URL) {
    const k = merged.keystore
    merged.keystore = { ...(typeof k === 'object' && k !== null ? k : {}), url: env.ENVELOPE_KEYSTORE_URL }
  }
  if (typeof merged.keystore === 'string') merged.keystore = { url: merged.keystore }
  const c = merged as unknown as ProxyConfig
  check(typeof c.host === 'string' && c.host.length > 0, 'host', 'a host name or address')
  check(Number.isInteger(c.port) && c.port >= 0 && c.port <= 65535, 'port', 'an integer from 0 to 65535')
  check(typeof c.dataDir === 'string' && c.dataDir.length > 0, 'dataDir', 'a folder path')
  check(
    c.rootKey === undefined || /^[A-Za-z0-9_-]{43}$/.test(c.rootKey),
    'rootKey',
    '32 bytes in base64url (43 characters)',
  )
  check(Array.isArray(c.tenants), 'tenants', 'an array of tenant names or tenants')
  for (const [i, t] of c.tenants.entries()) {
    if (typeof t === 'string') {
      check(isName(t), `tenants[${i}]`, `a tenant name (${NAME_RULE})`)
      continue
    }
    const o = t as unknown
    check(isObject(o) && isName(o.id), `tenants[${i}]`, `a tenant name, or { id, kms, primary? } (${NAME_RULE})`)
    const kms = o.kms ?? []
    check(Array.isArray(kms), `tenants[${i}].kms`, 'an array of keys')
    for (const [j, e] of kms.entries()) {
      check(
        isObject(e) && isName(e.id) && typeof e.provider === 'string',
        `tenants[${i}].kms[${j}]`,
        `{ id (a name), provider, settings?, mode? }`,
      )
      check(
        e.mode === undefined || e.mode === 'direct' || e.mode === 'leased',
        `tenants[${i}].kms[${j}].mode`,
        'direct or leased',
      )
      check(
        e.origin === undefined || e.origin === 'external' || e.origin === 'proxy',
        `tenants[${i}].kms[${j}].origin`,
        'external (the customer imports its own key material) or proxy',
      )
    }
    check(
      o.primary === undefined || kms.some((e) => isObject(e) && e.id === o.primary),
      `tenants[${i}].primary`,
      'the id of one of its kms entries',
    )
  }
  check(isStringArray(c.corsOrigins), 'corsOrigins', 'an array of origins')
  check(Array.isArray(c.apiKeys), 'apiKeys', 'an array')
  for (const [i, k] of c.apiKeys.entries()) {
    check(
      typeof k?.id === 'string' &&
        hex64.test(k.sha256) &&
        Array.isArray(k.tenants) &&
        k.tenants.every((t: unknown) => t === '*' || isName(t)) &&
        (k.scopes === undefined ||
          (Array.isArray(k.scopes) && k.scopes.every((r: unknown) => ROLES.includes(r as Role)))),
      `apiKeys[${i}]`,
      `{ id, sha256 (hex), tenants: ["*"] or tenant names (${NAME_RULE}), scopes?: [${ROLES.join(', ')}] }`,
    )
  }
  check(Array.isArray(c.adminKeys), 'adminKeys', 'an array')
  for (const [i, k] of c.adminKeys.entries())
    check(typeof k?.id === 'string' && hex64.test(k.sha256), `adminKeys[${i}]`, '{ id, sha256 (hex) }')
  if (c.jwt !== undefined) {
    const j = c.jwt
    check(typeof j === 'object' && j !== null, 'jwt', 'an object')
    check(typeof j.issuer === 'string' && typeof j.audience === 'string', 'jwt', 'to name "issuer" and "audience"')
    check(
      (j.jwks && Array.isArray(j.jwks.keys)) || typeof j.jwksUrl === 'string',
      'jwt',
      'to have "jwks" ({ keys: [...] }) or "jwksUrl"',
    )
    for (const name of ['keyAdminRole', 'rolesClaim', 'tenantClaim', 'typ'] as const) {
      check(
        j[name] === undefined || (typeof j[name] === 'string' && j[name] !== ''),
        `jwt.${name}`,
        'a non-empty string',
      )
    }
    check(
      j.maxTokenAgeSeconds === undefined || isInt(j.maxTokenAgeSeconds, 1),
      'jwt.maxTokenAgeSeconds',
      'a whole number of seconds, at least 1',
    )
    for (const name of ['jwksMaxAgeMs', 'jwksMaxStaleMs', 'jwksRetryMs'] as const) {
      check(j[name] === undefined || isInt(j[name], 0), `jwt.${name}`, 'a whole number of milliseconds, at least 0')
    }
  }
  check(
    Number.isInteger(c.minDeletionDays) && c.minDeletionDays >= 0 && c.minDeletionDays <= 30,
    'minDeletionDays',
    'an integer from 0 to 30',
  )
  check(Number.isInteger(c.maxBodyBytes) && c.maxBodyBytes >= 1024, 'maxBodyBytes', 'an integer of at least 1024')
  check(
    Number.isInteger(c.maxBatch) && c.maxBatch >= 1 && c.maxBatch <= 10000,
    'maxBatch',
    'an integer from 1 to 10000',
  )
  check(isInt(c.maxKeyVersions, 1, 10000), 'maxKeyVersions', 'an integer from 1 to 10000')
  check(isInt(c.headersTimeoutMs, 100), 'headersTimeoutMs', 'a whole number of milliseconds, at least 100')
  check(
    isInt(c.requestTimeoutMs, c.headersTimeoutMs),
    'requestTimeoutMs',
    'a whole number of milliseconds, at least headersTimeoutMs',
  )
  check(isInt(c.maxConnections, 1), 'maxConnections', 'an integer of at least 1')
  if (c.keystore !== undefined) {
    const k = c.keystore
    check(
      typeof k === 'object' && k !== null && typeof k.url === 'string' && /^postgres(ql)?:\/\/./.test(k.url),
      'keystore',
      'a PostgreSQL URL ("postgres://user@host:5432/db"), or { url, poolSize?, pollMs?, staleAfterMs? }',
    )
    check(k.poolSize === undefined || isInt(k.poolSize, 1, 100), 'keystore.poolSize', 'an integer from 1 to 100')
    check(k.pollMs === undefined || isInt(k.pollMs, 10, 60_000), 'keystore.pollMs', 'from 10 to 60000 milliseconds')
    check(
      k.staleAfterMs === undefined || isInt(k.staleAfterMs, k.pollMs ?? 250, 600_000),
      'keystore.staleAfterMs',
      'at least keystore.pollMs, at most 600000 milliseconds',
    )
  }
  check(isInt(c.leaseTtlMs, 1, 86_400_000), 'leaseTtlMs', 'a whole number of milliseconds, from 1 to 86400000')
  check(
    c.leaseRefreshAheadMs === undefined || isInt(c.leaseRefreshAheadMs, 0, c.leaseTtlMs),
    'leaseRefreshAheadMs',
    'a whole number of milliseconds, at most leaseTtlMs',
  )
  check(isInt(c.leaseMaxAgeMs, 1), 'leaseMaxAgeMs', 'a whole number of milliseconds, at least 1')
  check(isInt(c.leaseMaxDeks, 1, 2 ** 32), 'leaseMaxDeks', 'an integer from 1 to 4294967296')
  check(isInt(c.maxLeases, 1), 'maxLeases', 'an integer of at least 1')
  check(
    c.rotationCheckMs === 0 || isInt(c.rotationCheckMs, 1000, 86_400_000),
    'rotationCheckMs',
    'a whole number of milliseconds from 1000 to 86400000, or 0 (no rotation checks on this instance)',
  )
  check(isStringArray(c.pkcs11Modules), 'pkcs11Modules', 'an array of library paths')
  check(isStringArray(c.awsKmsEndpoints), 'awsKmsEndpoints', 'an array of URLs')
  check(typeof c.tenantKmsAdmin === 'boolean', 'tenantKmsAdmin', 'true or false')
  check(Array.isArray(c.auditWebhooks), 'auditWebhooks', 'an array of { tenant, url, authorizationEnv? }')
  for (const [i, h] of c.auditWebhooks.entries()) {
    check(
      isObject(h) &&
        isName(h.tenant) &&
        typeof h.url === 'string' &&
        /^https?:\/\//.test(h.url) &&
        URL.canParse(h.url) &&
        (h.authorizationEnv === undefined || typeof h.authorizationEnv === 'string'),
      `auditWebhooks[${i}]`,
      '{ tenant (a name), url (http or https), authorizationEnv? (a variable name) }',
    )
  }
  check(isInt(c.auditWebhookRetryMs, 1, 3_600_000), 'auditWebhookRetryMs', 'a whole number of milliseconds, at least 1')
  check(
    isInt(c.auditWebhookTimeoutMs, 1, 600_000),
    'auditWebhookTimeoutMs',
    'a whole number of milliseconds, at least 1',
  )
  check(isInt(c.auditWebhookMaxQueue, 1, 10_000_000), 'auditWebhookMaxQueue', 'an integer of at least 1')
  check(
    c.auditRetentionDays === undefined || isInt(c.auditRetentionDays, 1, 36_500),
    'auditRetentionDays',
    'a whole number of days from 1 to 36500',
  )
  if (c.defaultPolicy !== undefined) {
    try {
      merged.defaultPolicy = checkPolicy(c.defaultPolicy)
    } catch (err) {
      throw new ConfigError(`configuration "defaultPolicy": ${(err as Error).message}`)
    }
  }
  check(
    c.allowedHosts === undefined || (isStringArray(c.allowedHosts) && c.allowedHosts.length > 0),
    'allowedHosts',
    'a non-empty array of Host values (name or name:port)',
  )
  return c
}

export function authOf(c: ProxyConfig): AuthConfig {
  return { apiKeys: c.apiKeys, adminKeys: c.adminKeys, jwt: c.jwt }
}

/**
 * The Host values a proxy on `host:port` answers to: the names of `allowedHosts` (a load balancer's, a public
 * name) and always its own loopback names with its port (no page elsewhere can make a browser send those, and
 * a health check on the host keeps working); with no `allowedHosts`, only those loopback names when bound to
 * loopback, else any (undefined).
 */
export function allowedHostsFor(
  host: string,
  port: number,
  configured: readonly string[] | undefined,
): readonly string[] | undefined {
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
  const own = [
    `127.0.0.1:${port}`,
    `localhost:${port}`,
    `[::1]:${port}`,
    ...(host.startsWith('127.') && host !== '127.0.0.1' ? [`${host}:${port}`] : []),
  ]
  if (configured) return [...configured.map((h) => h.toLowerCase()), ...own]
  return loopback ? own : undefined
}
