/**
 * One serving process: builds the app (startup.ts), serves it over HTTP or HTTPS, and stops gracefully. It runs
 * alone (`workers: 0`) or as one of a cluster primary's workers (cluster.ts), which then owns the listening
 * socket, the metrics listener and the signals of the instance and tells this process what to do over IPC.
 *
 * Graceful stop (SIGTERM, or SIGINT when alone; the primary's `shutdown` as a worker): readiness turns 503
 * (`ERR_SHUTTING_DOWN`), no connection is accepted any more, idle keep-alive connections close, every request
 * in flight is answered (with `Connection: close`), the audit log is flushed to disk, and the process exits 0.
 * A second signal, or the drain timeout (`shutdownTimeoutMs`), cuts what is left and exits 1.
 * SIGHUP (the primary's `reload-tls`) reads the TLS files again (tls.ts).
 * @module
 */
import type { Logger } from '../log.ts'
import { metrics } from '../metrics.ts'
import { startup } from '../startup.ts'
import { workerAuditWriter } from './audit-channel.ts'
import { createNodeServer, type NodeServer } from './http-server.ts'
import { workerSync } from './instance-sync.ts'
import { startMetricsListener } from './metrics-listener.ts'
import type { ServerConfig } from './server-config.ts'

export type ControlMessage = { type: 'envelope:shutdown' } | { type: 'envelope:reload-tls' }
export type WorkerReport = { type: 'envelope:listening'; url: string; where: string }

export interface ServeOptions {
  readonly argv: readonly string[]
  readonly env: Record<string, string | undefined>
  readonly server: ServerConfig
  readonly log: Logger
  /** As a cluster worker: report to the primary, obey its messages. */
  readonly worker?: boolean
}

export async function serve(options: ServeOptions): Promise<void> {
  const { log, server: settings } = options
  const asWorker = options.worker === true
  let http: NodeServer | undefined
  let close: (() => Promise<void>) | undefined
  let metricsServer: { close(): void } | undefined
  let stopping = false
  let finished = false
  /** False while a shared keystore's copy is not current (its database unreachable). */
  let keystoreHealthy = () => true

  /** A first stop drains; a second signal cuts what is left. */
  function stop(reason: string, repeated: 'force' | 'ignore' = 'force'): void {
    if (stopping && repeated === 'ignore') return
    if (!http) {
      log.info('stopped before serving', { reason })
      process.exit(0)
    }
    if (stopping) {
      log.warn('stopping now: requests in flight are cut', { reason, inFlight: http.inFlight() })
      http.destroy()
      void finish('forced')
      return
    }
    stopping = true
    log.info('draining', { reason, inFlight: http.inFlight(), timeoutMs: settings.shutdownTimeoutMs })
    metricsServer?.close()
    http.drain(settings.shutdownTimeoutMs).then(finish)
  }
  async function finish(outcome: 'drained' | 'forced'): Promise<void> {
    if (finished) return
    finished = true
    try {
      await close?.() // the audit log on disk, the keystore closed, before the exit
    } catch (err) {
      log.error('the audit log could not be flushed', { error: (err as Error).message })
      outcome = 'forced'
    }
    log.info('stopped', { outcome })
    process.exit(outcome === 'drained' ? 0 : 1)
  }
  function reloadTls(): void {
    if (!http?.tls) return
    try {
      const t = http.reloadTls()
      log.info('tls reloaded', { fingerprint: t.fingerprint, validTo: t.validTo })
    } catch (err) {
      log.error('tls not reloaded: the old certificate is still served', { error: (err as Error).message })
    }
  }
  // Before anything else: a stop asked for while starting is not lost.
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGHUP', reloadTls)
  if (asWorker) {
    // A terminal's Ctrl-C reaches the whole process group: the primary stops the instance, relayed here.
    process.on('SIGINT', () => {})
    process.on('message', (m: ControlMessage) => {
      if (m?.type === 'envelope:shutdown') stop('primary', 'ignore')
      else if (m?.type === 'envelope:reload-tls') reloadTls()
    })
  } else {
    process.on('SIGINT', () => stop('SIGINT'))
  }

  metrics.collectProcessMetrics()
  const built = await startup(options.argv, options.env, {
    log,
    metrics,
    readiness: async () => {
      if (stopping) return { code: 'ERR_SHUTTING_DOWN', message: 'the key proxy is shutting down' }
      if (!keystoreHealthy()) return { code: 'ERR_KEYSTORE_UNAVAILABLE', message: 'the keystore cannot be reached' }
      return undefined
    },
    sync: asWorker ? workerSync() : undefined,
    auditWriter: asWorker ? workerAuditWriter() : undefined,
  })
  close = built.close
  const { keystore } = built
  if ('healthy' in keystore) keystoreHealthy = () => keystore.healthy
  const { config } = built
  const server = createNodeServer(built.app, {
    host: config.host,
    port: config.port,
    tls: settings.tls,
    // Stalled connections are cut (408): Node's defaults (60 s for headers, 300 s a request) let a few hundred
    // stalled clients hold the proxy's memory. How often Node looks for them: its default is every 30 s.
    serverOptions: {
      headersTimeout: config.headersTimeoutMs,
      requestTimeout: config.requestTimeoutMs,
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(config.headersTimeoutMs / 4))),
    },
    // Per serving process (each worker holds at most this many): what bounds a process's memory.
    maxConnections: config.maxConnections,
  })
  const url = await server.listen()
  const listened = new URL(url)
  built.listening(Number(listened.port || (listened.protocol === 'https:' ? 443 : 80)))
  http = server
  if (server.tls) log.info('tls certificate', { fingerprint: server.tls.fingerprint, validTo: server.tls.validTo })

  if (asWorker) {
    process.send?.({ type: 'envelope:listening', url, where: built.where } satisfies WorkerReport)
  } else {
    if (settings.metrics) {
      const m = await startMetricsListener(settings.metrics.host, settings.metrics.port, () => metrics.text())
      metricsServer = m.server
      log.info('metrics listening', { url: m.url })
    }
    log.announce(`envelope key proxy listening on ${url}`, { url })
    log.announce(built.where)
  }
}
