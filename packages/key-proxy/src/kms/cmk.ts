/**
 * One customer master key (CMK) in one KMS, as the proxy uses it: wrap and unwrap 32-byte keys (DEKs in direct
 * mode, lease keys in leased mode) under the CMK, bound to a wrap context, and report the key's state. The KMS
 * is the tenant's own (an HSM over PKCS#11, AWS KMS, …) or the embedded local KMS. The key material never
 * leaves the KMS: the proxy only ever sees the 32 bytes it asked to wrap or unwrap.
 *
 * Implementations: `pkcs11/` (an HSM), `aws-kms/` (AWS KMS through `@aws-sdk/client-kms`), and the local KMS.
 * They share one acceptance suite (packages/key-proxy/test/cmk/).
 * @module
 */

/**
 * Non-secret string pairs bound to one wrap, as AWS KMS's EncryptionContext: an unwrap must present exactly the
 * same pairs. The proxy always binds at least `tenant` and a `purpose` (`dek` or `lease`); for DEKs also `ctx`
 * (base64url SHA-256 of the canonical encryption context). Each backend binds all of it (AWS: the
 * EncryptionContext; PKCS#11: AES-GCM additional data of the canonical encoding; local: the JWE header).
 *
 * @example
 * ```ts
 * const wc: WrapContext = { tenant: 'acme', purpose: 'dek', ctx: await contextHash(context) }
 * ```
 */
export type WrapContext = Readonly<Record<string, string>>

/**
 * The states of a CMK, as AWS KMS names them (lower case). `unavailable`: the KMS cannot be reached or used.
 *
 * @example
 * ```ts
 * const state: CmkState = (await cmk.describe()).state
 * ```
 */
export type CmkState = 'enabled' | 'disabled' | 'pending_deletion' | 'pending_import' | 'destroyed' | 'unavailable'

/**
 * What a KMS tells about a CMK (never its material).
 *
 * @example
 * ```ts
 * const { state, managedBy, keyRef, versions } = await cmk.describe()
 * ```
 */
export interface CmkStatus {
  readonly state: CmkState
  /** The version new wraps use, where the KMS exposes versions. */
  readonly primaryVersion?: string
  /** Every version that still unwraps, oldest first, where the KMS exposes versions. */
  readonly versions?: readonly string[]
  /** `proxy`: the proxy runs the lifecycle (local KMS, an HSM token it was given); `customer`: the customer does, in its own KMS (AWS): the proxy only reports it. */
  readonly managedBy: 'proxy' | 'customer'
  /** e.g. the AWS key ARN, the PKCS#11 token and label prefix: for describe and disaster recovery, never secrets. */
  readonly keyRef: string
  readonly deletionDate?: string
}

/**
 * A wrapped key as the KMS returned it, and the CMK version that made it (`''` where versions are not exposed).
 *
 * @example
 * ```ts
 * const wrapped: CmkWrapped = await cmk.wrap(key, wc) // { ciphertext, version: 'v2' }
 * ```
 */
export interface CmkWrapped {
  readonly ciphertext: Uint8Array
  readonly version: string
}

/**
 * Options of one KMS call.
 *
 * @example
 * ```ts
 * await cmk.unwrap(wrapped, wc, { signal: AbortSignal.timeout(2000) })
 * ```
 */
export interface CmkCallOptions {
  /** Cancels the call (a timeout); the backend rejects with `ERR_KMS_TIMEOUT`. */
  readonly signal?: AbortSignal
}

/**
 * A CMK client. Every failure is a `ProxyError` with one of these codes:
 * `ERR_KEY_DISABLED`, `ERR_KEY_PENDING_DELETION`, `ERR_KEY_DESTROYED`, `ERR_KEY_NOT_FOUND`, `ERR_KEY_STATE`
 * (the CMK's state refuses the call); `ERR_EDEK_INVALID` (the ciphertext does not open: altered, another key,
 * another wrap context); `ERR_KMS_ACCESS_DENIED` (the KMS refused our credentials: the customer revoked us);
 * `ERR_KMS_THROTTLED` (after bounded retries); `ERR_KMS_TIMEOUT`; `ERR_KMS_UNAVAILABLE` (unreachable, or any
 * other KMS failure). Never a raw SDK or native error, and never a message holding a secret.
 *
 * @example
 * ```ts
 * const { key, ciphertext, version } = await cmk.generate({ tenant: 'acme', purpose: 'lease', lease: id })
 * const again = await cmk.unwrap({ ciphertext, version }, { tenant: 'acme', purpose: 'lease', lease: id })
 * ```
 */
