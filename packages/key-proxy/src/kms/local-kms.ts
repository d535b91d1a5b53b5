/**
 * The embedded KMS: tenants' CMKs (32-byte AES keys with versions) kept as `local-key` records in the keystore,
 * each version's material sealed with AES-256-GCM under a root key, so the keystore alone reveals no key. Key
 * states follow AWS KMS: enabled, disabled, pending deletion (with a waiting period; use refused), destroyed
 * (material erased: crypto-shredding).
 *
 * Each key is a {@link LocalCmk} (a CmkClient, src/kms/cmk.ts) whose wraps are compact JWEs under one version
 * (edek-jwe.ts): a DEK wrapped in direct mode is exactly the local EDEK of earlier versions, so every EDEK made
 * since the first version opens.
 * @module
 */
import { createSecretKey, type KeyObject } from 'node:crypto'
import { fromBase64url, toBase64url } from '@envelope/fetch-client/protocol'
import { ProxyError } from '../errors.ts'
import type { Keystore } from '../keystore/keystore.ts'
import type { LocalKeyRecord } from '../keystore/records.ts'
import { isName, NAME_RULE } from '../names.ts'
import type { KeyInfo } from './backend.ts'
import type { CmkCallOptions, CmkClient, CmkLifecycle, CmkStatus, CmkWrapped, WrapContext } from './cmk.ts'
import { kidOf } from './edek-jwe.ts'
import { jweHeader, openJweNode, sealJweNode } from './jwe-node.ts'

// Exact text of an EDEK's JWE: invalid UTF-8 is an error (not U+FFFD), a leading U+FEFF is kept.
const EXACT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

/**
 * The provider id in EDEKs made by {@link LocalKms}.
 *
 * @example
 * ```ts
 * readHeader(message).edeks.some((e) => e.providerId === LOCAL_PROVIDER_ID)
 * ```
 */
export const LOCAL_PROVIDER_ID = 'envelope-local-kms'

/** Cached key records and unsealed versions at most (a bound on memory, whatever the number of tenants). */
const MAX_CACHED = 10_000

/**
 * Options of {@link LocalKms}.
 *
 * @example
 * ```ts
 * const kms = new LocalKms({ keystore: FileKeystore.open({ file: '/var/lib/envelope-proxy/keys.json' }), rootKey, minDeletionDays: 7 })
 * ```
 */
export interface LocalKmsOptions {
  /** Where the keys live (the file keystore by default: docs/kms-backends.md). */
  readonly keystore: Keystore
  /** The 32-byte root key that seals key material at rest. */
  readonly rootKey: Uint8Array
  /** Shortest deletion waiting period accepted, in days (AWS: 7). */
  readonly minDeletionDays?: number
  /** Most versions one key may have; a rotation past it is refused (`ERR_KEY_VERSION_LIMIT`). Default 100. */
  readonly maxKeyVersions?: number
  /** Clock, for tests. */
  readonly now?: () => Date
}

/**
 * The JWE header fields that bind a wrap context. A DEK's context `{tenant, purpose: 'dek', ctx}` under the
 * tenant's own key is the local EDEK of every version (`ctx` alone); any other context is `wc`, all its pairs.
 */
function bindingOf(tenant: string, context: WrapContext): { ctx: string } | { wc: Record<string, string> } {
  const keys = Object.keys(context)
  if (keys.length === 3 && context.tenant === tenant && context.purpose === 'dek' && typeof context.ctx === 'string') {
    return { ctx: context.ctx }
  }
  const wc: Record<string, string> = {}
  for (const k of keys.sort()) {
    if (typeof context[k] !== 'string') throw new ProxyError('ERR_BAD_REQUEST', 'a wrap context holds strings only')
    wc[k] = context[k]
  }
  return { wc }
}

const sameBinding = (header: Record<string, unknown>, b: ReturnType<typeof bindingOf>) =>
  'ctx' in b
    ? header.ctx === b.ctx && header.wc === undefined
    : header.ctx === undefined && JSON.stringify(header.wc) === JSON.stringify(b.wc)

const versionsOf = (k: LocalKeyRecord) =>
  Object.keys(k.versions)
    .map(Number)
    .sort((a, b) => a - b)

