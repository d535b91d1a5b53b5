/**
 * The IndexedDB backend: non-extractable `CryptoKey`s stored by structured clone, keyed by `[partition, key]`,
 * with a by-expiry index (purge) and a by-lastUsed index (LRU eviction). Shared by the tabs of an origin and
 * kept across reloads.
 *
 * Concurrency: every read-modify-write (store + evict, touch, purge) runs in one readwrite transaction, and
 * IndexedDB runs readwrite transactions on the same store one after the other, across tabs too. Two tabs writing
 * the same entry at once: the last write wins, which is harmless (both wrote a DEK unwrapped from the same EDEK).
 *
 * idb's README, "Transaction lifetime": "Do not `await` other things between the start and end of your
 * transaction, otherwise the transaction will close before you're done." So the clock is read and the key checked
 * before a transaction starts, and inside one only IndexedDB requests are awaited.
 * @module
 */
import { type IDBPDatabase, type IDBPObjectStore, wrap } from 'idb'
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
import { CacheUnavailableError } from './errors.ts'
import { DEFAULT_DB_NAME, type DekCacheDB, SCHEMA_VERSION, STORE, type StoredDek } from './schema.ts'

/**
 * Options of {@link openIdbDekCache}.
 *
 * @example
 * ```ts
 * const cache = await openIdbDekCache({ name: 'my-app-deks', maxEntries: 1000, ttlMs: 600_000, openTimeoutMs: 5000 })
 * ```
 */
export interface IdbDekCacheOptions extends DekCacheOptions {
  /** Database name (default `envelope-dek-cache`); one per app, or per user profile if you prefer. */
  readonly name?: string
  /** The IndexedDB factory (default `globalThis.indexedDB`); `null` means there is none. */
  readonly indexedDB?: IDBFactory | null
  /** Give up opening after this long (default 10 000 ms): some browsers leave `open` pending forever. */
  readonly openTimeoutMs?: number
}

const DEFAULT_OPEN_TIMEOUT_MS = 10_000

type Store = IDBPObjectStore<DekCacheDB, ['deks'], 'deks', 'readwrite'>

/** Longest a recorded use waits to be written when no other write comes (see touchLater). */
const TOUCH_DELAY_MS = 250

/**
 * Opens (creating if needed) the IndexedDB DEK cache and purges its expired entries. Prefer {@link openDekCache},
 * which puts a memory tier in front and falls back to memory instead of throwing.
 *
 * @example
 * ```ts
 * const cache = await openIdbDekCache({ name: 'envelope-dek-cache', maxEntries: 1000, ttlMs: 10 * 60_000 })
 * await cache.set('acme', await dekCacheKey(edeks, context), dek)
 * ```
 * @throws {CacheUnavailableError} IndexedDB is missing, refuses to open (SecurityError), is blocked by another
 * tab, holds a newer schema (VersionError), or does not open within `openTimeoutMs`. Its methods throw it when a
 * transaction fails (QuotaExceededError, DataCloneError, the connection was closed).
 * @throws {InvalidArgumentError} bad options; from `set`, an extractable key.
 */
export function openIdbDekCache(options: IdbDekCacheOptions): Promise<DekCache> {
  return openIdbBackend(options)
}

/** {@link openIdbDekCache} with the class type, for the tiered cache. */
export async function openIdbBackend(options: IdbDekCacheOptions): Promise<IdbDekCache> {
  const checked = checkOptions(options)
  const factory = options.indexedDB === undefined ? globalThis.indexedDB : options.indexedDB
  if (!factory) throw new CacheUnavailableError('IndexedDB is not available in this runtime')
  const name = options.name ?? DEFAULT_DB_NAME
  const db = await openDatabase(factory, name, options.openTimeoutMs ?? DEFAULT_OPEN_TIMEOUT_MS)
  const cache = new IdbDekCache(db, checked)
  await cache.purge()
  return cache
}

