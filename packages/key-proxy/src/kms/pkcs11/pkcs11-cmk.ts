/**
 * A CMK in an HSM over PKCS#11: each version an AES-256 key object made in the token (sensitive, never
 * extractable), wraps and unwraps done by the HSM with CKM_AES_GCM (C_Encrypt / C_Decrypt), so the CMK never
 * leaves it. Versions, primary, enabled and destroyed are read from the token (key-objects.ts): the HSM is the
 * source of truth, and what its admin does there (clear CKA_DECRYPT, destroy an object) applies at once.
 * @module
 */
import { createPublicKey, randomBytes } from 'node:crypto'
import { ConfigError, ProxyError } from '../../errors.ts'
import type { CmkCallOptions, CmkClient, CmkImport, CmkLifecycle, CmkStatus, CmkWrapped, WrapContext } from '../cmk.ts'
import { CKR, call, callAsync, ckrOf, classify, DECRYPT_REFUSED } from './errors.ts'
import {
  isKeyName,
  keyObjectId,
  MAX_VERSIONS,
  parseVersionName,
  tombstoneLabel,
  tombstoneTemplate,
  versionLabel,
  versionName,
  versionOfLabel,
  versionTemplate,
} from './key-objects.ts'
import type { Handle, Pkcs11Api, Pkcs11Binding } from './module.ts'
import { Pkcs11Token, type Pkcs11TokenOptions, uriEncode } from './token.ts'
import { IV_BYTES, KEY_BYTES, TAG_BYTES, WRAPPED_BYTES, wrapAad } from './wrap-format.ts'

export interface Pkcs11CmkOptions extends Pkcs11TokenOptions {
  /**
   * The CMK's name in the token, e.g. `acme/default`: its versions are the key objects labelled
   * `envelope/acme/default/v1`, `…/v2`… (letters, digits, `.`, `_`, `-`, segments split by `/`; ≤ 100 chars).
   */
  readonly key: string
  /**
   * How long the list of versions read from the token is used before it is read again (default 5,000 ms; 0:
   * read at every call). Disable and destroy apply at once whatever this is (the HSM refuses the object);
   * it only bounds how soon a version another proxy instance made becomes this one's primary.
   */
  readonly versionCacheMs?: number
}

/** The token's view of one CMK, read by C_FindObjects. */
interface KeyView {
  readonly generation: number
  readonly readAt: number
  readonly destroyed: boolean
  /** version → object handle, ascending. */
  readonly versions: ReadonlyMap<number, Handle>
}

/**
 * A CMK held in an HSM, used and managed through PKCS#11 (`managedBy: 'proxy'`).
 *
 * @example
 * ```ts
 * const cmk = await Pkcs11Cmk.open({
 *   module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'tenant-acme', pinFile: '/run/secrets/acme-pin',
 *   key: 'acme/default',
 * })
 * await cmk.create() // version 1, made in the HSM
 * const { key, ciphertext, version } = await cmk.generate({ tenant: 'acme', purpose: 'lease' })
 * const again = await cmk.unwrap({ ciphertext, version }, { tenant: 'acme', purpose: 'lease' })
 * await cmk.close()
 * ```
 * Errors (all ProxyError): ERR_KEY_DISABLED (the object's CKA_ENCRYPT/CKA_DECRYPT is cleared), ERR_KEY_DESTROYED,
 * ERR_KEY_NOT_FOUND, ERR_KEY_EXISTS (create), ERR_KEY_STATE (an object without the required attributes, or an
 * HSM that does not let them change), ERR_EDEK_INVALID (does not open: altered, other key, other context),
 * ERR_BAD_REQUEST (wrap of something not 32 bytes, or a context that is not ≤ 64 string pairs in 8 KiB),
 * ERR_KMS_ACCESS_DENIED (PIN refused), ERR_KMS_THROTTLED (every session busy, wait queue full),
 * ERR_KMS_TIMEOUT (signal aborted), ERR_KMS_UNAVAILABLE (library, token or session lost after one reconnect;
 * anything else). `open` also throws ConfigError for bad options.
 */