export interface CmkClient {
  /** `local`, `pkcs11`, `aws-kms`, …: also the EDEK provider id's suffix. */
  readonly provider: string
  /** Wraps `key` (32 bytes) under the primary version. */
  wrap(key: Uint8Array, context: WrapContext, options?: CmkCallOptions): Promise<CmkWrapped>
  /** The key of a wrap made by {@link wrap} (any version that still unwraps). */
  unwrap(wrapped: CmkWrapped, context: WrapContext, options?: CmkCallOptions): Promise<Uint8Array>
  /**
   * A fresh random 32-byte key and its wrap, in one KMS call where the KMS has one (AWS GenerateDataKey);
   * otherwise random bytes and {@link wrap}.
   */
  generate(context: WrapContext, options?: CmkCallOptions): Promise<{ key: Uint8Array } & CmkWrapped>
  describe(options?: CmkCallOptions): Promise<CmkStatus>
  /** Releases sessions and connections. */
  close(): Promise<void>
}

/**
 * Lifecycle of a CMK whose KMS the proxy manages (`managedBy: 'proxy'`): the local KMS and PKCS#11. For a
 * customer-managed KMS (AWS) the customer does this in its own KMS, and the proxy's admin routes say so.
 *
 * @example
 * ```ts
 * await hsmKey.rotate() // a new key object in the HSM becomes the primary version
 * ```
 */
export interface CmkLifecycle {
  /** Makes version 1 (a new key object in the HSM). Refuses when the key exists (`ERR_KEY_EXISTS`). */
  create(): Promise<CmkStatus>
  /** Makes a new version and makes it primary; old versions still unwrap. */
  rotate(): Promise<CmkStatus>
  /** Refuses (`enabled: false`) or allows every wrap and unwrap. */
  setEnabled(enabled: boolean): Promise<CmkStatus>
  /** Crypto-shredding: destroys every version's material in the KMS (`C_DestroyObject` in an HSM). */
  destroy(): Promise<CmkStatus>
}

/**
 * Import of the customer's own key material into a CMK whose KMS the proxy manages (PKCS#11: src/byok/). The
 * material is wrapped by the customer under an RSA public key whose private half stays in the KMS, and unwrapped
 * there (C_UnwrapKey): it never exists in the proxy's memory.
 *
 * @example
 * ```ts
 * const { publicKey, algorithm } = await hsmKey.importWrappingKey('RSA_3072', id)
 * const { commitment } = await hsmKey.importMaterial(id, wrapped, algorithm)
 * ```
 */
export interface CmkImport {
  /**
   * Makes the wrapping key pair `id` in the KMS (any earlier one of this key is destroyed), and says which
   * RSA-OAEP hash the KMS can unwrap with (`RSAES_OAEP_SHA_256`, else `RSAES_OAEP_SHA_1`).
   */
  importWrappingKey(
    spec: 'RSA_3072' | 'RSA_4096',
    id: string,
  ): Promise<{ publicKey: Uint8Array; algorithm: 'RSAES_OAEP_SHA_256' | 'RSAES_OAEP_SHA_1' }>
  /**
   * Unwraps `wrapped` with the wrapping key `id` into version 1 (sensitive, not extractable), then destroys the
   * wrapping key. With `expected` (a key that had material): other material is refused and nothing is kept.
   * Version 1 already there and the same material: kept as it is (a new expiry).
   * @throws `ERR_IMPORT_UNWRAP_FAILED`, `ERR_IMPORT_MATERIAL_SIZE`, `ERR_IMPORT_MATERIAL_MISMATCH`, `ERR_IMPORT_TOKEN_INVALID` (no such wrapping key)
   */
  importMaterial(
    id: string,
    wrapped: Uint8Array,
    algorithm: 'RSAES_OAEP_SHA_256' | 'RSAES_OAEP_SHA_1',
    expected?: string,
  ): Promise<{ commitment: string }>
  /** Destroys every version's object (no tombstone: the same material may be imported again). */
  deleteMaterial(): Promise<void>
}
