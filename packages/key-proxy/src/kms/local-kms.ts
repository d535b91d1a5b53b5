/**
 * The embedded KMS: tenants' CMKs (32-byte AES keys with versions) kept in one JSON file, each version's
 * material sealed with AES-256-GCM under a root key, so the file alone reveals no key. EDEKs are JWEs
 * (edek-jwe.ts). Key states follow AWS KMS: enabled, disabled, pending deletion (with a waiting period; unwrap
 * refused), destroyed (material erased: crypto-shredding).
 * @module
 */
import { createSecretKey, type KeyObject } from 'node:crypto'
import type { Edek, EncryptionContext } from '@envelope/core'
import { fromBase64url, toBase64url } from '@envelope/fetch-client/protocol'
import { ProxyError } from '../errors.ts'
import { isName, NAME_RULE } from '../names.ts'
import type { KeyInfo, KeyState, KmsBackend } from './backend.ts'
import { contextHash, kidOf, readEdekHeader, sealEdek } from './edek-jwe.ts'
import { openEdekNode } from './jwe-open-node.ts'
import { KeyFile } from './key-file.ts'

/**
 * The provider id in EDEKs made by {@link LocalKms}.
 *
 * @example
 * ```ts
 * readHeader(message).edeks.some((e) => e.providerId === LOCAL_PROVIDER_ID)
 * ```
 */
export const LOCAL_PROVIDER_ID = 'envelope-local-kms'

interface StoredVersion {
  readonly created: string
  /** base64url(iv ‖ AES-GCM(root, material)); removed when destroyed. */
  readonly sealed?: string
}
interface StoredKey {
  readonly state: KeyState
  readonly primary: number
  readonly deletionDate?: string
  readonly versions: ReadonlyMap<number, StoredVersion>
}
/** tenant → key name → key. Maps, never plain objects: a name such as `__proto__` is an ordinary key here. */
type Store = ReadonlyMap<string, ReadonlyMap<string, StoredKey>>

const FORMAT = 'envelope-local-kms/1'

/** The key file's JSON: `{ format, tenants: { <tenant>: { <key>: { state, primary, deletionDate?, versions } } } }`. */
function toJson(store: Store): unknown {
  const entries = <V, T>(m: ReadonlyMap<string | number, V>, f: (v: V) => T) =>
    Object.fromEntries([...m].map(([k, v]) => [String(k), f(v)])) // own data properties, whatever the name
  return {
    format: FORMAT,
    tenants: entries(store, (keys) =>
      entries(keys, (k) => ({
        state: k.state,
        primary: k.primary,
        ...(k.deletionDate ? { deletionDate: k.deletionDate } : {}),
        versions: entries(k.versions, (v) => v),
      })),
    ),
  }
}

function fromJson(json: unknown, path: string): Store {
  const store = new Map<string, Map<string, StoredKey>>()
  if (json === undefined) return store
  const f = json as { format?: unknown; tenants?: unknown }
  const isObject = (v: unknown): v is object => typeof v === 'object' && v !== null && !Array.isArray(v)
  if (!isObject(f) || f.format !== FORMAT || !isObject(f.tenants)) {
    throw new ProxyError('ERR_KMS_UNAVAILABLE', `the key file ${path} is not an ${FORMAT} key file`)
  }
  for (const [tenant, keys] of Object.entries(f.tenants)) {
    const byName = new Map<string, StoredKey>()
    for (const [name, k] of Object.entries(keys as object)) {
      const versions = new Map<number, StoredVersion>()
      for (const [v, version] of Object.entries((k as { versions: object }).versions)) versions.set(Number(v), version)
      byName.set(name, { ...(k as StoredKey), versions })
    }
    store.set(tenant, byName)
  }
  return store
}

/**
 * Options of {@link LocalKms}.
 *
 * @example
 * ```ts
 * const kms = new LocalKms({ file: '/var/lib/envelope-proxy/keys.json', rootKey, minDeletionDays: 7 })
 * ```
 */
