/**
 * The registry of KMS providers: one file each (provider.ts says what a provider is). To add one (GCP KMS, Azure
 * Key Vault, KMIP…): write its CmkClient, a provider file beside these, and list it here.
 * @module
 */
import { awsKmsProvider } from './aws-kms.ts'
import { localProvider } from './local.ts'
import { pkcs11Provider } from './pkcs11.ts'
import type { KmsProvider } from './provider.ts'

export type { KmsPolicy, KmsProvider, KmsSettings, OpenedCmk, ProviderContext } from './provider.ts'

const PROVIDERS: ReadonlyMap<string, KmsProvider> = new Map(
  [localProvider, pkcs11Provider, awsKmsProvider].map((p) => [p.name, p]),
)
const BY_EDEK: ReadonlyMap<string, KmsProvider> = new Map([...PROVIDERS.values()].map((p) => [p.providerId, p]))

/** The provider entries name `name`; undefined when there is none. */
export function kmsProvider(name: unknown): KmsProvider | undefined {
  return typeof name === 'string' ? PROVIDERS.get(name) : undefined
}

/** The provider whose EDEKs have this provider id; undefined when none. */
export function providerOfEdek(providerId: string): KmsProvider | undefined {
  return BY_EDEK.get(providerId)
}

/** Every EDEK provider id the proxy reads. */
export const EDEK_PROVIDER_IDS: readonly string[] = [...BY_EDEK.keys()]

/** Provider names, for messages. */
export const PROVIDER_NAMES: readonly string[] = [...PROVIDERS.keys()]
