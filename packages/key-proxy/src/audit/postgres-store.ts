/**
 * The audit store for several instances on one PostgreSQL (beside the PostgreSQL keystore, `keystore.url`): one
 * row per line, and each tenant's chain serialized by the database. An append is one transaction that locks the
 * tenant's head row (`select … for update`), links the line after it, inserts it and moves the head: instances
 * never keep chains of their own, and two appends of one tenant never race. Checkpoints are rows too, signed
 * with the key every instance shares (signer.ts, `agreedAuditSigner`).
 *
 * | table | key | what |
 * |---|---|---|
 * | `envelope_audit_lines` | `(tenant, seq)` | the line's JSON, and its time, action, outcome and caller to filter on |
 * | `envelope_audit_heads` | `tenant` | the last seq and hash, and the first seq kept (after retention) |
 * | `envelope_audit_checkpoints` | `(tenant, seq)` | a signed checkpoint's JSON |
 *
 * Reads are bounded as the file store's: a query looks at a window of at most `maxScan` seqs and says where to go on.
 * @module
 */
import type pg from 'pg'
import { ProxyError } from '../errors.ts'
import { postgresPool } from '../postgres-pool.ts'
import { type AuditEntry, type AuditRecord, type Checkpoint, chainLine, GENESIS, signCheckpoint } from './chain.ts'
import type { AuditSigner } from './signer.ts'
import { type AuditPage, type AuditQuery, type AuditStore, GroupedAppends } from './store.ts'

/**
 * Options of {@link PostgresAuditStore.open}.
 *
 * @example
 * ```ts
 * const store = await PostgresAuditStore.open({ url: 'postgres://envelope@db/envelope', signer })
 * ```
 */
export interface PostgresAuditStoreOptions {
  readonly url: string
  readonly signer: AuditSigner
  /** A checkpoint every this many lines of a tenant. Default 500. */
  readonly checkpointEvery?: number
  /** Most seqs one query looks at. Default 10,000. */
  readonly maxScan?: number
  readonly poolSize?: number
}

const SCHEMA = `
create table if not exists envelope_audit_lines (
  tenant text not null, seq bigint not null, time timestamptz not null, action text not null,
  outcome text not null, caller text, line text not null, primary key (tenant, seq));
create index if not exists envelope_audit_lines_time on envelope_audit_lines (tenant, time);
create table if not exists envelope_audit_heads (
  tenant text primary key, seq bigint not null, hash text not null, first_seq bigint not null default 1);
create table if not exists envelope_audit_checkpoints (
  tenant text not null, seq bigint not null, checkpoint text not null, primary key (tenant, seq));`

/**
 * Most lines one statement writes: two batches of 1000 unwraps in one round trip (the locked path's 7 parameters
 * a line stay within PostgreSQL's 65535 per statement).
 */
const MAX_GROUP = 2000

const unavailable = (err: unknown) =>
  new ProxyError('ERR_AUDIT_UNAVAILABLE', 'the audit database cannot be used', { cause: err })

/** A group's lines after the head, chained: the records, their stored JSON, and the new head. */
function chain(tenant: string, entries: readonly AuditEntry[], head: { seq: number; hash: string }) {
  const out: AuditRecord[] = []
  const lines: string[] = []
  let last = head
  for (const entry of entries) {
    const { record, json } = chainLine(tenant, entry, last)
    out.push(record)
    lines.push(json)
    last = { seq: record.seq, hash: record.hash }
  }
  return { out, lines, last }
}

// The lines of a group, inserted only if the tenant's head is still the one they were chained from. The lines
// come as one text, a line each (JSON has no raw newline).
// With them, the checkpoints signed at their interval.
const APPEND = `with moved as (
  update envelope_audit_heads set seq = $4, hash = $5 where tenant = $1 and seq = $2 and hash = $3 returning tenant),
signed as (
  insert into envelope_audit_checkpoints (tenant, seq, checkpoint)
  select moved.tenant, c.seq, c.checkpoint from moved, unnest($12::bigint[], $13::text[]) as c(seq, checkpoint)
  on conflict do nothing)
insert into envelope_audit_lines (tenant, seq, time, action, outcome, caller, line)
select moved.tenant, l.seq, l.time, l.action, l.outcome, l.caller, l.line
from moved, unnest($6::bigint[], $7::timestamptz[], $8::text[], $9::text[], $10::text[], string_to_array($11, E'\\n'))
  as l(seq, time, action, outcome, caller, line)`

