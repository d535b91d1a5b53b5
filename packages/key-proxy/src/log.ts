/**
 * Structured logs: one JSON object per line (`time`, `level`, `msg`, then fields), on stdout. Every field is
 * bounded (at most 24 fields, names of at most 32 characters, strings of at most 256), so a line stays under
 * 4 KiB: lines from several worker processes sharing one pipe never interleave (POSIX PIPE_BUF).
 *
 * What is logged is chosen by the caller from fixed fields: never a secret, key, token, header value, body or
 * plaintext. The request line (server/observe.ts) names the route's pattern, never the raw path or query.
 * @module
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'
export type LogField = string | number | boolean | null | undefined
export type LogFields = Readonly<Record<string, LogField>>

const LEVELS: Record<LogLevel | 'off', number> = { debug: 10, info: 20, warn: 30, error: 40, off: 100 }
const MAX_FIELDS = 24
const MAX_NAME = 32
const MAX_STRING = 256
/** Under PIPE_BUF (4096), with room for the newline. */
const MAX_LINE_BYTES = 4000
const NAME = /^[A-Za-z][A-Za-z0-9_]*$/

/** A string cut to `max` characters (ending in `…`), never half a surrogate pair. */
export function bounded(value: string, max = MAX_STRING): string {
  if (value.length <= max) return value
  let end = max - 1
  if (/[\uD800-\uDBFF]/.test(value[end - 1]!)) end--
  return `${value.slice(0, end)}…`
}

/** An upper bound of the UTF-8 size of JSON text (exact for printable ASCII; 3 bytes a code unit otherwise). */
function utf8Bound(json: string): number {
  return /^[\x20-\x7e]*$/.test(json) ? json.length : 3 * json.length
}

function fieldValue(v: LogField): LogField {
  if (typeof v === 'string') return bounded(v)
  if (typeof v === 'number') return Number.isFinite(v) ? v : null
  return v
}

export interface Logger {
  debug(msg: string, fields?: LogFields): void
  info(msg: string, fields?: LogFields): void
  warn(msg: string, fields?: LogFields): void
  error(msg: string, fields?: LogFields): void
  /** Written whatever the level, even `off`: the start announcement (`listening on …`, the data folder). */
  announce(msg: string, fields?: LogFields): void
  /** A logger that adds `fields` to every line (e.g. `{ worker: 2 }`). */
  child(fields: LogFields): Logger
}

export interface LoggerOptions {
  /** Lowest level written; `off` writes nothing. Default `info`. */
  readonly level?: LogLevel | 'off'
  /** Where a line goes (without its newline). Default `console.log`. */
  readonly write?: (line: string) => void
  /** Clock, for tests. */
  readonly now?: () => Date
}

/**
 * A JSON-lines logger.
 *
 * @example
 * ```ts
 * const log = createLogger({ level: 'info', write: (l) => process.stdout.write(`${l}\n`) })
 * log.info('listening', { url: 'https://127.0.0.1:7777' })
 * // {"time":"2026-12-01T10:00:00.000Z","level":"info","msg":"listening","url":"https://127.0.0.1:7777"}
 * ```
 */
export function createLogger(options: LoggerOptions = {}, base: LogFields = {}): Logger {
  const min = LEVELS[options.level ?? 'info']
  const write = options.write ?? ((line: string) => console.log(line))
  const now = options.now ?? (() => new Date())

  function emit(level: LogLevel, msg: string, fields?: LogFields, always = false): void {
    if (LEVELS[level] < min && !always) return
    const line: Record<string, LogField> = { time: now().toISOString(), level, msg: bounded(String(msg)) }
    let bytes = utf8Bound(JSON.stringify(line))
    let n = 0
    fill: for (const source of [base, fields ?? {}]) {
      for (const [k, v] of Object.entries(source)) {
        if (v === undefined || k in line || k.length > MAX_NAME || !NAME.test(k)) continue
        const value = fieldValue(v)
        const cost = k.length + 4 + utf8Bound(JSON.stringify(value))
        if (n >= MAX_FIELDS || bytes + cost > MAX_LINE_BYTES - 20) {
          line.truncated = true
          break fill
        }
        n++
        bytes += cost
        line[k] = value
      }
    }
    write(JSON.stringify(line))
  }

  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    announce: (msg, fields) => emit('info', msg, fields, true),
    child: (fields) => createLogger(options, { ...base, ...fields }),
  }
}

/**
 * Log lines gathered and written in chunks of whole lines of at most `maxChunkBytes`: on a pipe shared by several
 * workers a write of up to PIPE_BUF (4096) bytes is atomic, so lines never interleave (each line is under 4 KiB).
 * A chunk goes out once a chunk's worth is pending (after the turn of the event loop, so after the turn's
 * responses) or `maxDelayMs` after its first line, whichever comes first: a synchronous write to stdout per
 * request was 4 % of a single unwrap's CPU, and a line read 50 ms later says the same. `flush()` writes what is
 * pending (at exit: a process killed with SIGKILL loses at most the last `maxDelayMs` of lines).
 *
 * @example
 * ```ts
 * const out = batchedLines((chunk) => process.stdout.write(chunk))
 * process.on('exit', () => out.flush())
 * const log = createLogger({ write: out.line })
 * ```
 */
export function batchedLines(write: (chunk: string) => void, maxChunkBytes = 4096, maxDelayMs = 50) {
  let pending: string[] = []
  let pendingBytes = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let soon = false
  const flush = () => {
    if (timer !== undefined) clearTimeout(timer)
    timer = undefined
    soon = false
    const lines = pending
    pending = []
    pendingBytes = 0
    let chunk = ''
    let bytes = 0
    for (const text of lines) {
      const size = Buffer.byteLength(text) + 1
      if (bytes + size > maxChunkBytes && chunk) {
        write(chunk)
        chunk = ''
        bytes = 0
      }
      chunk += `${text}\n`
      bytes += size
    }
    if (chunk) write(chunk)
  }
  return {
    line(text: string): void {
      pending.push(text)
      pendingBytes += text.length + 1 // UTF-16 units: a lower bound of the bytes, enough to decide "a chunk's worth"
      if (pendingBytes >= maxChunkBytes) {
        if (!soon) {
          soon = true
          setImmediate(flush)
        }
      } else if (timer === undefined) {
        timer = setTimeout(flush, maxDelayMs)
        timer.unref?.() // pending lines never keep the process alive: exit flushes them
      }
    },
    flush,
  }
}

/** A logger that writes nothing (the default of the portable app). */
export const silentLogger: Logger = createLogger({ level: 'off' })

const REQUEST_ID = /^[A-Za-z0-9._:+/=-]{1,128}$/

/**
 * The request id to use for a request: the incoming `x-request-id` when it is 1–128 characters of
 * `A-Z a-z 0-9 . _ : + / = -` (what tracing systems send: UUIDs, hex, base64), otherwise a fresh UUID.
 */
export function requestIdFrom(header: string | undefined | null): string {
  return header && REQUEST_ID.test(header) ? header : crypto.randomUUID()
}
