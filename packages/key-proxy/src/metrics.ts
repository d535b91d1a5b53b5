/**
 * The proxy's Prometheus metrics (prom-client), and the small API the rest of the proxy feeds them through:
 * {@link metrics}`.request(…)`, `.auditWriteFailure()`, `.keystoreError(op)`, `.kmsCall(provider, op, outcome,
 * seconds)`, `.leaseCache(outcome)`, `.keystoreChange(seconds)`. One registry per process; with `--workers` the
 * primary serves every worker's registry added up (prom-client's AggregatorRegistry, server/cluster.ts).
 *
 * Every label value is bounded: at most 64 characters of `[A-Za-z0-9_.:/-]` (anything else becomes `other`), and
 * at most 200 distinct values per label (later ones become `other`), so no request can grow the registry.
 *
 * @example
 * ```ts
 * import { metrics } from './metrics.ts'
 * const started = performance.now()
 * try {
 *   await kms.decrypt(…)
 *   metrics.kmsCall('aws-kms', 'decrypt', 'ok', (performance.now() - started) / 1000)
 * } catch (err) {
 *   metrics.kmsCall('aws-kms', 'decrypt', err.code ?? 'ERR_INTERNAL', (performance.now() - started) / 1000)
 *   throw err
 * }
 * ```
 * @module
 */
import { AggregatorRegistry, Counter, collectDefaultMetrics, Histogram, type Registry } from 'prom-client'

const PREFIX = 'envelope_proxy_'
/** Request and KMS latencies: 0.25 ms to 10 s. */
const LATENCY_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const MAX_LABEL = 64
const MAX_VALUES = 200
const LABEL_VALUE = /^[A-Za-z0-9_.:/-]+$/

/** A label value from a bounded set: unknown shapes and values past the per-label limit become `other`. */
class LabelValues {
  private readonly seen = new Set<string>()
  of(value: unknown): string {
    const v = typeof value === 'number' ? String(value) : value
    if (typeof v !== 'string' || v.length === 0 || v.length > MAX_LABEL || !LABEL_VALUE.test(v)) return 'other'
    if (this.seen.has(v)) return v
    if (this.seen.size >= MAX_VALUES) return 'other'
    this.seen.add(v)
    return v
  }
}

/** The metrics of one process. */
export class ProxyMetrics {
  /** This process's registry (an AggregatorRegistry, so a cluster primary can collect it). */
  readonly registry: AggregatorRegistry<'text/plain; version=0.0.4; charset=utf-8'>
  private readonly labels = new Map<string, LabelValues>()
  private readonly requests: Counter
  private readonly requestSeconds: Histogram
  private readonly auditFailures: Counter
  private readonly keystoreErrors: Counter
  private readonly kmsCalls: Counter
  private readonly kmsSeconds: Histogram
  private readonly leaseLookups: Counter
  private readonly changeSeconds: Histogram
  private collectingProcess = false

  constructor() {
    this.registry = new AggregatorRegistry()
    const registers = [this.registry as Registry]
    this.requests = new Counter({
      name: `${PREFIX}http_requests_total`,
      help: 'HTTP requests answered, by route (its pattern), method, status and error code (ok when none).',
      labelNames: ['route', 'method', 'status', 'code'],
      registers,
    })
    this.requestSeconds = new Histogram({
      name: `${PREFIX}http_request_duration_seconds`,
      help: 'Time from a request arriving to its response being handed to the socket, by route and method.',
      labelNames: ['route', 'method'],
      buckets: LATENCY_BUCKETS,
      registers,
    })
    this.auditFailures = new Counter({
      name: `${PREFIX}audit_write_failures_total`,
      help: 'Audit lines that could not be written (key use is refused while the audit log fails).',
      registers,
    })
    this.keystoreErrors = new Counter({
      name: `${PREFIX}keystore_errors_total`,
      help: 'Keystore operations that failed for a reason other than the request (I/O, database), by operation.',
      labelNames: ['op'],
      registers,
    })
    this.kmsCalls = new Counter({
      name: `${PREFIX}kms_calls_total`,
      help: 'Calls to a KMS backend, by provider, operation and outcome (ok or the error code).',
      labelNames: ['provider', 'op', 'outcome'],
      registers,
    })
    this.kmsSeconds = new Histogram({
      name: `${PREFIX}kms_call_duration_seconds`,
      help: 'Latency of calls to a KMS backend, by provider and operation.',
      labelNames: ['provider', 'op'],
      buckets: LATENCY_BUCKETS,
      registers,
    })
    this.leaseLookups = new Counter({
      name: `${PREFIX}lease_cache_lookups_total`,
      help: 'Lookups of the lease-key cache, by outcome (hit or miss).',
      labelNames: ['outcome'],
      registers,
    })
    this.changeSeconds = new Histogram({
      name: `${PREFIX}keystore_change_visible_seconds`,
      help: "Time from another instance's keystore change to this instance applying it.",
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    })
  }

  /** Adds prom-client's process metrics (CPU, memory, event loop lag, GC): the Node entry calls this once. */
  collectProcessMetrics(): void {
    if (this.collectingProcess) return
    this.collectingProcess = true
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX })
  }

  private label(name: string, value: unknown): string {
    let values = this.labels.get(name)
    if (!values) {
      values = new LabelValues()
      this.labels.set(name, values)
    }
    return values.of(value)
  }

  /** One answered HTTP request. `route` is the route's pattern (never the raw path), `code` the error code or `ok`. */
  request(route: string, method: string, status: number, code: string, seconds: number): void {
    const r = this.label('route', route)
    const m = this.label('method', method)
    this.requests.inc({ route: r, method: m, status: this.label('status', status), code: this.label('code', code) })
    if (Number.isFinite(seconds) && seconds >= 0) this.requestSeconds.observe({ route: r, method: m }, seconds)
  }

  /** An audit line that could not be written. */
  auditWriteFailure(): void {
    this.auditFailures.inc()
  }

  /** A keystore operation (`read`, `write`, `listen`, …) that failed on the store's side. */
  keystoreError(op: string): void {
    this.keystoreErrors.inc({ op: this.label('op', op) })
  }

  /** One call to a KMS: `provider` (`local`, `pkcs11`, `aws-kms`), `op` (`wrap`, `unwrap`, …), `outcome` (`ok` or a code). */
  kmsCall(provider: string, op: string, outcome: string, seconds: number): void {
    const p = this.label('provider', provider)
    const o = this.label('op', op)
    this.kmsCalls.inc({ provider: p, op: o, outcome: this.label('outcome', outcome) })
    if (Number.isFinite(seconds) && seconds >= 0) this.kmsSeconds.observe({ provider: p, op: o }, seconds)
  }

  /** One lookup of the lease-key cache. */
  leaseCache(outcome: 'hit' | 'miss'): void {
    this.leaseLookups.inc({ outcome })
  }

  /** A change another instance made, applied here `seconds` after it was made. */
  keystoreChange(seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.changeSeconds.observe(seconds)
  }

  /** This process's metrics in the Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics()
  }
}

/** The process's metrics: what every part of the proxy feeds. */
export const metrics = new ProxyMetrics()
// A cluster primary asks each worker for this registry (rather than prom-client's global one).
AggregatorRegistry.setRegistries([metrics.registry])

/** The content type of {@link ProxyMetrics.text}. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
