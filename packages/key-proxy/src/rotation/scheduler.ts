/**
 * Rotation on a schedule, run by the proxy, by exactly one instance when several share a keystore: each check
 * (every `checkMs`) that finds a rotation due or imported material expired, an instance takes or renews the
 * `rotation` lock (a `lock` record written by the keystore's
 * atomic update, valid `lockMs`); the holder rotates every key whose rotation is due and deletes imported key
 * material past its `validTo`. A holder that dies stops renewing; once its lock expires another instance takes it.
 * Each due rotation is claimed in the tenant's record before the KMS call (TenantKms.rotateIfDue), so even two
 * instances that both believe they hold the lock (a paused process) rotate a key once.
 * @module
 */
import { hostname } from 'node:os'
import { type AuditLine, AuditLog, type AuditSink } from '../audit.ts'
import { ProxyError } from '../errors.ts'
import type { Keystore } from '../keystore/keystore.ts'
import type { LocalKms } from '../kms/local-kms.ts'
import type { TenantKms } from '../kms/tenant-kms.ts'

/** The lock record's key (kind `lock`). */
export const ROTATION_LOCK = 'rotation'

/**
 * Options of {@link RotationScheduler}.
 *
 * @example
 * ```ts
 * const scheduler = new RotationScheduler({ keystore, kms, localKms, audit, checkMs: 60_000 })
 * scheduler.start()
 * ```
 */
export interface RotationSchedulerOptions {
  readonly keystore: Keystore
  readonly kms: Pick<TenantKms, 'scheduledKeys' | 'rotateIfDue' | 'expireImportedMaterial'>
  readonly localKms: LocalKms
  /** Where scheduled rotations and expiries are audited (the proxy's audit log). */
  readonly audit?: AuditSink
  /** This instance's id in the lock (default host:pid:random). */
  readonly instanceId?: string
  /** How often to check, in ms (default 60,000). */
  readonly checkMs?: number
  /** How long the lock holds without renewal, in ms (default 3 × checkMs). */
  readonly lockMs?: number
  readonly now?: () => number
}

/**
 * What one check did (`leader`: this instance held the lock for it; false too when nothing was due).
 *
 * @example
 * ```ts
 * const { leader, rotated } = await scheduler.check() // { leader: true, rotated: [{ tenant: 'acme', key: 'default', version: '3' }], … }
 * ```
 */
export interface CheckResult {
  readonly leader: boolean
  readonly rotated: readonly { readonly tenant: string; readonly key: string; readonly version: string }[]
  readonly failed: readonly { readonly tenant: string; readonly key: string; readonly code: string }[]
  readonly expired: readonly string[]
}

/**
 * Runs the rotation schedule (and the expiry of imported material) on one instance at a time.
 *
 * @example
 * ```ts
 * const scheduler = new RotationScheduler({ keystore, kms, localKms, now: () => clock })
 * await scheduler.check() // in tests: one check on a controlled clock
 * await scheduler.stop()  // gives the lock up
 * ```
 * @throws Nothing from `check`: a key that fails to rotate is reported in `failed` (and audited) and tried again
 * at the next check; a keystore that fails makes this check a non-leader one.
 */
export class RotationScheduler {
  readonly instanceId: string
  readonly #keystore: Keystore
  readonly #kms: RotationSchedulerOptions['kms']
  readonly #local: LocalKms
  readonly #audit: AuditLog | undefined
  readonly #checkMs: number
  readonly #lockMs: number
  readonly #now: () => number
  #timer: ReturnType<typeof setInterval> | undefined
  #running: Promise<CheckResult> | undefined

  constructor(options: RotationSchedulerOptions) {
    this.#keystore = options.keystore
    this.#kms = options.kms
    this.#local = options.localKms
    this.#audit = options.audit ? new AuditLog(options.audit) : undefined
    this.#checkMs = options.checkMs ?? 60_000
    this.#lockMs = options.lockMs ?? 3 * this.#checkMs
    this.#now = options.now ?? Date.now
    this.instanceId =
      options.instanceId ?? `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`.slice(0, 128)
  }

