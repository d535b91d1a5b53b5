/**
 * The KMS backend interface: what the proxy's routes need from whatever holds the tenants' master keys, per
 * tenant. The implementation is {@link TenantKms} (tenant-kms.ts): each tenant's KMS entries (the local KMS, an
 * HSM over PKCS#11, AWS KMS, …), direct and leased modes, and their administration.
 * @module
 */
import type { Edek, EncryptionContext } from '@envelope/core'
import type { ImportParameters, ImportRequest } from '../byok/local-import.ts'
import type { JsonValue, KmsMode } from '../keystore/records.ts'

/**
 * A key's lifecycle state: `enabled` → `disabled` ⇄ `enabled`; `disabled` → `pending_deletion` → `destroyed`
 * (crypto-shredded). A key for the customer's own material starts `pending_import` and returns to it when its
 * material expires or is deleted (docs/kms-backends.md, "Bring your own key material").
 *
 * @example
 * ```ts
 * if ((await kms.describe('acme', DEFAULT_KEY)).state === 'pending_deletion') warnShredding()
 * ```
 */
export type KeyState = 'enabled' | 'disabled' | 'pending_deletion' | 'destroyed' | 'pending_import'

/**
 * What the local KMS tells about one of its keys (never its material).
 *
 * @example
 * ```ts
 * const info: KeyInfo = await localKms.describe('acme', DEFAULT_KEY)
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
  /** `external`: the customer's own material, imported. */
  readonly origin?: 'external'
  /** Imported material: when it expires (and is deleted). */
  readonly validTo?: string
  readonly importedAt?: string
}

/**
 * What `describe` tells about a tenant's KMS entry ("key"): its configuration and its CMK's state as the KMS
 * reports it. Versions are the KMS's names: numbers for the local KMS (1, 2, …), `v1`, `v2`… for PKCS#11, none
 * for AWS KMS (its ciphertexts name their key material themselves).
 *
 * @example
 * ```ts
 * const d: KeyDescription = await kms.describe('acme', 'hsm')
 * // { tenant: 'acme', keyName: 'hsm', provider: 'pkcs11', mode: 'leased', primary: true, managedBy: 'proxy',
 * //   keyRef: 'pkcs11:token=acme;object=envelope%2Facme%2Fhsm', state: 'enabled', primaryVersion: 'v2', … }
 * ```
 */
export interface KeyDescription {
  readonly tenant: string
  readonly keyName: string
  readonly provider: string
  readonly mode: KmsMode
  /** New DEKs are made with this entry. */
  readonly primary: boolean
  readonly retired: boolean
  /** `customer`: the CMK's lifecycle is the customer's, in its own KMS; the proxy only reports it. */
  readonly managedBy: 'proxy' | 'customer'
  readonly keyRef: string
  readonly state: KeyState | 'pending_import' | 'unavailable'
  readonly primaryVersion?: number | string
  readonly versions: readonly (number | string)[]
  readonly deletionDate?: string
  /** Leased mode: the lease new DEKs use now. */
  readonly lease?: { readonly id: string; readonly created: string }
  /** `external`: the customer's own key material, imported (`…/import`); absent: made by the KMS. */
  readonly origin?: 'external'
  /** Imported material: when it was imported, and when it expires (then it is deleted: `pending_import`). */
  readonly importedAt?: string
  readonly validTo?: string
  /** Rotation on a schedule: every `periodDays`, the next one due at `nextRotation`. Absent: off. */
  readonly rotation?: { readonly periodDays: number; readonly nextRotation: string }
  /** EDEKs of versions below it are refused (`ERR_KEY_VERSION_RETIRED`). */
  readonly minDecryptionVersion?: number
  /** The latest rotations, oldest first: when, the new version, by `schedule` or by whom. */
  readonly rotations?: readonly { readonly time: string; readonly version: string; readonly by: string }[]
}

/**
 * A tenant's KMS configuration (settings are non-secret).
 *
 * @example
 * ```ts
 * const { primary, entries } = await kms.describeTenant('acme')
 * ```
 */
export interface TenantDescription {
  readonly tenant: string
  readonly primary: string
  readonly entries: readonly {
    readonly id: string
    readonly provider: string
    readonly mode: KmsMode
    readonly settings: { readonly [k: string]: JsonValue }
    readonly primary: boolean
    readonly retired: boolean
    readonly created: string
  }[]
}

