/**
 * `--workers N`: N worker processes (node:cluster) serve one port, so one host uses all its cores. The primary
 * serves no request: it forks the workers and starts one again when it dies (backoff from 100 ms, doubling to
 * 10 s; reset once a worker has served for 30 s), holds the instance's state that must be one (the instance
 * lock of the file keystore, instance-sync.ts), writes the tenants' audit logs of the file audit store for them
 * and posts their webhooks (audit-channel.ts: one chain per tenant, its head in one memory), serves `/metrics`
 * added up over the workers, and turns signals into the workers' messages: SIGTERM/SIGINT a graceful stop of every
 * worker (a second signal, or the drain timeout plus 5 s, kills them), SIGHUP a TLS reload. Workers exit when the
 * primary dies (node:cluster).
 * @module
 */
import cluster, { type Worker } from 'node:cluster'
import { type AddressInfo, createServer } from 'node:net'
import { join } from 'node:path'
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client'
import { FileAuditStore } from '../audit/file-store.ts'
import { openAuditSigner } from '../audit/signer.ts'
import { auditWebhooks } from '../audit/webhook.ts'
import { resolveConfig } from '../config.ts'
import { KeyFile } from '../keystore/key-file.ts'
import type { Logger } from '../log.ts'
import { prepareDataFolder, readSettings } from '../startup.ts'
import { serveAuditWrites } from './audit-channel.ts'
import { primarySync } from './instance-sync.ts'
import { startMetricsListener } from './metrics-listener.ts'
import type { ControlMessage, WorkerReport } from './serve.ts'
import type { ServerConfig } from './server-config.ts'

const BACKOFF_MIN_MS = 100
const BACKOFF_MAX_MS = 10_000
const HEALTHY_AFTER_MS = 30_000

/** A port free on `host` now (the primary's workers then share it). */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer()
    probe.once('error', reject)
    probe.listen(0, host, () => {
      const { port } = probe.address() as AddressInfo
      probe.close(() => resolve(port))
    })
  })
}

export interface PrimaryOptions {
  readonly argv: readonly string[]
  readonly env: Record<string, string | undefined>
  readonly server: ServerConfig
  readonly log: Logger
}