export interface LocalKmsOptions {
  /** Path of the key file. */
  readonly file: string
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
 * The file-backed KMS. One instance per key file: it locks the file's folder (a second instance, in this process
 * or another, throws `ERR_DATA_DIR_LOCKED` naming the holder) and keeps the keys in memory, writing the file on
 * every change. {@link LocalKms.close} releases the folder.
 *
 * @example
 * ```ts
 * const kms = new LocalKms({ file: '.envelope-data/keys.json', rootKey })
 * await kms.createKey('acme', 'default')
 * const { dek, edek } = await kms.generate('acme', 'default', { doc: '42' })
 * ```
 * @throws {ProxyError} from its methods, with the codes of docs/key-proxy-api.md (`ERR_KEY_NOT_FOUND`,
 * `ERR_KEY_DISABLED`, `ERR_KEY_DESTROYED`, `ERR_KEY_VERSION_LIMIT`, `ERR_KMS_UNAVAILABLE` when the key file
 * cannot be written, …).
 */
export class LocalKms implements KmsBackend {
  readonly providerId = LOCAL_PROVIDER_ID
  private readonly file: KeyFile
  private store: Store
  private readonly root: Promise<CryptoKey>
  private readonly minDeletionDays: number
  private readonly maxKeyVersions: number
  private readonly now: () => Date
  // sealed string → the version's key: a non-extractable CryptoKey for jose (sealing), a KeyObject for opening
  private readonly material = new Map<string, { key: CryptoKey; object: KeyObject }>()
  private writing: Promise<unknown> = Promise.resolve()
  /** Destructions at first use under way, by `tenant/key`: one write per key, however many requests touch it. */
  private readonly destroying = new Map<string, Promise<KeyInfo>>()

  constructor(options: LocalKmsOptions) {
    this.file = new KeyFile(options.file)
    try {
      this.store = fromJson(this.file.read(), options.file)
    } catch (err) {
      this.file.close()
      throw err
    }
    this.root = crypto.subtle.importKey('raw', options.rootKey as Uint8Array<ArrayBuffer>, 'AES-GCM', false, [
      'encrypt',
      'decrypt',
    ])
    this.minDeletionDays = options.minDeletionDays ?? 7
    this.maxKeyVersions = options.maxKeyVersions ?? 100
    this.now = options.now ?? (() => new Date())
  }

  /** Releases the data folder (the process's exit does too). */
  close(): void {
    this.file.close()
  }

