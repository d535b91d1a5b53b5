/**
 * The keystore: everything the key proxy must remember, as records of a few kinds (records.ts) under string
 * keys. The embedded default is the file keystore (file-keystore.ts: one JSON file in the data folder); a
 * database keystore (PostgreSQL, for several stateless instances) implements the same interface.
 *
 * The contract, for every implementation:
 *
 * - **Values are immutable.** `get` and `list` return records the caller must not modify (the file keystore
 *   returns frozen objects); a change is a new value stored by `update`.
 * - **`update` is an atomic read-modify-write of one record**: `change` sees the current value and returns the
 *   next, and no other update of that record (in this process or any other sharing the store) runs in between,
 *   so no update is ever lost. Updates of different records are independent: there is no transaction over
 *   several records, so callers order their writes to be safe in any interleaving (e.g. a lease record is written
 *   before the tenant record points at it).
 * - **`change` is pure and short**: it may run more than once (an implementation may retry after a conflict),
 *   must depend only on `current`, and must not call a KMS or the keystore (a database keystore holds a row lock
 *   while it runs). It may be async for local work such as sealing key material.
 * - **Durable when resolved**: once `update` resolves, the change survives a crash of the process or the machine.
 * - **`watch`** tells of every committed change (this process's and, where the store is shared, other
 *   processes' and instances'), after it is visible to `get`, so caches drop what changed. A listener may get
 *   `{ kind: '*' }` when changes may have been missed (a lost database connection): drop everything.
 * - **Failures** of the store itself (a file that cannot be written, a database that cannot be reached) reject
 *   with `ProxyError('ERR_KEYSTORE_UNAVAILABLE')`; an error `change` throws rejects `update` unchanged, and
 *   nothing is written.
 *
 * @example
 * ```ts
 * const keystore = FileKeystore.open({ file: '.envelope-data/keys.json' })
 * await keystore.update('tenant', 'acme', (current) => current ?? { primary: 'default', entries: [entry] })
 * const acme = await keystore.get('tenant', 'acme')
 * const stop = keystore.watch((change) => cache.delete(`${change.kind}:${'key' in change ? change.key : ''}`))
 * ```
 * @module
 */
import type { KeystoreKind, KeystoreRecords } from './records.ts'

/**
 * A committed change of one record, or `{ kind: '*' }`: anything may have changed.
 *
 * @example
 * ```ts
 * keystore.watch((c) => (c.kind === '*' ? cache.clear() : cache.delete(`${c.kind}:${c.key}`)))
 * ```
 */
export type KeystoreChange = { readonly kind: KeystoreKind; readonly key: string } | { readonly kind: '*' }

/**
 * What `change` returns in {@link Keystore.update}: the next record, `null` to delete the record, or `current`
 * itself (the same object) to leave it as it is (then nothing is written and no one is told).
 *
 * @example
 * ```ts
 * await keystore.update('lease', id, (current) => current ?? lease) // create once, else leave as it is
 * ```
 */
export type KeystoreUpdate<K extends KeystoreKind> = KeystoreRecords[K] | null | undefined

/**
 * Everything the key proxy must remember, with the contract of this module's documentation.
 *
 * @example
 * ```ts
 * const keystore: Keystore = FileKeystore.open({ file: '.envelope-data/keys.json' })
 * const tenants = await keystore.list('tenant')
 * ```
 */
export interface Keystore {
  /** The record, or undefined when there is none. */
  get<K extends KeystoreKind>(kind: K, key: string): Promise<KeystoreRecords[K] | undefined>
  /** Every record of a kind (whose key starts with `prefix`, when given), in no particular order. */
  list<K extends KeystoreKind>(
    kind: K,
    prefix?: string,
  ): Promise<ReadonlyArray<readonly [key: string, record: KeystoreRecords[K]]>>
  /**
   * Atomic read-modify-write of one record (see the module's contract). Resolves with the record as stored
   * (undefined when deleted or absent), once durable.
   * @throws whatever `change` throws (nothing written); `ERR_KEYSTORE_UNAVAILABLE` when the store fails
   */
  update<K extends KeystoreKind>(
    kind: K,
    key: string,
    change: (current: KeystoreRecords[K] | undefined) => KeystoreUpdate<K> | Promise<KeystoreUpdate<K>>,
  ): Promise<KeystoreRecords[K] | undefined>
  /**
   * Where the store is shared by instances whose changes arrive within a bound (PostgreSQL): resolves once every
   * change committed anywhere before the call is applied here. A reader that meets a record (or a version of one)
   * that another instance may have just made calls it once before refusing. Absent where changes are seen at once.
   */
  catchUp?(): Promise<void>
  /** Calls `listener` after every committed change; returns the function that stops it. */
  watch(listener: (change: KeystoreChange) => void): () => void
  /**
   * After material was removed (a destroyed key): makes sure no leftover copy of it remains where the store
   * keeps data (the file keystore: temp files of interrupted writes; a database: its dead rows). Resolves once done.
   */
  shred(): Promise<void>
  /** Releases the store (the file keystore: the data folder's lock). */
  close(): Promise<void>
}
