/**
 * The audit log: one JSON line per key use and admin action (time, request id, action, tenant, key id and
 * version, caller, outcome, SHA-256 of the context). Never key material, tokens or plaintext. Every string field
 * is at most {@link MAX_AUDIT_FIELD} characters, whatever a request sends.
 *
 * When a line cannot be written (a full disk), {@link AuditLog} fails closed: no DEK leaves without its line, key
 * use and admin actions are refused with `ERR_AUDIT_UNAVAILABLE` and readiness says so, until an `audit.resumed`
 * line (with the number of lines lost since) can be written again. Lines not written go to stderr.
 * @module
 */

/**
 * One audit line: written for every key use and admin action, refusals included, before the response goes out.
 *
 * @example
 * ```ts
 * // {"time":"2026-12-01T12:00:00.000Z","requestId":"…","action":"unwrap","tenant":"acme","keyId":"default",
 * //  "keyVersion":"2","caller":"jwt:user@acme","outcome":"ok","contextHash":"9f86…"}
 * const sink: AuditSink = (line: AuditLine) => auditLog.write(`${JSON.stringify(line)}\n`)
 * ```
 */
export interface AuditLine {
  readonly time: string
  readonly requestId: string | null
  readonly action: 'generate' | 'unwrap' | 'rekey' | `admin.${string}` | 'audit.read' | 'audit.resumed'
  readonly tenant: string | null
  readonly keyId: string | null
  readonly keyVersion: string | null
  readonly caller: string | null
  /** `ok` or the error code. */
  readonly outcome: string
  readonly contextHash: string | null
  readonly toTenant?: string
  /** `unwrap`: the caller's reason for this use (at most 1 KiB, no control characters). */
  readonly reason?: string
  /** `admin.set-policy`: the policy before and after (each bounded by the policy's own limits). */
  readonly policy?: { readonly old: unknown; readonly new: unknown }
  /** `audit.resumed`: lines not written since `since`. */
  readonly lost?: number
  readonly since?: string
}

/**
 * Appends one line durably enough for the caller; throws when it cannot (the line must then not be half there).
 *
 * @example
 * ```ts
 * const audit: AuditSink = (line) => writeSync(fd, `${JSON.stringify(line)}\n`) // one write per line
 * ```
 */
export type AuditSink = (line: AuditLine) => void

/** Longest string field of a line; a longer value is cut and ends in `…`. */
export const MAX_AUDIT_FIELD = 128

/** Fields allowed longer than {@link MAX_AUDIT_FIELD}: an unwrap's reason (checked at 1 KiB when it came in). */
const LONGER: Readonly<Record<string, number>> = { reason: 1024 }

function bound(value: string, max = MAX_AUDIT_FIELD): string {
  if (value.length <= max) return value
  let end = max - 1
  if (/[\uD800-\uDBFF]/.test(value[end - 1]!)) end-- // never half a surrogate pair
  return `${value.slice(0, end)}…`
}

/** The line with every string field bounded. */
export function boundLine(line: AuditLine): AuditLine {
  const limit = (k: string) => LONGER[k] ?? MAX_AUDIT_FIELD
  let long = false
  for (const k in line) {
    const v = (line as unknown as Record<string, unknown>)[k]
    if (typeof v === 'string' && v.length > limit(k)) long = true
  }
  if (!long) return line // most lines: checked without a copy (twice per line: once per log)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(line)) out[k] = typeof v === 'string' ? bound(v, limit(k)) : v
  return out as unknown as AuditLine
}

/** The write policy over a sink: bounded lines, fail closed while lines cannot be written, a marker after a gap. */
export class AuditLog {
  private readonly sink: AuditSink
  private gap: { since: string; lost: number } | undefined

  constructor(sink: AuditSink) {
    this.sink = sink
  }

  /** True while the last line could not be written (until an `audit.resumed` line is). */
  get failing(): boolean {
    return this.gap !== undefined
  }

  /** Writes one line; false when it could not be written (then it is counted as lost and goes to stderr). */
  write(line: AuditLine): boolean {
    const bounded = boundLine(line)
    if (!this.ready() || !this.append(bounded)) {
      this.gap ??= { since: bounded.time, lost: 0 }
      this.gap.lost++
      console.error(`[key-proxy] audit line not written: ${JSON.stringify(bounded)}`)
      return false
    }
    return true
  }

  /** True when lines can be written; after a failure, tries to write the `audit.resumed` line first. */
  ready(): boolean {
    if (!this.gap) return true
    const resumed: AuditLine = {
      time: new Date().toISOString(),
      requestId: null,
      action: 'audit.resumed',
      tenant: null,
      keyId: null,
      keyVersion: null,
      caller: null,
      outcome: 'ok',
      contextHash: null,
      lost: this.gap.lost,
      since: this.gap.since,
    }
    if (!this.append(resumed)) return false
    this.gap = undefined
    return true
  }

  private append(line: AuditLine): boolean {
    try {
      this.sink(line)
      return true
    } catch (err) {
      if (!this.gap) console.error(`[key-proxy] the audit log cannot be written: ${(err as Error).message}`)
      return false
    }
  }
}
