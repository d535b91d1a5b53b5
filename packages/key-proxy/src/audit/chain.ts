/**
 * The tenant audit log's records and their tamper evidence (docs/key-proxy-api.md, "The tenant's audit log").
 *
 * Each tenant's lines form one hash chain, serialized by the store: line `seq` (1, 2, …) carries `prev`, the
 * `hash` of line `seq - 1` (64 zeros for line 1), and its own `hash` = SHA-256 of its JSON without `hash`
 * (fields in the order written). Checkpoints, signed by the proxy with Ed25519, name a line's seq and hash: an
 * export is anchored by the checkpoint before its first line (or starts at line 1) and ends with one at its last
 * line, so a dropped, altered, reordered or inserted line, a cut tail and a forged checkpoint all show.
 * @module
 */
import { createHash, createPublicKey, type KeyObject, sign, verify } from 'node:crypto'

/**
 * One line of a tenant's audit log, as stored and exported (NDJSON, one per line).
 *
 * @example
 * ```ts
 * // {"seq":7,"time":"2026-12-01T12:00:00.000Z","tenant":"acme","requestId":"…","caller":"jwt:alice",
 * //  "action":"unwrap","keyId":"acme/default","keyVersion":"2","contextHash":"9f86…",
 * //  "context":{"submission":"s-41"},"reason":"support ticket 1234","outcome":"ok","prev":"…","hash":"…"}
 * ```
 */
export interface AuditRecord {
  readonly seq: number
  readonly time: string
  readonly tenant: string
  readonly requestId: string | null
  readonly caller: string | null
  readonly action: string
  readonly keyId: string | null
  readonly keyVersion: string | null
  readonly contextHash: string | null
  /** The context fields the tenant's policy logs in clear (`logContext`), each value at most 128 characters. */
  readonly context?: { readonly [field: string]: string }
  readonly reason?: string
  readonly toTenant?: string
  readonly policy?: { readonly old: unknown; readonly new: unknown }
  /** `audit.resumed`: lines of this tenant not written since `since` (a full disk, a database down). */
  readonly lost?: number
  readonly since?: string
  readonly outcome: string
  readonly prev: string
  readonly hash: string
}

/** What a store is given to append: a record without its place in the chain. */
export type AuditEntry = Omit<AuditRecord, 'seq' | 'tenant' | 'prev' | 'hash'>

/**
 * A signed checkpoint: line `seq` of `tenant`'s log has hash `hash`.
 *
 * @example
 * ```ts
 * // {"type":"checkpoint","tenant":"acme","seq":1000,"hash":"…","time":"…","kid":"4f1c…","sig":"…"}
 * ```
 */
export interface Checkpoint {
  readonly type: 'checkpoint'
  readonly tenant: string
  readonly seq: number
  readonly hash: string
  readonly time: string
  /** The signing key's id: the first 16 hex digits of SHA-256 of its raw public key. */
  readonly kid: string
  /** base64url Ed25519 signature of {@link checkpointMessage}. */
  readonly sig: string
}

/** The `prev` of a tenant's first line. */
export const GENESIS = '0'.repeat(64)

/** The record's hash: SHA-256 (hex) of its JSON without `hash`, fields in the order written. */
export function recordHash(record: Omit<AuditRecord, 'hash'> | AuditRecord): string {
  const { hash: _, ...rest } = record as AuditRecord
  return createHash('sha256').update(JSON.stringify(rest)).digest('hex')
}

/**
 * The JSON of a record's fields that do not depend on its place in the chain (`"time":…,"outcome":…`, no braces),
 * made before a store takes its chain's lock; {@link chainLine} adds the rest.
 */
export function entryJson(tenant: string, entry: AuditEntry): string {
  const { time, requestId, caller, action, keyId, keyVersion, contextHash, ...optional } = entry
  const { outcome, ...extra } = optional
  const fields = { time, tenant, requestId, caller, action, keyId, keyVersion, contextHash, ...extra, outcome }
  return JSON.stringify(fields).slice(1, -1)
}

/** A line's place in its tenant's chain. */
export interface ChainLink {
  readonly seq: number
  readonly prev: string
  readonly hash: string
}