/**
 * The local KMS over a keystore. Lifecycle changes are atomic updates of the key's record; reads come from a
 * cache that the keystore's change notifications keep current.
 *
 * @example
 * ```ts
 * const kms = new LocalKms({ keystore: FileKeystore.open({ file: '.envelope-data/keys.json' }), rootKey })
 * await kms.createKey('acme', 'default')
 * const cmk = kms.cmk('acme', 'default') // a CmkClient
 * const { key, ciphertext, version } = await cmk.generate({ tenant: 'acme', purpose: 'lease', lease: 'l1' })
 * ```
 * @throws {ProxyError} from its methods, with the codes of docs/key-proxy-api.md (`ERR_KEY_NOT_FOUND`,
 * `ERR_KEY_DISABLED`, `ERR_KEY_DESTROYED`, `ERR_KEY_VERSION_LIMIT`, `ERR_KMS_UNAVAILABLE` with a wrong root key,
 * `ERR_KEYSTORE_UNAVAILABLE` when the keystore cannot be written, …).
 */
export class LocalKms {
  readonly keystore: Keystore
  private readonly root: Promise<CryptoKey>
  private readonly minDeletionDays: number
  private readonly maxKeyVersions: number
  readonly now: () => Date
  private readonly records = new Map<string, Promise<LocalKeyRecord | undefined>>()
  // `tenant/key#version` → the version's key, unsealed once (with the sealed text it came from)
  private readonly material = new Map<string, { sealed: string; object: KeyObject }>()
  /** Destructions at first use under way, by `tenant/key`: one write per key, however many requests touch it. */
  private readonly destroying = new Map<string, Promise<KeyInfo>>()
  /** Expiries of imported material under way, by `tenant/key`. */
  private readonly expiring = new Map<string, Promise<KeyInfo>>()
  private readonly unwatch: () => void

  constructor(options: LocalKmsOptions) {
    this.keystore = options.keystore
    this.root = crypto.subtle.importKey('raw', options.rootKey as Uint8Array<ArrayBuffer>, 'AES-GCM', false, [
      'encrypt',
      'decrypt',
    ])
    this.minDeletionDays = options.minDeletionDays ?? 7
    this.maxKeyVersions = options.maxKeyVersions ?? 100
    this.now = options.now ?? (() => new Date())
    this.unwatch = this.keystore.watch((change) => {
      if (change.kind === '*') {
        this.records.clear()
        this.material.clear()
      } else if (change.kind === 'local-key') this.forget(change.key)
    })
  }

  /** Stops following the keystore (which the caller closes). */
  close(): void {
    this.unwatch()
    this.records.clear()
    this.material.clear()
  }

  /** The CMK client of one key (the key need not exist yet: {@link createKey}). */
  cmk(tenant: string, keyName: string): LocalCmk {
    return new LocalCmk(this, tenant, keyName)
  }

  // --- records ---
  private forget(id: string): void {
    this.records.delete(id)
    for (const kid of this.material.keys()) if (kid.startsWith(`${id}#`)) this.material.delete(kid)
  }

  /** The key's record (cached; the keystore's notifications drop what changed). */
  record(tenant: string, keyName: string): Promise<LocalKeyRecord | undefined> {
    const id = `${tenant}/${keyName}`
    let r = this.records.get(id)
    if (!r) {
      if (this.records.size >= MAX_CACHED) this.records.clear()
      r = this.keystore.get('local-key', id)
      this.records.set(id, r)
      r.catch(() => this.records.delete(id))
    }
    return r
  }

  private async key(tenant: string, keyName: string): Promise<LocalKeyRecord> {
    let k = await this.record(tenant, keyName)
    if (!k && (await this.caughtUp(tenant, keyName))) k = await this.record(tenant, keyName)
    if (!k) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
    return k
  }

  /**
   * On a shared keystore, a key or version another instance just made may not have reached this one yet: catch
   * up with the keystore once and forget the cached record. False where there is nothing to catch up with.
   */
  private async caughtUp(tenant: string, keyName: string): Promise<boolean> {
    if (!this.keystore.catchUp) return false
    await this.keystore.catchUp()
    this.forget(`${tenant}/${keyName}`)
    return true
  }

  /** {@link usable}, with `version` among its versions when the shared keystore has it. */
  async usableWith(tenant: string, keyName: string, version: number): Promise<LocalKeyRecord> {
    const k = await this.usable(tenant, keyName)
    if (k.versions[String(version)] || !(await this.caughtUp(tenant, keyName))) return k
    return this.usable(tenant, keyName)
  }

