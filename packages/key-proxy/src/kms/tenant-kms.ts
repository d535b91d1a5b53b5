/**
 * Each tenant's KMS: its KMS entries (keystore `tenant` records: the local KMS, an HSM over PKCS#11, AWS KMS, …
 * through the providers of providers/), one of them primary for new DEKs, every one still unwrapping its own
 * EDEKs until retired. The KmsBackend of the proxy's routes (backend.ts).
 *
 * Two modes per entry (docs/kms-backends.md, "Direct and leased"):
 * - **direct**: one KMS call per DEK (GenerateDataKey / Decrypt, C_Encrypt / C_Decrypt in the HSM). The EDEK is
 *   the KMS's own ciphertext (the local KMS: its JWE), bound to `{tenant, purpose: 'dek', ctx}`.
 * - **leased**: a random lease key per entry, wrapped by the CMK (one KMS call) and kept in the keystore; DEKs are
 *   wrapped under it in the proxy (leased-edek.ts) and the unwrapped lease key lives in memory for `ttlMs` from
 *   the last successful KMS call (lease-cache.ts), so the customer's disable takes effect within it. A new lease
 *   is made after `maxAgeMs` or `maxDeks` DEKs, and after a rotation through the proxy; old leases keep unwrapping
 *   while the CMK allows.
 *
 * Caches (tenant records, opened KMS clients, current leases) are bounded and follow the keystore's change
 * notifications; an entry whose `epoch` another instance moved (a lifecycle action) has its leases dropped at once.
 * @module
 */
import type { Edek, EncryptionContext } from '@envelope/core'
import { fromBase64url, toBase64url } from '@envelope/fetch-client/protocol'
import {
  checkImportToken,
  IMPORT_TOKEN_TTL_MS,
  type ImportParameters,
  type ImportRequest,
  LocalKeyImport,
  newImportToken,
  parseValidTo,
  sha256,
  USED_TOKENS_KEPT,
  WRAPPING_KEY_SPECS,
  wrappedMaterial,
} from '../byok/local-import.ts'
import { ProxyError } from '../errors.ts'
import type { Keystore } from '../keystore/keystore.ts'
import type { KmsEntryRecord, KmsMode, LeaseRecord, TenantRecord } from '../keystore/records.ts'
import { isName, NAME_RULE } from '../names.ts'
import { checkPeriod, nextRotation, withRotation, withSchedule } from '../rotation/schedule.ts'
import type { KeyDescription, KmsBackend, LifecycleAction, RegisterRequest, TenantDescription } from './backend.ts'
import type { WrapContext } from './cmk.ts'
import { contextHash, readEdekHeader } from './edek-jwe.ts'
import { openJweNode, sealJweNode } from './jwe-node.ts'
import { LeaseCache } from './lease-cache.ts'
import { LEASE_VERSION_PREFIX, type LeaseHeader, leasedHeader, newLeaseId, readLeasedEdek } from './leased-edek.ts'
import type { LocalKms } from './local-kms.ts'
import {
  EDEK_PROVIDER_IDS,
  type KmsPolicy,
  type KmsProvider,
  type KmsSettings,
  kmsProvider,
  type OpenedCmk,
  PROVIDER_NAMES,
  providerOfEdek,
} from './providers/index.ts'

// Exact text of an EDEK's JWE: invalid UTF-8 is an error (not U+FFFD), a leading U+FEFF is kept.
const EXACT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * Leased mode's settings (docs/kms-backends.md, "Direct and leased").
 *
 * @example
 * ```ts
 * const kms = new TenantKms({ keystore, localKms, leases: { ttlMs: 60_000, maxAgeMs: 3_600_000 } })
 * ```
 */
export interface LeaseSettings {
  /** How long an unwrapped lease key is used after the KMS last gave it (default 300,000: 5 minutes). */
  readonly ttlMs: number
  /** Refresh a lease this long before it expires, in the background (default min(30 s, ttlMs / 5)). */
  readonly refreshAheadMs: number
  /** A new lease after this long (default 86,400,000: a day). */
  readonly maxAgeMs: number
  /** A new lease after this many DEKs made by this process (default 1,000,000). */
  readonly maxDeks: number
  /** Unwrapped leases held at most (default 10,000) … */
  readonly maxLeases: number
  /** … and bytes (default 4 MiB). */
  readonly maxBytes: number
}

/**
 * The defaults of {@link LeaseSettings}: a 5-minute TTL, 30 s of refresh-ahead, a new lease a day or every million
 * DEKs, at most 10,000 leases (4 MiB) in memory.
 *
 * @example
 * ```ts
 * const ttlMinutes = DEFAULT_LEASES.ttlMs / 60_000 // 5
 * ```
 */
export const DEFAULT_LEASES: LeaseSettings = {
  ttlMs: 300_000,
  refreshAheadMs: 30_000,
  maxAgeMs: 86_400_000,
  maxDeks: 1_000_000,
  maxLeases: 10_000,
  maxBytes: 4 << 20,
}

/**
 * Hooks for metrics: every KMS call (with its outcome) and what the lease cache does.
 *
 * @example
 * ```ts
 * const observer: KmsObserver = { kmsCall: ({ provider, operation, outcome, ms }) => metrics.kmsCall(provider, operation, outcome, ms) }
 * ```
 */
export interface KmsObserver {
  kmsCall?(call: {
    readonly provider: string
    readonly operation: 'generate' | 'wrap' | 'unwrap' | 'describe'
    readonly outcome: string
    readonly ms: number
  }): void
  lease?(event: 'hit' | 'miss' | 'refresh' | 'expired' | 'evicted' | 'revoked'): void
}

/**
 * A tenant of the configuration: a name (one local entry `default`) or its entries.
 *
 * @example
 * ```ts
 * const tenants: ConfiguredTenant[] = ['globex', { id: 'acme', kms: [{ id: 'aws', provider: 'aws-kms', settings: { keyId: arn } }] }]
 * ```
 */
export type ConfiguredTenant =
  | string
  | {
      readonly id: string
      readonly kms?: readonly ({ readonly id: string } & RegisterRequest)[]
      readonly primary?: string
    }

/**
 * Options of {@link TenantKms}: the keystore and the local KMS, what the admin API may name, leased mode's
 * settings, bounds and hooks.
 *
 * @example
 * ```ts
 * const options: TenantKmsOptions = { keystore, localKms, policy: { pkcs11Modules: [softhsm], awsKmsEndpoints: [] } }
 * ```
 */
export interface TenantKmsOptions {
  readonly keystore: Keystore
  readonly localKms: LocalKms
  /** What entries registered through the admin API may name (PKCS#11 libraries, AWS endpoints). */
  readonly policy?: KmsPolicy
  readonly leases?: Partial<LeaseSettings>
  /** Shortest deletion waiting period, in days, for deletions the proxy schedules (PKCS#11). Default 7. */
  readonly minDeletionDays?: number
  /** Opened KMS clients kept at most (least recently used closed first). Default 1,000. */
  readonly maxClients?: number
  /** Environment that settings naming variables read (default process.env). */
  readonly env?: Readonly<Record<string, string | undefined>>
  readonly observer?: KmsObserver
  readonly now?: () => number
}

interface Opened extends OpenedCmk {
  readonly provider: KmsProvider
}

/** The lease new DEKs of an entry use, as this process knows it. */
interface CurrentLease {
  readonly id: string
  readonly cacheId: string
  readonly created: number
  readonly header: LeaseHeader
  deks: number
}

const MAX_TENANTS_CACHED = 10_000
const DAY = 86_400_000

/** A CMK version's number: `3` (local) or `v3` (PKCS#11); undefined for anything else. */
const versionNumber = (v: unknown): number | undefined => {
  const m = /^v?([1-9][0-9]{0,8})$/.exec(String(v ?? ''))
  return m ? Number(m[1]) : undefined
}

