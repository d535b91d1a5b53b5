/**
 * The audit log: one JSON line per key use and admin action (time, request id, action, tenant, key id and
 * version, caller, outcome, SHA-256 of the context). Never key material, tokens or plaintext.
 * @module
 */
export interface AuditLine {
  readonly time: string
  readonly requestId: string
  readonly action: 'generate' | 'unwrap' | 'rekey' | `admin.${string}`
  readonly tenant: string | null
  readonly keyId: string | null
  readonly keyVersion: string | null
  readonly caller: string | null
  /** `ok` or the error code. */
  readonly outcome: string
  readonly contextHash: string | null
  readonly toTenant?: string
}

export type AuditSink = (line: AuditLine) => void