  /** A key past its deletion date is destroyed on first touch, as a KMS would at the end of the waiting period. */
  async usable(tenant: string, keyName: string): Promise<LocalKeyRecord> {
    let k = await this.current(tenant, keyName)
    if (k.state === 'pending_deletion' && k.deletionDate && this.now() >= new Date(k.deletionDate)) {
      const id = `${tenant}/${keyName}`
      let done = this.destroying.get(id)
      if (!done) {
        done = this.destroy(tenant, keyName).finally(() => this.destroying.delete(id))
        this.destroying.set(id, done)
      }
      await done
      k = await this.key(tenant, keyName)
    }
    if (k.state === 'disabled') throw new ProxyError('ERR_KEY_DISABLED', `key "${tenant}/${keyName}" is disabled`)
    if (k.state === 'pending_deletion') {
      throw new ProxyError('ERR_KEY_PENDING_DELETION', `key "${tenant}/${keyName}" is scheduled for deletion`)
    }
    if (k.state === 'destroyed') throw new ProxyError('ERR_KEY_DESTROYED', `key "${tenant}/${keyName}" was destroyed`)
    if (k.state === 'pending_import') {
      throw new ProxyError(
        'ERR_KEY_PENDING_IMPORT',
        `key "${tenant}/${keyName}" holds no key material: import the customer's own (it expired or was deleted)`,
      )
    }
    return k
  }

  /**
   * The key's record, with imported material past its `validTo` deleted first (once, however many requests find
   * it): from then on the key is `pending_import`, as AWS KMS deletes expired imported material.
   */
  async current(tenant: string, keyName: string): Promise<LocalKeyRecord> {
    const k = await this.key(tenant, keyName)
    const validTo = k.imported?.validTo
    if (!validTo || this.now() < new Date(validTo) || k.state === 'pending_import' || k.state === 'destroyed') return k
    const id = `${tenant}/${keyName}`
    let done = this.expiring.get(id)
    if (!done) {
      done = this.deleteMaterial(tenant, keyName, 'expired').finally(() => this.expiring.delete(id))
      this.expiring.set(id, done)
    }
    await done
    return this.key(tenant, keyName)
  }

  /**
   * Deletes a key's imported material (`on-demand` or `expired`): every version's sealed material goes, the
   * commitment stays (only the same material can return), the key becomes `pending_import`, and the keystore
   * shreds its leftovers before this resolves.
   */
  async deleteMaterial(tenant: string, keyName: string, why: 'on-demand' | 'expired'): Promise<KeyInfo> {
    const info = await this.update(tenant, keyName, async (k) => {
      if (!k) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
      if (k.origin !== 'external') {
        throw new ProxyError('ERR_KEY_STATE', `key "${tenant}/${keyName}" holds material the proxy made: none imported`)
      }
      if (why === 'expired' && (!k.imported?.validTo || this.now() < new Date(k.imported.validTo))) return k
      if (k.state === 'pending_import') return k
      if (k.state === 'pending_deletion' || k.state === 'destroyed') {
        throw new ProxyError('ERR_KEY_STATE', `key "${tenant}/${keyName}" is ${k.state}`)
      }
      const versions = Object.fromEntries(Object.entries(k.versions).map(([n, v]) => [n, { created: v.created }]))
      const { validTo: _, ...imported } = k.imported ?? { commitment: '' }
      return { ...k, state: 'pending_import', versions, imported }
    })
    await this.keystore.shred()
    return info
  }

  private info(tenant: string, keyName: string, k: LocalKeyRecord): KeyInfo {
    return {
      tenant,
      keyName,
      state: k.state,
      primaryVersion: k.primary,
      versions: versionsOf(k),
      ...(k.deletionDate ? { deletionDate: k.deletionDate } : {}),
      ...(k.origin ? { origin: k.origin } : {}),
      ...(k.imported?.importedAt && k.state !== 'pending_import' ? { importedAt: k.imported.importedAt } : {}),
      ...(k.imported?.validTo ? { validTo: k.imported.validTo } : {}),
    }
  }

  /** Read-modify-write of one key's record (atomic in the keystore); src/byok/ uses it for imports. */
  async update(
    tenant: string,
    keyName: string,
    change: (k: LocalKeyRecord | undefined) => Promise<LocalKeyRecord | undefined>,
  ): Promise<KeyInfo> {
    const id = `${tenant}/${keyName}`
    let next: LocalKeyRecord | undefined
    try {
      next = await this.keystore.update('local-key', id, change)
    } finally {
      // Also when the change threw: it saw the keystore's record, which the cached one may not be (ERR_KEY_EXISTS
      // for a key another instance just made).
      this.forget(id)
    }
    if (!next) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
    return this.info(tenant, keyName, next)
  }

