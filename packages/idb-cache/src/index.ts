/**
 * `@envelope/idb-cache`: an EDEK→DEK cache (non-extractable CryptoKeys in IndexedDB, a memory tier in front,
 * TTL, LRU) and {@link withDekCache}, which puts it in front of any KeyProvider.
 *
 * @example
 * ```ts
 * import { openDekCache, withDekCache } from '@envelope/idb-cache'
 *
 * const cache = await openDekCache({ maxEntries: 1000, ttlMs: 10 * 60_000 })
 * const provider = withDekCache(createKeyProxyClient({ baseUrl, token }), cache, { partition: tenantId })
 * ```
 * @module @envelope/idb-cache
 */
export { dekCacheKey, encodeCacheKeyInput } from './cache-key.ts'
export type { CachedDek, DekCache, DekCacheOptions, DekCacheSetOptions } from './dek-cache.ts'
export { type CacheErrorCode, CacheUnavailableError } from './errors.ts'
export { type IdbDekCacheOptions, openIdbDekCache } from './idb-cache.ts'
export { createMemoryDekCache, type MemoryDekCacheOptions } from './memory-cache.ts'
export { DEFAULT_DB_NAME, type DekCacheDB, SCHEMA_VERSION, type StoredDek } from './schema.ts'
export { type OpenDekCacheOptions, openDekCache } from './tiered-cache.ts'
export { type WithDekCacheOptions, withDekCache } from './with-dek-cache.ts'
