/**
 * The memory backend: a `Map` in insertion order used as an LRU list (a hit moves the entry to the end).
 * Works in every runtime; it is also the hot tier of {@link openDekCache}.
 * @module
 */
import {
  type CachedDek,
  type CheckedOptions,
  checkDek,
  checkId,
  checkOptions,
  checkPartition,
  type DekCache,
  type DekCacheOptions,
  type DekCacheSetOptions,
  expiryOf,
} from './dek-cache.ts'

interface MemoryEntry {
  readonly partition: string
  readonly dek: CryptoKey
  readonly expiresAt: number
}

/**
 * Options of {@link createMemoryDekCache}.
 *
 * @example
 * ```ts
 * const options: MemoryDekCacheOptions = { maxEntries: 500, ttlMs: 5 * 60_000 }
 * const cache = createMemoryDekCache(options)
 * ```
 */
export type MemoryDekCacheOptions = DekCacheOptions

// JSON of the pair: unambiguous for any two strings (a separator character could occur inside a partition).
const idOf = (partition: string, key: string) => JSON.stringify([partition, key])

/**
 * A DEK cache in memory: bounded, LRU, TTL checked on every read. Lost on reload; not shared between tabs.
 *
 * @example
 * ```ts
 * const cache = createMemoryDekCache({ maxEntries: 500, ttlMs: 5 * 60_000 })
 * const provider = withDekCache(createKeyProxyClient({ baseUrl }), cache, { partition: tenantId })
 * ```
 * @throws {InvalidArgumentError} `maxEntries`, `ttlMs` or `purgeIntervalMs` is not a positive integer. Its
 * `set` throws it too for an extractable key or a key that is not a `CryptoKey`.
 */
export function createMemoryDekCache(options: MemoryDekCacheOptions): DekCache {
  return new MemoryDekCache(checkOptions(options))
}

class MemoryDekCache implements DekCache {
  readonly backend = 'memory'
  private readonly entries = new Map<string, MemoryEntry>()
  private readonly options: CheckedOptions
  private lastPurge: number

  constructor(options: CheckedOptions) {
    this.options = options
    this.lastPurge = options.now()
  }

  async get(partition: string, key: string): Promise<CryptoKey | undefined> {
    return (await this.getEntry(partition, key))?.dek
  }

  async getEntry(partition: string, key: string): Promise<CachedDek | undefined> {
    checkId(partition, key)
    const id = idOf(partition, key)
    const entry = this.entries.get(id)
    if (!entry) return undefined
    this.entries.delete(id)
    if (entry.expiresAt <= this.options.now()) return undefined // expired: dropped, never served
    this.entries.set(id, entry) // most recently used goes last
    return { dek: entry.dek, expiresAt: entry.expiresAt }
  }

  async set(partition: string, key: string, dek: CryptoKey, setOptions?: DekCacheSetOptions): Promise<void> {
    checkId(partition, key)
    checkDek(dek)
    const now = this.options.now()
    const expiresAt = expiryOf(now, this.options.ttlMs, setOptions)
    const id = idOf(partition, key)
    this.entries.delete(id)
    if (expiresAt <= now) return
    this.entries.set(id, { partition, dek, expiresAt })
    if (now - this.lastPurge >= this.options.purgeIntervalMs) this.purgeAt(now)
    if (this.entries.size > this.options.maxEntries) this.purgeAt(now) // expired entries go before live ones
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.options.maxEntries) break
      this.entries.delete(oldest)
    }
  }

  async delete(partition: string, key: string): Promise<void> {
    checkId(partition, key)
    this.entries.delete(idOf(partition, key))
  }

  async clearPartition(partition: string): Promise<void> {
    checkPartition(partition)
    for (const [id, entry] of this.entries) if (entry.partition === partition) this.entries.delete(id)
  }

  /** Drops every entry of a partition synchronously (used by the tiered cache on a message from another tab). */
  dropPartition(partition: string): void {
    for (const [id, entry] of this.entries) if (entry.partition === partition) this.entries.delete(id)
  }

  async clear(): Promise<void> {
    this.entries.clear()
  }

  dropAll(): void {
    this.entries.clear()
  }

  async purge(): Promise<number> {
    return this.purgeAt(this.options.now())
  }

  async size(): Promise<number> {
    return this.entries.size
  }

  close(): void {
    this.entries.clear()
  }

  private purgeAt(now: number): number {
    this.lastPurge = now
    let removed = 0
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt <= now) {
        this.entries.delete(id)
        removed++
      }
    }
    return removed
  }
}

/** The memory backend's class, for the tiered cache (not exported from the package). */
export type { MemoryDekCache }
export function createMemoryTier(options: CheckedOptions): MemoryDekCache {
  return new MemoryDekCache(options)
}