function openDatabase(factory: IDBFactory, name: string, timeoutMs: number): Promise<IDBPDatabase<DekCacheDB>> {
  return new Promise((resolve, reject) => {
    let settled = false
    let request: IDBOpenDBRequest
    const fail = (message: string, cause?: unknown) => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      reject(new CacheUnavailableError(message, { cause }))
    }
    const timer = setTimeout(() => fail('IndexedDB did not open in time'), timeoutMs)
    try {
      request = factory.open(name, SCHEMA_VERSION)
    } catch (err) {
      fail('IndexedDB refused to open the DEK cache', err) // SecurityError: opaque origin, storage disabled
      return
    }
    request.onupgradeneeded = (event) => {
      if (event.oldVersion < 1) {
        const store = request.result.createObjectStore(STORE, { keyPath: ['partition', 'key'] })
        store.createIndex('by-expiry', 'expiresAt')
        store.createIndex('by-lastUsed', 'lastUsed')
      }
    }
    // Another tab holds an older version open and does not close it: do not wait for it.
    request.onblocked = () => fail('IndexedDB is blocked by another connection')
    request.onerror = (event) => {
      event.preventDefault() // handled here: not an uncaught error of the page
      fail('IndexedDB failed to open the DEK cache', request.error)
    }
    request.onsuccess = () => {
      const raw = request.result
      if (settled) {
        raw.close() // opened after we gave up (blocked, timed out): do not hold a connection nobody uses
        return
      }
      if (!raw.objectStoreNames.contains(STORE)) {
        raw.close()
        fail('the IndexedDB database has no DEK store (created by something else)')
        return
      }
      settled = true
      clearTimeout(timer)
      resolve(wrap(raw) as unknown as IDBPDatabase<DekCacheDB>)
    }
  })
}

function unavailable(err: unknown): unknown {
  if (err instanceof CacheUnavailableError) return err
  const name = (err as { name?: unknown })?.name
  return new CacheUnavailableError(`IndexedDB operation failed${typeof name === 'string' ? ` (${name})` : ''}`, {
    cause: err,
  })
}

const ignore = () => {}

export class IdbDekCache implements DekCache {
  readonly backend = 'indexeddb'
  private readonly db: IDBPDatabase<DekCacheDB>
  private readonly options: CheckedOptions
  private lastPurge = Number.NEGATIVE_INFINITY
  private closed = false
  private readonly touches = new Set<string>()
  private touchTimer: ReturnType<typeof setTimeout> | undefined

  constructor(db: IDBPDatabase<DekCacheDB>, options: CheckedOptions) {
    this.db = db
    this.options = options
    // Another tab upgrades or deletes the database: let it, and fail from now on (the tiered cache goes to memory).
    db.addEventListener('versionchange', () => this.close())
    // The browser closed the connection (storage cleared, disk error).
    db.addEventListener('close', () => {
      this.closed = true
    })
  }

  async get(partition: string, key: string): Promise<CryptoKey | undefined> {
    return (await this.getEntry(partition, key))?.dek
  }

  async getEntry(partition: string, key: string): Promise<CachedDek | undefined> {
    checkId(partition, key)
    const now = this.options.now()
    let value: StoredDek | undefined
    try {
      this.checkOpen()
      // A readonly transaction: reads from several tabs run in parallel; the LRU touch follows in its own.
      value = await this.db.get(STORE, [partition, key])
    } catch (err) {
      throw unavailable(err)
    }
    if (!value) return undefined
    if (value.expiresAt <= now) {
      this.write((store) => removeIfExpired(store, partition, key, now)).catch(ignore)
      return undefined // expired: never served, whether or not the purge above succeeds
    }
    // Recorded, not written now: a readwrite transaction per hit would make the next read wait for it.
    this.touchLater(partition, key)
    return { dek: value.dek, expiresAt: value.expiresAt }
  }

  async set(partition: string, key: string, dek: CryptoKey, setOptions?: DekCacheSetOptions): Promise<void> {
    checkId(partition, key)
    checkDek(dek)
    const now = this.options.now()
    const expiresAt = expiryOf(now, this.options.ttlMs, setOptions)
    const purgeDue = now - this.lastPurge >= this.options.purgeIntervalMs
    if (purgeDue) this.lastPurge = now
    const { maxEntries } = this.options
    await this.write(async (store) => {
      if (expiresAt <= now) {
        await store.delete([partition, key])
        return
      }
      const lastUsed = await nextLastUsed(store, now)
      await store.put({ partition, key, dek, expiresAt, lastUsed })
      if (purgeDue) await removeExpired(store, now)
      let count = await store.count()
      if (count > maxEntries && !purgeDue) count -= await removeExpired(store, now) // expired ones go first
      if (count > maxEntries) await evictLeastRecentlyUsed(store, count - maxEntries)
    })
  }