/**
 * Links a line ({@link entryJson}) into a chain after the line (`seq`, `hash`) before it: its link, and its JSON
 * as stored (one line, without its newline). `{"seq":…,<entryJson>,"prev":…}` is what is hashed, and the stored
 * JSON is it with `hash` as its last field, the same text as `JSON.stringify` of the record.
 */
export function linkLine(json: string, before: { seq: number; hash: string }): { link: ChainLink; text: string } {
  const seq = before.seq + 1
  const text = `{"seq":${seq},${json},"prev":"${before.hash}"}`
  const hash = createHash('sha256').update(text).digest('hex')
  return { link: { seq, prev: before.hash, hash }, text: `${text.slice(0, -1)},"hash":"${hash}"}` }
}

/** The record of an entry at its place in the chain (the fields in the order {@link entryJson} writes them). */
export function linkedRecord(tenant: string, entry: AuditEntry, link: ChainLink): AuditRecord {
  const { time, requestId, caller, action, keyId, keyVersion, contextHash, ...optional } = entry
  const { outcome, ...extra } = optional
  return {
    ...{ seq: link.seq, time, tenant, requestId, caller, action, keyId, keyVersion, contextHash },
    ...extra,
    ...{ outcome, prev: link.prev, hash: link.hash },
  }
}

/** {@link linkLine} and {@link linkedRecord} of one entry: the record, and its JSON as stored. */
export function chainLine(
  tenant: string,
  entry: AuditEntry,
  before: { seq: number; hash: string },
  json = entryJson(tenant, entry),
): { record: AuditRecord; json: string } {
  const { link, text } = linkLine(json, before)
  return { record: linkedRecord(tenant, entry, link), json: text }
}

/** The bytes a checkpoint's signature covers. */
export function checkpointMessage(c: Pick<Checkpoint, 'tenant' | 'seq' | 'hash' | 'time'>): Buffer {
  return Buffer.from(`envelope-audit-checkpoint/1\n${c.tenant}\n${c.seq}\n${c.hash}\n${c.time}`)
}

/** The id of an Ed25519 public key. */
export function keyId(publicKey: KeyObject): string {
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url')
  return createHash('sha256').update(raw).digest('hex').slice(0, 16)
}

/** Signs a checkpoint of line (`seq`, `hash`) of `tenant`'s log. */
export function signCheckpoint(
  privateKey: KeyObject,
  kid: string,
  c: Pick<Checkpoint, 'tenant' | 'seq' | 'hash'>,
): Checkpoint {
  const time = new Date().toISOString()
  const sig = sign(null, checkpointMessage({ ...c, time }), privateKey).toString('base64url')
  return { type: 'checkpoint', tenant: c.tenant, seq: c.seq, hash: c.hash, time, kid, sig }
}

/**
 * What {@link verifyExport} found: `ok` only when every line chains and every checkpoint is good and covered.
 *
 * @example
 * ```ts
 * const report = verifyExport(readFileSync('acme-audit.ndjson', 'utf8'), publicJwk)
 * if (!report.ok) for (const p of report.problems) console.error(p)
 * ```
 */
export interface VerifyReport {
  readonly ok: boolean
  readonly lines: number
  readonly checkpoints: number
  readonly firstSeq?: number
  readonly lastSeq?: number
  readonly problems: readonly string[]
}

/**
 * Checks an NDJSON export of one tenant's audit log against the proxy's checkpoint public key (a JWK, `OKP`
 * Ed25519): every line's hash, every line's `prev` against the line before, seq order, each checkpoint's
 * signature and hash, the first line anchored (line 1, or a checkpoint at the line before it), the last line
 * covered by a checkpoint.
 *
 * @example
 * ```ts
 * const { ok, problems } = verifyExport(text, await (await fetch(`${proxy}/v1/audit/signing-key`)).json())
 * ```
 * @throws Never: every fault is a problem in the report.
 */
