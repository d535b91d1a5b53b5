/**
 * Errors of `@envelope/idb-cache`. Only {@link openIdbDekCache} (the bare IndexedDB backend) throws
 * {@link CacheUnavailableError}; {@link openDekCache} never does: it falls back to memory instead.
 * @module
 */
import { EnvelopeError } from '@envelope/core'

/**
 * The codes this package adds to the core's.
 *
 * @example
 * ```ts
 * if (isEnvelopeError(err, 'ERR_CACHE_UNAVAILABLE' satisfies CacheErrorCode)) useMemoryOnly()
 * ```
 */
export type CacheErrorCode = 'ERR_CACHE_UNAVAILABLE'

/**
 * IndexedDB is missing, refused (SecurityError, private mode), blocked by another tab, of a newer schema, out of
 * quota, or closed under us. Code `ERR_CACHE_UNAVAILABLE`; the browser's `DOMException` is kept as `cause`.
 *
 * @example
 * ```ts
 * try {
 *   cache = await openIdbDekCache({ maxEntries: 1000, ttlMs: 600_000 })
 * } catch (err) {
 *   if (!(err instanceof CacheUnavailableError)) throw err
 *   cache = createMemoryDekCache({ maxEntries: 1000, ttlMs: 600_000 }) // what openDekCache does for you
 * }
 * ```
 */
export class CacheUnavailableError extends EnvelopeError {
  constructor(message = 'the DEK cache storage is unavailable', options?: { cause?: unknown }) {
    super('ERR_CACHE_UNAVAILABLE', message, options)
  }
}
