/**
 * Where tenants' audit logs live: an append-only, per-tenant hash chain (chain.ts) with signed checkpoints. The
 * embedded implementation is the file store (file-store.ts); a database store (PostgreSQL, for several
 * instances) implements the same interface. The contract, for every implementation:
 *
 * - **One chain per tenant, serialized by the store**: `append` gives the entry the next `seq` and the previous
 *   line's hash, and no other append of that tenant (in this process or any other sharing the store) runs in
 *   between. Instances do not keep chains of their own.
 * - **Durable when resolved**: once `append` resolves, the line survives a crash; the proxy releases no DEK
 *   before that. A failure rejects, and the proxy answers `ERR_AUDIT_UNAVAILABLE`.
 * - **Bounded reads**: `query` never loads a whole log; it reads at most `maxScan` lines and says where to go on.
 * - **Tenant isolation**: every call names its tenant; nothing crosses from one tenant's log to another's.
 * @module
 */
import type { AuditEntry, AuditRecord, Checkpoint } from './chain.ts'

/**
 * What a query of one tenant's log asks for. Times are ISO strings; `after` is the position to go on from.
 *
 * @example
 * ```ts
 * const q: AuditQuery = { action: 'unwrap', outcome: 'ok', caller: 'jwt:alice', order: 'desc', limit: 50 }
 * ```
 */
export interface AuditQuery {
  readonly from?: string
  readonly to?: string
  readonly action?: string
  /** `ok`, an error code, or `refused` (every outcome but `ok`). */
  readonly outcome?: string
  readonly caller?: string
  readonly order?: 'asc' | 'desc'
  readonly limit?: number
  /** Go on after this seq (exclusive), in the query's order. */
  readonly after?: number
}

/**
 * A page of a query: the matching records, and where the next page starts (absent: the end was reached).
 *
 * @example
 * ```ts
 * const page = await store.query('acme', { limit: 100 })
 * if (page.next !== undefined) await store.query('acme', { limit: 100, after: page.next })
 * ```
 */
export interface AuditPage {
  readonly records: readonly AuditRecord[]
  readonly next?: number
}

/**
 * Tenants' audit logs, with the contract of this module's documentation.
 *
 * @example
 * ```ts
 * const store: AuditStore = FileAuditStore.open({ dir: '.envelope-data/audit', signer })
 * await store.append('acme', entry)
 * ```
 */
export interface AuditStore {
  /** Appends one line to the tenant's chain; resolves with it once durable. */
  append(tenant: string, entry: AuditEntry): Promise<AuditRecord>
  /** A page of the tenant's lines matching `query`, reading at most a bounded number of lines. */
  query(tenant: string, query: AuditQuery): Promise<AuditPage>
  /** Signs the tenant's last line, unless a checkpoint covers it already; resolves with the latest checkpoint. */
  checkpoint(tenant: string): Promise<Checkpoint | undefined>
  /** The tenant's checkpoints with `from <= seq <= to`, in seq order. */
  checkpoints(tenant: string, from: number, to: number): Promise<readonly Checkpoint[]>
  /** The first seq still kept (after pruning), and the last; undefined for a tenant with no line. */
  bounds(tenant: string): Promise<{ first: number; last: number } | undefined>
  /** Drops lines older than `before` where a checkpoint keeps what remains verifiable. */
  prune(before: string): Promise<void>
  close(): Promise<void>
}

interface QueuedLine<E, R> {
  readonly entry: E
  resolve(result: R): void
  reject(err: unknown): void
}

/**
 * Group commit for a store's appends: the lines of one tenant queue here, and what queued while one group was
 * being written goes in the next group, written at once (one transaction, one instance lock). A batch of 1000
 * unwraps is then a few writes, not 1000 waiting on each other; each caller still learns of its own line only
 * once its group is written, and a group that fails fails every caller in it (key use fails closed).
 * `concurrency`: groups of one tenant in flight at once (a store whose write checks the head it chained from,
 * as the PostgreSQL one does, can send the next group before the last is answered); 1 by default.
 * @example
 * const appends = new GroupedAppends((tenant, entries) => writeAll(tenant, entries))
 * const record = await appends.append('acme', entry)
 * @throws nothing itself; `append` rejects with what the group's write threw
 */
export class GroupedAppends<E = AuditEntry, R = AuditRecord> {
  readonly #queues = new Map<string, QueuedLine<E, R>[]>()
  readonly #write: (tenant: string, entries: readonly E[]) => Promise<readonly R[]>
  readonly #maxGroup: number
  readonly #concurrency: number

  constructor(
    write: (tenant: string, entries: readonly E[]) => Promise<readonly R[]>,
    maxGroup = 500,
    concurrency = 1,
  ) {
    this.#write = write
    this.#maxGroup = maxGroup
    this.#concurrency = concurrency
  }

  append(tenant: string, entry: E): Promise<R> {
    return new Promise((resolve, reject) => {
      let queue = this.#queues.get(tenant)
      if (!queue) {
        // A tenant's queue exists while its drain runs: appends meanwhile only queue.
        queue = []
        this.#queues.set(tenant, queue)
        // The first line waits for the rest of this turn's (a batch's items reach here in one turn): one group.
        setImmediate(() => void this.#drain(tenant, queue!))
      }
      queue.push({ entry, resolve, reject })
    })
  }

  async #drain(tenant: string, queue: QueuedLine<E, R>[]): Promise<void> {
    const inFlight = new Set<Promise<void>>()
    for (;;) {
      if (queue.length > 0 && inFlight.size < this.#concurrency) {
        const group = queue.splice(0, this.#maxGroup)
        const written: Promise<void> = this.#write(
          tenant,
          group.map((line) => line.entry),
        )
          .then(
            (records) => {
              for (const [i, line] of group.entries()) line.resolve(records[i]!)
            },
            (err) => {
              for (const line of group) line.reject(err)
            },
          )
          .finally(() => inFlight.delete(written))
        inFlight.add(written)
        continue
      }
      if (inFlight.size === 0) break
      await Promise.race(inFlight) // what queued meanwhile goes as the next group
    }
    this.#queues.delete(tenant)
  }
}