  async delete(partition: string, key: string): Promise<void> {
    checkId(partition, key)
    await this.write((store) => store.delete([partition, key]))
  }

  async clearPartition(partition: string): Promise<void> {
    checkPartition(partition)
    await this.write((store) => store.delete(partitionRange(partition)))
  }

  async clear(): Promise<void> {
    await this.write((store) => store.clear())
  }

  async purge(): Promise<number> {
    const now = this.options.now()
    this.lastPurge = now
    return this.write((store) => removeExpired(store, now))
  }

  async size(): Promise<number> {
    try {
      this.checkOpen()
      return await this.db.count(STORE)
    } catch (err) {
      throw unavailable(err)
    }
  }

  /**
   * Records a use (an IndexedDB hit, or a hit of a tier in front), so that IndexedDB's LRU order follows real
   * use. Uses are written in a batch: first thing in this tab's next write transaction (so an eviction there
   * sees them), or after TOUCH_DELAY_MS if no write comes. A burst of reads thus costs reads only; a tab that
   * closes within the delay loses its last uses' order, never an entry.
   */
  touchLater(partition: string, key: string): void {
    if (this.closed) return
    const id = JSON.stringify([partition, key])
    this.touches.delete(id) // re-added last: the most recent use counts
    this.touches.add(id)
    this.touchTimer ??= setTimeout(() => {
      this.touchTimer = undefined
      if (this.touches.size > 0) this.write(async () => undefined).catch(ignore)
    }, TOUCH_DELAY_MS)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.touchTimer !== undefined) clearTimeout(this.touchTimer)
    this.db.close()
  }

  private checkOpen(): void {
    if (this.closed) throw new CacheUnavailableError('the IndexedDB DEK cache is closed')
  }

  /** Runs `body` in one readwrite transaction; only IndexedDB requests may be awaited inside it. */
  private async write<T>(body: (store: Store) => Promise<T>): Promise<T> {
    try {
      this.checkOpen()
      const tx = this.db.transaction(STORE, 'readwrite')
      const done = tx.done
      done.catch(ignore) // observed here; a failure surfaces through the awaits below
      const touched = [...this.touches].map((t) => JSON.parse(t) as [string, string])
      this.touches.clear()
      try {
        const now = this.options.now()
        for (const [p, k] of touched) await touch(tx.store, p, k, now) // recorded uses first (touchLater)
        const result = await body(tx.store)
        await done
        return result
      } catch (err) {
        try {
          tx.abort()
        } catch {
          // already finished or aborted
        }
        throw err
      }
    } catch (err) {
      throw unavailable(err)
    }
  }
}

// --- transaction bodies: IndexedDB requests only ---

function partitionRange(partition: string): IDBKeyRange {
  // Array keys sort after strings, so [partition, []] is above every [partition, key].
  return IDBKeyRange.bound([partition], [partition, []])
}

async function nextLastUsed(store: Store, now: number): Promise<number> {
  const newest = await store.index('by-lastUsed').openKeyCursor(null, 'prev')
  return newest ? Math.max(now, (newest.key as number) + 1) : now
}

async function touch(store: Store, partition: string, key: string, now: number): Promise<void> {
  const entry = await store.get([partition, key])
  if (!entry || entry.expiresAt <= now) return
  const lastUsed = await nextLastUsed(store, now)
  await store.put({ ...entry, lastUsed })
}

async function removeIfExpired(store: Store, partition: string, key: string, now: number): Promise<void> {
  const entry = await store.get([partition, key])
  if (entry && entry.expiresAt <= now) await store.delete([partition, key])
}

async function removeExpired(store: Store, now: number): Promise<number> {
  let removed = 0
  let cursor = await store.index('by-expiry').openKeyCursor(IDBKeyRange.upperBound(now))
  while (cursor) {
    await store.delete(cursor.primaryKey)
    removed++
    cursor = await cursor.continue()
  }
  return removed
}

async function evictLeastRecentlyUsed(store: Store, count: number): Promise<void> {
  let cursor = await store.index('by-lastUsed').openKeyCursor()
  for (let i = 0; i < count && cursor; i++) {
    await store.delete(cursor.primaryKey)
    cursor = await cursor.continue()
  }
}