export function verifyExport(text: string, publicJwk: { kty: string; crv: string; x: string }): VerifyReport {
  const problems: string[] = []
  let publicKey: KeyObject
  try {
    publicKey = createPublicKey({ key: publicJwk as never, format: 'jwk' })
  } catch {
    return { ok: false, lines: 0, checkpoints: 0, problems: ['the public key is not an Ed25519 JWK'] }
  }
  const kid = keyId(publicKey)
  let tenant: string | undefined
  let last: { seq: number; hash: string } | undefined // the line before the next one, once anchored
  let firstSeq: number | undefined
  let lastSeq: number | undefined
  let lines = 0
  let checkpoints = 0
  let coveredTo = 0 // highest seq a good checkpoint covers
  const byLine = new Map<number, string>() // seq → hash, of the lines seen (to check checkpoints after them)
  const rows = text.split('\n')
  for (const [i, row] of rows.entries()) {
    if (!row.trim()) continue
    const at = `line ${i + 1} of the export`
    let item: Record<string, unknown>
    try {
      item = JSON.parse(row)
    } catch {
      problems.push(`${at}: not JSON`)
      continue
    }
    if (tenant === undefined && typeof item.tenant === 'string') tenant = item.tenant
    if (item.tenant !== tenant) {
      problems.push(`${at}: a line of another tenant (${String(item.tenant).slice(0, 64)})`)
      continue
    }
    if (item.type === 'checkpoint') {
      checkpoints++
      const c = item as unknown as Checkpoint
      let good = false
      try {
        good = c.kid === kid && verify(null, checkpointMessage(c), publicKey, Buffer.from(String(c.sig), 'base64url'))
      } catch {}
      if (!good) {
        problems.push(
          `${at}: checkpoint at seq ${c.seq}: bad signature${c.kid !== kid ? ' (another signing key)' : ''}`,
        )
        continue
      }
      if (last === undefined && lines === 0) {
        last = { seq: c.seq, hash: c.hash } // the anchor: the next line must be seq + 1 with prev = hash
        coveredTo = c.seq
        continue
      }
      const seen = byLine.get(c.seq)
      if (seen === undefined) problems.push(`${at}: checkpoint at seq ${c.seq} names no line of this export before it`)
      else if (seen !== c.hash)
        problems.push(`${at}: checkpoint at seq ${c.seq}: the line there has another hash (altered)`)
      else coveredTo = Math.max(coveredTo, c.seq)
      continue
    }
    lines++
    const r = item as unknown as AuditRecord
    firstSeq ??= r.seq
    lastSeq = r.seq
    if (typeof r.seq !== 'number' || typeof r.hash !== 'string' || typeof r.prev !== 'string') {
      problems.push(`${at}: not an audit line (seq, prev, hash)`)
      continue
    }
    if (recordHash(r) !== r.hash) problems.push(`${at}: seq ${r.seq}: its hash does not match its content (altered)`)
    if (last === undefined) {
      if (r.seq !== 1 || r.prev !== GENESIS)
        problems.push(`${at}: seq ${r.seq}: the export starts mid-log with no checkpoint before it (unanchored)`)
    } else if (r.seq <= last.seq) {
      problems.push(`${at}: seq ${r.seq} after seq ${last.seq} (reordered or repeated)`)
    } else if (r.seq !== last.seq + 1) {
      problems.push(`${at}: seq ${r.seq} after seq ${last.seq}: ${r.seq - last.seq - 1} line(s) missing (dropped)`)
    } else if (r.prev !== last.hash) {
      problems.push(`${at}: seq ${r.seq}: its prev is not the hash of the line before (inserted or altered)`)
    }
    last = { seq: r.seq, hash: r.hash }
    byLine.set(r.seq, r.hash)
  }
  if (lastSeq !== undefined && coveredTo < lastSeq)
    problems.push(`the lines after seq ${coveredTo} are covered by no checkpoint (the export may be cut short)`)
  if (lines === 0 && checkpoints === 0) problems.push('the export is empty')
  return {
    ok: problems.length === 0,
    lines,
    checkpoints,
    ...(firstSeq !== undefined ? { firstSeq } : {}),
    ...(lastSeq !== undefined ? { lastSeq } : {}),
    problems,
  }
}