export class Pkcs11Cmk implements CmkClient, CmkLifecycle, CmkImport {
  /** Loads the library, finds the token and logs in; the key need not exist yet ({@link create} makes it). */
  static async open(options: Pkcs11CmkOptions): Promise<Pkcs11Cmk> {
    if (!isKeyName(options.key)) {
      throw new ConfigError('pkcs11: key must be a name like "acme/default" (letters, digits, . _ - and /)')
    }
    const ttl = options.versionCacheMs ?? 5000
    if (!(Number.isSafeInteger(ttl) && ttl >= 0)) throw new ConfigError('pkcs11: versionCacheMs must be >= 0')
    return new Pkcs11Cmk(await Pkcs11Token.open(options), options.key, ttl)
  }

  readonly provider = 'pkcs11'
  /** `pkcs11:token=<label>;object=envelope%2F<key>`: the version objects are `<object>/v<n>`. */
  readonly keyRef: string
  readonly #token: Pkcs11Token
  readonly #key: string
  readonly #ttl: number
  readonly #p11: Pkcs11Binding
  readonly #api: Pkcs11Api
  #view: KeyView | undefined
  #lifecycle: Promise<unknown> = Promise.resolve()
  readonly #running = new Set<Promise<unknown>>()
  #closed = false

  private constructor(token: Pkcs11Token, key: string, ttl: number) {
    this.#token = token
    this.#key = key
    this.#ttl = ttl
    this.#p11 = token.module.p11
    this.#api = token.module.api
    this.keyRef = `pkcs11:${token.uriPart};object=${uriEncode(`envelope/${key}`)}`
  }

  /** Sessions open on this client's token now (shared with the other keys of the token): for metrics. */
  get openSessions(): number {
    return this.#token.sessions
  }

  // --- use ---

  async wrap(key: Uint8Array, context: WrapContext, options?: CmkCallOptions): Promise<CmkWrapped> {
    if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
      throw new ProxyError('ERR_BAD_REQUEST', `PKCS#11 wraps ${KEY_BYTES}-byte keys only`)
    }
    const plain = Buffer.from(key.buffer, key.byteOffset, key.byteLength)
    return this.#use(async (session, attempt) => {
      const view = await this.#read(session, attempt > 0)
      const n = this.#primaryOf(view)
      const aad = wrapAad(versionLabel(this.#key, n), context)
      if (!aad) throw new ProxyError('ERR_BAD_REQUEST', 'wrap context: at most 64 string pairs in 8 KiB')
      // Read back after the call: an HSM that makes its own GCM IV (CloudHSM) writes it into this buffer.
      const iv = randomBytes(IV_BYTES)
      call('C_EncryptInit', () => this.#api.C_EncryptInit(session, this.#gcm(iv, aad), view.versions.get(n)!))
      const out = await callAsync('C_Encrypt', () =>
        this.#api.C_EncryptAsync(session, plain, Buffer.alloc(KEY_BYTES + TAG_BYTES)),
      )
      if (out.length !== KEY_BYTES + TAG_BYTES)
        throw new ProxyError('ERR_KMS_UNAVAILABLE', 'PKCS#11 C_Encrypt: bad length')
      const ciphertext = new Uint8Array(WRAPPED_BYTES)
      ciphertext.set(iv)
      ciphertext.set(out, IV_BYTES)
      return { ciphertext, version: versionName(n) }
    }, options?.signal)
  }