const notFound = (tenant: string, key: string) =>
  new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${key}"`)

/**
 * Each tenant's KMS, as the proxy's routes use it ({@link KmsBackend}): its keys (KMS entries) in the local KMS,
 * an HSM or AWS KMS, direct and leased modes, and their administration.
 *
 * @example
 * ```ts
 * const keystore = FileKeystore.open({ file: '.envelope-data/keys.json' })
 * const kms = new TenantKms({ keystore, localKms: new LocalKms({ keystore, rootKey }) })
 * await kms.configure(['acme'])                         // acme: one local entry, `default`
 * await kms.register('acme', 'aws', { provider: 'aws-kms', settings: { keyId: arn }, primary: true })
 * const { dek, edek } = await kms.generate('acme', { doc: '42' }) // leased under acme's AWS key
 * ```
 * @throws {ProxyError} with the codes of docs/key-proxy-api.md: `ERR_KEY_NOT_FOUND`, `ERR_KEY_RETIRED`,
 * `ERR_EDEK_INVALID`, `ERR_EDEK_CONTEXT_MISMATCH`, `ERR_TENANT_FORBIDDEN`, the KMS's own (`ERR_KEY_DISABLED`,
 * `ERR_KMS_ACCESS_DENIED`, `ERR_KMS_THROTTLED`, `ERR_KMS_TIMEOUT`, `ERR_KMS_UNAVAILABLE`, …),
 * `ERR_KMS_CUSTOMER_MANAGED` for lifecycle actions on a CMK the customer manages.
 */
export class TenantKms implements KmsBackend {
  readonly providerIds = EDEK_PROVIDER_IDS
  readonly #keystore: Keystore
  readonly #local: LocalKms
  readonly #policy: KmsPolicy
  readonly #lease: LeaseSettings
  readonly #leases: LeaseCache
  readonly #minDeletionDays: number
  readonly #maxClients: number
  readonly #env: Readonly<Record<string, string | undefined>>
  readonly #observer: KmsObserver | undefined
  readonly #now: () => number
  readonly #tenants = new Map<string, Promise<TenantRecord | undefined>>()
  /** `tenant/entry` → the epoch and settings last seen, to tell what another instance changed. */
  readonly #seen = new Map<string, { epoch: number; settings: string }>()
  readonly #clients = new Map<string, { settings: string; opened: Promise<Opened> }>()
  readonly #current = new Map<string, CurrentLease>()
  readonly #making = new Map<string, Promise<CurrentLease>>()
  readonly #destroying = new Map<string, Promise<void>>()
  readonly #unwatch: () => void
  readonly #imports: LocalKeyImport

