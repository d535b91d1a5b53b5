/**
 * The cache an app opens: a memory tier for hot entries in front of IndexedDB, or memory alone where IndexedDB is
 * missing or failing (Node, Deno, Bun, workerd, private browsing, quota). It degrades; it does not fail.
 * @module
 */
import {
  type CachedDek,
  checkId,
  checkOptions,
  checkPartition,
  type DekCache,
  type DekCacheSetOptions,
} from './dek-cache.ts'
import { type IdbDekCache, type IdbDekCacheOptions, openIdbBackend } from './idb-cache.ts'
import { createMemoryTier, type MemoryDekCache } from './memory-cache.ts'
import { DEFAULT_DB_NAME } from './schema.ts'

/**
 * Options of {@link openDekCache}.
 *
 * @example
 * ```ts
 * const cache = await openDekCache({ maxEntries: 5000, memoryEntries: 200, ttlMs: 10 * 60_000 })
 * ```
 */
export interface OpenDekCacheOptions extends IdbDekCacheOptions {
  /** Entries the memory tier keeps (default: `maxEntries`, at most 256). */
  readonly memoryEntries?: number
}

const DEFAULT_MEMORY_ENTRIES = 256

/** What tabs tell each other, so that a logout in one tab also empties the memory tier of the others. */
type TabMessage =
  | { readonly type: 'delete'; readonly partition: string; readonly key: string }
  | { readonly type: 'clearPartition'; readonly partition: string }
  | { readonly type: 'clear' }

/**
 * Opens the DEK cache: memory in front of IndexedDB when IndexedDB works, memory alone otherwise. When IndexedDB is
 * missing, refuses to open, or fails later (quota, DataCloneError, closed by another tab or by the browser), the
 * cache keeps working from memory and calls `console.warn` once, with the error's name only (never a key).
 * `clear`, `clearPartition` and `delete` reach the memory tiers of the origin's other tabs (BroadcastChannel).
 *
 * @example
 * ```ts
 * // At startup (opening IndexedDB costs ~15–30 ms after a reload: do it early, not on the first decrypt).
 * const cache = await openDekCache({ maxEntries: 1000, ttlMs: 10 * 60_000 })
 * const provider = withDekCache(createKeyProxyClient({ baseUrl }), cache, { partition: tenantId })
 * // On logout:
 * await cache.clearPartition(tenantId)
 * ```
 * @throws {InvalidArgumentError} bad options (never a storage failure). Its `set` throws it for an extractable key.
 */
export async function openDekCache(options: OpenDekCacheOptions): Promise<DekCache> {
  const checked = checkOptions(options)
  const memoryEntries = options.memoryEntries ?? Math.min(checked.maxEntries, DEFAULT_MEMORY_ENTRIES)
  const memory = createMemoryTier(checkOptions({ ...checked, maxEntries: memoryEntries }))
  const tiered = new TieredDekCache(memory, options.name ?? DEFAULT_DB_NAME)
  if (options.indexedDB === null) return tiered // the caller asked for memory only: nothing to warn about
  try {
    tiered.attach(await openIdbBackend(options))
  } catch (err) {
    tiered.degrade(err)
  }
  return tiered
}

function errorName(err: unknown): string {
  const cause = (err as { cause?: { name?: unknown } })?.cause
  const name = typeof cause?.name === 'string' ? cause.name : (err as { name?: unknown })?.name
  return typeof name === 'string' ? name : 'unknown error'
}

class TieredDekCache implements DekCache {
  private readonly memory: MemoryDekCache
  private persistent: IdbDekCache | undefined
  private readonly channel: BroadcastChannel | undefined
  private warned = false
  // Bumped when another tab clears: an IndexedDB read that started before must not refill the memory tier.
  private generation = 0