  async unwrap(wrapped: CmkWrapped, context: WrapContext, options?: CmkCallOptions): Promise<Uint8Array> {
    const n = parseVersionName(wrapped?.version)
    const ct = wrapped?.ciphertext
    if (n === undefined || !(ct instanceof Uint8Array) || ct.length !== WRAPPED_BYTES) {
      throw new ProxyError('ERR_EDEK_INVALID', 'not a PKCS#11 wrap of this proxy')
    }
    const aad = wrapAad(versionLabel(this.#key, n), context)
    if (!aad) throw new ProxyError('ERR_EDEK_INVALID', 'wrap context: at most 64 string pairs in 8 KiB')
    const bytes = Buffer.from(ct.buffer, ct.byteOffset, ct.byteLength)
    const iv = Buffer.from(bytes.subarray(0, IV_BYTES))
    return this.#use(async (session, attempt) => {
      const cached = this.#view
      let view = await this.#read(session, attempt > 0)
      // a version made since the list was read (by another instance): read it again before saying it is gone
      if (view === cached && !view.destroyed && !view.versions.has(n)) view = await this.#read(session, true)
      const handle = this.#versionOf(view, n)
      call('C_DecryptInit', () => this.#api.C_DecryptInit(session, this.#gcm(iv, aad), handle))
      const out = Buffer.alloc(KEY_BYTES + TAG_BYTES)
      let plain: Buffer
      try {
        plain = await callAsync('C_Decrypt', () => this.#api.C_DecryptAsync(session, bytes.subarray(IV_BYTES), out))
      } catch (e) {
        const rv = ckrOf(e)
        if (classify(e) === 'fatal' && rv !== undefined && DECRYPT_REFUSED.has(rv)) {
          throw new ProxyError('ERR_EDEK_INVALID', 'the wrapped key does not open (altered, another key or context)')
        }
        throw e
      }
      if (plain.length !== KEY_BYTES) throw new ProxyError('ERR_EDEK_INVALID', 'the wrapped key is not 32 bytes')
      const key = new Uint8Array(plain)
      out.fill(0)
      return key
    }, options?.signal)
  }

  async generate(context: WrapContext, options?: CmkCallOptions): Promise<{ key: Uint8Array } & CmkWrapped> {
    const key = crypto.getRandomValues(new Uint8Array(KEY_BYTES))
    return { key, ...(await this.wrap(key, context, options)) }
  }

  async describe(options?: CmkCallOptions): Promise<CmkStatus> {
    return this.#use(async (session) => this.#status(session, await this.#read(session, true)), options?.signal)
  }

  // --- lifecycle (one at a time in this process; docs/kms-backends.md: one instance administers a key) ---

  create(): Promise<CmkStatus> {
    return this.#administer(async (session, view) => {
      if (view.destroyed || view.versions.size > 0) {
        throw new ProxyError('ERR_KEY_EXISTS', `the key ${this.#key} ${view.destroyed ? 'was destroyed' : 'exists'}`)
      }
      this.#generateVersion(session, 1)
    })
  }