/**
 * Registering a KMS entry (admin route, configuration).
 *
 * @example
 * ```ts
 * const request: RegisterRequest = { provider: 'aws-kms', settings: { keyId: keyArn }, mode: 'leased', primary: true }
 * await kms.register('acme', 'aws', request)
 * ```
 */
export interface RegisterRequest {
  readonly provider: string
  readonly settings?: unknown
  readonly mode?: KmsMode
  /** Make it the tenant's primary entry (a tenant's first entry always is). */
  readonly primary?: boolean
  /** For a proxy-managed KMS: make the CMK when it does not exist yet (PKCS#11: version 1 in the token). */
  readonly create?: boolean
  /** `external` (PKCS#11): a key for the customer's own material, imported later; none is made. */
  readonly origin?: 'external'
}

/**
 * Lifecycle actions of the admin routes (`create` aside).
 *
 * @example
 * ```ts
 * await kms.lifecycle('acme', 'hsm', 'schedule-deletion', 7)
 * ```
 */
export type LifecycleAction = 'rotate' | 'disable' | 'enable' | 'schedule-deletion' | 'cancel-deletion' | 'destroy'

/**
 * What the routes need from the KMS layer, per tenant. {@link TenantKms} implements it; every method refuses with
 * a {@link ProxyError} code (docs/key-proxy-api.md).
 *
 * @example
 * ```ts
 * const app = createApp({ kms: new TenantKms({ keystore, localKms }) satisfies KmsBackend, auth, audit })
 * ```
 */
export interface KmsBackend {
  /** The EDEK provider ids it reads (a message may carry other providers' EDEKs too). */
  readonly providerIds: readonly string[]
  /** A new 32-byte DEK and its EDEK with the tenant's primary entry, bound to the context. */
  generate(tenant: string, context: EncryptionContext): Promise<{ dek: Uint8Array; edek: Edek }>
  /** The DEK of an EDEK of one of the tenant's entries; refuses another tenant's EDEK, another context. */
  unwrap(tenant: string, edek: Edek, context: EncryptionContext): Promise<{ dek: Uint8Array; keyVersion: string }>
  /** Rewraps an EDEK for `toTenant`'s primary entry (default: the same tenant's), never returning the DEK. */
  rewrap(tenant: string, edek: Edek, context: EncryptionContext, toTenant?: string): Promise<Edek>
  /** Resolves when the backend can serve (its keystore answers). */
  ready(): Promise<void>
  // --- administration ---
  describe(tenant: string, key: string): Promise<KeyDescription>
  /** `origin: 'external'`: a key with no material (`pending_import`) for the customer's own. */
  createKey(tenant: string, key: string, options?: { readonly origin?: 'external' }): Promise<KeyDescription>
  /** `by`: who asked (the caller's id), for the rotation history. */
  lifecycle(
    tenant: string,
    key: string,
    action: LifecycleAction,
    waitingDays?: number,
    by?: string,
  ): Promise<KeyDescription>
  describeTenant(tenant: string): Promise<TenantDescription>
  register(tenant: string, key: string, request: RegisterRequest): Promise<KeyDescription>
  /** A test wrap and unwrap through the entry's KMS. */
  test(tenant: string, key: string): Promise<{ ok: true; provider: string; keyRef: string }>
  setPrimary(tenant: string, key: string): Promise<KeyDescription>
  setRetired(tenant: string, key: string, retired: boolean): Promise<KeyDescription>
  // --- bring your own key material, rotation on a schedule (src/byok/, src/rotation/) ---
  /** A wrapping public key (RSA-OAEP-SHA-256) and an import token valid 24 h, for a key of imported material. */
  importParameters(tenant: string, key: string, wrappingKeySpec?: unknown): Promise<ImportParameters>
  /** Imports the customer's wrapped material with the token; optional `validTo` (then it is deleted). */
  importMaterial(tenant: string, key: string, request: ImportRequest): Promise<KeyDescription>
  /** Deletes the imported material now (`pending_import` until the same material is imported again). */
  deleteImportedMaterial(tenant: string, key: string): Promise<KeyDescription>
  /** Refuses EDEKs of CMK versions below `version` (1: every version again). */
  setMinDecryptionVersion(tenant: string, key: string, version: unknown): Promise<KeyDescription>
  /** Sets (`periodDays`) or removes (`null`) the key's rotation schedule. */
  setRotationSchedule(tenant: string, key: string, periodDays: unknown): Promise<KeyDescription>
}