  /** Checks every `checkMs` (the timer does not keep the process alive). */
  start(): void {
    if (this.#timer) return
    this.#timer = setInterval(() => void this.check(), this.#checkMs)
    this.#timer.unref?.()
    void this.check()
  }

  /** Stops checking and gives the lock up, so another instance takes it at its next check. */
  async stop(): Promise<void> {
    clearInterval(this.#timer)
    this.#timer = undefined
    await this.#running?.catch(() => {})
    await this.#keystore
      .update('lock', ROTATION_LOCK, (cur) =>
        cur?.holder === this.instanceId ? { ...cur, expires: new Date(this.#now()).toISOString() } : cur,
      )
      .catch(() => {})
  }

  /** Takes or renews the lock; true when this instance holds it. */
  async lead(): Promise<boolean> {
    const now = this.#now()
    const me = this.instanceId
    try {
      const lock = await this.#keystore.update('lock', ROTATION_LOCK, (cur) => {
        if (cur && cur.holder !== me && Date.parse(cur.expires) > now) return cur
        return {
          holder: me,
          expires: new Date(now + this.#lockMs).toISOString(),
          term: cur?.holder === me ? cur.term : (cur?.term ?? 0) + 1,
        }
      })
      return lock?.holder === me
    } catch {
      return false
    }
  }

  /** One check: lead, then rotate what is due and expire what is past its validTo. One at a time. */
  check(): Promise<CheckResult> {
    if (!this.#running) this.#running = this.#check().finally(() => (this.#running = undefined))
    return this.#running
  }

  async #check(): Promise<CheckResult> {
    const rotated: { tenant: string; key: string; version: string }[] = []
    const failed: { tenant: string; key: string; code: string }[] = []
    const expired: string[] = []
    const now = this.#now()
    let due: Awaited<ReturnType<RotationSchedulerOptions['kms']['scheduledKeys']>> = []
    let expiring = false
    try {
      due = (await this.#kms.scheduledKeys()).filter((k) => k.due <= now)
      expiring = await this.#anyExpiring(now)
    } catch {}
    // Nothing to do: no lock taken, nothing written (the common case, on every instance).
    if (due.length === 0 && !expiring) return { leader: false, rotated, failed, expired }
    if (!(await this.lead())) return { leader: false, rotated, failed, expired }
    for (const { tenant, key } of due) {
      try {
        const version = await this.#kms.rotateIfDue(tenant, key)
        if (version === undefined) continue
        rotated.push({ tenant, key, version })
        this.#line({ action: 'admin.rotate', tenant, keyId: `${tenant}/${key}`, keyVersion: version, outcome: 'ok' })
      } catch (err) {
        const code = err instanceof ProxyError ? err.code : 'ERR_INTERNAL'
        failed.push({ tenant, key, code })
        this.#line({ action: 'admin.rotate', tenant, keyId: `${tenant}/${key}`, keyVersion: null, outcome: code })
      }
    }
    // imported key material past its validTo is deleted even when no request touches its key
    try {
      for (const [id, k] of await this.#keystore.list('local-key')) {
        const validTo = k.imported?.validTo
        if (!validTo || Date.parse(validTo) > now || k.state === 'pending_import' || k.state === 'destroyed') continue
        const slash = id.indexOf('/')
        const tenant = id.slice(0, slash)
        await this.#local.current(tenant, id.slice(slash + 1))
        expired.push(id)
        this.#line({ action: 'admin.material-expired', tenant, keyId: id, keyVersion: null, outcome: 'ok' })
      }
    } catch {}
    try {
      for (const id of await this.#kms.expireImportedMaterial()) {
        expired.push(id)
        const tenant = id.slice(0, id.indexOf('/'))
        this.#line({ action: 'admin.material-expired', tenant, keyId: id, keyVersion: null, outcome: 'ok' })
      }
    } catch {}
    return { leader: true, rotated, failed, expired }
  }

  /** Imported material past its validTo, in the local KMS or an HSM entry. */
  async #anyExpiring(now: number): Promise<boolean> {
    const past = (v: string | undefined) => v !== undefined && Date.parse(v) <= now
    for (const [, k] of await this.#keystore.list('local-key')) {
      if (past(k.imported?.validTo) && k.state !== 'pending_import' && k.state !== 'destroyed') return true
    }
    for (const [, t] of await this.#keystore.list('tenant')) {
      if (t.entries.some((e) => e.byok?.state === 'imported' && past(e.byok.validTo))) return true
    }
    return false
  }

  #line(fields: Pick<AuditLine, 'action' | 'tenant' | 'keyId' | 'keyVersion' | 'outcome'>): void {
    this.#audit?.write({
      time: new Date(this.#now()).toISOString(),
      requestId: null,
      caller: 'schedule',
      contextHash: null,
      ...fields,
    })
  }
}
