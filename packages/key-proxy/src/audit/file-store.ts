/**
 * The embedded audit store: each tenant's log in a folder of its own (`<dir>/<tenant>/`), as segment files of at
 * most `segmentLines` lines (`<first seq>-<first time in ms>.ndjson`) and a `checkpoints.ndjson`. One instance owns
 * the data folder (its lock). The process that writes the folder keeps each tenant's chain head in memory and
 * serializes its appends; with `--workers` that is the primary, and each worker's store hands its lines to it
 * (`writer`: one message each way per group of lines, over the cluster's channel) and only reads the files itself,
 * so there is one chain per tenant. A line is written whole (a torn last line, from a crash, is cut off when the
 * writer opens the tenant's log; a reader takes it for what it is, no line).
 *
 * Reads are bounded: a query opens only the segments its position and time range fall in, one at a time, and
 * reads at most `maxScan` lines before it returns where to go on. Retention drops whole segments, oldest first,
 * only where a checkpoint at the line before the first kept one anchors what remains.
 * @module
 */
import {
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  unlinkSync,
  writeSync,
} from 'node:fs'
import { join } from 'node:path'
import { ProxyError } from '../errors.ts'
import {
  type AuditEntry,
  type AuditRecord,
  type ChainLink,
  type Checkpoint,
  entryJson,
  GENESIS,
  linkedRecord,
  linkLine,
  signCheckpoint,
} from './chain.ts'
import type { AuditSigner } from './signer.ts'
import { type AuditPage, type AuditQuery, type AuditStore, GroupedAppends } from './store.ts'

/**
 * Options of {@link FileAuditStore.open}.
 *
 * @example
 * ```ts
 * const store = FileAuditStore.open({ dir: '.envelope-data/audit', signer, checkpointIntervalMs: 60_000 })
 * ```
 */
export interface FileAuditStoreOptions {
  readonly dir: string
  readonly signer: AuditSigner
  /** Lines per segment file; a checkpoint is signed at the end of each. Default 500. */
  readonly segmentLines?: number
  /** Most lines one query reads. Default 10,000. */
  readonly maxScan?: number
  /** Signs each tenant's last line this often when it has new lines (0: never by time). Default 60 s. */
  readonly checkpointIntervalMs?: number
  /**
   * Another store writes this folder (a `--workers` worker's: the primary's, over IPC): appends, checkpoints and
   * pruning go to it, and this one only reads, the tenant's files as they are at each read. Default: this store
   * writes.
   */
  readonly writer?: AuditWriter
  /**
   * Told of each group of lines once written, as stored (JSON, no newline): how a `--workers` primary hands the
   * lines it writes for its workers to the tenants' webhooks, in seq order. What it throws is ignored.
   */
  readonly onWritten?: (tenant: string, lines: readonly string[]) => void
}

/**
 * What a store that writes a folder does for the stores that read it (a {@link FileAuditStore} without a writer
 * is one): `appendLines` takes lines encoded by `entryJson` and resolves with their links, in order, once written.
 *
 * @example
 * ```ts
 * const primary = FileAuditStore.open({ dir, signer })
 * const worker = FileAuditStore.open({ dir, signer, writer: primary })
 * ```
 */
export interface AuditWriter {
  appendLines(tenant: string, lines: readonly string[]): Promise<readonly ChainLink[]>
  checkpoint(tenant: string): Promise<Checkpoint | undefined>
  prune(before: string): Promise<void>
}

interface Segment {
  readonly start: number
  readonly firstTime: string
  readonly file: string
}

interface TenantLog {
  readonly dir: string
  readonly segments: Segment[]
  head: { seq: number; hash: string }
  /** Open descriptor of the last segment, and its line count. */
  fd?: number
  size: number
  inSegment: number
  lastCheckpoint: number
}

const SEGMENT = /^(\d{12})-(\d+)\.ndjson$/

export class FileAuditStore implements AuditStore {
  readonly #dir: string
  readonly #signer: AuditSigner
  readonly #segmentLines: number
  readonly #maxScan: number
  readonly #tenants = new Map<string, TenantLog>()
  readonly #timer: ReturnType<typeof setInterval> | undefined
  readonly #writer: AuditWriter | undefined
  readonly #onWritten: FileAuditStoreOptions['onWritten']
  /** Lines of one tenant a group at a time: written here (one write per segment), or sent to the writer. */
  readonly #appends: GroupedAppends<string, ChainLink>

