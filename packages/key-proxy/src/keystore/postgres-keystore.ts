/**
 * The shared keystore: every record in one PostgreSQL table, so several stateless proxy instances (and their
 * workers) keep one set of tenants, KMS entries, local keys and leases. Through `pg` (node-postgres).
 *
 * - **Schema** (schema.sql below): `envelope_keystore_records (kind, key, value jsonb, version, seq, changed_at)`;
 *   migrations are versioned in `envelope_keystore_migrations` and run at open, under an advisory lock, so
 *   instances starting at once apply each one exactly once.
 * - **Writes** are transactions under one advisory lock (`pg_advisory_xact_lock`): read the record, `change`,
 *   write it with the next value of a sequence (`seq`), `NOTIFY`, commit. One writer at a time across every
 *   instance, so no update is lost, and `seq` grows in commit order (a reader that sees a change sees every
 *   earlier one). Admin writes are rare; a write takes about a millisecond. A deleted record stays as a
 *   tombstone (`value` null) so that every instance learns of the delete.
 * - **Reads** come from this process's copy of the table, kept current by `LISTEN envelope_keystore` and by a
 *   poll of `seq > last seen` every `pollMs` (the fallback when a notification is lost), so a change made by any
 *   instance is applied everywhere within `pollMs` plus a query, and `watch` listeners are told. A copy that has
 *   not been confirmed current for `staleAfterMs` (the database unreachable) is not served: reads then reject
 *   with `ERR_KEYSTORE_UNAVAILABLE`, and listeners get `{ kind: '*' }` so that caches drop what they hold, key
 *   material of a destroyed key included.
 * - **shred()** runs `VACUUM FULL` on the table: the dead versions of rows (sealed key material before a
 *   destroy) are rewritten away. PostgreSQL's WAL and backups keep them until they are recycled: see
 *   docs/operations.md.
 *
 * @example
 * ```ts
 * const keystore = await PostgresKeystore.open({ url: 'postgres://envelope@db.internal/envelope' })
 * await keystore.update('tenant', 'acme', (current) => current ?? { primary: 'default', entries: [entry] })
 * ```
 * @throws {ProxyError} `ERR_KEYSTORE_UNAVAILABLE` when the database cannot be reached or used (from `open`, and
 * from reads and writes); whatever `change` throws, from `update` (nothing written)
 * @module
 */
import pg from 'pg'
import { ProxyError } from '../errors.ts'
import { postgresPool } from '../postgres-pool.ts'
import type { Keystore, KeystoreChange, KeystoreUpdate } from './keystore.ts'
import { KEYSTORE_KINDS, type KeystoreKind, type KeystoreRecords } from './records.ts'

const CHANNEL = 'envelope_keystore'
/** pg_advisory lock keys (bigint): migrations, and writes. */
const MIGRATION_LOCK = 7_301_771_001
const WRITE_LOCK = 7_301_771_002

/** Versioned, each applied once (recorded in envelope_keystore_migrations), in order. */
const MIGRATIONS: ReadonlyArray<{ version: number; sql: string }> = [
  {
    version: 1,
    sql: `
      create sequence if not exists envelope_keystore_seq;
      create table if not exists envelope_keystore_records (
        kind text not null,
        key text not null,
        value jsonb,
        version bigint not null,
        seq bigint not null,
        changed_at timestamptz not null default clock_timestamp(),
        primary key (kind, key)
      );
      create index if not exists envelope_keystore_records_seq on envelope_keystore_records (seq);`,
  },
  {
    version: 2,
    // Facts every instance on the store must agree on (the root key's fingerprint).
    sql: `create table if not exists envelope_keystore_meta (name text primary key, value text not null);`,
  },
]

/** The URL without its password (for messages and logs). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.href
  } catch {
    return 'postgres://…'
  }
}

export interface PostgresKeystoreOptions {
  /** Connection string, e.g. `postgres://user@host:5432/db` (a password in it, or from PGPASSWORD). */
  readonly url: string
  /** Connections in this process's pool. Default 4. */
  readonly poolSize?: number
  /** The poll that backs LISTEN up, in ms. Default 250. */
  readonly pollMs?: number
  /** How long the copy is served without a successful poll, in ms. Default 1000. */
  readonly staleAfterMs?: number
  /** Told of failures of the database (for metrics and logs): the operation, and the error. */
  readonly onError?: (op: string, err: unknown) => void
  /** Told when a change made elsewhere is applied here, with its age in seconds (the database's clock). */
  readonly onRemoteChange?: (seconds: number) => void
}