  constructor(memory: MemoryDekCache, name: string) {
    this.memory = memory
    if (typeof BroadcastChannel === 'function') {
      this.channel = new BroadcastChannel(`envelope-dek-cache:${name}`)
      this.channel.onmessage = (event: MessageEvent<TabMessage>) => this.onTabMessage(event.data)
      ;(this.channel as { unref?: () => void }).unref?.() // Node: do not keep the process alive
    }
  }

  get backend(): DekCache['backend'] {
    return this.persistent ? 'memory+indexeddb' : 'memory'
  }

  attach(persistent: IdbDekCache): void {
    this.persistent = persistent
  }

  /** Goes to memory only, for good, with one warning that names the error but holds no key material. */
  degrade(err: unknown): void {
    const persistent = this.persistent
    this.persistent = undefined
    try {
      persistent?.close()
    } catch {
      // already closed
    }
    if (this.warned) return
    this.warned = true
    console.warn(`envelope idb-cache: IndexedDB unavailable (${errorName(err)}); caching data keys in memory only`)
  }

  async get(partition: string, key: string): Promise<CryptoKey | undefined> {
    return (await this.getEntry(partition, key))?.dek
  }

  async getEntry(partition: string, key: string): Promise<CachedDek | undefined> {
    checkId(partition, key)
    const hot = await this.memory.getEntry(partition, key)
    if (hot) this.persistent?.touchLater(partition, key) // keeps IndexedDB's LRU order true to use
    if (hot || !this.persistent) return hot
    const generation = this.generation
    let cold: CachedDek | undefined
    try {
      cold = await this.persistent.getEntry(partition, key)
    } catch (err) {
      this.degrade(err)
      return undefined
    }
    if (cold && generation === this.generation) {
      await this.memory.set(partition, key, cold.dek, { expiresAt: cold.expiresAt })
    }
    return cold
  }

  async set(partition: string, key: string, dek: CryptoKey, options?: DekCacheSetOptions): Promise<void> {
    await this.memory.set(partition, key, dek, options) // validates first: bad input throws, storage never does
    const cached = await this.memory.getEntry(partition, key)
    if (!cached || !this.persistent) return
    await this.persistently((p) => p.set(partition, key, dek, { expiresAt: cached.expiresAt }))
  }

  async delete(partition: string, key: string): Promise<void> {
    await this.memory.delete(partition, key)
    await this.persistently((p) => p.delete(partition, key))
    this.tell({ type: 'delete', partition, key })
  }

  async clearPartition(partition: string): Promise<void> {
    checkPartition(partition)
    this.memory.dropPartition(partition)
    await this.persistently((p) => p.clearPartition(partition))
    this.tell({ type: 'clearPartition', partition })
  }

  async clear(): Promise<void> {
    await this.memory.clear()
    await this.persistently((p) => p.clear())
    this.tell({ type: 'clear' })
  }

  async purge(): Promise<number> {
    const removed = await this.memory.purge()
    return (await this.persistently((p) => p.purge())) ?? removed
  }

  async size(): Promise<number> {
    return (await this.persistently((p) => p.size())) ?? (await this.memory.size())
  }

  close(): void {
    this.channel?.close()
    this.memory.close()
    try {
      this.persistent?.close()
    } catch {
      // already closed
    }
    this.persistent = undefined
  }

  private async persistently<T>(op: (p: IdbDekCache) => Promise<T>): Promise<T | undefined> {
    if (!this.persistent) return undefined
    try {
      return await op(this.persistent)
    } catch (err) {
      this.degrade(err)
      return undefined
    }
  }

  private tell(message: TabMessage): void {
    try {
      this.channel?.postMessage(message)
    } catch {
      // closed: nothing to tell
    }
  }

  private onTabMessage(message: TabMessage): void {
    this.generation++
    if (message?.type === 'clear') this.memory.dropAll()
    else if (message?.type === 'clearPartition' && typeof message.partition === 'string') {
      this.memory.dropPartition(message.partition)
    } else if (message?.type === 'delete' && typeof message.partition === 'string') {
      this.memory.delete(message.partition, message.key).catch(() => {})
    }
  }
}
