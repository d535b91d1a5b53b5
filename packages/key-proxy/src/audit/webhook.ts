/**
 * Export of a tenant's audit lines to the customer's own sink: a webhook per tenant (`auditWebhooks` setting) that
 * receives each line, as NDJSON batches `POST`ed in seq order. Delivery never blocks key use: lines wait in a
 * bounded queue (past it the newest are dropped and counted; the receiver sees the gap in `seq` and reads it from
 * the audit API), and a failed POST (an error, a timeout, a status other than 2xx) is retried with exponential
 * backoff and jitter, the same batch again, until it is taken.
 * @module
 */
import type { AuditEntry, AuditRecord, Checkpoint } from './chain.ts'
import type { AuditPage, AuditQuery, AuditStore } from './store.ts'

/**
 * One tenant's webhook.
 *
 * @example
 * ```ts
 * const hook: WebhookConfig = { tenant: 'acme', url: 'https://siem.acme.example/envelope', authorizationEnv: 'ACME_SIEM_AUTH' }
 * ```
 */
export interface WebhookConfig {
  readonly tenant: string
  readonly url: string
  /** An environment variable holding the `Authorization` header value to send (never in the configuration). */
  readonly authorizationEnv?: string
}

/** Delivery settings (the same for every webhook). */
export interface WebhookOptions {
  /** Lines waiting per webhook at most. Default 10,000. */
  readonly maxQueue?: number
  /** Lines per POST at most. Default 100. */
  readonly maxBatch?: number
  /** First retry after this long; doubled each failure up to `maxRetryMs`. Default 1 s. */
  readonly retryMs?: number
  readonly maxRetryMs?: number
  /** A POST that has not answered after this long failed. Default 10 s. */
  readonly timeoutMs?: number
  readonly env?: Record<string, string | undefined>
}

/**
 * What a webhook has done so far.
 *
 * @example
 * ```ts
 * const { delivered, dropped, failures, queued } = webhook.stats()
 * ```
 */
export interface WebhookStats {
  readonly delivered: number
  readonly dropped: number
  readonly failures: number
  readonly queued: number
}

/** One tenant's sink: a bounded queue and one POST at a time. */
export class AuditWebhook {
  readonly #config: WebhookConfig
  /** Records, or their stored JSON (a `--workers` primary has the text it wrote, not the record). */
  readonly #queue: Array<AuditRecord | string> = []
  readonly #maxQueue: number
  readonly #maxBatch: number
  readonly #retryMs: number
  readonly #maxRetryMs: number
  readonly #timeoutMs: number
  readonly #authorization: string | undefined
  #sending = false
  #delay = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  #closed = false
  #stats = { delivered: 0, dropped: 0, failures: 0 }

  constructor(config: WebhookConfig, options: WebhookOptions = {}) {
    this.#config = config
    this.#maxQueue = options.maxQueue ?? 10_000
    this.#maxBatch = options.maxBatch ?? 100
    this.#retryMs = options.retryMs ?? 1000
    this.#maxRetryMs = options.maxRetryMs ?? 60_000
    this.#timeoutMs = options.timeoutMs ?? 10_000
    this.#authorization = config.authorizationEnv ? options.env?.[config.authorizationEnv] : undefined
  }

  stats(): WebhookStats {
    return { ...this.#stats, queued: this.#queue.length }
  }

  /** Queues a line, a record or its JSON as stored (never waits); drops it, counted, when the queue is full. */
  push(record: AuditRecord | string): void {
    if (this.#closed) return
    if (this.#queue.length >= this.#maxQueue) {
      this.#stats.dropped++
      return
    }
    this.#queue.push(record)
    if (!this.#sending && this.#timer === undefined) this.#send()
  }

  #send(): void {
    this.#timer = undefined
    if (this.#closed || this.#sending || this.#queue.length === 0) return
    this.#sending = true
    const batch = this.#queue.slice(0, this.#maxBatch)
    const body = `${batch.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n')}\n`
    fetch(this.#config.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-ndjson',
        'x-envelope-tenant': this.#config.tenant,
        ...(this.#authorization ? { authorization: this.#authorization } : {}),
      },
      body,
      redirect: 'error',
      signal: AbortSignal.timeout(this.#timeoutMs),
    })
      .then(async (res) => {
        await res.body?.cancel().catch(() => {})
        return res.ok
      })
      .catch(() => false)
      .then((ok) => {
        this.#sending = false
        if (ok) {
          this.#queue.splice(0, batch.length)
          this.#stats.delivered += batch.length
          this.#delay = 0
          if (this.#queue.length) queueMicrotask(() => this.#send())
          return
        }
        this.#stats.failures++
        this.#delay = Math.min(this.#delay ? this.#delay * 2 : this.#retryMs, this.#maxRetryMs)
        const wait = this.#delay / 2 + Math.random() * (this.#delay / 2) // jitter: several proxies do not retry in step
        this.#timer = setTimeout(() => this.#send(), wait)
        this.#timer.unref?.()
      })
  }

  close(): void {
    this.#closed = true
    if (this.#timer) clearTimeout(this.#timer)
  }
}

/**
 * The webhooks of `hooks`, by tenant.
 *
 * @example
 * ```ts
 * const hooks = auditWebhooks(config.auditWebhooks, { env: process.env })
 * hooks.get('acme')?.push(record)
 * ```
 */
export function auditWebhooks(
  hooks: readonly WebhookConfig[],
  options: WebhookOptions = {},
): Map<string, AuditWebhook> {
  return new Map(hooks.map((h) => [h.tenant, new AuditWebhook(h, options)]))
}

/**
 * An audit store whose appended lines also go to their tenant's webhook.
 *
 * @example
 * ```ts
 * const store = withWebhooks(FileAuditStore.open({ dir, signer }), config.auditWebhooks, { env: process.env })
 * ```
 */
export function withWebhooks(
  store: AuditStore,
  hooks: readonly WebhookConfig[],
  options: WebhookOptions = {},
): AuditStore & { webhook(tenant: string): AuditWebhook | undefined } {
  const byTenant = auditWebhooks(hooks, options)
  return {
    async append(tenant: string, entry: AuditEntry): Promise<AuditRecord> {
      const record = await store.append(tenant, entry)
      byTenant.get(tenant)?.push(record)
      return record
    },
    query: (tenant: string, q: AuditQuery): Promise<AuditPage> => store.query(tenant, q),
    checkpoint: (tenant: string): Promise<Checkpoint | undefined> => store.checkpoint(tenant),
    checkpoints: (tenant: string, from: number, to: number) => store.checkpoints(tenant, from, to),
    bounds: (tenant: string) => store.bounds(tenant),
    prune: (before: string) => store.prune(before),
    async close() {
      for (const h of byTenant.values()) h.close()
      await store.close()
    },
    webhook: (tenant: string) => byTenant.get(tenant),
  }
}
