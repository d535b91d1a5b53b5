/**
 * Configuration: a JSON file (`ENVELOPE_PROXY_CONFIG` or `--config`), then environment variables over it, then
 * embedded defaults: 127.0.0.1:7777, data in ./.envelope-data, a root key and an admin key made on first start
 * in 0600 files there. Bad settings stop the start with a {@link ConfigError} naming the setting.
 * @module
 */
import type { ApiKeyConfig, AuthConfig, JwtConfig } from './auth.ts'
import { ConfigError } from './errors.ts'

export interface ProxyConfig {
  readonly host: string
  readonly port: number
  readonly dataDir: string
  /** base64url root key; default: `<dataDir>/root.key`, made on first start. */
  readonly rootKey?: string
  /** Tenants whose `default` key is created on start when missing. */
  readonly tenants: readonly string[]
  readonly apiKeys: readonly ApiKeyConfig[]
  readonly adminKeys: readonly Omit<ApiKeyConfig, 'tenants'>[]
  readonly jwt?: JwtConfig
  readonly corsOrigins: readonly string[]
  readonly minDeletionDays: number
  readonly maxBodyBytes: number
  readonly maxBatch: number
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
}

function check(cond: unknown, setting: string, expected: string): asserts cond {
  if (!cond) throw new ConfigError(`configuration "${setting}" must be ${expected}`)
}

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string')
const hex64 = /^[0-9a-f]{64}$/i

/** Merges file settings and environment over the defaults, and validates the result. */
export function resolveConfig(file: Record<string, unknown>, env: Record<string, string | undefined>): ProxyConfig {
  const merged: Record<string, unknown> = { ...DEFAULTS, ...file }
  if (env.ENVELOPE_PROXY_HOST) merged.host = env.ENVELOPE_PROXY_HOST
  if (env.ENVELOPE_PROXY_PORT !== undefined) merged.port = Number(env.ENVELOPE_PROXY_PORT)
  if (env.ENVELOPE_DATA_DIR) merged.dataDir = env.ENVELOPE_DATA_DIR
  if (env.ENVELOPE_ROOT_KEY) merged.rootKey = env.ENVELOPE_ROOT_KEY
  if (env.ENVELOPE_TENANTS) merged.tenants = env.ENVELOPE_TENANTS.split(',').filter(Boolean)
  if (env.ENVELOPE_CORS_ORIGINS) merged.corsOrigins = env.ENVELOPE_CORS_ORIGINS.split(',').filter(Boolean)
  const c = merged as unknown as ProxyConfig
  check(typeof c.host === 'string' && c.host.length > 0, 'host', 'a host name or address')
  check(Number.isInteger(c.port) && c.port >= 0 && c.port <= 65535, 'port', 'an integer from 0 to 65535')
  check(typeof c.dataDir === 'string' && c.dataDir.length > 0, 'dataDir', 'a folder path')
  check(
    c.rootKey === undefined || /^[A-Za-z0-9_-]{43}$/.test(c.rootKey),
    'rootKey',
    '32 bytes in base64url (43 characters)',
  )
  check(isStringArray(c.tenants), 'tenants', 'an array of tenant names')
  check(isStringArray(c.corsOrigins), 'corsOrigins', 'an array of origins')
  check(Array.isArray(c.apiKeys), 'apiKeys', 'an array')
  for (const [i, k] of c.apiKeys.entries()) {
    check(
      typeof k?.id === 'string' && hex64.test(k.sha256) && isStringArray(k.tenants),
      `apiKeys[${i}]`,
      '{ id, sha256 (hex), tenants: [...] }',
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
    for (const name of ['keyAdminRole', 'rolesClaim', 'tenantClaim'] as const) {
      check(
        j[name] === undefined || (typeof j[name] === 'string' && j[name] !== ''),
        `jwt.${name}`,
        'a non-empty string',
      )
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
  return c
}

export function authOf(c: ProxyConfig): AuthConfig {
  return { apiKeys: c.apiKeys, adminKeys: c.adminKeys, jwt: c.jwt }
}