export class PostgresAuditStore implements AuditStore {
  readonly #pool: pg.Pool
  readonly #signer: AuditSigner
  readonly #every: number
  readonly #maxScan: number
  /** Lines of one tenant written a group per transaction (group commit). */
  // Two groups in flight: the next is chained from where the last will end, and its statement waits on the head
  // row until that one commits (or finds the head elsewhere and chains again).
  readonly #appends = new GroupedAppends((tenant, entries) => this.#appendGroup(tenant, entries), MAX_GROUP, 2)
  /** Each tenant's head as this process last wrote or read it: where its next group is chained from, if still so. */
  readonly #heads = new Map<string, { seq: number; hash: string }>()

  private constructor(pool: pg.Pool, options: PostgresAuditStoreOptions) {
    this.#pool = pool
    this.#signer = options.signer
    this.#every = options.checkpointEvery ?? 500
    this.#maxScan = options.maxScan ?? 10_000
  }

  /**
   * Connects and makes the tables (once, under an advisory lock, whatever the instances starting at once).
   * @throws {ProxyError} `ERR_AUDIT_UNAVAILABLE` when the database cannot be used
   */
  static async open(options: PostgresAuditStoreOptions): Promise<PostgresAuditStore> {
    const pool = postgresPool(options.url, options.poolSize)
    pool.on('error', () => {}) // an idle connection lost: the pool makes another
    try {
      const c = await pool.connect()
      try {
        await c.query('select pg_advisory_lock(hashtext($1))', ['envelope_audit_schema'])
        await c.query(SCHEMA)
        await c.query('select pg_advisory_unlock(hashtext($1))', ['envelope_audit_schema'])
      } finally {
        c.release()
      }
    } catch (err) {
      await pool.end().catch(() => {})
      throw unavailable(err)
    }
    return new PostgresAuditStore(pool, options)
  }

