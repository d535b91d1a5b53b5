/**
 * The KMS backend interface: what the proxy needs from whatever holds the tenants' master keys. The embedded
 * default is the file-backed {@link LocalKms}; an HSM (PKCS#11) or cloud KMS plugs in by implementing this.
 * @module
 */
import type { Edek, EncryptionContext } from '@envelope/core'

/**
 * A tenant key's lifecycle state: `enabled` → `disabled` ⇄ `enabled`; `disabled` → `pending_deletion` → `destroyed` (crypto-shredded).
 *
 * @example
 * ```ts
 * if ((await kms.describe('acme', DEFAULT_KEY)).state === 'pending_deletion') warnShredding()
 * ```
 */
export type KeyState = 'enabled' | 'disabled' | 'pending_deletion' | 'destroyed'

/**
 * What `describe` tells about a tenant's key (never its material).
 *
 * @example
 * ```ts
 * const info: KeyInfo = await kms.describe('acme', DEFAULT_KEY)
 * // { tenant: 'acme', keyName: 'default', state: 'enabled', primaryVersion: 2, versions: [1, 2] }
 * ```
 */
export interface KeyInfo {
  readonly tenant: string
  readonly keyName: string
  readonly state: KeyState
  readonly primaryVersion: number
  readonly versions: readonly number[]
  readonly deletionDate?: string
}

/**
 * Where tenants' master keys live: the proxy's only dependency on a KMS. {@link LocalKms} implements it; an HSM
 * or cloud KMS backend implements the same methods, and refuses with {@link ProxyError} codes
 * (`ERR_KEY_NOT_FOUND`, `ERR_KEY_DISABLED`, `ERR_UNWRAP_FAILED`, …).
 *
 * @example
 * ```ts
 * const app = createApp({ kms: myBackend satisfies KmsBackend, auth, audit })
 * ```
 */
export interface KmsBackend {
  /** Provider id recorded in EDEKs. */
  readonly providerId: string
  /** A new 32-byte DEK and its EDEK under the tenant key's primary version, bound to the context. */
  generate(tenant: string, keyName: string, context: EncryptionContext): Promise<{ dek: Uint8Array; edek: Edek }>
  /** The DEK of an EDEK; refuses another tenant's EDEK, a context other than the one bound, a disabled key. */
  unwrap(tenant: string, edek: Edek, context: EncryptionContext): Promise<{ dek: Uint8Array; keyVersion: string }>
  /** Rewraps an EDEK under `toTenant`'s primary version (default: the same tenant), never returning the DEK. */
  rewrap(tenant: string, edek: Edek, context: EncryptionContext, toTenant?: string): Promise<Edek>
  describe(tenant: string, keyName: string): Promise<KeyInfo>
  // --- administration ---
  createKey(tenant: string, keyName: string): Promise<KeyInfo>
  rotate(tenant: string, keyName: string): Promise<KeyInfo>
  setEnabled(tenant: string, keyName: string, enabled: boolean): Promise<KeyInfo>
  scheduleDeletion(tenant: string, keyName: string, waitingDays: number): Promise<KeyInfo>
  cancelDeletion(tenant: string, keyName: string): Promise<KeyInfo>
  /** Crypto-shredding: erases every version's material; every EDEK of the key is unrecoverable after. */
  destroy(tenant: string, keyName: string): Promise<KeyInfo>
}