  constructor(options: TenantKmsOptions) {
    this.#keystore = options.keystore
    this.#local = options.localKms
    this.#policy = options.policy ?? { pkcs11Modules: [], awsKmsEndpoints: [] }
    const l = { ...DEFAULT_LEASES, ...options.leases }
    this.#lease = {
      ...l,
      refreshAheadMs: options.leases?.refreshAheadMs ?? Math.min(DEFAULT_LEASES.refreshAheadMs, l.ttlMs / 5),
    }
    this.#now = options.now ?? Date.now
    this.#observer = options.observer
    this.#leases = new LeaseCache({
      ttlMs: this.#lease.ttlMs,
      refreshAheadMs: this.#lease.refreshAheadMs,
      maxLeases: this.#lease.maxLeases,
      maxBytes: this.#lease.maxBytes,
      now: this.#now,
      observe: (e) => this.#observer?.lease?.(e),
    })
    this.#minDeletionDays = options.minDeletionDays ?? 7
    this.#maxClients = options.maxClients ?? 1000
    this.#env = options.env ?? process.env
    this.#imports = new LocalKeyImport(this.#local)
    this.#unwatch = this.#keystore.watch((change) => {
      if (change.kind === '*') {
        this.#tenants.clear()
        this.#current.clear()
        this.#leases.dropPrefix('') // a missed change may have been a revocation
      } else if (change.kind === 'tenant') this.#tenants.delete(change.key)
    })
  }

  /** Leases held in memory now (for tests and metrics). */
  get leasesHeld(): number {
    return this.#leases.size
  }

  async ready(): Promise<void> {
    await this.#keystore.get('tenant', '__readiness__')
  }

  /** Closes every KMS client and drops every lease (zeroed). The keystore is the caller's to close. */
  async close(): Promise<void> {
    this.#unwatch()
    this.#leases.close()
    const clients = [...this.#clients.values()]
    this.#clients.clear()
    await Promise.allSettled(clients.map(async (c) => (await c.opened).client.close()))
  }

  // --- records and clients ---

  #record(tenant: string): Promise<TenantRecord | undefined> {
    let r = this.#tenants.get(tenant)
    if (!r) {
      if (this.#tenants.size >= MAX_TENANTS_CACHED) this.#tenants.clear()
      r = this.#keystore.get('tenant', tenant).then((rec) => {
        if (rec) this.#observe(tenant, rec)
        return rec
      })
      this.#tenants.set(tenant, r)
      r.catch(() => this.#tenants.delete(tenant))
    }
    return r
  }

  /** What changed in a tenant's record since last seen: a moved epoch drops leases, new settings the client. */
  #observe(tenant: string, rec: TenantRecord): void {
    for (const e of rec.entries) {
      const id = `${tenant}/${e.id}`
      const now = { epoch: e.epoch ?? 0, settings: JSON.stringify(e.settings) }
      const before = this.#seen.get(id)
      if (before && before.epoch !== now.epoch) this.#dropLeases(tenant, e.id)
      if (before && before.settings !== now.settings) this.#closeClient(id)
      if (this.#seen.size >= MAX_TENANTS_CACHED) this.#seen.clear()
      this.#seen.set(id, now)
    }
  }

  async #entry(tenant: string, key: string): Promise<{ record: TenantRecord; entry: KmsEntryRecord }> {
    const record = await this.#record(tenant)
    const entry = record?.entries.find((e) => e.id === key)
    if (!record || !entry) throw notFound(tenant, key)
    return { record, entry }
  }

  #provider(entry: KmsEntryRecord): KmsProvider {
    const p = kmsProvider(entry.provider)
    if (!p) throw new ProxyError('ERR_KMS_UNAVAILABLE', `provider "${entry.provider}" is not known to this proxy`)
    return p
  }

  /** The entry's opened KMS client (kept, bounded; opened again when its settings change). */
  #open(tenant: string, entry: KmsEntryRecord): Promise<Opened> {
    const id = `${tenant}/${entry.id}`
    const settings = JSON.stringify(entry.settings)
    const held = this.#clients.get(id)
    if (held?.settings === settings) {
      this.#clients.delete(id) // least recently used last
      this.#clients.set(id, held)
      return held.opened
    }
    if (held) this.#closeClient(id)
    const provider = this.#provider(entry)
    const opened = provider
      .open(entry.settings, { tenant, entry: entry.id, localKms: this.#local, env: this.#env })
      .then((o) => ({ ...o, provider }))
    this.#clients.set(id, { settings, opened })
    opened.catch(() => {
      if (this.#clients.get(id)?.opened === opened) this.#clients.delete(id)
    })
    while (this.#clients.size > this.#maxClients) this.#closeClient(this.#clients.keys().next().value!)
    return opened
  }

  #closeClient(id: string): void {
    const held = this.#clients.get(id)
    if (!held) return
    this.#clients.delete(id)
    held.opened.then((o) => o.client.close()).catch(() => {})
  }

  #dropLeases(tenant: string, key: string): void {
    this.#leases.dropPrefix(`${tenant}/${key}/`)
    this.#current.delete(`${tenant}/${key}`)
  }

  /** One KMS call, timed for the observer. */
  async #call<T>(o: Opened, operation: 'generate' | 'wrap' | 'unwrap' | 'describe', run: () => Promise<T>): Promise<T> {
    const t0 = performance.now()
    try {
      const r = await run()
      this.#observer?.kmsCall?.({ provider: o.provider.name, operation, outcome: 'ok', ms: performance.now() - t0 })
      return r
    } catch (err) {
      const outcome = err instanceof ProxyError ? err.code : 'ERR_KMS_UNAVAILABLE'
      this.#observer?.kmsCall?.({ provider: o.provider.name, operation, outcome, ms: performance.now() - t0 })
      if (err instanceof ProxyError) throw err
      throw new ProxyError('ERR_KMS_UNAVAILABLE', `${o.provider.name}: the KMS call failed`, { cause: err })
    }
  }

  /** Refuses a retired entry, and one the proxy scheduled for deletion (destroyed at first use past its date). */
  async #usable(tenant: string, entry: KmsEntryRecord): Promise<void> {
    if (entry.retired) {
      throw new ProxyError('ERR_KEY_RETIRED', `key "${tenant}/${entry.id}" was retired: rekey its data to another key`)
    }
    if (entry.provider === 'local') {
      // imported material past its validTo is deleted here (a cached record read otherwise): leases go with it
      const k = await this.#local.current(tenant, entry.id)
      if (k.state === 'pending_import') {
        this.#dropLeases(tenant, entry.id)
        await this.#local.usable(tenant, entry.id) // throws ERR_KEY_PENDING_IMPORT
      }
    }
    if (entry.byok) await this.#byokUsable(tenant, entry)
    if (!entry.deletion) return
    if (this.#now() >= Date.parse(entry.deletion.date)) {
      await this.#destroyOnce(tenant, entry.id)
      throw new ProxyError('ERR_KEY_DESTROYED', `key "${tenant}/${entry.id}" was destroyed`)
    }
    throw new ProxyError('ERR_KEY_PENDING_DELETION', `key "${tenant}/${entry.id}" is scheduled for deletion`)
  }

  // --- data keys ---

  async generate(tenant: string, context: EncryptionContext): Promise<{ dek: Uint8Array; edek: Edek }> {
    const dek = crypto.getRandomValues(new Uint8Array(32))
    try {
      return { dek, edek: await this.#wrapForPrimary(tenant, context, dek, true) }
    } catch (err) {
      dek.fill(0)
      throw err
    }
  }

  /**
   * An EDEK of `dek` with the tenant's primary entry. `fresh`: the DEK is new, so a direct entry may make its own
   * (AWS GenerateDataKey: one call) — then `dek` is overwritten with it.
   */
  async #wrapForPrimary(tenant: string, context: EncryptionContext, dek: Uint8Array, fresh: boolean): Promise<Edek> {
    const record = await this.#record(tenant)
    const entry = record?.entries.find((e) => e.id === record.primary)
    if (!record || !entry) throw notFound(tenant, record?.primary ?? 'default')
    await this.#usable(tenant, entry)
    const ctx = await contextHash(context)
    const o = await this.#open(tenant, entry)
    const keyId = `${tenant}/${entry.id}`
    if (entry.mode === 'direct') {
      const wc = { tenant, purpose: 'dek', ctx }
      let wrapped: { ciphertext: Uint8Array; version: string }
      if (fresh) {
        const made = await this.#call(o, 'generate', () => o.client.generate(wc))
        dek.set(made.key)
        made.key.fill(0)
        wrapped = made
      } else {
        wrapped = await this.#call(o, 'wrap', () => o.client.wrap(dek, wc))
      }
      return {
        providerId: o.provider.providerId,
        keyId,
        keyVersion: wrapped.version,
        ciphertext: wrapped.ciphertext as Uint8Array<ArrayBuffer>,
      }
    }
    const lease = await this.#currentLease(tenant, entry, o)
    const header = leasedHeader(tenant, entry.id, lease.id, ctx, lease.header)
    const jwe = await this.#leases.use(
      lease.cacheId,
      () => this.#fetchLease(tenant, entry.id, lease.id, o),
      (key) => sealJweNode(header, dek, key),
    )
    lease.deks++
    return {
      providerId: o.provider.providerId,
      keyId,
      keyVersion: `${LEASE_VERSION_PREFIX}${lease.id}`,
      ciphertext: new TextEncoder().encode(jwe),
    }
  }

  async unwrap(tenant: string, edek: Edek, context: EncryptionContext) {
    const provider = providerOfEdek(edek.providerId)
    if (!provider) throw new ProxyError('ERR_EDEK_INVALID', 'EDEK is not from a KMS of this proxy')
    const slash = edek.keyId.indexOf('/')
    const owner = edek.keyId.slice(0, slash)
    const key = edek.keyId.slice(slash + 1)
    if (slash < 0 || !isName(owner) || !isName(key)) throw new ProxyError('ERR_EDEK_INVALID', 'EDEK names no key')
    if (owner !== tenant) throw new ProxyError('ERR_TENANT_FORBIDDEN', 'EDEK belongs to another tenant')
    const { entry } = await this.#entry(tenant, key)
    if (entry.provider !== provider.name) throw new ProxyError('ERR_EDEK_INVALID', 'EDEK is not from this key’s KMS')
    await this.#usable(tenant, entry)
    const ctx = await contextHash(context)
    const o = await this.#open(tenant, entry)

    if (edek.keyVersion.startsWith(LEASE_VERSION_PREFIX)) {
      const leased = readLeasedEdek(edek, tenant, key)
      if (!leased) throw new ProxyError('ERR_EDEK_INVALID', 'EDEK is not a well-formed leased EDEK')
      if (leased.ctx !== ctx) {
        throw new ProxyError('ERR_EDEK_CONTEXT_MISMATCH', 'EDEK was made for another encryption context')
      }
      // the lease's CMK version, in the header the lease key authenticates (altered: the EDEK does not open)
      this.#checkVersion(tenant, entry, (leased.header.lease as { ver?: unknown } | undefined)?.ver)
      const dek = await this.#leases.use(
        `${tenant}/${key}/${leased.leaseId}`,
        () => this.#fetchLease(tenant, key, leased.leaseId, o),
        (leaseKey) => openJweNode(leased.jwe, leaseKey, leased.header),
      )
      if (dek?.length !== 32) throw new ProxyError('ERR_EDEK_INVALID', 'EDEK does not authenticate')
      return { dek, keyVersion: edek.keyVersion }
    }
    if (provider.name === 'local') {
      // The local EDEK's JWE names its key and version and says which context it was made for (edek-jwe.ts).
      let h: ReturnType<typeof readEdekHeader>
      try {
        h = readEdekHeader(EXACT_UTF8.decode(edek.ciphertext))
      } catch {}
      if (!h || h.tenant !== tenant || h.keyName !== key || edek.keyVersion !== String(h.version)) {
        throw new ProxyError('ERR_EDEK_INVALID', 'EDEK is not a well-formed JWE of this KMS')
      }
      await this.#local.usable(tenant, key) // the key's state is told before a context mismatch
      if (h.ctx !== ctx)
        throw new ProxyError('ERR_EDEK_CONTEXT_MISMATCH', 'EDEK was made for another encryption context')
    }
    this.#checkVersion(tenant, entry, edek.keyVersion)
    const wc = { tenant, purpose: 'dek', ctx }
    const dek = await this.#call(o, 'unwrap', () =>
      o.client.unwrap({ ciphertext: edek.ciphertext, version: edek.keyVersion }, wc),
    )
    return { dek, keyVersion: edek.keyVersion }
  }

  async rewrap(tenant: string, edek: Edek, context: EncryptionContext, toTenant = tenant): Promise<Edek> {
    const { dek } = await this.unwrap(tenant, edek, context)
    try {
      return await this.#wrapForPrimary(toTenant, context, dek, false)
    } finally {
      dek.fill(0)
    }
  }

  // --- leases ---

  /** The lease key of a lease, from the KMS: the keystore's wrap of it, opened by the entry's CMK. */
  async #fetchLease(tenant: string, key: string, leaseId: string, o: Opened): Promise<Uint8Array> {
    const lease = await this.#keystore.get('lease', `${tenant}/${key}/${leaseId}`)
    if (!lease) throw new ProxyError('ERR_EDEK_INVALID', 'EDEK names a lease this proxy does not know')
    const ciphertext = fromBase64url(lease.wrapped)
    if (!ciphertext) throw new ProxyError('ERR_KEYSTORE_UNAVAILABLE', 'a lease record is damaged')
    const wc: WrapContext = { tenant, purpose: 'lease', lease: leaseId }
    return this.#call(o, 'unwrap', () => o.client.unwrap({ ciphertext, version: lease.cmkVersion }, wc))
  }

  /** The lease an entry's new DEKs use: this process's, the keystore's current one, or a new one (single-flight). */
  #currentLease(tenant: string, entry: KmsEntryRecord, o: Opened): Promise<CurrentLease> {
    const id = `${tenant}/${entry.id}`
    const cur = this.#current.get(id)
    if (
      cur &&
      cur.id === entry.lease?.id &&
      this.#now() - cur.created < this.#lease.maxAgeMs &&
      cur.deks < this.#lease.maxDeks
    ) {
      return Promise.resolve(cur)
    }
    let making = this.#making.get(id)
    if (!making) {
      making = this.#adoptOrMake(tenant, entry.id, o, cur).finally(() => this.#making.delete(id))
      this.#making.set(id, making)
    }
    return making
  }

  #leaseOf(tenant: string, key: string, leaseId: string, record: LeaseRecord, o: Opened): CurrentLease {
    const lease: CurrentLease = {
      id: leaseId,
      cacheId: `${tenant}/${key}/${leaseId}`,
      created: Date.parse(record.created),
      header: { kms: o.provider.name, key: o.keyRef, ver: record.cmkVersion, ct: record.wrapped },
      deks: 0,
    }
    if (this.#current.size >= MAX_TENANTS_CACHED) this.#current.clear()
    this.#current.set(`${tenant}/${key}`, lease)
    return lease
  }

  async #adoptOrMake(tenant: string, key: string, o: Opened, stale?: CurrentLease): Promise<CurrentLease> {
    const fresh = await this.#keystore.get('tenant', tenant)
    const entry = fresh?.entries.find((e) => e.id === key)
    if (!entry) throw notFound(tenant, key)
    const pointer = entry.lease
    const spent = stale?.id === pointer?.id && (stale?.deks ?? 0) >= this.#lease.maxDeks
    if (pointer && !spent && this.#now() - Date.parse(pointer.created) < this.#lease.maxAgeMs) {
      const record = await this.#keystore.get('lease', `${tenant}/${key}/${pointer.id}`)
      if (record) return this.#leaseOf(tenant, key, pointer.id, record, o)
    }
    // A new lease: one KMS call makes the key and its wrap (GenerateDataKey where the KMS has it).
    const leaseId = newLeaseId()
    const wc: WrapContext = { tenant, purpose: 'lease', lease: leaseId }
    const made = await this.#call(o, 'generate', () => o.client.generate(wc))
    try {
      const record: LeaseRecord = {
        tenant,
        entry: key,
        provider: entry.provider,
        cmkVersion: made.version,
        wrapped: toBase64url(made.ciphertext),
        created: new Date(this.#now()).toISOString(),
      }
      // the lease first, then the pointer to it: any interleaving leaves the tenant pointing at a stored lease
      await this.#keystore.update('lease', `${tenant}/${key}/${leaseId}`, () => record)
      const after = await this.#keystore.update('tenant', tenant, (t) => {
        const i = t?.entries.findIndex((e) => e.id === key) ?? -1
        if (!t || i < 0 || t.entries[i]!.lease?.id !== pointer?.id) return t // gone, or another instance made one
        const entries = [...t.entries]
        entries[i] = { ...entries[i]!, lease: { id: leaseId, created: record.created } }
        return { ...t, entries }
      })
      const chosen = after?.entries.find((e) => e.id === key)?.lease
      if (!chosen) throw notFound(tenant, key)
      if (chosen.id === leaseId) {
        this.#leases.put(`${tenant}/${key}/${leaseId}`, made.key)
        return this.#leaseOf(tenant, key, leaseId, record, o)
      }
      const theirs = await this.#keystore.get('lease', `${tenant}/${key}/${chosen.id}`)
      if (!theirs) throw new ProxyError('ERR_KEYSTORE_UNAVAILABLE', 'the current lease record is missing')
      return this.#leaseOf(tenant, key, chosen.id, theirs, o)
    } finally {
      made.key.fill(0)
    }
  }

  // --- administration ---

  /** Applies the configuration's tenants at start: creates what is missing; settings given there win. */
  async configure(tenants: readonly ConfiguredTenant[]): Promise<void> {
    for (const t of tenants) {
      // Instances (or `--workers` workers) starting at once on one keystore race to make the same keys: the loser
      // of a make (ERR_KEY_EXISTS), or one that meets a key another is midway through making (its entry seen, its
      // material not yet: ERR_KEY_NOT_FOUND), catches up with the keystore and looks again.
      for (let attempt = 1; ; attempt++) {
        try {
          await this.#configureOne(t)
          break
        } catch (err) {
          const race = err instanceof ProxyError && (err.code === 'ERR_KEY_EXISTS' || err.code === 'ERR_KEY_NOT_FOUND')
          if (!race || attempt === 5) throw err
          await this.#keystore.catchUp?.()
          await new Promise((resolve) => setTimeout(resolve, 20 * attempt)) // the other's next write
        }
      }
    }
  }

  async #configureOne(t: ConfiguredTenant): Promise<void> {
    if (typeof t === 'string') {
      const record = await this.#keystore.get('tenant', t)
      if (!record?.entries.some((e) => e.id === 'default')) await this.createKey(t, 'default')
      else if (!(await this.#local.record(t, 'default'))) await this.#local.createKey(t, 'default')
      return
    }
    for (const e of t.kms ?? []) {
      await this.#store(t.id, e.id, e, { trusted: true, primary: e.id === t.primary })
    }
    if (t.primary && (await this.#keystore.get('tenant', t.id))?.primary !== t.primary) {
      await this.setPrimary(t.id, t.primary)
    }
  }

  async describeTenant(tenant: string): Promise<TenantDescription> {
    const record = await this.#keystore.get('tenant', tenant)
    if (!record) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no keys`)
    return {
      tenant,
      primary: record.primary,
      entries: record.entries.map((e) => ({
        id: e.id,
        provider: e.provider,
        mode: e.mode,
        settings: e.settings,
        primary: e.id === record.primary,
        retired: e.retired === true,
        created: e.created,
      })),
    }
  }

  async describe(tenant: string, key: string): Promise<KeyDescription> {
    const { record, entry } = await this.#entry(tenant, key)
    const provider = this.#provider(entry)
    const base = {
      tenant,
      keyName: key,
      provider: entry.provider,
      mode: entry.mode,
      primary: record.primary === key,
      retired: entry.retired === true,
      managedBy: provider.managedBy,
      ...(entry.mode === 'leased' && entry.lease ? { lease: entry.lease } : {}),
      ...(entry.rotation
        ? {
            rotation: {
              periodDays: entry.rotation.periodDays,
              nextRotation: new Date(nextRotation(entry)!).toISOString(),
            },
          }
        : {}),
      ...(entry.rotations?.length ? { rotations: entry.rotations } : {}),
      ...(entry.minDecryptionVersion ? { minDecryptionVersion: entry.minDecryptionVersion } : {}),
    }
    if (provider.name === 'local') {
      const info = await this.#local.describe(tenant, key)
      return {
        ...base,
        keyRef: `local:${tenant}/${key}`,
        state: info.state,
        primaryVersion: info.primaryVersion,
        versions: info.state === 'pending_import' ? [] : info.versions,
        ...(info.deletionDate ? { deletionDate: info.deletionDate } : {}),
        ...(info.origin ? { origin: info.origin } : {}),
        ...(info.importedAt ? { importedAt: info.importedAt } : {}),
        ...(info.validTo ? { validTo: info.validTo } : {}),
      }
    }
    const o = await this.#open(tenant, entry)
    if (entry.byok) {
      await this.#byokUsable(tenant, entry).catch(() => {}) // material past its validTo is deleted first
      const b = (await this.#entry(tenant, key)).entry.byok!
      const imported = {
        origin: 'external' as const,
        ...(b.state === 'imported' && b.importedAt ? { importedAt: b.importedAt } : {}),
        ...(b.validTo ? { validTo: b.validTo } : {}),
      }
      if (b.state === 'pending_import' && !entry.deletion) {
        return { ...base, keyRef: o.keyRef, state: 'pending_import', versions: [], ...imported }
      }
      Object.assign(base, imported)
    }
    const s = await this.#call(o, 'describe', () => o.client.describe())
    const pending = entry.deletion && s.state !== 'destroyed'
    return {
      ...base,
      keyRef: s.keyRef,
      state: pending ? 'pending_deletion' : s.state,
      ...(s.primaryVersion ? { primaryVersion: s.primaryVersion } : {}),
      versions: s.versions ?? [],
      ...(pending ? { deletionDate: entry.deletion!.date } : s.deletionDate ? { deletionDate: s.deletionDate } : {}),
    }
  }

  /**
   * The admin `create`: a new local key (and its entry), or version 1 of a proxy-managed entry's CMK.
   * `origin: 'external'`: a local key with no material, `pending_import`, for the customer's own ({@link importMaterial}).
   */
  async createKey(tenant: string, key: string, options?: { readonly origin?: 'external' }): Promise<KeyDescription> {
    if (!isName(tenant) || !isName(key))
      throw new ProxyError('ERR_BAD_REQUEST', `tenant and key names are ${NAME_RULE}`)
    const origin = options?.origin
    const entry = (await this.#keystore.get('tenant', tenant))?.entries.find((e) => e.id === key)
    if (origin === 'external' && entry && entry.provider !== 'local') {
      throw new ProxyError(
        'ERR_KEY_STATE',
        `key "${tenant}/${key}" is a ${entry.provider} key: import into it through ${entry.provider === 'pkcs11' ? '…/import' : "the customer's own KMS"}`,
      )
    }
    if (!entry) {
      if (await this.#local.record(tenant, key)) {
        // a key made before its entry was stored (a crash in between): the entry is all that is missing
      } else await this.#local.createKey(tenant, key, origin)
      await this.#store(tenant, key, { provider: 'local' }, { trusted: true })
      return this.describe(tenant, key)
    }
    if (entry.provider === 'local') {
      await this.#local.createKey(tenant, key, origin)
      return this.describe(tenant, key)
    }
    const o = await this.#open(tenant, entry)
    if (!o.lifecycle) throw this.#customerManaged(tenant, entry, o, 'create')
    await o.lifecycle.create()
    await this.#changed(tenant, key)
    return this.describe(tenant, key)
  }

  async register(tenant: string, key: string, request: RegisterRequest): Promise<KeyDescription> {
    await this.#store(tenant, key, request, { trusted: false, primary: request.primary === true })
    return this.describe(tenant, key)
  }

  /**
   * Stores an entry (new, or new settings for an existing one of the same provider). An entry registered through
   * the admin API is checked against the policy and must pass a test wrap and unwrap first.
   */
  async #store(
    tenant: string,
    key: string,
    request: RegisterRequest,
    how: { readonly trusted: boolean; readonly primary?: boolean },
  ): Promise<void> {
    if (!isName(tenant) || !isName(key))
      throw new ProxyError('ERR_BAD_REQUEST', `tenant and key names are ${NAME_RULE}`)
    const provider = kmsProvider(request?.provider)
    if (!provider) {
      throw new ProxyError('ERR_BAD_REQUEST', `"provider" must be one of ${PROVIDER_NAMES.join(', ')}`)
    }
    const mode: KmsMode = request.mode ?? provider.defaultMode
    if (mode !== 'direct' && mode !== 'leased') throw new ProxyError('ERR_BAD_REQUEST', '"mode" is direct or leased')
    const settings = provider.checkSettings(
      request.settings,
      { tenant, entry: key },
      how.trusted ? undefined : this.#policy,
    )
    const existing = (await this.#keystore.get('tenant', tenant))?.entries.find((e) => e.id === key)
    if (existing && existing.provider !== provider.name) {
      throw new ProxyError(
        'ERR_KEY_EXISTS',
        `key "${tenant}/${key}" is a ${existing.provider} key: its EDEKs need it; register another key name`,
      )
    }
    const external = request.origin === 'external'
    if (external && request.create) {
      throw new ProxyError('ERR_BAD_REQUEST', '"origin": "external" makes no key material: leave "create" out')
    }
    if (
      provider.name === 'local' &&
      (request.create !== false || how.trusted || external) &&
      !(await this.#local.record(tenant, key))
    ) {
      await this.#local.createKey(tenant, key, external ? 'external' : undefined)
    }
    if (external && provider.name !== 'local') await this.#tryEmpty(tenant, key, provider, settings)
    else if (!how.trusted && !external) await this.#tryOut(tenant, key, provider, settings, request.create === true)
    let changed = false
    await this.#keystore.update('tenant', tenant, (t) => {
      const before = t?.entries.find((e) => e.id === key)
      const primary = how.primary || !t ? key : t.primary
      const sameSettings = before && JSON.stringify(before.settings) === JSON.stringify(settings)
      if (before && sameSettings && before.mode === mode && primary === t!.primary) return t // as it is (a restart)
      const next: KmsEntryRecord = {
        ...(before ?? { id: key, created: new Date(this.#now()).toISOString() }),
        provider: provider.name,
        mode,
        settings,
        ...(before ? { epoch: (before.epoch ?? 0) + 1 } : {}),
        ...(external && provider.name !== 'local' && !before?.byok
          ? { byok: { state: 'pending_import' as const } }
          : {}),
      }
      if (before && !sameSettings) delete (next as { lease?: unknown }).lease // the lease was the old CMK's
      changed = true
      const entries = before ? t!.entries.map((e) => (e.id === key ? next : e)) : [...(t?.entries ?? []), next]
      return { primary, entries }
    })
    if (!changed) return
    this.#dropLeases(tenant, key)
    this.#closeClient(`${tenant}/${key}`)
  }

  /** Opens an entry that is not stored yet, makes its CMK if asked, and runs a test wrap and unwrap through it. */
  async #tryOut(tenant: string, key: string, provider: KmsProvider, settings: KmsSettings, create: boolean) {
    const o: Opened = {
      ...(await provider.open(settings, { tenant, entry: key, localKms: this.#local, env: this.#env })),
      provider,
    }
    try {
      if (create && o.lifecycle && provider.name !== 'local') {
        await o.lifecycle.create().catch((err) => {
          if (!(err instanceof ProxyError && err.code === 'ERR_KEY_EXISTS')) throw err
        })
      }
      await this.#testWrap(tenant, o)
    } finally {
      await o.client.close()
    }
  }

  /** A key for imported material: the KMS must be reachable, import keys, and hold no key of that name yet. */
  async #tryEmpty(tenant: string, key: string, provider: KmsProvider, settings: KmsSettings) {
    const o = await provider.open(settings, { tenant, entry: key, localKms: this.#local, env: this.#env })
    try {
      if (!o.import) throw new ProxyError('ERR_BAD_REQUEST', `${provider.name} keys do not import key material`)
      const status = await o.client.describe().catch((err) => {
        if (err instanceof ProxyError && err.code === 'ERR_KEY_NOT_FOUND') return undefined
        throw err
      })
      if (status)
        throw new ProxyError('ERR_KEY_EXISTS', `the KMS holds a key for "${tenant}/${key}" already (${o.keyRef})`)
    } finally {
      await o.client.close()
    }
  }

  async #testWrap(tenant: string, o: Opened): Promise<void> {
    const wc: WrapContext = { tenant, purpose: 'test' }
    try {
      const made = await this.#call(o, 'generate', () => o.client.generate(wc))
      const back = await this.#call(o, 'unwrap', () => o.client.unwrap(made, wc))
      const same = Buffer.from(back).equals(Buffer.from(made.key))
      made.key.fill(0)
      back.fill(0)
      if (!same) throw new ProxyError('ERR_KMS_UNAVAILABLE', 'the KMS unwrapped another key than it wrapped')
    } catch (err) {
      const e = err instanceof ProxyError ? err : new ProxyError('ERR_KMS_UNAVAILABLE', 'the KMS call failed')
      throw new ProxyError(e.code, `the test wrap and unwrap through ${o.provider.name} failed: ${e.message}`, {
        cause: err,
      })
    }
  }

  async test(tenant: string, key: string): Promise<{ ok: true; provider: string; keyRef: string }> {
    const { entry } = await this.#entry(tenant, key)
    const o = await this.#open(tenant, entry)
    await this.#testWrap(tenant, o)
    return { ok: true, provider: entry.provider, keyRef: o.keyRef }
  }

  async setPrimary(tenant: string, key: string): Promise<KeyDescription> {
    const { entry } = await this.#entry(tenant, key)
    if (entry.retired) throw new ProxyError('ERR_KEY_RETIRED', `key "${tenant}/${key}" is retired: reactivate it first`)
    await this.#keystore.update('tenant', tenant, (t) => {
      if (!t?.entries.some((e) => e.id === key)) throw notFound(tenant, key)
      return t.primary === key ? t : { ...t, primary: key }
    })
    return this.describe(tenant, key)
  }

  async setRetired(tenant: string, key: string, retired: boolean): Promise<KeyDescription> {
    await this.#keystore.update('tenant', tenant, (t) => {
      const i = t?.entries.findIndex((e) => e.id === key) ?? -1
      if (!t || i < 0) throw notFound(tenant, key)
      if (retired && t.primary === key) {
        throw new ProxyError('ERR_KEY_STATE', 'the primary key cannot be retired: make another key primary first')
      }
      const e = t.entries[i]!
      if ((e.retired === true) === retired) return t
      const entries = [...t.entries]
      entries[i] = { ...e, epoch: (e.epoch ?? 0) + 1, ...(retired ? { retired: true } : { retired: undefined }) }
      if (!retired) delete (entries[i] as { retired?: boolean }).retired
      return { ...t, entries }
    })
    this.#dropLeases(tenant, key)
    return this.describe(tenant, key)
  }

  // --- bring your own key material (src/byok/) ---

  /** Import parameters for a key of the customer's own material: a wrapping public key and an import token. */
  async importParameters(tenant: string, key: string, spec: unknown = 'RSA_3072'): Promise<ImportParameters> {
    const { entry } = await this.#entry(tenant, key)
    if (entry.provider === 'local') return this.#imports.parameters(tenant, key, spec)
    const o = await this.#hsmImport(tenant, entry)
    if (!WRAPPING_KEY_SPECS.includes(spec as 'RSA_3072')) {
      throw new ProxyError('ERR_BAD_REQUEST', `"wrappingKeySpec" must be ${WRAPPING_KEY_SPECS.join(' or ')}`)
    }
    const id = toBase64url(crypto.getRandomValues(new Uint8Array(16)))
    const importToken = newImportToken(tenant, key, id)
    const made = await o.import!.importWrappingKey(spec as 'RSA_3072', id)
    const params = {
      id,
      spec: spec as 'RSA_3072',
      algorithm: made.algorithm,
      tokenHash: sha256(importToken),
      publicKey: toBase64url(made.publicKey),
      expires: new Date(this.#now() + IMPORT_TOKEN_TTL_MS).toISOString(),
    }
    await this.#updateByok(tenant, key, (b) => ({ ...b, importParams: params }))
    return {
      keyId: `${tenant}/${key}`,
      wrappingAlgorithm: params.algorithm,
      wrappingKeySpec: params.spec,
      publicKey: params.publicKey,
      importToken,
      parametersValidTo: params.expires,
    }
  }

  /** Imports the customer's wrapped key material (with the token of {@link importParameters}). */
  async importMaterial(tenant: string, key: string, request: ImportRequest): Promise<KeyDescription> {
    const { entry } = await this.#entry(tenant, key)
    if (entry.provider === 'local') {
      await this.#imports.importMaterial(tenant, key, request)
    } else {
      const o = await this.#hsmImport(tenant, entry)
      const now = new Date(this.#now())
      const b = entry.byok!
      const p = checkImportToken(tenant, key, b, request?.importToken, now)
      const validTo = parseValidTo(request?.validTo, now)
      const wrapped = wrappedMaterial(request?.encryptedKeyMaterial)
      const { commitment } = await o.import!.importMaterial(p.id, wrapped, p.algorithm, b.commitment)
      const hash = sha256(request.importToken as string)
      await this.#updateByok(tenant, key, ({ importParams: _, ...rest }) => ({
        ...rest,
        state: 'imported',
        commitment,
        importedAt: now.toISOString(),
        ...(validTo ? { validTo } : { validTo: undefined }),
        usedTokens: [...(rest.usedTokens ?? []), hash].slice(-USED_TOKENS_KEPT),
      }))
    }
    await this.#changed(tenant, key)
    return this.describe(tenant, key)
  }

  /** Deletes a key's imported material now: the key is `pending_import` until the same material is imported. */
  async deleteImportedMaterial(tenant: string, key: string): Promise<KeyDescription> {
    const { entry } = await this.#entry(tenant, key)
    if (entry.provider === 'local') await this.#local.deleteMaterial(tenant, key, 'on-demand')
    else await this.#deleteHsmMaterial(tenant, entry)
    await this.#changed(tenant, key)
    return this.describe(tenant, key)
  }

  /** An entry of a KMS that imports (PKCS#11) registered for imported material; opened. */
  async #hsmImport(tenant: string, entry: KmsEntryRecord): Promise<Opened> {
    const o = await this.#open(tenant, entry)
    if (!o.import) throw await this.#noImport(tenant, entry)
    if (!entry.byok) {
      throw new ProxyError(
        'ERR_KEY_STATE',
        `key "${tenant}/${entry.id}" holds material the KMS made: register a key with "origin": "external" to import`,
      )
    }
    if (entry.deletion) throw new ProxyError('ERR_KEY_STATE', `key "${tenant}/${entry.id}" is scheduled for deletion`)
    return o
  }

  async #deleteHsmMaterial(tenant: string, entry: KmsEntryRecord): Promise<void> {
    const o = await this.#hsmImport(tenant, entry)
    await o.import!.deleteMaterial()
    await this.#updateByok(tenant, entry.id, (b) => ({ ...b, state: 'pending_import', validTo: undefined }))
    this.#dropLeases(tenant, entry.id)
  }

  /** Refuses an HSM key of imported material that holds none; deletes material past its validTo (once). */
  async #byokUsable(tenant: string, entry: KmsEntryRecord): Promise<void> {
    const b = entry.byok!
    if (b.state === 'imported' && b.validTo && this.#now() >= Date.parse(b.validTo)) {
      const id = `${tenant}/${entry.id}`
      let done = this.#destroying.get(`expire:${id}`)
      if (!done) {
        done = this.#deleteHsmMaterial(tenant, entry).then(() => this.#changed(tenant, entry.id))
        done = done.finally(() => this.#destroying.delete(`expire:${id}`))
        this.#destroying.set(`expire:${id}`, done)
      }
      await done
    } else if (b.state === 'imported') return
    this.#dropLeases(tenant, entry.id)
    throw new ProxyError(
      'ERR_KEY_PENDING_IMPORT',
      `key "${tenant}/${entry.id}" holds no key material: import the customer's own (it expired or was deleted)`,
    )
  }

  async #updateByok(
    tenant: string,
    key: string,
    change: (b: NonNullable<KmsEntryRecord['byok']>) => NonNullable<KmsEntryRecord['byok']>,
  ): Promise<void> {
    await this.#keystore.update('tenant', tenant, (t) => {
      const i = t?.entries.findIndex((e) => e.id === key) ?? -1
      if (!t || i < 0 || !t.entries[i]!.byok) throw notFound(tenant, key)
      const entries = [...t.entries]
      const next = change(t.entries[i]!.byok!)
      const clean = Object.fromEntries(Object.entries(next).filter(([, v]) => v !== undefined)) as typeof next
      entries[i] = { ...entries[i]!, byok: clean }
      return { ...t, entries }
    })
  }

  /** Expired imported material of HSM keys (the rotation holder's sweep): deleted; the keys' ids. */
  async expireImportedMaterial(): Promise<string[]> {
    const out: string[] = []
    for (const [tenant, t] of await this.#keystore.list('tenant')) {
      for (const e of t.entries) {
        const v = e.byok?.validTo
        if (e.byok?.state !== 'imported' || !v || this.#now() < Date.parse(v)) continue
        await this.#byokUsable(tenant, e).catch(() => {})
        out.push(`${tenant}/${e.id}`)
      }
    }
    return out
  }

  async #noImport(tenant: string, entry: KmsEntryRecord): Promise<ProxyError> {
    const provider = this.#provider(entry)
    if (provider.managedBy === 'customer') {
      const o = await this.#open(tenant, entry).catch(() => undefined)
      return new ProxyError(
        'ERR_KMS_CUSTOMER_MANAGED',
        `the CMK of "${tenant}/${entry.id}" lives in the customer's ${entry.provider}${o ? ` (${o.keyRef})` : ''}: import key material there (AWS: GetParametersForImport, ImportKeyMaterial)`,
      )
    }
    return new ProxyError(
      'ERR_KEY_STATE',
      `key "${tenant}/${entry.id}" (${entry.provider}) does not import key material`,
    )
  }

  // --- retiring old versions ---

  /** Refuses a CMK version (`3`, `v3`) below the entry's `minDecryptionVersion`. */
  #checkVersion(tenant: string, entry: KmsEntryRecord, version: unknown): void {
    const min = entry.minDecryptionVersion
    if (!min) return
    const n = versionNumber(version)
    if (n === undefined || n < min) {
      throw new ProxyError(
        'ERR_KEY_VERSION_RETIRED',
        `version ${String(version).slice(0, 16)} of "${tenant}/${entry.id}" is retired (below ${min}): its data must be rekeyed`,
      )
    }
  }

  async setMinDecryptionVersion(tenant: string, key: string, version: unknown): Promise<KeyDescription> {
    const { entry } = await this.#entry(tenant, key)
    if (this.#provider(entry).managedBy === 'customer') {
      throw this.#customerManaged(
        tenant,
        entry,
        await this.#open(tenant, entry).catch(() => undefined),
        'retire versions of',
      )
    }
    const d = await this.describe(tenant, key)
    const primary = versionNumber(d.primaryVersion)
    if (
      !Number.isInteger(version) ||
      (version as number) < 1 ||
      primary === undefined ||
      (version as number) > primary
    ) {
      throw new ProxyError(
        'ERR_BAD_REQUEST',
        `"version" must be a whole number from 1 to the primary version (${primary ?? '?'})`,
      )
    }
    await this.#keystore.update('tenant', tenant, (t) => {
      const i = t?.entries.findIndex((e) => e.id === key) ?? -1
      if (!t || i < 0) throw notFound(tenant, key)
      const entries = [...t.entries]
      const { minDecryptionVersion: _, ...rest } = entries[i]!
      entries[i] = {
        ...rest,
        epoch: (rest.epoch ?? 0) + 1,
        ...(version === 1 ? {} : { minDecryptionVersion: version as number }),
      }
      return { ...t, entries }
    })
    this.#dropLeases(tenant, key)
    return this.describe(tenant, key)
  }

  // --- rotation on a schedule (src/rotation/) ---

  /** Sets (days) or removes (`null`) a key's rotation schedule; counted from now. */
  async setRotationSchedule(tenant: string, key: string, periodDays: unknown): Promise<KeyDescription> {
    const days = checkPeriod(periodDays)
    const { entry } = await this.#entry(tenant, key)
    const provider = this.#provider(entry)
    if (provider.managedBy === 'customer' && days !== null) {
      throw this.#customerManaged(tenant, entry, await this.#open(tenant, entry).catch(() => undefined), 'rotate')
    }
    const external = entry.byok || (entry.provider === 'local' && (await this.#local.record(tenant, key))?.origin)
    if (days !== null && external) {
      throw new ProxyError('ERR_KEY_STATE', 'a key of imported material does not rotate: make a new key and rekey')
    }
    await this.#keystore.update('tenant', tenant, (t) => {
      const i = t?.entries.findIndex((e) => e.id === key) ?? -1
      if (!t || i < 0) throw notFound(tenant, key)
      if (days === null && !t.entries[i]!.rotation) return t
      const entries = [...t.entries]
      entries[i] = withSchedule(entries[i]!, days, this.#now())
      return { ...t, entries }
    })
    return this.describe(tenant, key)
  }

  /**
   * Every key with a rotation schedule, and when its next rotation is due (ms since the epoch).
   */
  async scheduledKeys(): Promise<{ tenant: string; key: string; due: number }[]> {
    const out: { tenant: string; key: string; due: number }[] = []
    for (const [tenant, t] of await this.#keystore.list('tenant')) {
      for (const e of t.entries) {
        const due = nextRotation(e)
        if (due !== undefined && !e.retired && !e.deletion) out.push({ tenant, key: e.id, due })
      }
    }
    return out
  }

  /**
   * Rotates a key whose scheduled rotation is due, once: the rotation is claimed in the tenant record first (an
   * atomic update that moves the schedule's count), so two instances that both think they lead rotate it once.
   * A failed rotation gives the claim back (tried again at the next check). Resolves with the new version, or
   * undefined when nothing was due (or the key is not enabled).
   */
  async rotateIfDue(tenant: string, key: string): Promise<string | undefined> {
    const { entry } = await this.#entry(tenant, key)
    const due = nextRotation(entry)
    if (due === undefined || this.#now() < due) return undefined
    if ((await this.describe(tenant, key).catch(() => undefined))?.state !== 'enabled') return undefined
    const claimed = new Date(this.#now()).toISOString()
    let before: string | undefined
    await this.#keystore.update('tenant', tenant, (t) => {
      const i = t?.entries.findIndex((e) => e.id === key) ?? -1
      const e = t?.entries[i]
      const d = e && nextRotation(e)
      if (!t || !e?.rotation || d === undefined || this.#now() < d) return t
      before = e.rotation.since
      const entries = [...t.entries]
      entries[i] = { ...e, rotation: { ...e.rotation, since: claimed } }
      return { ...t, entries }
    })
    if (before === undefined) return undefined // another instance claimed it
    try {
      const d = await this.lifecycle(tenant, key, 'rotate', undefined, 'schedule')
      return String(d.primaryVersion ?? '')
    } catch (err) {
      await this.#keystore.update('tenant', tenant, (t) => {
        const i = t?.entries.findIndex((e) => e.id === key) ?? -1
        const e = t?.entries[i]
        if (!t || e?.rotation?.since !== claimed) return t
        const entries = [...t.entries]
        entries[i] = { ...e, rotation: { ...e.rotation, since: before! } }
        return { ...t, entries }
      })
      throw err
    }
  }

  #customerManaged(tenant: string, entry: KmsEntryRecord, o: Opened | undefined, action: string): ProxyError {
    const where = entry.provider === 'aws-kms' ? "the customer's AWS KMS" : `the customer's ${entry.provider} KMS`
    const verb =
      action === 'schedule-deletion'
        ? 'schedule its deletion'
        : action === 'cancel-deletion'
          ? 'cancel its deletion'
          : `${action} it`
    return new ProxyError(
      'ERR_KMS_CUSTOMER_MANAGED',
      `the CMK of "${tenant}/${entry.id}" lives in ${where}${o ? ` (${o.keyRef})` : ''}: ${verb} there`,
    )
  }

  async lifecycle(
    tenant: string,
    key: string,
    action: LifecycleAction,
    waitingDays = 30,
    by = 'admin',
  ): Promise<KeyDescription> {
    const { entry } = await this.#entry(tenant, key)
    const provider = this.#provider(entry)
    if (provider.managedBy === 'customer') {
      throw this.#customerManaged(tenant, entry, await this.#open(tenant, entry).catch(() => undefined), action)
    }
    if (entry.byok && action === 'rotate') {
      throw new ProxyError('ERR_KEY_STATE', 'a key of imported material does not rotate: make a new key and rekey')
    }
    let rotated: string | undefined
    if (provider.name === 'local') {
      const local = this.#local
      if (action === 'rotate') rotated = String((await local.rotate(tenant, key)).primaryVersion)
      else if (action === 'disable' || action === 'enable') await local.setEnabled(tenant, key, action === 'enable')
      else if (action === 'schedule-deletion') await local.scheduleDeletion(tenant, key, waitingDays)
      else if (action === 'cancel-deletion') await local.cancelDeletion(tenant, key)
      else await local.destroy(tenant, key)
    } else {
      const o = await this.#open(tenant, entry)
      const cmk = o.lifecycle!
      if (action === 'rotate') rotated = (await cmk.rotate()).primaryVersion ?? ''
      else if (action === 'disable') await cmk.setEnabled(false)
      else if (action === 'enable') {
        if (entry.deletion) throw new ProxyError('ERR_KEY_STATE', 'a key scheduled for deletion cannot be enabled')
        await cmk.setEnabled(true)
      } else if (action === 'schedule-deletion') await this.#scheduleDeletion(tenant, entry, o, waitingDays)
      else if (action === 'cancel-deletion') await this.#cancelDeletion(tenant, entry)
      else await this.#destroy(tenant, entry, o)
    }
    const event =
      rotated === undefined ? undefined : { time: new Date(this.#now()).toISOString(), version: rotated, by }
    await this.#changed(tenant, key, action === 'rotate', event)
    return this.describe(tenant, key)
  }

  /**
   * After a lifecycle action: the entry's epoch moves (other instances drop its leases), this one drops them. A
   * rotation goes into the entry's history (and restarts its schedule's count).
   */
  async #changed(
    tenant: string,
    key: string,
    newLease = false,
    rotation?: { time: string; version: string; by: string },
  ): Promise<void> {
    this.#dropLeases(tenant, key)
    await this.#keystore.update('tenant', tenant, (t) => {
      const i = t?.entries.findIndex((e) => e.id === key) ?? -1
      if (!t || i < 0) return t
      const entries = [...t.entries]
      const moved: KmsEntryRecord = { ...entries[i]!, epoch: (entries[i]!.epoch ?? 0) + 1 }
      const e = rotation ? withRotation(moved, rotation) : moved
      if (newLease) delete (e as { lease?: unknown }).lease // new DEKs under a lease of the new version
      entries[i] = e
      return { ...t, entries }
    })
    this.#dropLeases(tenant, key)
  }

  async #scheduleDeletion(tenant: string, entry: KmsEntryRecord, o: Opened, days: number): Promise<void> {
    if (!Number.isInteger(days) || days < this.#minDeletionDays || days > 30) {
      throw new ProxyError('ERR_BAD_REQUEST', `waiting period must be ${this.#minDeletionDays} to 30 days`)
    }
    if (entry.deletion) throw new ProxyError('ERR_KEY_STATE', 'key is already pending_deletion')
    const status = await this.#call(o, 'describe', () => o.client.describe())
    if (status.state === 'destroyed') throw new ProxyError('ERR_KEY_STATE', 'key is already destroyed')
    // The KMS refuses the key meanwhile (on every instance, at once); the date is the proxy's.
    if (status.state === 'enabled') await o.lifecycle!.setEnabled(false)
    const date = new Date(this.#now() + days * DAY).toISOString()
    await this.#setDeletion(tenant, entry.id, { date })
  }

  async #cancelDeletion(tenant: string, entry: KmsEntryRecord): Promise<void> {
    if (!entry.deletion) throw new ProxyError('ERR_KEY_STATE', 'key is not scheduled for deletion')
    if (this.#now() >= Date.parse(entry.deletion.date)) throw new ProxyError('ERR_KEY_STATE', 'waiting period is over')
    await this.#setDeletion(tenant, entry.id, undefined) // as AWS KMS: the key stays disabled
  }

  async #destroy(tenant: string, entry: KmsEntryRecord, o: Opened): Promise<void> {
    if (!entry.deletion || this.#now() < Date.parse(entry.deletion.date)) {
      const status = await this.#call(o, 'describe', () => o.client.describe()).catch(() => undefined)
      if (status?.state === 'destroyed') return
      throw new ProxyError('ERR_KEY_STATE', 'only a key whose deletion waiting period is over can be destroyed')
    }
    await o.lifecycle!.destroy() // C_DestroyObject of every version in the HSM
    await this.#setDeletion(tenant, entry.id, undefined)
  }

  async #setDeletion(tenant: string, key: string, deletion: { date: string } | undefined): Promise<void> {
    await this.#keystore.update('tenant', tenant, (t) => {
      const i = t?.entries.findIndex((e) => e.id === key) ?? -1
      if (!t || i < 0) return t
      const entries = [...t.entries]
      const e: KmsEntryRecord = { ...entries[i]!, ...(deletion ? { deletion } : {}) }
      if (!deletion) delete (e as { deletion?: unknown }).deletion
      entries[i] = e
      return { ...t, entries }
    })
  }

  /** A proxy-scheduled deletion past its date: destroyed once, however many requests find it. */
  #destroyOnce(tenant: string, key: string): Promise<void> {
    const id = `${tenant}/${key}`
    let done = this.#destroying.get(id)
    if (!done) {
      done = (async () => {
        const { entry } = await this.#entry(tenant, key)
        if (!entry.deletion) return
        await this.#destroy(tenant, entry, await this.#open(tenant, entry))
        await this.#changed(tenant, key)
      })().finally(() => this.#destroying.delete(id))
      this.#destroying.set(id, done)
    }
    return done
  }
}