  rotate(): Promise<CmkStatus> {
    return this.#administer(async (session, view) => {
      const n = this.#primaryOf(view)
      if (!this.#usable(session, view.versions.get(n)!)) {
        throw new ProxyError('ERR_KEY_DISABLED', `the key ${this.#key} is disabled: enable it before rotating`)
      }
      this.#generateVersion(session, n + 1)
    })
  }

  setEnabled(enabled: boolean): Promise<CmkStatus> {
    return this.#administer(async (session, view) => {
      this.#primaryOf(view)
      for (const handle of view.versions.values()) {
        try {
          call('C_SetAttributeValue', () =>
            this.#api.C_SetAttributeValue(session, handle, [
              { type: this.#p11.CKA_ENCRYPT, value: enabled },
              { type: this.#p11.CKA_DECRYPT, value: enabled },
            ]),
          )
        } catch (e) {
          const rv = ckrOf(e)
          if (rv === CKR.ATTRIBUTE_READ_ONLY || rv === CKR.ACTION_PROHIBITED) {
            throw new ProxyError(
              'ERR_KEY_STATE',
              "this HSM does not let CKA_ENCRYPT/CKA_DECRYPT change: disable the key with the HSM's own tools",
            )
          }
          throw e
        }
      }
    })
  }

  destroy(): Promise<CmkStatus> {
    return this.#administer(async (session, view) => {
      if (!view.destroyed && view.versions.size === 0) throw this.#notFound()
      // the tombstone first: if a C_DestroyObject fails below, the key already refuses everything
      if (!view.destroyed) {
        call('C_CreateObject', () =>
          this.#api.C_CreateObject(session, tombstoneTemplate(this.#p11, this.#key, new Date())),
        )
      }
      for (const handle of view.versions.values()) {
        call('C_DestroyObject', () => this.#api.C_DestroyObject(session, handle))
      }
    })
  }

  // --- the customer's own key material (src/byok/) ---

  importWrappingKey(
    spec: 'RSA_3072' | 'RSA_4096',
    id: string,
  ): Promise<{ publicKey: Uint8Array; algorithm: 'RSAES_OAEP_SHA_256' | 'RSAES_OAEP_SHA_1' }> {
    const p11 = this.#p11
    return this.#serial(() =>
      this.#use(async (session) => {
        for (const h of this.#find(session, [{ type: p11.CKA_LABEL, value: importLabel(this.#key) }])) {
          call('C_DestroyObject', () => this.#api.C_DestroyObject(session, h))
        }
        const { publicKey, privateKey } = call('C_GenerateKeyPair', () =>
          this.#api.C_GenerateKeyPair(
            session,
            { mechanism: p11.CKM_RSA_PKCS_KEY_PAIR_GEN },
            [
              { type: p11.CKA_TOKEN, value: false },
              { type: p11.CKA_MODULUS_BITS, value: spec === 'RSA_4096' ? 4096 : 3072 },
              { type: p11.CKA_PUBLIC_EXPONENT, value: Buffer.from([1, 0, 1]) },
              { type: p11.CKA_ENCRYPT, value: true },
            ],
            [
              { type: p11.CKA_TOKEN, value: true },
              { type: p11.CKA_PRIVATE, value: true },
              { type: p11.CKA_SENSITIVE, value: true },
              { type: p11.CKA_EXTRACTABLE, value: false },
              { type: p11.CKA_UNWRAP, value: true },
              { type: p11.CKA_DECRYPT, value: false },
              { type: p11.CKA_SIGN, value: false },
              { type: p11.CKA_LABEL, value: importLabel(this.#key) },
              { type: p11.CKA_ID, value: Buffer.from(`${importLabel(this.#key)}/${id}`, 'utf8') },
            ],
          ),
        )
        try {
          const [n, e] = call('C_GetAttributeValue', () =>
            this.#api.C_GetAttributeValue(session, publicKey, [
              { type: p11.CKA_MODULUS },
              { type: p11.CKA_PUBLIC_EXPONENT },
            ]),
          )
          const jwk = { kty: 'RSA', n: n!.value.toString('base64url'), e: e!.value.toString('base64url') }
          const spki = createPublicKey({ key: jwk, format: 'jwk' }).export({ type: 'spki', format: 'der' })
          // SHA-256 where the HSM has it (SoftHSM2 2.6 takes SHA-1 only): asked of the public key, which shares
          // the mechanism's parameter check with the unwrap
          let algorithm: 'RSAES_OAEP_SHA_256' | 'RSAES_OAEP_SHA_1' = 'RSAES_OAEP_SHA_256'
          try {
            this.#api.C_EncryptInit(session, this.#oaep('RSAES_OAEP_SHA_256'), publicKey)
            this.#api.C_Encrypt(session, Buffer.alloc(32), Buffer.alloc(1024))
          } catch (err) {
            const rv = ckrOf(err)
            if (rv !== CKR.ARGUMENTS_BAD && rv !== CKR.MECHANISM_PARAM_INVALID && rv !== CKR.MECHANISM_INVALID)
              throw err
            algorithm = 'RSAES_OAEP_SHA_1'
          }
          if (algorithm === 'RSAES_OAEP_SHA_1') {
            call('C_EncryptInit', () => this.#api.C_EncryptInit(session, this.#oaep(algorithm), publicKey))
            call('C_Encrypt', () => this.#api.C_Encrypt(session, Buffer.alloc(32), Buffer.alloc(1024)))
          }
          return { publicKey: new Uint8Array(spki), algorithm }
        } catch (err) {
          try {
            this.#api.C_DestroyObject(session, privateKey)
          } catch {}
          throw err
        } finally {
          try {
            this.#api.C_DestroyObject(session, publicKey)
          } catch {}
        }
      }),
    )
  }

  importMaterial(
    id: string,
    wrapped: Uint8Array,
    algorithm: 'RSAES_OAEP_SHA_256' | 'RSAES_OAEP_SHA_1',
    expected?: string,
  ): Promise<{ commitment: string }> {
    const p11 = this.#p11
    return this.#administerRaw(async (session, view) => {
      if (view.destroyed) throw this.#destroyed()
      const [unwrapping] = this.#find(session, [
        { type: p11.CKA_CLASS, value: p11.CKO_PRIVATE_KEY },
        { type: p11.CKA_ID, value: Buffer.from(`${importLabel(this.#key)}/${id}`, 'utf8') },
      ])
      if (!unwrapping) {
        throw new ProxyError(
          'ERR_IMPORT_TOKEN_INVALID',
          'the wrapping key of these import parameters is gone from the HSM',
        )
      }
      const existing = view.versions.get(1)
      const unwrap = (template: { type: number; value: number | boolean | string | Buffer }[]) => {
        try {
          return call('C_UnwrapKey', () =>
            this.#api.C_UnwrapKey(session, this.#oaep(algorithm), unwrapping, Buffer.from(wrapped), template),
          )
        } catch (err) {
          const rv = ckrOf(err)
          if (
            rv === CKR.KEY_SIZE_RANGE ||
            rv === CKR.ATTRIBUTE_VALUE_INVALID ||
            rv === 0xd1 /* TEMPLATE_INCONSISTENT */
          ) {
            throw new ProxyError('ERR_IMPORT_MATERIAL_SIZE', 'key material must be 32 bytes (AES-256)')
          }
          if (classify(err) === 'fatal') {
            throw new ProxyError(
              'ERR_IMPORT_UNWRAP_FAILED',
              `the material does not unwrap: wrap it with ${algorithm} under this key's latest wrapping public key`,
            )
          }
          throw err
        }
      }
      // First a session object, to check it: its size (the HSM may not report CKA_VALUE_LEN of an unwrapped key,
      // as SoftHSM2 2.6: then from an AES key wrap of it under a session key, destroyed at once) and commitment.
      const probe = unwrap([
        { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
        { type: p11.CKA_KEY_TYPE, value: p11.CKK_AES },
        { type: p11.CKA_TOKEN, value: false },
        { type: p11.CKA_SENSITIVE, value: true },
        { type: p11.CKA_EXTRACTABLE, value: true },
        { type: p11.CKA_ENCRYPT, value: true },
        { type: p11.CKA_LABEL, value: `${importLabel(this.#key)}/check` },
      ])
      try {
        const size = this.#sizeOf(session, probe)
        if (size !== KEY_BYTES) {
          throw new ProxyError(
            'ERR_IMPORT_MATERIAL_SIZE',
            `key material must be 32 bytes (AES-256)${size ? `, not ${size}` : ''}`,
          )
        }
        const commitment = await this.#commitment(session, probe)
        if (expected !== undefined && commitment !== expected) {
          throw new ProxyError(
            'ERR_IMPORT_MATERIAL_MISMATCH',
            `key ${this.#key} had other key material: only the same material can be imported again`,
          )
        }
        if (existing && commitment !== (await this.#commitment(session, existing))) {
          throw new ProxyError('ERR_IMPORT_MATERIAL_MISMATCH', `key ${this.#key} holds other key material`)
        }
        if (!existing) {
          unwrap(versionTemplate(p11, this.#key, 1).filter((a) => a.type !== p11.CKA_VALUE_LEN))
        }
        call('C_DestroyObject', () => this.#api.C_DestroyObject(session, unwrapping)) // used once
        return { commitment }
      } finally {
        try {
          this.#api.C_DestroyObject(session, probe)
        } catch {}
      }
    })
  }

  /** The size in bytes of a secret key: CKA_VALUE_LEN, or the length of its AES key wrap (RFC 3394) minus 8. */
  #sizeOf(session: Handle, handle: Handle): number | undefined {
    const p11 = this.#p11
    try {
      const [len] = this.#api.C_GetAttributeValue(session, handle, [{ type: p11.CKA_VALUE_LEN }])
      const n = readUlong(len!.value)
      if (n > 0) return n
    } catch {}
    const kek = call('C_GenerateKey', () =>
      this.#api.C_GenerateKey(session, { mechanism: p11.CKM_AES_KEY_GEN }, [
        { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
        { type: p11.CKA_KEY_TYPE, value: p11.CKK_AES },
        { type: p11.CKA_VALUE_LEN, value: 32 },
        { type: p11.CKA_TOKEN, value: false },
        { type: p11.CKA_SENSITIVE, value: true },
        { type: p11.CKA_EXTRACTABLE, value: false },
        { type: p11.CKA_WRAP, value: true },
      ]),
    )
    try {
      const out = this.#api.C_WrapKey(session, { mechanism: p11.CKM_AES_KEY_WRAP }, kek, handle, Buffer.alloc(128))
      return out.length - 8
    } catch {
      return undefined // not a multiple of 8 bytes: not an AES-256 key either
    } finally {
      try {
        this.#api.C_DestroyObject(session, kek)
      } catch {}
    }
  }

  async deleteMaterial(): Promise<void> {
    await this.#administerRaw(async (session, view) => {
      if (view.destroyed) throw this.#destroyed()
      for (const handle of view.versions.values()) {
        call('C_DestroyObject', () => this.#api.C_DestroyObject(session, handle))
      }
    })
  }

  /**
   * A commitment of the material in `handle`, computed by the HSM: AES-GCM of 32 zero bytes under a fixed zero IV
   * and a fixed AAD (always the same message, so the fixed IV reveals nothing more; wraps use random IVs).
   */
  async #commitment(session: Handle, handle: Handle): Promise<string> {
    const aad = Buffer.from(`envelope byok commitment/1 ${this.#key}`, 'utf8')
    call('C_EncryptInit', () => this.#api.C_EncryptInit(session, this.#gcm(Buffer.alloc(IV_BYTES), aad), handle))
    const out = await callAsync('C_Encrypt', () =>
      this.#api.C_EncryptAsync(session, Buffer.alloc(KEY_BYTES), Buffer.alloc(KEY_BYTES + TAG_BYTES)),
    )
    return Buffer.from(out).toString('base64url')
  }

  #oaep(algorithm: 'RSAES_OAEP_SHA_256' | 'RSAES_OAEP_SHA_1') {
    const p11 = this.#p11
    const sha256 = algorithm === 'RSAES_OAEP_SHA_256'
    return {
      mechanism: p11.CKM_RSA_PKCS_OAEP,
      parameter: {
        type: p11.CK_PARAMS_RSA_OAEP,
        hashAlg: sha256 ? p11.CKM_SHA256 : p11.CKM_SHA_1,
        mgf: sha256 ? p11.CKG_MGF1_SHA256 : p11.CKG_MGF1_SHA1,
        source: 1, // CKZ_DATA_SPECIFIED, no label
      },
    } as never
  }

  /** Like #administer, answering what `change` returns (not the status). */
  #administerRaw<T>(change: (session: Handle, view: KeyView) => Promise<T>): Promise<T> {
    return this.#serial(async () => {
      try {
        return await this.#use(async (session) => change(session, await this.#read(session, true)))
      } finally {
        this.#view = undefined
      }
    })
  }

  /** One lifecycle change at a time. */
  #serial<T>(run: () => Promise<T>): Promise<T> {
    const next = this.#lifecycle.then(run)
    this.#lifecycle = next.catch(() => undefined)
    return next
  }

  /** Waits for the calls under way, then releases the token (its sessions when no other key uses it). */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.allSettled([...this.#running])
    this.#token.release()
  }

  // --- internals ---

  #use<T>(fn: (session: Handle, attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.#closed) return Promise.reject(new ProxyError('ERR_KMS_UNAVAILABLE', 'PKCS#11 client closed'))
    const run = this.#token.withSession(fn, signal)
    this.#running.add(run)
    const done = () => this.#running.delete(run)
    run.then(done, done)
    return run
  }

  /**
   * A lifecycle change on a fresh view, one at a time; answers the status after it (read in a call of its own,
   * so a reconnect while reading it does not make the change twice).
   */
  #administer(change: (session: Handle, view: KeyView) => Promise<void>): Promise<CmkStatus> {
    const next = this.#lifecycle.then(async () => {
      try {
        await this.#use(async (session) => change(session, await this.#read(session, true)))
      } finally {
        this.#view = undefined
      }
      return this.describe()
    })
    this.#lifecycle = next.catch(() => undefined)
    return next
  }

  /** The key's objects, from the cache if recent enough (and read since the last reconnect). */
  async #read(session: Handle, fresh: boolean): Promise<KeyView> {
    const cached = this.#view
    if (!fresh && cached && cached.generation === this.#token.generation && Date.now() - cached.readAt < this.#ttl) {
      return cached
    }
    const p11 = this.#p11
    const generation = this.#token.generation
    const destroyed =
      this.#find(session, [
        { type: p11.CKA_CLASS, value: p11.CKO_DATA },
        { type: p11.CKA_LABEL, value: tombstoneLabel(this.#key) },
      ]).length > 0
    const found: [number, Handle][] = []
    const seen = new Set<number>()
    for (const handle of this.#find(session, [
      { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
      { type: p11.CKA_ID, value: keyObjectId(this.#key) },
    ])) {
      const [label, keyType, len, sensitive, extractable] = call('C_GetAttributeValue', () =>
        this.#api.C_GetAttributeValue(session, handle, [
          { type: p11.CKA_LABEL },
          { type: p11.CKA_KEY_TYPE },
          { type: p11.CKA_VALUE_LEN },
          { type: p11.CKA_SENSITIVE },
          { type: p11.CKA_EXTRACTABLE },
        ]),
      )
      const n = versionOfLabel(this.#key, label!.value.toString('utf8'))
      if (n === undefined || seen.has(n)) continue
      seen.add(n)
      // never wrap under a key that can leave the HSM or is not AES-256, whoever made it
      if (
        readUlong(keyType!.value) !== p11.CKK_AES ||
        // 0: not reported (SoftHSM2 2.6 for an unwrapped key: the import checked its size)
        (readUlong(len!.value) !== KEY_BYTES && readUlong(len!.value) !== 0) ||
        !readBool(sensitive!.value) ||
        readBool(extractable!.value)
      ) {
        throw new ProxyError(
          'ERR_KEY_STATE',
          `the object ${versionLabel(this.#key, n)} is not a sensitive, non-extractable AES-256 key`,
        )
      }
      found.push([n, handle])
    }
    found.sort((a, b) => a[0] - b[0])
    const view: KeyView = { generation, readAt: Date.now(), destroyed, versions: new Map(found) }
    this.#view = view
    return view
  }

  #find(session: Handle, template: { type: number; value: number | Buffer | string }[]): Handle[] {
    const api = this.#api
    call('C_FindObjectsInit', () => api.C_FindObjectsInit(session, template))
    const all: Handle[] = []
    try {
      for (;;) {
        const batch = call('C_FindObjects', () => api.C_FindObjects(session, 64))
        all.push(...batch)
        if (batch.length === 0) break
        if (all.length > MAX_VERSIONS) throw new ProxyError('ERR_KEY_STATE', `more than ${MAX_VERSIONS} objects`)
      }
    } catch (e) {
      try {
        api.C_FindObjectsFinal(session)
      } catch {
        // the first failure says what went wrong
      }
      throw e
    }
    call('C_FindObjectsFinal', () => api.C_FindObjectsFinal(session))
    return all
  }

  /** The primary version's number; refuses a destroyed or missing key. */
  #primaryOf(view: KeyView): number {
    if (view.destroyed) throw this.#destroyed()
    let last: number | undefined
    for (const n of view.versions.keys()) last = n
    if (last === undefined) throw this.#notFound()
    return last
  }

  #versionOf(view: KeyView, n: number): Handle {
    const primary = this.#primaryOf(view)
    const handle = view.versions.get(n)
    if (handle) return handle
    if (n < primary) throw new ProxyError('ERR_KEY_DESTROYED', `version v${n} of ${this.#key} is gone from the HSM`)
    throw new ProxyError('ERR_KEY_NOT_FOUND', `the key ${this.#key} has no version v${n}`)
  }

  #usable(session: Handle, handle: Handle): boolean {
    const [enc, dec] = call('C_GetAttributeValue', () =>
      this.#api.C_GetAttributeValue(session, handle, [
        { type: this.#p11.CKA_ENCRYPT },
        { type: this.#p11.CKA_DECRYPT },
      ]),
    )
    return readBool(enc!.value) && readBool(dec!.value)
  }

  #status(session: Handle, view: KeyView): CmkStatus {
    const base = { managedBy: 'proxy', keyRef: this.keyRef } as const
    if (view.destroyed) return { ...base, state: 'destroyed', versions: [] }
    const n = this.#primaryOf(view)
    return {
      ...base,
      state: this.#usable(session, view.versions.get(n)!) ? 'enabled' : 'disabled',
      primaryVersion: versionName(n),
      versions: [...view.versions.keys()].map(versionName),
    }
  }

  #generateVersion(session: Handle, n: number): void {
    const p11 = this.#p11
    call('C_GenerateKey', () =>
      this.#api.C_GenerateKey(session, { mechanism: p11.CKM_AES_KEY_GEN }, versionTemplate(p11, this.#key, n)),
    )
  }

  #gcm(iv: Buffer, aad: Buffer) {
    const p11 = this.#p11
    return {
      mechanism: p11.CKM_AES_GCM,
      parameter: { type: p11.CK_PARAMS_GCM, iv, aad, ivBits: IV_BYTES * 8, tagBits: TAG_BYTES * 8 },
    }
  }

  #destroyed(): ProxyError {
    return new ProxyError('ERR_KEY_DESTROYED', `the key ${this.#key} was destroyed in the HSM`)
  }

  #notFound(): ProxyError {
    return new ProxyError('ERR_KEY_NOT_FOUND', `no key ${this.#key} in the token`)
  }
}

/** The label of a key's import wrapping key (its CKA_ID adds the parameters' id). */
const importLabel = (key: string) => `envelope/${key}/import`

const readBool = (b: Buffer): boolean => b.length > 0 && b[0] !== 0

/** A CK_ULONG attribute (native byte order, 4 or 8 bytes: little-endian on the platforms Node runs on). */
const readUlong = (b: Buffer): number => (b.length >= 8 ? Number(b.readBigUInt64LE(0)) : b.readUInt32LE(0))