export async function runPrimary(options: PrimaryOptions): Promise<void> {
  const { log, server: settings } = options
  const config = resolveConfig(readSettings(options.argv, options.env), options.env)
  const { dataDir } = await prepareDataFolder(config)
  // The instance's hold on the data folder: its lock (a second proxy on the folder stops, naming this one), and
  // the temp files of writes a crash cut off removed before any worker writes. Released when this process exits.
  const folder = new KeyFile(join(dataDir, 'keys.json'))
  // The one writer of the tenants' audit logs in the data folder (a PostgreSQL keystore keeps them in the database),
  // and so the one poster of their webhooks: each sink gets its tenant's lines in seq order.
  const webhooks = config.keystore
    ? new Map()
    : auditWebhooks(config.auditWebhooks, {
        retryMs: config.auditWebhookRetryMs,
        timeoutMs: config.auditWebhookTimeoutMs,
        maxQueue: config.auditWebhookMaxQueue,
        env: options.env,
      })
  const auditStore = config.keystore
    ? undefined
    : FileAuditStore.open({
        dir: join(dataDir, 'audit'),
        signer: openAuditSigner(join(dataDir, 'audit-signing.key')),
        onWritten: (tenant, lines) => {
          const hook = webhooks.get(tenant)
          if (hook) for (const line of lines) hook.push(line)
        },
      })

  const own = new Registry()
  const restarts = new Counter({
    name: 'envelope_proxy_worker_restarts_total',
    help: 'Workers started again after one stopped unexpectedly.',
    registers: [own],
  })
  const running = new Gauge({
    name: 'envelope_proxy_workers',
    help: 'Worker processes serving now.',
    registers: [own],
  })
  const aggregator = new AggregatorRegistry()

  const sync = primarySync({
    onUnconfirmed: (w) => log.error('worker did not apply a keystore change in time: killed', { worker: w.id }),
  })
  let shuttingDown = false
  let listening = 0
  let announced = false
  let failures = 0
  // Port 0 (any free port) is chosen here once: a worker started again must listen where the others do.
  const port = config.port === 0 ? await freePort(config.host) : config.port
  const workerEnv: Record<string, string> = { ENVELOPE_PROXY_PORT: String(port) }
  for (const [k, v] of Object.entries(options.env)) if (v !== undefined && k !== 'ENVELOPE_PROXY_PORT') workerEnv[k] = v

  cluster.setupPrimary({ exec: process.argv[1], args: [...options.argv], execArgv: workerExecArgv(), silent: false })

  function fork(): void {
    const worker = cluster.fork(workerEnv)
    const started = Date.now()
    let served = false
    sync.add(worker)
    if (auditStore) serveAuditWrites(worker, auditStore)
    worker.on('message', (m: WorkerReport) => {
      if (m?.type !== 'envelope:listening') return
      served = true
      running.inc()
      listening++
      log.info('worker serving', { worker: worker.id, pid: worker.process.pid ?? null })
      if (!announced && listening === settings.workers) {
        announced = true
        log.announce(`envelope key proxy listening on ${m.url}`, { url: m.url, workers: settings.workers })
        log.announce(m.where)
      }
    })
    worker.on('exit', (code, signal) => {
      if (served) {
        running.dec()
        listening--
      }
      if (shuttingDown) return
      if (!announced && !served) {
        // It never served: a start failure (configuration, port in use) that a restart would only repeat.
        log.error('worker could not start: stopping', { worker: worker.id, code, signal })
        void shutdown('a worker could not start', 1)
        return
      }
      if (Date.now() - started >= HEALTHY_AFTER_MS) failures = 0
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** failures++)
      log.warn('worker stopped: starting another', { worker: worker.id, code, signal, inMs: delay })
      restarts.inc()
      setTimeout(() => {
        if (!shuttingDown) fork()
      }, delay)
    })
  }

  let metricsServer: { close(): void } | undefined
  if (settings.metrics) {
    const m = await startMetricsListener(settings.metrics.host, settings.metrics.port, async () => {
      const workers = await aggregator.clusterMetrics()
      return `${workers}\n${await own.metrics()}`
    })
    metricsServer = m.server
    log.info('metrics listening', { url: m.url })
  }

  const broadcast = (m: ControlMessage) => {
    for (const w of Object.values(cluster.workers ?? {})) if (w?.isConnected()) w.send(m)
  }
  let forceTimer: ReturnType<typeof setTimeout> | undefined
  async function shutdown(reason: string, code = 0): Promise<void> {
    if (shuttingDown) {
      log.warn('stopping now: workers killed', { reason })
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL')
      process.exit(1)
    }
    shuttingDown = true
    log.info('shutting down', { reason, workers: Object.keys(cluster.workers ?? {}).length })
    metricsServer?.close()
    broadcast({ type: 'envelope:shutdown' })
    forceTimer = setTimeout(() => {
      log.error('workers did not stop within the drain timeout: killed')
      for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGKILL')
    }, settings.shutdownTimeoutMs + 5000)
    const exits = Object.values(cluster.workers ?? {})
      .filter((w): w is Worker => w !== undefined)
      .map((w) =>
        w.isDead() ? Promise.resolve(0) : new Promise<number>((res) => w.once('exit', (c, s) => res(s ? 1 : (c ?? 1)))),
      )
    const codes = await Promise.all(exits)
    clearTimeout(forceTimer)
    for (const hook of webhooks.values()) hook.close()
    await auditStore?.close()
    folder.close()
    const failed = codes.some((c) => c !== 0)
    log.info('stopped', { outcome: failed || code ? 'forced' : 'drained' })
    process.exit(failed ? 1 : code)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
  process.on('SIGHUP', () => broadcast({ type: 'envelope:reload-tls' }))

  for (let i = 0; i < settings.workers; i++) fork()
}

/**
 * The workers' node flags: this process's, and a young generation of two 32 MB semi-spaces (V8's default grows
 * them to 16 MB) unless the operator chose a size (in the flags or `NODE_OPTIONS`). A batch of unwraps allocates a
 * lot that dies young: measured side by side (docs/benchmarks.md), about 10 % less CPU per unwrap, for ~32 MB more
 * RSS per busy worker. Sized so from the start (min = max): a worker's resident set then does not climb by that
 * much over its first minutes under load, which would read as growth.
 */
export function workerExecArgv(execArgv = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): string[] {
  const chosen = [...execArgv, nodeOptions].some((a) => a.includes('semi-space-size'))
  return chosen ? [...execArgv] : [...execArgv, ...YOUNG_GENERATION]
}

const YOUNG_GENERATION = ['--min-semi-space-size=32', '--max-semi-space-size=32']
