/**
 * The Node server's settings, read from the same configuration file and environment as config.ts: how many
 * worker processes, HTTPS, the metrics listener, the shutdown drain, the log level. Bad settings stop the start
 * with a {@link ConfigError} naming the setting.
 *
 * | setting | environment | default |
 * |---|---|---|
 * | `workers` | `ENVELOPE_PROXY_WORKERS` (`--workers N`) | one per core under Node; 0 (no worker processes) under Deno and Bun |
 * | `tls.certFile`, `tls.keyFile` | `ENVELOPE_TLS_CERT_FILE`, `ENVELOPE_TLS_KEY_FILE` | none: plain HTTP |
 * | `metrics.host`, `metrics.port` | `ENVELOPE_METRICS_HOST`, `ENVELOPE_METRICS_PORT` | none: no metrics listener (host 127.0.0.1) |
 * | `shutdownTimeoutMs` | `ENVELOPE_SHUTDOWN_TIMEOUT_MS` | 10 000 |
 * | `logLevel` | `ENVELOPE_LOG_LEVEL` | `info` (`debug`, `info`, `warn`, `error`, `off`) |
 * | `insecureHttp` | `ENVELOPE_INSECURE_HTTP=1` | false: plain HTTP on an address other than loopback is refused |
 *
 * A key service must not speak plain HTTP beyond loopback: without `tls`, a `host` other than 127.0.0.0/8,
 * `::1` or `localhost` stops the start, unless `insecureHttp` says TLS ends in front of the proxy.
 * @module
 */
import { availableParallelism } from 'node:os'
import { ConfigError } from '../errors.ts'
import type { LogLevel } from '../log.ts'
import type { TlsFiles } from './tls.ts'

export interface ServerConfig {
  /** Worker processes serving one port (node:cluster); 0: serve from this process, with no primary. */
  readonly workers: number
  readonly tls?: TlsFiles
  /** A plain-HTTP listener for `GET /metrics` (Prometheus). */
  readonly metrics?: { readonly host: string; readonly port: number }
  /** How long a graceful shutdown waits for requests in flight before it ends them. */
  readonly shutdownTimeoutMs: number
  readonly logLevel: LogLevel | 'off'
  /** Plain HTTP beyond loopback, for a proxy behind a TLS-terminating load balancer. */
  readonly insecureHttp: boolean
}

/** 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
}

/** One per core under Node; 0 where node:cluster cannot fork (Deno) or is not the runtime's own (Bun). */
export function defaultWorkers(): number {
  if ('Deno' in globalThis || 'Bun' in globalThis) return 0
  return availableParallelism()
}

function fail(setting: string, expected: string): never {
  throw new ConfigError(`configuration "${setting}" must be ${expected}`)
}

const isInt = (v: unknown, min: number, max: number): v is number =>
  Number.isInteger(v) && (v as number) >= min && (v as number) <= max

/** `host` is the address the proxy listens on (config.ts's `host`). */
export function resolveServerConfig(
  file: Record<string, unknown>,
  env: Record<string, string | undefined>,
  host: string,
): ServerConfig {
  const num = (name: string, text: string | undefined, fallback: unknown) =>
    text === undefined || text === '' ? fallback : /^\d+$/.test(text.trim()) ? Number(text) : fail(name, 'a number')

  const workers = num('workers', env.ENVELOPE_PROXY_WORKERS, file.workers ?? defaultWorkers())
  if (!isInt(workers, 0, 64)) fail('workers', 'an integer from 0 to 64')

  let tls: TlsFiles | undefined
  const t = (file.tls ?? {}) as Record<string, unknown>
  if (typeof t !== 'object' || t === null || Array.isArray(t)) fail('tls', 'an object { certFile, keyFile }')
  const certFile = env.ENVELOPE_TLS_CERT_FILE || t.certFile
  const keyFile = env.ENVELOPE_TLS_KEY_FILE || t.keyFile
  if (certFile !== undefined || keyFile !== undefined) {
    if (typeof certFile !== 'string' || !certFile || typeof keyFile !== 'string' || !keyFile)
      fail('tls', 'to name both "certFile" and "keyFile"')
    tls = { certFile, keyFile }
  }

  let metrics: ServerConfig['metrics']
  const m = (file.metrics ?? {}) as Record<string, unknown>
  if (typeof m !== 'object' || m === null || Array.isArray(m)) fail('metrics', 'an object { host, port }')
  const metricsPort = num('metrics.port', env.ENVELOPE_METRICS_PORT, m.port)
  if (metricsPort !== undefined) {
    if (!isInt(metricsPort, 0, 65535)) fail('metrics.port', 'an integer from 0 to 65535')
    const host = env.ENVELOPE_METRICS_HOST || m.host || '127.0.0.1'
    if (typeof host !== 'string') fail('metrics.host', 'a host name or address')
    metrics = { host, port: metricsPort }
  }

  const shutdownTimeoutMs = num('shutdownTimeoutMs', env.ENVELOPE_SHUTDOWN_TIMEOUT_MS, file.shutdownTimeoutMs ?? 10_000)
  if (!isInt(shutdownTimeoutMs, 0, 600_000)) fail('shutdownTimeoutMs', 'a whole number of milliseconds up to 600000')

  const logLevel = env.ENVELOPE_LOG_LEVEL || file.logLevel || 'info'
  if (!['debug', 'info', 'warn', 'error', 'off'].includes(logLevel as string))
    fail('logLevel', 'one of debug, info, warn, error, off')

  const insecureHttp = env.ENVELOPE_INSECURE_HTTP ? env.ENVELOPE_INSECURE_HTTP === '1' : file.insecureHttp === true
  if (!tls && !insecureHttp && !isLoopback(host)) {
    throw new ConfigError(
      `plain HTTP on ${host} is refused: a key service must speak HTTPS beyond loopback (set "tls": { certFile, ` +
        'keyFile }), or set "insecureHttp": true when TLS ends in front of the proxy',
    )
  }

  return { workers, tls, metrics, shutdownTimeoutMs, logLevel: logLevel as ServerConfig['logLevel'], insecureHttp }
}