  /** Runs `work` in a transaction holding the tenant's head row; the head as it was. */
  async #locked<T>(tenant: string, work: (c: pg.PoolClient, head: { seq: number; hash: string }) => Promise<T>) {
    let c: pg.PoolClient
    try {
      c = await this.#pool.connect()
    } catch (err) {
      throw unavailable(err)
    }
    // A checked-out connection has no error listener of the pool's: one lost meanwhile (the server gone) would be
    // an uncaught error; its query rejects anyway.
    const ignore = () => {}
    c.on('error', ignore)
    let broken: Error | undefined
    try {
      await c.query('begin')
      await c.query(
        'insert into envelope_audit_heads (tenant, seq, hash) values ($1, 0, $2) on conflict (tenant) do nothing',
        [tenant, GENESIS],
      )
      const { rows } = await c.query<{ seq: string; hash: string }>(
        'select seq, hash from envelope_audit_heads where tenant = $1 for update',
        [tenant],
      )
      const result = await work(c, { seq: Number(rows[0]!.seq), hash: rows[0]!.hash })
      await c.query('commit')
      return result
    } catch (err) {
      await c.query('rollback').catch(() => {})
      if (!(err instanceof ProxyError)) broken = err as Error // a connection that failed is closed, not reused
      throw err instanceof ProxyError ? err : unavailable(err)
    } finally {
      c.off('error', ignore)
      c.release(broken)
    }
  }

  async #sign(c: pg.PoolClient, tenant: string, head: { seq: number; hash: string }): Promise<Checkpoint> {
    const cp = signCheckpoint(this.#signer.privateKey, this.#signer.kid, { tenant, ...head })
    await c.query(
      'insert into envelope_audit_checkpoints (tenant, seq, checkpoint) values ($1, $2, $3) on conflict do nothing',
      [tenant, cp.seq, JSON.stringify(cp)],
    )
    return cp
  }

  append(tenant: string, entry: AuditEntry): Promise<AuditRecord> {
    return this.#appends.append(tenant, entry)
  }

  /**
   * A group of lines (GroupedAppends), in one statement in the common case: chained from the head this process
   * last saw, and inserted only if the head row still says so (the update of a data-modifying CTE is the
   * check; another instance's append in between makes it insert nothing, and the group is chained again from
   * the head as it is now), with the checkpoints due among them. A group that keeps losing the race takes the
   * tenant's head row in a transaction instead. One round trip where the locked path needs six: each waits its
   * turn behind the event loop's crypto work under load.
   */
  async #appendGroup(tenant: string, entries: readonly AuditEntry[]): Promise<AuditRecord[]> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const head = this.#heads.get(tenant) ?? (await this.#readHead(tenant))
      const { out, lines, last } = chain(tenant, entries, head)
      this.#heads.set(tenant, last) // where the next group starts, if this one goes in
      const checkpoints = out
        .filter((r) => r.seq % this.#every === 0)
        .map((r) => signCheckpoint(this.#signer.privateKey, this.#signer.kid, { tenant, seq: r.seq, hash: r.hash }))
      let inserted: number
      try {
        const result = await this.#pool.query({
          name: 'envelope-audit-append',
          text: APPEND,
          values: [
            tenant,
            head.seq,
            head.hash,
            last.seq,
            last.hash,
            out.map((r) => r.seq),
            out.map((r) => r.time),
            out.map((r) => r.action),
            out.map((r) => r.outcome),
            out.map((r) => r.caller),
            lines.join('\n'), // one text, not an array: the driver escapes every quote of an array's elements
            checkpoints.map((c) => c.seq),
            checkpoints.map((c) => JSON.stringify(c)),
          ],
        })
        inserted = result.rowCount ?? 0
      } catch (err) {
        this.#heads.delete(tenant)
        throw unavailable(err)
      }
      if (inserted === out.length) return out
      this.#heads.delete(tenant) // another instance appended meanwhile, or the group before this one failed
    }
    return this.#locked(tenant, async (c, head) => {
      const { out, lines, last } = chain(tenant, entries, head)
      const values: unknown[] = []
      const rows = out.map((r, i) => {
        values.push(tenant, r.seq, r.time, r.action, r.outcome, r.caller, lines[i])
        return `($${i * 7 + 1}, $${i * 7 + 2}, $${i * 7 + 3}, $${i * 7 + 4}, $${i * 7 + 5}, $${i * 7 + 6}, $${i * 7 + 7})`
      })
      await c.query(
        `insert into envelope_audit_lines (tenant, seq, time, action, outcome, caller, line) values ${rows.join(', ')}`,
        values,
      )
      await c.query('update envelope_audit_heads set seq = $2, hash = $3 where tenant = $1', [
        tenant,
        last.seq,
        last.hash,
      ])
      for (const r of out) if (r.seq % this.#every === 0) await this.#sign(c, tenant, { seq: r.seq, hash: r.hash })
      this.#heads.set(tenant, last) // as of the commit (a failed commit rejects, and the catch below forgets it)
      return out
    }).catch((err) => {
      this.#heads.delete(tenant)
      throw err
    })
  }

  /** The tenant's head as the database has it now (a row made at the genesis for a new tenant). */
  async #readHead(tenant: string): Promise<{ seq: number; hash: string }> {
    try {
      await this.#pool.query(
        'insert into envelope_audit_heads (tenant, seq, hash) values ($1, 0, $2) on conflict (tenant) do nothing',
        [tenant, GENESIS],
      )
      const { rows } = await this.#pool.query<{ seq: string; hash: string }>(
        'select seq, hash from envelope_audit_heads where tenant = $1',
        [tenant],
      )
      return { seq: Number(rows[0]!.seq), hash: rows[0]!.hash }
    } catch (err) {
      throw unavailable(err)
    }
  }

  async query(tenant: string, q: AuditQuery): Promise<AuditPage> {
    const bounds = await this.bounds(tenant)
    if (!bounds) return { records: [] }
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000)
    const desc = q.order === 'desc'
    // The window of seqs this page looks at: at most maxScan of them, from where the last page stopped.
    const lo = desc ? Math.max(bounds.first, (q.after ?? bounds.last + 1) - this.#maxScan) : (q.after ?? 0) + 1
    const hi = desc ? (q.after ?? bounds.last + 1) - 1 : Math.min(bounds.last, (q.after ?? 0) + this.#maxScan)
    const where = ['tenant = $1', 'seq >= $2', 'seq <= $3']
    const args: unknown[] = [tenant, lo, hi]
    const add = (sql: string, value: unknown) => {
      args.push(value)
      where.push(sql.replace('?', `$${args.length}`))
    }
    if (q.from !== undefined) add('time >= ?', q.from)
    if (q.to !== undefined) add('time <= ?', q.to)
    if (q.action !== undefined) add('action = ?', q.action)
    if (q.caller !== undefined) add('caller = ?', q.caller)
    if (q.outcome === 'refused') where.push(`outcome <> 'ok'`)
    else if (q.outcome !== undefined) add('outcome = ?', q.outcome)
    args.push(limit + 1)
    let rows: { seq: string; line: string }[]
    try {
      rows = (
        await this.#pool.query<{ seq: string; line: string }>(
          `select seq, line from envelope_audit_lines where ${where.join(' and ')}
             order by seq ${desc ? 'desc' : 'asc'} limit $${args.length}`,
          args,
        )
      ).rows
    } catch (err) {
      throw unavailable(err)
    }
    const records = rows.slice(0, limit).map((r) => JSON.parse(r.line) as AuditRecord)
    if (rows.length > limit) return { records, next: records.at(-1)!.seq }
    // The window is done: go on past it, unless it reached the end of the log.
    if (desc ? lo > bounds.first : hi < bounds.last) return { records, next: desc ? lo : hi }
    return { records }
  }

  async checkpoint(tenant: string): Promise<Checkpoint | undefined> {
    return this.#locked(tenant, async (c, head) => {
      if (head.seq === 0) return undefined
      const { rows } = await c.query<{ checkpoint: string }>(
        'select checkpoint from envelope_audit_checkpoints where tenant = $1 and seq = $2',
        [tenant, head.seq],
      )
      return rows[0] ? (JSON.parse(rows[0].checkpoint) as Checkpoint) : this.#sign(c, tenant, head)
    })
  }

  async checkpoints(tenant: string, from: number, to: number): Promise<readonly Checkpoint[]> {
    try {
      const { rows } = await this.#pool.query<{ checkpoint: string }>(
        `select checkpoint from envelope_audit_checkpoints where tenant = $1 and seq >= $2 and seq <= $3
           order by seq`,
        [tenant, from, to],
      )
      return rows.map((r) => JSON.parse(r.checkpoint) as Checkpoint)
    } catch (err) {
      throw unavailable(err)
    }
  }

  async bounds(tenant: string): Promise<{ first: number; last: number } | undefined> {
    try {
      const { rows } = await this.#pool.query<{ first_seq: string; seq: string }>(
        'select first_seq, seq from envelope_audit_heads where tenant = $1',
        [tenant],
      )
      const row = rows[0]
      return row && Number(row.seq) > 0 ? { first: Number(row.first_seq), last: Number(row.seq) } : undefined
    } catch (err) {
      throw unavailable(err)
    }
  }

  async prune(before: string): Promise<void> {
    let tenants: string[]
    try {
      tenants = (await this.#pool.query<{ tenant: string }>('select tenant from envelope_audit_heads')).rows.map(
        (r) => r.tenant,
      )
    } catch (err) {
      throw unavailable(err)
    }
    for (const tenant of tenants) {
      await this.#locked(tenant, async (c) => {
        // The last checkpoint whose next line is older than the cut: everything up to it goes, it stays.
        const { rows } = await c.query<{ seq: string }>(
          `select max(k.seq) as seq from envelope_audit_checkpoints k
             join envelope_audit_lines l on l.tenant = k.tenant and l.seq = k.seq + 1
            where k.tenant = $1 and l.time < $2`,
          [tenant, before],
        )
        const upTo = rows[0]?.seq === null || rows[0]?.seq === undefined ? undefined : Number(rows[0].seq)
        if (upTo === undefined) return
        await c.query('delete from envelope_audit_lines where tenant = $1 and seq <= $2', [tenant, upTo])
        await c.query('update envelope_audit_heads set first_seq = $2 where tenant = $1', [tenant, upTo + 1])
      })
    }
  }

  async close(): Promise<void> {
    await this.#pool.end()
  }
}
