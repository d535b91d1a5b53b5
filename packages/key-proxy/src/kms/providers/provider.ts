/**
 * A KMS provider: one kind of KMS a tenant's KMS entry may name (`local`, `pkcs11`, `aws-kms`; GCP KMS, Azure Key
 * Vault or KMIP would each be one more file in this folder, added to the registry in index.ts). A provider checks
 * an entry's settings (non-secret only) and opens a CMK client (src/kms/cmk.ts) for it; everything else — direct
 * and leased modes, EDEK formats, leases, the admin routes — is the same for every provider (tenant-kms.ts).
 * @module
 */
import type { JsonValue } from '../../keystore/records.ts'
import type { CmkClient, CmkImport, CmkLifecycle } from '../cmk.ts'
import type { LocalKms } from '../local-kms.ts'

/**
 * Settings as stored in the keystore: JSON, never a secret (a PIN file's path, an environment variable's name).
 *
 * @example
 * ```ts
 * const settings: KmsSettings = { module: '/usr/lib/softhsm/libsofthsm2.so', tokenLabel: 'acme', pinFile: '/run/secrets/pin' }
 * ```
 */
export type KmsSettings = { readonly [k: string]: JsonValue }

/**
 * What the proxy allows an entry registered through the admin API to name (the configuration file is trusted).
 *
 * @example
 * ```ts
 * const policy: KmsPolicy = { pkcs11Modules: ['/usr/lib/softhsm/libsofthsm2.so'], awsKmsEndpoints: [] }
 * ```
 */
export interface KmsPolicy {
  /** PKCS#11 libraries an entry may load (a library is native code run in the proxy). */
  readonly pkcs11Modules: readonly string[]
  /** KMS and STS endpoint URLs an AWS entry may name besides AWS's own (requests carry signed credentials). */
  readonly awsKmsEndpoints: readonly string[]
}

/**
 * What a provider needs to open an entry.
 *
 * @example
 * ```ts
 * const opened = await provider.open(settings, { tenant: 'acme', entry: 'hsm', localKms, env: process.env })
 * ```
 */
export interface ProviderContext {
  readonly tenant: string
  readonly entry: string
  /** The embedded local KMS (for `local` entries). */
  readonly localKms: LocalKms
  /** Where settings that name environment variables (`pinEnv`, `secretAccessKeyEnv`) look: the proxy's. */
  readonly env: Readonly<Record<string, string | undefined>>
}

/**
 * An entry's CMK, opened.
 *
 * @example
 * ```ts
 * const { client, keyRef, lifecycle } = await provider.open(settings, context)
 * ```
 */
export interface OpenedCmk {
  readonly client: CmkClient
  /** Names the CMK in EDEK headers and describe: an AWS key ARN, a PKCS#11 URI, `local:<tenant>/<key>`. */
  readonly keyRef: string
  /** The proxy manages the CMK (local, PKCS#11): its lifecycle; absent for a customer-managed KMS (AWS). */
  readonly lifecycle?: CmkLifecycle
  /** Imports the customer's own key material (PKCS#11), where the KMS can. */
  readonly import?: CmkImport
}

/**
 * One kind of KMS: checks an entry's settings and opens its CMK client (a file per provider in this folder).
 *
 * @example
 * ```ts
 * const gcpProvider: KmsProvider = {
 *   name: 'gcp-kms', providerId: 'envelope-gcp-kms', managedBy: 'customer', defaultMode: 'leased',
 *   checkSettings: (s) => checkGcpSettings(s),
 *   open: async (s) => ({ client: new GcpKmsCmk(s), keyRef: String(s.keyName) }),
 * }
 * ```
 */
export interface KmsProvider {
  /** The name entries use (`pkcs11`). */
  readonly name: string
  /** The EDEK provider id of what its entries wrap (`envelope-pkcs11`). */
  readonly providerId: string
  /** `customer`: the customer runs the CMK's lifecycle in its own KMS; the proxy's lifecycle routes refuse. */
  readonly managedBy: 'proxy' | 'customer'
  /** The mode an entry gets when it names none. */
  readonly defaultMode: 'direct' | 'leased'
  /**
   * The settings, checked and normalised. `policy` is undefined for entries of the configuration file (trusted).
   * @throws ProxyError ERR_BAD_REQUEST naming the setting (never echoing a value that could be a secret)
   */
  checkSettings(settings: unknown, where: { tenant: string; entry: string }, policy?: KmsPolicy): KmsSettings
  /** Opens the entry's CMK client (the CMK need not exist yet where `lifecycle.create` makes it). */
  open(settings: KmsSettings, context: ProviderContext): Promise<OpenedCmk>
}