  // --- material ---
  /** Seals bytes under the root key, bound to `label` (a version's kid; src/byok/: an import's wrapping key). */
  async seal(material: Uint8Array, label: string): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(12))
    const aad = new TextEncoder().encode(`envelope-local-kms/1 ${label}`)
    const ct = await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: aad },
      await this.root,
      material as Uint8Array<ArrayBuffer>,
    )
    const out = new Uint8Array(12 + ct.byteLength)
    out.set(iv)
    out.set(new Uint8Array(ct), 12)
    return toBase64url(out)
  }

  private newVersion(tenant: string, keyName: string, version: number) {
    const material = crypto.getRandomValues(new Uint8Array(32))
    return this.seal(material, kidOf(tenant, keyName, version)).finally(() => material.fill(0))
  }

  /** Opens what {@link seal} sealed with the same label; `ERR_KMS_UNAVAILABLE` when it does not open. */
  async unseal(sealed: string, label: string): Promise<Uint8Array<ArrayBuffer>> {
    const bytes = fromBase64url(sealed)
    if (!bytes || bytes.length < 28) throw new ProxyError('ERR_INTERNAL', 'key file entry is damaged')
    const aad = new TextEncoder().encode(`envelope-local-kms/1 ${label}`)
    try {
      const params = { name: 'AES-GCM', iv: bytes.subarray(0, 12), additionalData: aad }
      return new Uint8Array(await crypto.subtle.decrypt(params, await this.root, bytes.subarray(12)))
    } catch (err) {
      throw new ProxyError('ERR_KMS_UNAVAILABLE', 'sealed data does not open under the root key (wrong root key?)', {
        cause: err,
      })
    }
  }

  /** The key of one CMK version, unsealed once. */
  async versionKey(tenant: string, keyName: string, k: LocalKeyRecord, version: number): Promise<KeyObject> {
    const kid = kidOf(tenant, keyName, version)
    const sealed = k.versions[String(version)]?.sealed
    if (!sealed) throw new ProxyError('ERR_EDEK_INVALID', `key version ${version} does not exist`)
    const hit = this.material.get(kid)
    if (hit?.sealed === sealed) return hit.object
    const bytes = fromBase64url(sealed)
    if (!bytes || bytes.length < 28) throw new ProxyError('ERR_INTERNAL', 'key file entry is damaged')
    const aad = new TextEncoder().encode(`envelope-local-kms/1 ${kid}`)
    let material: Uint8Array<ArrayBuffer>
    try {
      const params = { name: 'AES-GCM', iv: bytes.subarray(0, 12), additionalData: aad }
      material = new Uint8Array(await crypto.subtle.decrypt(params, await this.root, bytes.subarray(12)))
    } catch (err) {
      throw new ProxyError('ERR_KMS_UNAVAILABLE', 'key material does not open under the root key (wrong root key?)', {
        cause: err,
      })
    }
    const object = createSecretKey(material)
    material.fill(0)
    if (this.material.size >= MAX_CACHED) this.material.clear()
    this.material.set(kid, { sealed, object })
    return object
  }

  // --- lifecycle ---
  async describe(tenant: string, keyName: string): Promise<KeyInfo> {
    return this.info(tenant, keyName, await this.current(tenant, keyName))
  }

  /** `origin: 'external'`: a key with no material, `pending_import`, for the customer's own (src/byok/). */
  createKey(tenant: string, keyName: string, origin?: 'external'): Promise<KeyInfo> {
    if (!isName(tenant) || !isName(keyName)) {
      return Promise.reject(new ProxyError('ERR_BAD_REQUEST', `tenant and key names are ${NAME_RULE}`))
    }
    return this.update(tenant, keyName, async (k) => {
      if (k) throw new ProxyError('ERR_KEY_EXISTS', `tenant "${tenant}" already has key "${keyName}"`)
      if (origin === 'external') {
        return { state: 'pending_import', origin, primary: 1, versions: { '1': { created: this.now().toISOString() } } }
      }
      const sealed = await this.newVersion(tenant, keyName, 1)
      return { state: 'enabled', primary: 1, versions: { '1': { created: this.now().toISOString(), sealed } } }
    })
  }

  rotate(tenant: string, keyName: string): Promise<KeyInfo> {
    return this.update(tenant, keyName, async (k) => {
      if (!k) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
      if (k.state !== 'enabled')
        throw new ProxyError('ERR_KEY_STATE', `only an enabled key can rotate (it is ${k.state})`)
      if (k.origin === 'external') {
        throw new ProxyError('ERR_KEY_STATE', 'a key of imported material does not rotate: make a new key and rekey')
      }
      const versions = versionsOf(k)
      if (versions.length >= this.maxKeyVersions) {
        throw new ProxyError(
          'ERR_KEY_VERSION_LIMIT',
          `key "${tenant}/${keyName}" has ${versions.length} versions, the most allowed (maxKeyVersions)`,
        )
      }
      const v = versions[versions.length - 1]! + 1
      const sealed = await this.newVersion(tenant, keyName, v)
      return { ...k, primary: v, versions: { ...k.versions, [v]: { created: this.now().toISOString(), sealed } } }
    })
  }

  setEnabled(tenant: string, keyName: string, enabled: boolean): Promise<KeyInfo> {
    return this.update(tenant, keyName, async (k) => {
      if (!k) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
      if (k.state !== 'enabled' && k.state !== 'disabled') {
        throw new ProxyError('ERR_KEY_STATE', `a key that is ${k.state} cannot be ${enabled ? 'enabled' : 'disabled'}`)
      }
      const state = enabled ? 'enabled' : 'disabled'
      return k.state === state ? k : { ...k, state }
    })
  }

  scheduleDeletion(tenant: string, keyName: string, waitingDays: number): Promise<KeyInfo> {
    return this.update(tenant, keyName, async (k) => {
      if (!k) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
      if (!Number.isFinite(waitingDays) || waitingDays < this.minDeletionDays || waitingDays > 30) {
        throw new ProxyError('ERR_BAD_REQUEST', `waiting period must be ${this.minDeletionDays} to 30 days`)
      }
      if (k.state === 'destroyed' || k.state === 'pending_deletion')
        throw new ProxyError('ERR_KEY_STATE', `key is already ${k.state}`)
      const at = new Date(this.now().getTime() + waitingDays * 86_400_000)
      return { ...k, state: 'pending_deletion', deletionDate: at.toISOString() }
    })
  }

  cancelDeletion(tenant: string, keyName: string): Promise<KeyInfo> {
    return this.update(tenant, keyName, async (k) => {
      if (!k) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
      if (k.state !== 'pending_deletion') throw new ProxyError('ERR_KEY_STATE', 'key is not scheduled for deletion')
      if (k.deletionDate && this.now() >= new Date(k.deletionDate))
        throw new ProxyError('ERR_KEY_STATE', 'waiting period is over')
      const { deletionDate: _, ...rest } = k
      const noMaterial = k.origin === 'external' && !Object.values(k.versions).some((v) => v.sealed)
      // as AWS KMS: a cancelled deletion leaves the key disabled (or pending_import, without material)
      return { ...rest, state: noMaterial ? 'pending_import' : 'disabled' }
    })
  }

  /**
   * Crypto-shredding. Before it is acknowledged, the record without the material is durable and the keystore has
   * shredded its leftovers (the file keystore: every temp file, a possible copy): no file holds the material.
   */
  async destroy(tenant: string, keyName: string): Promise<KeyInfo> {
    const info = await this.update(tenant, keyName, async (k) => {
      if (!k) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
      if (k.state === 'destroyed') return k
      if (k.state !== 'pending_deletion' || !k.deletionDate || this.now() < new Date(k.deletionDate)) {
        throw new ProxyError('ERR_KEY_STATE', 'only a key whose deletion waiting period is over can be destroyed')
      }
      const versions = Object.fromEntries(Object.entries(k.versions).map(([n, v]) => [n, { created: v.created }]))
      return { ...k, state: 'destroyed', versions }
    })
    await this.keystore.shred()
    return info
  }
}