  private constructor(options: FileAuditStoreOptions) {
    const writer = options.writer
    this.#writer = writer
    this.#onWritten = options.onWritten
    this.#appends = writer
      ? // Two groups in flight: the writer queues them in order, and the next is on its way meanwhile.
        new GroupedAppends((tenant, lines) => writer.appendLines(tenant, lines), 2000, 2)
      : new GroupedAppends((tenant, lines) => Promise.resolve().then(() => this.#appendAll(tenant, lines)), 2000)
    this.#dir = options.dir
    this.#signer = options.signer
    this.#segmentLines = options.segmentLines ?? 500
    this.#maxScan = options.maxScan ?? 10_000
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 })
    const every = writer ? 0 : (options.checkpointIntervalMs ?? 60_000)
    if (every > 0) {
      this.#timer = setInterval(() => {
        for (const tenant of this.#tenants.keys()) this.checkpoint(tenant).catch(() => {})
      }, every)
      this.#timer.unref?.()
    }
  }

  /** Opens (or makes) the store's folder. */
  static open(options: FileAuditStoreOptions): FileAuditStore {
    return new FileAuditStore(options)
  }

  #forget(tenant: string): void {
    const log = this.#tenants.get(tenant)
    if (log?.fd !== undefined) closeSync(log.fd)
    this.#tenants.delete(tenant)
  }

  /** For reads: with a writer elsewhere, the tenant's files as they are now. */
  #fresh(tenant: string): TenantLog {
    if (this.#writer && this.#tenants.has(tenant)) this.#forget(tenant)
    return this.#log(tenant)
  }

  // A tenant's head is read from the ends of its files only (the last line of the last segment, the last
  // checkpoint): a reader re-reads it at each read, and that costs the same on a log of a million lines as on a
  // new one.
  #log(tenant: string): TenantLog {
    const known = this.#tenants.get(tenant)
    if (known) return known
    const dir = join(this.#dir, tenant)
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    const segments: Segment[] = []
    for (const name of readdirSync(dir).sort()) {
      const m = SEGMENT.exec(name)
      if (m)
        segments.push({ start: Number(m[1]), firstTime: new Date(Number(m[2])).toISOString(), file: join(dir, name) })
    }
    const log: TenantLog = { dir, segments, head: { seq: 0, hash: GENESIS }, size: 0, inSegment: 0, lastCheckpoint: 0 }
    const last = segments.at(-1)
    if (last) {
      log.fd = openSync(last.file, this.#writer ? 'r' : 'r+')
      const tail = lastLine(log.fd)
      // A torn last line (a crash) is cut off by the writer; to a reader it may be a line being written.
      if (!this.#writer && tail.end < fstatSync(log.fd).size) ftruncateSync(log.fd, tail.end)
      log.size = tail.end
      const record = tail.line ? (JSON.parse(tail.line) as AuditRecord) : undefined
      if (record) {
        log.head = { seq: record.seq, hash: record.hash }
        log.inSegment = record.seq - last.start + 1
      } else if (segments.length > 1) log.head = this.#headBefore(segments.at(-2)!)
    }
    log.lastCheckpoint = this.#lastCheckpoint(dir)?.seq ?? 0
    this.#tenants.set(tenant, log)
    return log
  }

  #headBefore(segment: Segment): { seq: number; hash: string } {
    const fd = openSync(segment.file, 'r')
    try {
      const r = JSON.parse(lastLine(fd).line!) as AuditRecord
      return { seq: r.seq, hash: r.hash }
    } finally {
      closeSync(fd)
    }
  }

  #lastCheckpoint(dir: string): Checkpoint | undefined {
    let fd: number
    try {
      fd = openSync(join(dir, 'checkpoints.ndjson'), 'r')
    } catch {
      return undefined
    }
    try {
      const line = lastLine(fd).line
      return line ? (JSON.parse(line) as Checkpoint) : undefined
    } finally {
      closeSync(fd)
    }
  }

  #readCheckpoints(dir: string): Checkpoint[] {
    try {
      return readFileSync(join(dir, 'checkpoints.ndjson'), 'utf8')
        .split('\n')
        .filter((l) => l.endsWith('}'))
        .map((l) => JSON.parse(l) as Checkpoint)
    } catch {
      return []
    }
  }

  #writeCheckpoint(tenant: string, log: TenantLog): Checkpoint {
    const c = signCheckpoint(this.#signer.privateKey, this.#signer.kid, { tenant, ...log.head })
    const fd = openSync(join(log.dir, 'checkpoints.ndjson'), 'a', 0o600)
    try {
      writeSync(fd, `${JSON.stringify(c)}\n`)
    } finally {
      closeSync(fd)
    }
    log.lastCheckpoint = c.seq
    return c
  }

  append(tenant: string, entry: AuditEntry): Promise<AuditRecord> {
    return this.#appends.append(tenant, entryJson(tenant, entry)).then((link) => linkedRecord(tenant, entry, link))
  }

  /**
   * {@link AuditWriter.appendLines}: lines another process encoded (`entryJson`), chained and written here in
   * order, in the groups of this store's own appends.
   * @throws ProxyError `ERR_AUDIT_UNAVAILABLE` (the reason is the error's `cause`) when this store does not write
   * its folder, a line is not one `entryJson` line, or the write fails
   */
  appendLines(tenant: string, lines: readonly string[]): Promise<readonly ChainLink[]> {
    for (const line of lines)
      if (this.#writer || typeof line !== 'string' || !line.startsWith('"time":"') || line.includes('\n'))
        return Promise.reject(
          new ProxyError('ERR_AUDIT_UNAVAILABLE', `the audit log of tenant "${tenant}" cannot be written`, {
            cause: new Error(this.#writer ? 'this store only reads' : 'not an audit line'),
          }),
        )
    return Promise.all(lines.map((line) => this.#appends.append(tenant, line)))
  }

  /** Chains the group's lines and writes them with one write per segment they fall in. */
  #appendAll(tenant: string, lines: readonly string[]): ChainLink[] {
    try {
      const log = this.#log(tenant)
      const links: ChainLink[] = []
      let pending: string[] = []
      let head = log.head
      const flush = () => {
        if (pending.length === 0) return
        const bytes = Buffer.from(`${pending.join('\n')}\n`)
        try {
          let at = 0
          while (at < bytes.length) at += writeSync(log.fd!, bytes, at, bytes.length - at, log.size + at)
        } catch (err) {
          try {
            ftruncateSync(log.fd!, log.size) // never a torn line
          } catch {}
          throw err
        }
        log.size += bytes.length
        log.inSegment += pending.length
        log.head = head
        if (this.#onWritten) {
          try {
            this.#onWritten(tenant, pending)
          } catch {}
        }
        pending = []
        if (log.inSegment >= this.#segmentLines) this.#writeCheckpoint(tenant, log) // each segment ends signed
      }
      for (const fields of lines) {
        if (log.fd === undefined || log.inSegment + pending.length >= this.#segmentLines) {
          flush()
          if (log.fd === undefined || log.inSegment >= this.#segmentLines) this.#newSegment(tenant, log, timeOf(fields))
        }
        const { link, text } = linkLine(fields, head)
        pending.push(text)
        head = { seq: link.seq, hash: link.hash }
        links.push(link)
      }
      flush()
      return links
    } catch (err) {
      if (err instanceof ProxyError) throw err
      throw new ProxyError('ERR_AUDIT_UNAVAILABLE', `the audit log of tenant "${tenant}" cannot be written`, {
        cause: err,
      })
    }
  }

  /** Closes the tenant's last segment (signed at its end) and opens the next, named by its first line. */
  #newSegment(tenant: string, log: TenantLog, firstTime: string): void {
    if (log.fd !== undefined) {
      closeSync(log.fd)
      log.fd = undefined
      if (log.lastCheckpoint < log.head.seq) this.#writeCheckpoint(tenant, log)
    }
    const start = log.head.seq + 1
    const file = join(log.dir, `${String(start).padStart(12, '0')}-${Date.parse(firstTime)}.ndjson`)
    log.fd = openSync(file, 'a', 0o600)
    log.size = 0
    log.inSegment = 0
    log.segments.push({ start, firstTime, file })
  }

  async query(tenant: string, q: AuditQuery): Promise<AuditPage> {
    const log = this.#fresh(tenant)
    const limit = Math.min(Math.max(q.limit ?? 100, 1), 1000)
    const desc = q.order === 'desc'
    const records: AuditRecord[] = []
    const segs = log.segments
    if (segs.length === 0) return { records }
    let pos = desc ? (q.after !== undefined ? q.after - 1 : log.head.seq) : (q.after ?? 0) + 1
    let scanned = 0
    // The segment holding `pos` (the last whose start is at most pos).
    let i = segs.length - 1
    while (i >= 0 && segs[i]!.start > pos) i--
    if (!desc && i < 0) i = 0
    if (!desc && pos < segs[0]!.start) pos = segs[0]!.start
    while (i >= 0 && i < segs.length) {
      const seg = segs[i]!
      const nextTime = segs[i + 1]?.firstTime
      // Whole segments outside the time range are not opened.
      const before = q.from !== undefined && nextTime !== undefined && nextTime < q.from
      const after = q.to !== undefined && seg.firstTime > q.to
      if ((desc && before) || (!desc && after)) return { records } // nothing further in this direction
      if (!before && !after) {
        const lines = readFileSync(seg.file, 'utf8').split('\n')
        lines.pop() // after the last newline: nothing, or a line still being written (or torn by a crash)
        const whole = lines.filter((l) => l.endsWith('}'))
        const ordered = desc ? whole.reverse() : whole
        for (const text of ordered) {
          const r = JSON.parse(text) as AuditRecord
          if (desc ? r.seq > pos : r.seq < pos) continue
          if (scanned >= this.#maxScan || records.length >= limit)
            return { records, next: desc ? r.seq + 1 : r.seq - 1 }
          scanned++
          if (q.to !== undefined && r.time > q.to) {
            if (desc) continue
            return { records }
          }
          if (q.from !== undefined && r.time < q.from) {
            if (!desc) continue
            return { records }
          }
          if (matches(r, q)) records.push(r)
        }
      }
      pos = desc ? seg.start - 1 : (segs[i + 1]?.start ?? pos)
      i += desc ? -1 : 1
    }
    return { records }
  }

  async checkpoint(tenant: string): Promise<Checkpoint | undefined> {
    if (this.#writer) return this.#writer.checkpoint(tenant)
    return Promise.resolve().then(() => {
      const log = this.#log(tenant)
      if (log.head.seq === 0) return undefined
      if (log.lastCheckpoint < log.head.seq) return this.#writeCheckpoint(tenant, log)
      return this.#lastCheckpoint(log.dir)
    })
  }

  async checkpoints(tenant: string, from: number, to: number): Promise<readonly Checkpoint[]> {
    return this.#readCheckpoints(this.#log(tenant).dir).filter((c) => c.seq >= from && c.seq <= to)
  }

  async bounds(tenant: string): Promise<{ first: number; last: number } | undefined> {
    const log = this.#fresh(tenant)
    if (log.head.seq === 0) return undefined
    return { first: log.segments[0]!.start, last: log.head.seq }
  }

  async prune(before: string): Promise<void> {
    if (this.#writer) return this.#writer.prune(before)
    for (const name of readdirSync(this.#dir)) {
      await Promise.resolve().then(() => {
        const log = this.#log(name)
        const signed = new Set(this.#readCheckpoints(log.dir).map((c) => c.seq))
        // A segment goes once the next one starts before the cut, and a checkpoint anchors that next one.
        while (
          log.segments.length > 1 &&
          log.segments[1]!.firstTime < before &&
          signed.has(log.segments[1]!.start - 1)
        ) {
          unlinkSync(log.segments.shift()!.file)
        }
      })
    }
  }

  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer)
    for (const log of this.#tenants.values()) if (log.fd !== undefined) closeSync(log.fd)
    this.#tenants.clear()
  }
}

function matches(r: AuditRecord, q: AuditQuery): boolean {
  if (q.action !== undefined && r.action !== q.action) return false
  if (q.caller !== undefined && r.caller !== q.caller) return false
  if (q.outcome === 'refused') return r.outcome !== 'ok'
  if (q.outcome !== undefined && r.outcome !== q.outcome) return false
  return true
}

/** The time of a line encoded by `entryJson` (its first field: `"time":"<ISO time>"`). */
function timeOf(json: string): string {
  return json.slice(8, json.indexOf('"', 8))
}

/**
 * The last whole line of a file (without its newline) and where the whole lines end, read backwards from the
 * end a block at a time: a torn line after the last newline (a crash mid-write) is not a line.
 */
function lastLine(fd: number): { line?: string; end: number } {
  const BLOCK = 4096 // a line or two; more blocks for a longer line
  let buf = Buffer.alloc(0) // the file's bytes from `from` to its end
  let from = fstatSync(fd).size
  let end: number | undefined
  while (from > 0) {
    const start = Math.max(0, from - BLOCK)
    const block = Buffer.alloc(from - start)
    readSync(fd, block, 0, block.length, start)
    buf = Buffer.concat([block, buf])
    from = start
    if (end === undefined) {
      const nl = buf.lastIndexOf(10)
      if (nl >= 0) end = from + nl + 1
    }
    if (end !== undefined) {
      const lineEnd = end - 1 - from // the last newline, in buf
      const before = lineEnd > 0 ? buf.lastIndexOf(10, lineEnd - 1) : -1
      if (before >= 0 || from === 0) return { line: buf.subarray(before + 1, lineEnd).toString('utf8'), end }
    }
  }
  return { end: end ?? 0 }
}
