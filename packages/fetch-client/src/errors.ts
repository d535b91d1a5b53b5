import { EnvelopeError } from '@envelope/core'

/**
 * An error from talking to the key proxy. `code` is the proxy's own code when it answered (for example
 * `ERR_TENANT_FORBIDDEN`, `ERR_KEY_DISABLED`; see docs/key-proxy-api.md), or one of the client's:
 * `ERR_PROXY_UNAVAILABLE` (network failure, or 5xx/429 after the last retry), `ERR_PROXY_TIMEOUT`,
 * `ERR_PROXY_PROTOCOL` (a response this client cannot read), `ERR_PROXY_URL` (a base URL it refuses: see
 * base-urls.ts).
 *
 * @example
 * ```ts
 * try {
 *   await decrypt(message, { provider: createKeyProxyClient({ baseUrl, getToken }) })
 * } catch (err) {
 *   if (err instanceof KeyProxyError && err.code === 'ERR_KEY_DISABLED') return showKeyDisabled(err.requestId)
 *   if (isEnvelopeError(err, 'ERR_PROXY_UNAVAILABLE')) return showRetryLater()
 *   throw err
 * }
 * ```
 */
export class KeyProxyError extends EnvelopeError {
  /** HTTP status, when the proxy answered. */
  readonly status: number | undefined
  /** The proxy's request id, for its audit log. */
  readonly requestId: string | undefined
  constructor(code: string, message: string, options: { status?: number; requestId?: string; cause?: unknown } = {}) {
    super(code, message, { cause: options.cause })
    this.status = options.status
    this.requestId = options.requestId
  }
}
