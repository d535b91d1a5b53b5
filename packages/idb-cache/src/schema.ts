/**
 * The IndexedDB schema of the DEK cache (version 1).
 * @module
 */
import type { DBSchema } from 'idb'

/**
 * The database version this package creates and reads; a database of another version is not touched.
 *
 * @example
 * ```ts
 * const db = await openDB<DekCacheDB>(DEFAULT_DB_NAME, SCHEMA_VERSION) // idb; read-only inspection, e.g. in a test
 * ```
 */
export const SCHEMA_VERSION = 1

/**
 * The default database name.
 *
 * @example
 * ```ts
 * indexedDB.deleteDatabase(DEFAULT_DB_NAME) // forget every cached DEK of this origin
 * ```
 */
export const DEFAULT_DB_NAME = 'envelope-dek-cache'

/**
 * One stored entry. `dek` is a non-extractable `CryptoKey` kept by structured clone, never key bytes.
 *
 * @example
 * ```ts
 * const entries: StoredDek[] = await db.getAll('deks') // dek: CryptoKey, extractable false
 * ```
 */
export interface StoredDek {
  readonly partition: string
  readonly key: string
  readonly dek: CryptoKey
  /** On the cache's clock, ms: never served at or after it. */
  readonly expiresAt: number
  /** A logical clock for LRU order: max(now, newest lastUsed + 1), so ties never make eviction order arbitrary. */
  readonly lastUsed: number
}

/**
 * The typed schema: primary key `[partition, key]`, so one partition is one key range.
 *
 * @example
 * ```ts
 * import { openDB } from 'idb'
 * const db = await openDB<DekCacheDB>(DEFAULT_DB_NAME, SCHEMA_VERSION)
 * const soonest = await db.getAllFromIndex('deks', 'by-expiry', IDBKeyRange.upperBound(Date.now()))
 * ```
 */
export interface DekCacheDB extends DBSchema {
  deks: {
    key: [string, string]
    value: StoredDek
    indexes: { 'by-expiry': number; 'by-lastUsed': number }
  }
}

export const STORE = 'deks'
