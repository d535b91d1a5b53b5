/**
 * What the keystore holds: records of three kinds, each a JSON value under a string key. These shapes are the
 * schema every keystore stores (the file keystore in one JSON file, a PostgreSQL keystore in a table); a later
 * version may add optional fields, never change the meaning of one.
 *
 * | kind        | key                          | record                                                    |
 * |-------------|------------------------------|-----------------------------------------------------------|
 * | `tenant`    | `<tenant>`                   | {@link TenantRecord}: the tenant's KMS entries, its primary |
 * | `local-key` | `<tenant>/<key>`             | {@link LocalKeyRecord}: a CMK of the embedded local KMS    |
 * | `lease`     | `<tenant>/<entry>/<lease>`   | {@link LeaseRecord}: a lease key, wrapped by the entry's CMK |
 *
 * No record ever holds a secret in the clear: local key material is sealed under the root key, lease keys are
 * wrapped by the tenant's own CMK, and KMS settings name where secrets are (a PIN file, an environment variable),
 * never the secrets themselves.
 * @module
 */

/**
 * A JSON value, as a record holds it.
 *
 * @example
 * ```ts
 * const settings: { readonly [k: string]: JsonValue } = { module: '/usr/lib/softhsm/libsofthsm2.so', maxSessions: 4 }
 * ```
 */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [k: string]: JsonValue }

/**
 * How a tenant's new DEKs are wrapped: by the KMS itself (a call per DEK), or under a lease key (docs/kms-backends.md).
 *
 * @example
 * ```ts
 * const mode: KmsMode = tenant.entries.find((e) => e.id === tenant.primary)?.mode ?? 'direct'
 * ```
 */
export type KmsMode = 'direct' | 'leased'

/**
 * One KMS a tenant's keys live in: the local KMS, an HSM over PKCS#11, AWS KMS, …
 *
 * @example
 * ```ts
 * const entry: KmsEntryRecord = {
 *   id: 'hsm', provider: 'pkcs11', mode: 'leased', created: new Date().toISOString(),
 *   settings: { module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'acme', pinFile: '/etc/envelope/acme.pin' },
 * }
 * ```
 */
export interface KmsEntryRecord {
  /** The entry's name (a name, docs/key-proxy-api.md): EDEKs it makes have the key id `<tenant>/<id>`. */
  readonly id: string
  /** A registered provider (src/kms/providers/): `local`, `pkcs11`, `aws-kms`. */
  readonly provider: string
  readonly mode: KmsMode
  /** The provider's settings: non-secret only (a PIN file's path, never the PIN). */
  readonly settings: { readonly [k: string]: JsonValue }
  /** ISO time of registration. */
  readonly created: string
  /** Retired: refused for every use (its EDEKs included) until reactivated. The primary is never retired. */
  readonly retired?: boolean
  /**
   * A deletion the proxy schedules for a KMS without one of its own (PKCS#11): the CMK is disabled in the KMS
   * meanwhile and destroyed at the first use past `date`. The local KMS keeps its own (in its key record).
   */
  readonly deletion?: { readonly date: string }
  /**
   * Counts lifecycle actions taken through the proxy (disable, rotate, destroy, …). Another instance that sees it
   * change drops the entry's cached leases at once, instead of within `leaseTtl`.
   */
  readonly epoch?: number
  /** Leased mode: the lease new DEKs use (a {@link LeaseRecord} under `<tenant>/<id>/<lease.id>`). */
  readonly lease?: { readonly id: string; readonly created: string }
}

/**
 * A tenant: its KMS entries and the one new DEKs are made with (kind `tenant`, key `<tenant>`).
 *
 * @example
 * ```ts
 * const acme = await keystore.get('tenant', 'acme')
 * const primary = acme?.entries.find((e) => e.id === acme.primary)
 * ```
 */
export interface TenantRecord {
  /** The id of the entry new DEKs are made with. */
  readonly primary: string
  /** In the order they were registered; ids are unique. */
  readonly entries: readonly KmsEntryRecord[]
}

/**
 * A CMK of the embedded local KMS (the key file of earlier versions held these as `tenants.<t>.<key>`).
 *
 * @example
 * ```ts
 * const key = await keystore.get('local-key', 'acme/default')
 * if (key?.state === 'enabled') console.log('primary version', key.primary)
 * ```
 */
export interface LocalKeyRecord {
  readonly state: 'enabled' | 'disabled' | 'pending_deletion' | 'destroyed'
  /** The version new wraps use. */
  readonly primary: number
  readonly deletionDate?: string
  /** Version number (as a string) → its material, `base64url(iv ‖ AES-256-GCM(root key, iv, key))` with the AAD
   * `envelope-local-kms/1 <tenant>/<key>#<version>`; `sealed` is gone once destroyed. */
  readonly versions: { readonly [version: string]: { readonly created: string; readonly sealed?: string } }
}

/**
 * A lease key: random AES-256, wrapped by the entry's CMK with the wrap context `{tenant, purpose: 'lease', lease}`.
 *
 * @example
 * ```ts
 * const leases = await keystore.list('lease', 'acme/hsm/')
 * ```
 */
export interface LeaseRecord {
  readonly tenant: string
  readonly entry: string
  readonly provider: string
  /** The CMK version that wrapped it (`v2`, `1`, or `''` where the KMS shows none). */
  readonly cmkVersion: string
  /** base64url of the KMS's ciphertext of the lease key. */
  readonly wrapped: string
  readonly created: string
}

/**
 * Each kind's record type.
 *
 * @example
 * ```ts
 * type Tenant = KeystoreRecords['tenant']
 * ```
 */
export interface KeystoreRecords {
  readonly tenant: TenantRecord
  readonly 'local-key': LocalKeyRecord
  readonly lease: LeaseRecord
}

/**
 * The kinds of record a keystore holds.
 *
 * @example
 * ```ts
 * const kind: KeystoreKind = 'lease'
 * ```
 */
export type KeystoreKind = keyof KeystoreRecords

/**
 * Every kind, in the order a keystore lists them (a database keystore makes one table of them).
 *
 * @example
 * ```ts
 * for (const kind of KEYSTORE_KINDS) console.log(kind, (await keystore.list(kind)).length)
 * ```
 */
export const KEYSTORE_KINDS: readonly KeystoreKind[] = ['tenant', 'local-key', 'lease']