type Row = { kind: string; key: string; value: unknown; seq: string; age?: number }

function unavailable(what: string, err: unknown): ProxyError {
  const code = (err as { code?: string })?.code
  return new ProxyError('ERR_KEYSTORE_UNAVAILABLE', `the keystore database ${what} (${code ?? 'error'})`, {
    cause: err,
  })
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

export class PostgresKeystore implements Keystore {
  /** Connects, runs the migrations, reads the table and starts listening. */
  static async open(options: PostgresKeystoreOptions): Promise<PostgresKeystore> {
    // A database that stops answering fails requests instead of holding them (and the copy turns stale).
    const pool = postgresPool(options.url, options.poolSize)
    pool.on('error', (err) => options.onError?.('pool', err)) // an idle connection lost: the pool makes another
    const ks = new PostgresKeystore(pool, options)
    try {
      await ks.#migrate()
      await ks.#poll()
      await ks.#listen()
    } catch (err) {
      await ks.close()
      throw err instanceof ProxyError ? err : unavailable('cannot be used', err)
    }
    ks.#timer = setInterval(() => {
      ks.#checkStale() // a poll that hangs counts too
      void ks.#poll().catch(() => {})
    }, ks.#pollMs)
    ks.#timer.unref?.()
    return ks
  }

  readonly #pool: pg.Pool
  readonly #options: PostgresKeystoreOptions
  readonly #pollMs: number
  readonly #staleAfterMs: number
  readonly #records = new Map<KeystoreKind, Map<string, { seq: bigint; value: unknown }>>(
    KEYSTORE_KINDS.map((k) => [k, new Map()]),
  )
  readonly #listeners = new Set<(change: KeystoreChange) => void>()
  #lastSeq = 0n
  #confirmedAt = 0
  #polling: Promise<void> | undefined
  #again = false
  #listener: pg.Client | undefined
  #timer: ReturnType<typeof setInterval> | undefined
  #stale = false
  #failing = false
  #closed = false

  private constructor(pool: pg.Pool, options: PostgresKeystoreOptions) {
    this.#pool = pool
    this.#options = options
    this.#pollMs = options.pollMs ?? 250
    this.#staleAfterMs = options.staleAfterMs ?? 1000
  }

  /**
   * A connection of the pool for a transaction. A checked-out connection has no error listener of the pool's: one
   * lost meanwhile (the server gone) would be an uncaught error; its query rejects anyway.
   */
  async #connect(): Promise<{ c: pg.PoolClient; done: (broken?: unknown) => void }> {
    const c = await this.#pool.connect()
    const ignore = () => {}
    c.on('error', ignore)
    return {
      c,
      done: (broken) => {
        c.off('error', ignore)
        c.release(broken ? (broken as Error) : undefined) // a connection that failed is closed, not reused
      },
    }
  }

  async #migrate(): Promise<void> {
    const { c, done } = await this.#connect()
    try {
      await c.query('select pg_advisory_lock($1)', [MIGRATION_LOCK])
      try {
        await c.query(`create table if not exists envelope_keystore_migrations (
          version integer primary key, applied_at timestamptz not null default now())`)
        const done = new Set(
          (await c.query<{ version: number }>('select version from envelope_keystore_migrations')).rows.map(
            (r) => r.version,
          ),
        )
        for (const m of MIGRATIONS) {
          if (done.has(m.version)) continue
          await c.query('begin')
          try {
            await c.query(m.sql)
            await c.query('insert into envelope_keystore_migrations (version) values ($1)', [m.version])
            await c.query('commit')
          } catch (err) {
            await c.query('rollback')
            throw err
          }
        }
      } finally {
        await c.query('select pg_advisory_unlock($1)', [MIGRATION_LOCK])
      }
    } finally {
      done()
    }
  }

  /** Applies every change since the last one seen; one at a time (a call during one asks for another after it). */
  #poll(): Promise<void> {
    if (this.#polling) {
      this.#again = true
      return this.#polling
    }
    const run = (async () => {
      do {
        this.#again = false
        const started = Date.now()
        let rows: Row[]
        try {
          rows = (
            await this.#pool.query<Row>(
              `select kind, key, value, seq::text as seq, extract(epoch from clock_timestamp() - changed_at)::float8 as age
                 from envelope_keystore_records where seq > $1 order by seq`,
              [this.#lastSeq.toString()],
            )
          ).rows
        } catch (err) {
          this.#failing = true
          this.#options.onError?.('poll', err)
          this.#checkStale()
          throw unavailable('cannot be reached', err)
        }
        this.#failing = false
        const first = this.#confirmedAt === 0
        for (const row of rows) this.#apply(row, true, !first)
        this.#confirmedAt = started
        this.#stale = false
      } while (this.#again)
    })()
    this.#polling = run.finally(() => {
      this.#polling = undefined
    })
    return this.#polling
  }

  /**
   * One row into the copy. `polled`: from the poll, in seq order (the last seen moves on); otherwise this process's
   * own write, applied at once (the poll, which may still owe earlier changes, meets it again and skips it).
   */
  #apply(row: Row, polled: boolean, remote = polled): void {
    const kind = row.kind as KeystoreKind
    const byKey = this.#records.get(kind)
    const seq = BigInt(row.seq)
    if (polled && seq > this.#lastSeq) this.#lastSeq = seq
    if (!byKey) return // a kind a newer version writes: not this one's
    const had = byKey.get(row.key)
    if (had && had.seq >= seq) return // already applied (this process's own write)
    byKey.set(row.key, { seq, value: row.value === null ? undefined : deepFreeze(row.value) })
    if (remote && typeof row.age === 'number') this.#options.onRemoteChange?.(Math.max(0, row.age))
    this.#tell({ kind, key: row.key })
  }

  /** Past `staleAfterMs` without a confirmed poll: caches must drop everything, reads are refused. */
  #checkStale(): void {
    if (!this.#stale && Date.now() - this.#confirmedAt > this.#staleAfterMs) {
      this.#stale = true
      this.#tell({ kind: '*' })
    }
  }

  async #listen(): Promise<void> {
    if (this.#closed) return
    const client = new pg.Client({ connectionString: this.#options.url, connectionTimeoutMillis: 2000 })
    const lost = (err?: unknown) => {
      if (this.#listener !== client) return
      this.#listener = undefined
      this.#options.onError?.('listen', err)
      client.end().catch(() => {})
      // The poll keeps the copy current meanwhile; listening again after a pause.
      const retry = setTimeout(() => void this.#listen().catch(() => {}), this.#pollMs)
      retry.unref?.()
    }
    client.on('error', lost)
    client.on('end', () => lost())
    client.on('notification', () => void this.#poll().catch(() => {}))
    try {
      await client.connect()
      await client.query(`listen ${CHANNEL}`)
    } catch (err) {
      client.end().catch(() => {})
      if (this.#listener === undefined && this.#confirmedAt === 0) throw err
      const retry = setTimeout(() => void this.#listen().catch(() => {}), this.#pollMs)
      retry.unref?.()
      return
    }
    this.#listener = client
    void this.#poll().catch(() => {}) // what changed while no one listened
  }

  /** The copy, current within `staleAfterMs`; otherwise one poll first, or a refusal. */
  async #current(): Promise<void> {
    if (this.#closed) throw new ProxyError('ERR_KEYSTORE_UNAVAILABLE', 'the keystore is closed')
    if (Date.now() - this.#confirmedAt <= this.#staleAfterMs) return
    await this.#poll()
  }

  async get<K extends KeystoreKind>(kind: K, key: string): Promise<KeystoreRecords[K] | undefined> {
    await this.#current()
    return this.#records.get(kind)?.get(key)?.value as KeystoreRecords[K] | undefined
  }

  async list<K extends KeystoreKind>(kind: K, prefix = '') {
    await this.#current()
    const out: [string, KeystoreRecords[K]][] = []
    for (const [key, r] of this.#records.get(kind) ?? []) {
      if (r.value !== undefined && key.startsWith(prefix)) out.push([key, r.value as KeystoreRecords[K]])
    }
    return out
  }

  async update<K extends KeystoreKind>(
    kind: K,
    key: string,
    change: (current: KeystoreRecords[K] | undefined) => KeystoreUpdate<K> | Promise<KeystoreUpdate<K>>,
  ): Promise<KeystoreRecords[K] | undefined> {
    if (this.#closed) throw new ProxyError('ERR_KEYSTORE_UNAVAILABLE', 'the keystore is closed')
    if (!KEYSTORE_KINDS.includes(kind)) throw new TypeError(`not a keystore kind: ${kind}`)
    let c: pg.PoolClient
    let done: (broken?: unknown) => void
    try {
      ;({ c, done } = await this.#connect())
    } catch (err) {
      this.#options.onError?.('write', err)
      throw unavailable('cannot be reached', err)
    }
    let failedInChange = false
    let broken: unknown
    try {
      await c.query('begin')
      await c.query('select pg_advisory_xact_lock($1)', [WRITE_LOCK])
      const found = await c.query<{ value: unknown }>(
        'select value from envelope_keystore_records where kind = $1 and key = $2',
        [kind, key],
      )
      const stored = found.rows[0]?.value
      const current = (stored === null || stored === undefined ? undefined : deepFreeze(stored)) as
        | KeystoreRecords[K]
        | undefined
      let next: KeystoreUpdate<K>
      try {
        next = await change(current)
      } catch (err) {
        failedInChange = true
        throw err
      }
      if (next === current || (next == null && current === undefined)) {
        await c.query('commit')
        return current
      }
      const value = next == null ? null : JSON.stringify(next)
      const written = await c.query<{ seq: string }>(
        `insert into envelope_keystore_records (kind, key, value, version, seq)
           values ($1, $2, $3::jsonb, 1, nextval('envelope_keystore_seq'))
         on conflict (kind, key) do update
           set value = excluded.value, version = envelope_keystore_records.version + 1,
               seq = excluded.seq, changed_at = clock_timestamp()
         returning seq::text as seq`,
        [kind, key, value],
      )
      await c.query('select pg_notify($1, $2)', [CHANNEL, written.rows[0]!.seq])
      await c.query('commit')
      const record = next == null ? undefined : deepFreeze(structuredClone(next))
      this.#apply({ kind, key, value: record ?? null, seq: written.rows[0]!.seq }, false)
      return record as KeystoreRecords[K] | undefined
    } catch (err) {
      await c.query('rollback').catch(() => {})
      if (failedInChange) throw err
      broken = err
      this.#options.onError?.('write', err)
      throw unavailable('could not write', err)
    } finally {
      done(broken)
    }
  }

  watch(listener: (change: KeystoreChange) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async shred(): Promise<void> {
    try {
      await this.#pool.query('vacuum full envelope_keystore_records')
    } catch (err) {
      this.#options.onError?.('shred', err)
      throw unavailable('could not be vacuumed', err)
    }
  }

  /**
   * The value every instance must agree on under `name`: stored by the first to ask, returned to every later one.
   * @throws {ProxyError} `ERR_KEYSTORE_UNAVAILABLE` when the database cannot be used
   */
  async agree(name: string, value: string): Promise<string> {
    try {
      const { rows } = await this.#pool.query<{ value: string }>(
        `insert into envelope_keystore_meta (name, value) values ($1, $2)
           on conflict (name) do update set name = excluded.name returning value`,
        [name, value],
      )
      return rows[0]!.value
    } catch (err) {
      this.#options.onError?.('meta', err)
      throw unavailable('cannot be used', err)
    }
  }

  /** Resolves once every change committed before the call is applied here (one poll): keystore.ts. */
  async catchUp(): Promise<void> {
    await this.#poll()
  }

  /** True while the database answers and the copy is current (readiness). */
  get healthy(): boolean {
    return !this.#closed && !this.#failing && Date.now() - this.#confirmedAt <= this.#staleAfterMs
  }

  async close(): Promise<void> {
    this.#closed = true
    if (this.#timer) clearInterval(this.#timer)
    this.#listeners.clear()
    const l = this.#listener
    this.#listener = undefined
    await l?.end().catch(() => {})
    await this.#pool.end().catch(() => {})
  }

  #tell(change: KeystoreChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change)
      } catch (err) {
        console.error(`[key-proxy] keystore listener failed: ${(err as Error)?.message ?? err}`)
      }
    }
  }
}
