import { EnvelopeError } from '@envelope/core'

/**
 * Every code the proxy answers with, and its HTTP status (docs/key-proxy-api.md lists them all).
 *
 * @example
 * ```ts
 * const status = PROXY_ERRORS.ERR_TENANT_FORBIDDEN // 403
 * ```
 */
export const PROXY_ERRORS = {
  ERR_BAD_REQUEST: 400,
  ERR_IMPORT_TOKEN_INVALID: 400,
  ERR_IMPORT_TOKEN_WRONG_KEY: 400,
  ERR_IMPORT_TOKEN_EXPIRED: 400,
  ERR_IMPORT_TOKEN_USED: 400,
  ERR_IMPORT_UNWRAP_FAILED: 400,
  ERR_IMPORT_MATERIAL_SIZE: 400,
  ERR_EDEK_INVALID: 400,
  ERR_EDEK_CONTEXT_MISMATCH: 400,
  ERR_CURSOR_INVALID: 400,
  ERR_UNAUTHENTICATED: 401,
  ERR_API_KEY_UNKNOWN: 401,
  ERR_TOKEN_INVALID: 401,
  ERR_TOKEN_SIGNATURE: 401,
  ERR_TOKEN_ALG_UNSUPPORTED: 401,
  ERR_TOKEN_EXPIRED: 401,
  ERR_TOKEN_AUDIENCE: 401,
  ERR_TOKEN_ISSUER: 401,
  ERR_TOKEN_NO_TENANT: 401,
  ERR_TOKEN_TYPE: 401,
  ERR_TENANT_FORBIDDEN: 403,
  ERR_ADMIN_REQUIRED: 403,
  ERR_ROLE_FORBIDDEN: 403,
  ERR_KMS_ACCESS_DENIED: 403,
  ERR_HOST_NOT_ALLOWED: 403,
  ERR_NOT_FOUND: 404,
  ERR_KEY_NOT_FOUND: 404,
  ERR_KEY_EXISTS: 409,
  ERR_KEY_DISABLED: 409,
  ERR_KEY_PENDING_DELETION: 409,
  ERR_KEY_STATE: 409,
  ERR_KEY_VERSION_LIMIT: 409,
  ERR_KEY_RETIRED: 409,
  ERR_KEY_PENDING_IMPORT: 409,
  ERR_IMPORT_MATERIAL_MISMATCH: 409,
  ERR_KEY_VERSION_RETIRED: 409,
  ERR_KMS_CUSTOMER_MANAGED: 409,
  ERR_KEY_DESTROYED: 410,
  ERR_BODY_TOO_LARGE: 413,
  ERR_BATCH_TOO_LARGE: 413,
  ERR_KMS_THROTTLED: 429,
  ERR_INTERNAL: 500,
  ERR_KMS_UNAVAILABLE: 503,
  ERR_KEYSTORE_UNAVAILABLE: 503,
  ERR_AUDIT_UNAVAILABLE: 503,
  ERR_JWKS_UNAVAILABLE: 503,
  ERR_SHUTTING_DOWN: 503,
  ERR_KMS_TIMEOUT: 504,
} as const

/**
 * A code the proxy answers with (a key of {@link PROXY_ERRORS}).
 *
 * @example
 * ```ts
 * const code: ProxyErrorCode = 'ERR_KEY_DISABLED'
 * throw new ProxyError(code, 'the key is disabled')
 * ```
 */
export type ProxyErrorCode = keyof typeof PROXY_ERRORS

/**
 * A refusal the proxy turns into `{ error: { code, message, requestId } }` with the code's HTTP status.
 *
 * @example
 * ```ts
 * // In a KmsBackend: refusals are ProxyErrors, answered with the code's status.
 * if (key.state === 'disabled') throw new ProxyError('ERR_KEY_DISABLED', `key ${name} is disabled`)
 * ```
 */
export class ProxyError extends EnvelopeError {
  declare readonly code: ProxyErrorCode
  get status(): number {
    return PROXY_ERRORS[this.code]
  }
  constructor(code: ProxyErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options)
  }
}

/**
 * Bad configuration: the proxy refuses to start and says which setting is wrong. Code `ERR_CONFIG`.
 *
 * @example
 * ```ts
 * try {
 *   resolveConfig({ port: -1 }, {})
 * } catch (err) {
 *   if (err instanceof ConfigError) console.error(err.message) // configuration "port" must be an integer from 0 to 65535
 * }
 * ```
 */
export class ConfigError extends EnvelopeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_CONFIG', message, options)
  }
}

/**
 * Another key proxy holds the data folder (one process per folder: docs/key-proxy-api.md, "KMS backends"). The
 * message names the holder. Code `ERR_DATA_DIR_LOCKED`.
 *
 * @example
 * ```ts
 * // A second `envelope-proxy --data /var/lib/envelope-proxy` on the same folder exits 1 with:
 * // key proxy did not start: ERR_DATA_DIR_LOCKED: … (the message names the process holding it)
 * if (isEnvelopeError(err, 'ERR_DATA_DIR_LOCKED')) console.error(err.message)
 * ```
 */
export class DataDirLockedError extends EnvelopeError {
  constructor(message: string) {
    super('ERR_DATA_DIR_LOCKED', message)
  }
}