/**
 * One key of the local KMS as a CMK client: a wrap is a compact JWE (A256GCMKW, A256GCM) under the primary
 * version, naming it (`kid: "<tenant>/<key>#<version>"`) and binding the wrap context in its protected header.
 *
 * @example
 * ```ts
 * const cmk = kms.cmk('acme', 'default')
 * const wrapped = await cmk.wrap(leaseKey, { tenant: 'acme', purpose: 'lease', lease: 'l1' })
 * ```
 * @throws {ProxyError} from its methods: `ERR_KEY_NOT_FOUND`, `ERR_KEY_DISABLED`, `ERR_KEY_PENDING_DELETION`,
 * `ERR_KEY_DESTROYED`, `ERR_EDEK_INVALID`, `ERR_KEYSTORE_UNAVAILABLE`.
 */
export class LocalCmk implements CmkClient, CmkLifecycle {
  readonly provider = 'local'
  readonly keyRef: string
  readonly #kms: LocalKms
  readonly #tenant: string
  readonly #key: string

  constructor(kms: LocalKms, tenant: string, keyName: string) {
    this.#kms = kms
    this.#tenant = tenant
    this.#key = keyName
    this.keyRef = `local:${tenant}/${keyName}`
  }

  async wrap(key: Uint8Array, context: WrapContext, _options?: CmkCallOptions): Promise<CmkWrapped> {
    if (!(key instanceof Uint8Array) || key.length !== 32) {
      throw new ProxyError('ERR_BAD_REQUEST', 'the local KMS wraps 32-byte keys only')
    }
    const binding = bindingOf(this.#tenant, context)
    const k = await this.#kms.usable(this.#tenant, this.#key)
    const cmk = await this.#kms.versionKey(this.#tenant, this.#key, k, k.primary)
    const jwe = sealJweNode({ kid: kidOf(this.#tenant, this.#key, k.primary), ...binding }, key, cmk)
    return { ciphertext: new TextEncoder().encode(jwe), version: String(k.primary) }
  }

  async unwrap(wrapped: CmkWrapped, context: WrapContext, _options?: CmkCallOptions): Promise<Uint8Array> {
    let jwe: string
    try {
      // ignoreBOM: a leading U+FEFF stays in the text (and fails the JWE checks); stripped, other bytes would open.
      jwe = EXACT_UTF8.decode(wrapped?.ciphertext)
    } catch {
      throw new ProxyError('ERR_EDEK_INVALID', 'not a wrap of the local KMS')
    }
    const header = jweHeader(jwe)
    const version = Number(wrapped?.version)
    if (
      !header ||
      !/^\d{1,9}$/.test(String(wrapped?.version)) ||
      header.kid !== kidOf(this.#tenant, this.#key, version) ||
      !sameBinding(header, bindingOf(this.#tenant, context))
    ) {
      throw new ProxyError('ERR_EDEK_INVALID', 'not a wrap of this key, or made for another wrap context')
    }
    const k = await this.#kms.usableWith(this.#tenant, this.#key, version)
    const key = openJweNode(jwe, await this.#kms.versionKey(this.#tenant, this.#key, k, version), header)
    if (key?.length !== 32) throw new ProxyError('ERR_EDEK_INVALID', 'the wrapped key does not authenticate')
    return key
  }

  async generate(context: WrapContext, options?: CmkCallOptions): Promise<{ key: Uint8Array } & CmkWrapped> {
    const key = crypto.getRandomValues(new Uint8Array(32))
    return { key, ...(await this.wrap(key, context, options)) }
  }

  async describe(): Promise<CmkStatus> {
    const info = await this.#kms.describe(this.#tenant, this.#key)
    return {
      state: info.state,
      primaryVersion: String(info.primaryVersion),
      versions: info.state === 'destroyed' ? [] : info.versions.map(String),
      managedBy: 'proxy',
      keyRef: this.keyRef,
      ...(info.deletionDate ? { deletionDate: info.deletionDate } : {}),
    }
  }

  async close(): Promise<void> {}

  // --- CmkLifecycle ---
  async create(): Promise<CmkStatus> {
    await this.#kms.createKey(this.#tenant, this.#key)
    return this.describe()
  }

  async rotate(): Promise<CmkStatus> {
    await this.#kms.rotate(this.#tenant, this.#key)
    return this.describe()
  }

  async setEnabled(enabled: boolean): Promise<CmkStatus> {
    await this.#kms.setEnabled(this.#tenant, this.#key, enabled)
    return this.describe()
  }

  /** Shreds at once: a deletion with no waiting period (the proxy's routes schedule one first). */
  async destroy(): Promise<CmkStatus> {
    const info = await this.#kms.describe(this.#tenant, this.#key)
    if (info.state !== 'pending_deletion' && info.state !== 'destroyed') {
      await this.#kms.scheduleDeletion(this.#tenant, this.#key, 0).catch((err) => {
        throw err instanceof ProxyError && err.code === 'ERR_BAD_REQUEST'
          ? new ProxyError('ERR_KEY_STATE', 'schedule the deletion first (minDeletionDays)')
          : err
      })
    }
    await this.#kms.destroy(this.#tenant, this.#key)
    return this.describe()
  }
}