  // --- material ---
  private async seal(material: Uint8Array, kid: string): Promise<string> {
    const iv = crypto.getRandomValues(new Uint8Array(12))
    const aad = new TextEncoder().encode(`envelope-local-kms/1 ${kid}`)
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

  /** The key of one CMK version, unsealed once: a non-extractable key for jose, a KeyObject for node:crypto. */
  private async unseal(sealed: string, kid: string): Promise<{ key: CryptoKey; object: KeyObject }> {
    const hit = this.material.get(sealed)
    if (hit) return hit
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
    const entry = {
      key: await crypto.subtle.importKey('raw', material, 'AES-GCM', false, ['encrypt', 'decrypt']),
      object: createSecretKey(material),
    }
    material.fill(0)
    this.material.set(sealed, entry)
    return entry
  }

  // --- state ---
  private key(tenant: string, keyName: string): StoredKey {
    const k = this.store.get(tenant)?.get(keyName)
    if (!k) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
    return k
  }

  /** A key past its deletion date is destroyed on first touch, as a KMS would at the end of the waiting period. */
  private async usable(tenant: string, keyName: string): Promise<StoredKey> {
    let k = this.key(tenant, keyName)
    if (k.state === 'pending_deletion' && k.deletionDate && this.now() >= new Date(k.deletionDate)) {
      const id = `${tenant}/${keyName}`
      let done = this.destroying.get(id)
      if (!done) {
        done = this.destroy(tenant, keyName).finally(() => this.destroying.delete(id))
        this.destroying.set(id, done)
      }
      await done
      k = this.key(tenant, keyName)
    }
    if (k.state === 'disabled') throw new ProxyError('ERR_KEY_DISABLED', `key "${tenant}/${keyName}" is disabled`)
    if (k.state === 'pending_deletion') {
      throw new ProxyError('ERR_KEY_PENDING_DELETION', `key "${tenant}/${keyName}" is scheduled for deletion`)
    }
    if (k.state === 'destroyed') throw new ProxyError('ERR_KEY_DESTROYED', `key "${tenant}/${keyName}" was destroyed`)
    return k
  }

  private info(tenant: string, keyName: string, k: StoredKey): KeyInfo {
    return {
      tenant,
      keyName,
      state: k.state,
      primaryVersion: k.primary,
      versions: [...k.versions.keys()],
      ...(k.deletionDate ? { deletionDate: k.deletionDate } : {}),
    }
  }

  /**
   * Read-modify-write of one key, one at a time. `change` returns the key's next state, or the same object when
   * nothing changes (then nothing is written).
   */
  private update(
    tenant: string,
    keyName: string,
    change: (k: StoredKey | undefined) => Promise<StoredKey>,
  ): Promise<KeyInfo> {
    const run = this.writing.then(async () => {
      const current = this.store.get(tenant)?.get(keyName)
      const next = await change(current)
      if (next !== current) {
        const store = new Map(this.store)
        store.set(tenant, new Map(store.get(tenant)).set(keyName, next))
        this.file.write(toJson(store))
        this.store = store
      }
      return this.info(tenant, keyName, next)
    })
    this.writing = run.catch(() => {})
    return run
  }

  // --- KmsBackend ---
  async generate(tenant: string, keyName: string, context: EncryptionContext) {
    const dek = crypto.getRandomValues(new Uint8Array(32))
    return { dek, edek: await this.wrapFor(dek, tenant, keyName, context) }
  }

  async unwrap(tenant: string, edek: Edek, context: EncryptionContext) {
    if (edek.providerId !== LOCAL_PROVIDER_ID) throw new ProxyError('ERR_EDEK_INVALID', 'EDEK is not from this KMS')
    let jwe: string
    try {
      // ignoreBOM: a leading U+FEFF stays in the text (and fails the JWE checks); stripped, other bytes would open.
      jwe = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(edek.ciphertext)
    } catch {
      throw new ProxyError('ERR_EDEK_INVALID', 'EDEK is not a JWE')
    }
    const h = readEdekHeader(jwe)
    if (!h || edek.keyId !== `${h.tenant}/${h.keyName}` || edek.keyVersion !== String(h.version)) {
      throw new ProxyError('ERR_EDEK_INVALID', 'EDEK is not a well-formed JWE of this KMS')
    }
    if (h.tenant !== tenant) throw new ProxyError('ERR_TENANT_FORBIDDEN', 'EDEK belongs to another tenant')
    const k = await this.usable(h.tenant, h.keyName)
    const sealed = k.versions.get(h.version)?.sealed
    if (!sealed) throw new ProxyError('ERR_EDEK_INVALID', `key version ${h.version} does not exist`)
    if (h.ctx !== (await contextHash(context))) {
      throw new ProxyError('ERR_EDEK_CONTEXT_MISMATCH', 'EDEK was made for another encryption context')
    }
    const dek = openEdekNode(jwe, (await this.unseal(sealed, kidOf(h.tenant, h.keyName, h.version))).object)
    if (dek?.length !== 32) throw new ProxyError('ERR_EDEK_INVALID', 'EDEK does not authenticate')
    return { dek, keyVersion: String(h.version) }
  }

  async rewrap(tenant: string, edek: Edek, context: EncryptionContext, toTenant = tenant) {
    const { dek } = await this.unwrap(tenant, edek, context)
    try {
      const keyName = edek.keyId.split('/')[1]!
      return await this.wrapFor(dek, toTenant, toTenant === tenant ? keyName : 'default', context)
    } finally {
      dek.fill(0)
    }
  }

  /** An EDEK of `dek` under the primary version of the tenant's key. */
  private async wrapFor(dek: Uint8Array, tenant: string, keyName: string, context: EncryptionContext): Promise<Edek> {
    const k = await this.usable(tenant, keyName)
    const { key: cmk } = await this.unseal(k.versions.get(k.primary)!.sealed!, kidOf(tenant, keyName, k.primary))
    const jwe = await sealEdek(dek, cmk, tenant, keyName, k.primary, context)
    return {
      providerId: LOCAL_PROVIDER_ID,
      keyId: `${tenant}/${keyName}`,
      keyVersion: String(k.primary),
      ciphertext: new TextEncoder().encode(jwe) as Uint8Array<ArrayBuffer>,
    }
  }

  async describe(tenant: string, keyName: string) {
    return this.info(tenant, keyName, this.key(tenant, keyName))
  }

  createKey(tenant: string, keyName: string) {
    if (!isName(tenant) || !isName(keyName)) {
      return Promise.reject(new ProxyError('ERR_BAD_REQUEST', `tenant and key names are ${NAME_RULE}`))
    }
    return this.update(tenant, keyName, async (k) => {
      if (k) throw new ProxyError('ERR_KEY_EXISTS', `tenant "${tenant}" already has key "${keyName}"`)
      const sealed = await this.seal(crypto.getRandomValues(new Uint8Array(32)), kidOf(tenant, keyName, 1))
      return { state: 'enabled', primary: 1, versions: new Map([[1, { created: this.now().toISOString(), sealed }]]) }
    })
  }

  rotate(tenant: string, keyName: string) {
    return this.update(tenant, keyName, async (k) => {
      if (!k) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
      if (k.state !== 'enabled')
        throw new ProxyError('ERR_KEY_STATE', `only an enabled key can rotate (it is ${k.state})`)
      if (k.versions.size >= this.maxKeyVersions) {
        throw new ProxyError(
          'ERR_KEY_VERSION_LIMIT',
          `key "${tenant}/${keyName}" has ${k.versions.size} versions, the most allowed (maxKeyVersions)`,
        )
      }
      const v = Math.max(...k.versions.keys()) + 1
      const sealed = await this.seal(crypto.getRandomValues(new Uint8Array(32)), kidOf(tenant, keyName, v))
      const versions = new Map(k.versions).set(v, { created: this.now().toISOString(), sealed })
      return { ...k, primary: v, versions }
    })
  }

  setEnabled(tenant: string, keyName: string, enabled: boolean) {
    return this.update(tenant, keyName, async (k) => {
      if (!k) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
      if (k.state !== 'enabled' && k.state !== 'disabled') {
        throw new ProxyError('ERR_KEY_STATE', `a key that is ${k.state} cannot be ${enabled ? 'enabled' : 'disabled'}`)
      }
      return { ...k, state: enabled ? 'enabled' : 'disabled' }
    })
  }

  scheduleDeletion(tenant: string, keyName: string, waitingDays: number) {
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

  cancelDeletion(tenant: string, keyName: string) {
    return this.update(tenant, keyName, async (k) => {
      if (!k) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
      if (k.state !== 'pending_deletion') throw new ProxyError('ERR_KEY_STATE', 'key is not scheduled for deletion')
      if (k.deletionDate && this.now() >= new Date(k.deletionDate))
        throw new ProxyError('ERR_KEY_STATE', 'waiting period is over')
      const { deletionDate: _, ...rest } = k
      return { ...rest, state: 'disabled' } // as AWS KMS: a cancelled deletion leaves the key disabled
    })
  }

  /**
   * Crypto-shredding. Before it is acknowledged, the key file without the material is on disk and every temp
   * file (a possible copy) is gone: no file of the folder holds the key's material.
   */
  async destroy(tenant: string, keyName: string) {
    const info = await this.update(tenant, keyName, async (k) => {
      if (!k) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
      if (k.state === 'destroyed') return k
      if (k.state !== 'pending_deletion' || !k.deletionDate || this.now() < new Date(k.deletionDate)) {
        throw new ProxyError('ERR_KEY_STATE', 'only a key whose deletion waiting period is over can be destroyed')
      }
      for (const v of k.versions.values()) if (v.sealed) this.material.delete(v.sealed)
      const versions = new Map([...k.versions].map(([n, v]) => [n, { created: v.created }]))
      return { ...k, state: 'destroyed', versions }
    })
    this.file.removeTemps()
    return info
  }
}
