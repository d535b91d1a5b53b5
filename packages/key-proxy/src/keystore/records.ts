/**
 * What the keystore holds: records of four kinds, each a JSON value under a string key. These shapes are the
 * schema every keystore stores (the file keystore in one JSON file, a PostgreSQL keystore in a table); a later
 * version may add optional fields, never change the meaning of one.
 *
 * | kind        | key                          | record                                                    |
 * |-------------|------------------------------|-----------------------------------------------------------|
 * | `tenant`    | `<tenant>`                   | {@link TenantRecord}: the tenant's KMS entries, its primary |
 * | `local-key` | `<tenant>/<key>`             | {@link LocalKeyRecord}: a CMK of the embedded local KMS    |
 * | `lease`     | `<tenant>/<entry>/<lease>`   | {@link LeaseRecord}: a lease key, wrapped by the entry's CMK |
 * | `lock`      | `<name>` (`rotation`)        | {@link LockRecord}: who runs a proxy-wide job, until when  |
 * | `policy`    | `<tenant>`                   | {@link TenantPolicy}: the tenant's key policy (src/policy/) |
 *
 * No record ever holds a secret in the clear: local key material is sealed under the root key, lease keys are
 * wrapped by the tenant's own CMK, and KMS settings name where secrets are (a PIN file, an environment variable),
 * never the secrets themselves.
 * @module
 */
import type { TenantPolicy } from '../policy/policy.ts'

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
  /**
   * Rotation on a schedule (src/rotation/): a new version every `periodDays`, counted from `since` (the last
   * rotation, or when the schedule was set). Absent: off.
   */
  readonly rotation?: { readonly periodDays: number; readonly since: string }
  /** The latest rotations, oldest first (at most {@link MAX_ROTATION_HISTORY}). */
  readonly rotations?: readonly RotationEvent[]
  /**
   * EDEKs (and leases) of CMK versions below this one are refused (`ERR_KEY_VERSION_RETIRED`), as Vault's
   * `min_decryption_version`: set once their data was rekeyed to the primary version. Absent: every version.
   */
  readonly minDecryptionVersion?: number
  /**
   * A key of the customer's own material in a KMS the proxy manages (PKCS#11: src/byok/): whether the KMS holds
   * it now, its commitment (computed by the KMS: only the same material can return), when it was imported and
   * when it expires, the outstanding import parameters (the wrapping key itself is in the KMS), used tokens.
   */
  readonly byok?: {
    readonly state: 'pending_import' | 'imported'
    readonly commitment?: string
    readonly importedAt?: string
    readonly validTo?: string
    readonly importParams?: {
      readonly id: string
      readonly spec: 'RSA_3072' | 'RSA_4096'
      readonly algorithm: 'RSAES_OAEP_SHA_256' | 'RSAES_OAEP_SHA_1'
      readonly tokenHash: string
      readonly publicKey: string
      readonly expires: string
    }
    readonly usedTokens?: readonly string[]
  }
}

/**
 * One rotation of a key: when, the new primary version, and who did it (`schedule` or the caller's id).
 *
 * @example
 * ```ts
 * const last: RotationEvent = { time: '2027-12-01T00:00:00.000Z', version: '2', by: 'schedule' }
 * ```
 */
export interface RotationEvent {
  readonly time: string
  readonly version: string
  readonly by: string
}

/**
 * Rotations kept in a key's history (older ones are dropped).
 *
 * @example
 * ```ts
 * const shown = (entry.rotations ?? []).slice(-MAX_ROTATION_HISTORY)
 * ```
 */
export const MAX_ROTATION_HISTORY = 50

/**
 * A proxy-wide job's holder (kind `lock`): the instance that runs it (the rotation schedule) until `expires`,
 * renewed while it lives; a dead holder's record expires and another instance takes it.
 *
 * @example
 * ```ts
 * const lock = await keystore.get('lock', 'rotation') // { holder: 'host-1:4242:…', expires: '…', term: 3 }
 * ```
 */
export interface LockRecord {
  readonly holder: string
  readonly expires: string
  /** Counts changes of holder. */
  readonly term: number
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
  /** `pending_import`: a key for the customer's own material (`origin: 'external'`) that holds none now. */
  readonly state: 'enabled' | 'disabled' | 'pending_deletion' | 'destroyed' | 'pending_import'
  /** The version new wraps use. */
  readonly primary: number
  readonly deletionDate?: string
  /** Version number (as a string) → its material, `base64url(iv ‖ AES-256-GCM(root key, iv, key))` with the AAD
   * `envelope-local-kms/1 <tenant>/<key>#<version>`; `sealed` is gone once destroyed. */
  readonly versions: { readonly [version: string]: { readonly created: string; readonly sealed?: string } }
  /** `external`: the material is the customer's own, imported (src/byok/); absent: made by the proxy. */
  readonly origin?: 'external'
  /**
   * Imported material: its commitment (`base64url HMAC-SHA-256(material, "envelope byok commitment/1 <tenant>/<key>")`,
   * kept after the material is deleted so that only the same material can return), when it was imported, and its
   * expiry, after which it is deleted.
   */
  readonly imported?: { readonly commitment: string; readonly importedAt?: string; readonly validTo?: string }
  /** The outstanding import parameters: the RSA wrapping key (its private half sealed under the root key). */
  readonly importParams?: ImportParamsRecord
  /** SHA-256 (base64url) of the latest import tokens used, so a reused one is told apart (at most 16). */
  readonly usedTokens?: readonly string[]
}

/**
 * Import parameters given out for a key (`GET …/import-parameters`): one set outstanding at a time.
 *
 * @example
 * ```ts
 * const p = (await keystore.get('local-key', 'acme/byok'))?.importParams // { spec: 'RSA_3072', expires, … }
 * ```
 */
export interface ImportParamsRecord {
  readonly id: string
  readonly spec: 'RSA_3072' | 'RSA_4096'
  /** base64url SHA-256 of the import token. */
  readonly tokenHash: string
  /** base64url DER SPKI of the wrapping public key. */
  readonly publicKey: string
  /** base64url(iv ‖ AES-256-GCM(root key, iv, PKCS#8 DER)) with the AAD `envelope-local-kms/1 import <tenant>/<key> <id>`. */
  readonly privateKey: string
  readonly expires: string
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
  readonly lock: LockRecord
  readonly policy: TenantPolicy
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
export const KEYSTORE_KINDS: readonly KeystoreKind[] = ['tenant', 'local-key', 'lease', 'lock', 'policy']
