/**
 * The cache interface every backend implements (memory, IndexedDB, and the two tiered), and the checks they share.
 * @module
 */
import { InvalidArgumentError } from '@envelope/core'

/**
 * A cached DEK and the time (on the cache's clock, in ms) after which it is never served again.
 *
 * @example
 * ```ts
 * const entry = await cache.getEntry('acme', key)
 * if (entry) console.log(`valid for ${entry.expiresAt - Date.now()} ms`)
 * ```
 */
export interface CachedDek {
  readonly dek: CryptoKey
  readonly expiresAt: number
}

/**
 * Options of {@link DekCache.set}.
 *
 * @example
 * ```ts
 * await cache.set('acme', key, dek, { ttlMs: 60_000 }) // this entry for one minute only
 * ```
 */
export interface DekCacheSetOptions {
  /** A shorter lifetime for this entry than the cache's `ttlMs` (never a longer one). */
  readonly ttlMs?: number
  /** An absolute expiry on the cache's clock, capped at now + `ttlMs` (used when copying an entry between tiers). */
  readonly expiresAt?: number
}

/**
 * An EDEK→DEK cache. Entries are addressed by a partition (the tenant, or whatever authorization boundary a cache
 * hit must not cross) and a key (see {@link dekCacheKey}). Values are non-extractable `CryptoKey`s only.
 *
 * Guarantees every backend gives:
 * - an entry is never returned at or after its `expiresAt`, whether or not a purge has run;
 * - at most `maxEntries` entries are kept; when full, the least recently used entry is evicted (expired ones first);
 * - extractable keys are refused (`ERR_INVALID_ARGUMENT`), so nothing stored can be read back as bytes.
 *
 * @example
 * ```ts
 * const cache: DekCache = await openDekCache({ maxEntries: 1000, ttlMs: 10 * 60_000 })
 * const key = await dekCacheKey(edeks, context)
 * const dek = (await cache.get('acme', key)) ?? (await provider.unwrapDataKey(edeks, context))
 * await cache.set('acme', key, dek)
 * await cache.clearPartition('acme') // on logout
 * ```
 */
export interface DekCache {
  /** `memory`, `indexeddb`, or `memory+indexeddb` (a memory tier in front of IndexedDB). */
  readonly backend: 'memory' | 'indexeddb' | 'memory+indexeddb'
  /** The DEK, or `undefined` when absent or expired. A hit counts as a use for LRU eviction. */
  get(partition: string, key: string): Promise<CryptoKey | undefined>
  /** Like {@link DekCache.get}, with the entry's expiry. */
  getEntry(partition: string, key: string): Promise<CachedDek | undefined>
  /** Stores (or replaces: last write wins) a DEK for `ttlMs`. */
  set(partition: string, key: string, dek: CryptoKey, options?: DekCacheSetOptions): Promise<void>
  /** Removes one entry. */
  delete(partition: string, key: string): Promise<void>
  /** Removes every entry of a partition: call it when that tenant's user logs out. */
  clearPartition(partition: string): Promise<void>
  /** Removes every entry. */
  clear(): Promise<void>
  /** Removes expired entries now; returns how many were removed. Also runs on open and every `purgeIntervalMs`. */
  purge(): Promise<number>
  /** Number of entries stored, expired ones included until purged. */
  size(): Promise<number>
  /** Releases the backend (closes the IndexedDB connection). The cache is not usable afterwards. */
  close(): void
}

/**
 * Options every backend takes.
 *
 * @example
 * ```ts
 * const cache = createMemoryDekCache({ maxEntries: 500, ttlMs: 5 * 60_000, purgeIntervalMs: 30_000 })
 * ```
 */
export interface DekCacheOptions {
  /** Most entries kept; the least recently used is evicted beyond it. A positive integer. */
  readonly maxEntries: number
  /** How long an entry is served after it is stored, in ms. A positive integer. */
  readonly ttlMs: number
  /** The clock, in ms (default `Date.now`). Tests pass a controllable one. */
  readonly now?: () => number
  /** Expired entries are purged on a write at most this often (default 60 000 ms), and on open. */
  readonly purgeIntervalMs?: number
}

export const DEFAULT_PURGE_INTERVAL_MS = 60_000

/** Longest partition or key accepted, in UTF-16 units (a SHA-256 hex key is 64). */
export const MAX_ID_LENGTH = 1024

export interface CheckedOptions {
  readonly maxEntries: number
  readonly ttlMs: number
  readonly now: () => number
  readonly purgeIntervalMs: number
}

function positiveInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidArgumentError(`"${name}" expected a positive integer, got ${String(value)}`)
  }
  return value
}

export function checkOptions(options: DekCacheOptions): CheckedOptions {
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('"options" expected an object')
  const now = options.now ?? Date.now
  if (typeof now !== 'function') throw new InvalidArgumentError('"now" expected a function')
  return {
    maxEntries: positiveInteger(options.maxEntries, 'maxEntries'),
    ttlMs: positiveInteger(options.ttlMs, 'ttlMs'),
    now,
    purgeIntervalMs: positiveInteger(options.purgeIntervalMs ?? DEFAULT_PURGE_INTERVAL_MS, 'purgeIntervalMs'),
  }
}

export function checkId(partition: unknown, key: unknown): void {
  if (typeof partition !== 'string' || partition.length > MAX_ID_LENGTH) {
    throw new InvalidArgumentError(`"partition" expected a string of at most ${MAX_ID_LENGTH} characters`)
  }
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_ID_LENGTH) {
    throw new InvalidArgumentError(`"key" expected a non-empty string of at most ${MAX_ID_LENGTH} characters`)
  }
}

export function checkPartition(partition: unknown): void {
  if (typeof partition !== 'string' || partition.length > MAX_ID_LENGTH) {
    throw new InvalidArgumentError(`"partition" expected a string of at most ${MAX_ID_LENGTH} characters`)
  }
}

/** Only non-extractable keys are cached: a script that reads the cache later must not get key bytes. */
export function checkDek(dek: unknown): CryptoKey {
  if (Object.prototype.toString.call(dek) !== '[object CryptoKey]') {
    throw new InvalidArgumentError('"dek" expected a CryptoKey')
  }
  if ((dek as CryptoKey).extractable) {
    throw new InvalidArgumentError('"dek" must be non-extractable to be cached')
  }
  return dek as CryptoKey
}

/** The expiry of a new entry: now + ttl, shortened by the caller's options, never lengthened. */
export function expiryOf(now: number, ttlMs: number, options?: DekCacheSetOptions): number {
  let expiresAt = now + ttlMs
  if (options?.ttlMs !== undefined) expiresAt = Math.min(expiresAt, now + positiveInteger(options.ttlMs, 'ttlMs'))
  if (options?.expiresAt !== undefined) {
    if (typeof options.expiresAt !== 'number' || Number.isNaN(options.expiresAt)) {
      throw new InvalidArgumentError('"expiresAt" expected a number')
    }
    expiresAt = Math.min(expiresAt, options.expiresAt)
  }
  return expiresAt
}
