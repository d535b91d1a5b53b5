/**
 * `local`: the embedded local KMS (local-kms.ts). The entry's CMK is the local key `<tenant>/<entry>`, sealed
 * under the proxy's root key in the keystore. No settings. Direct by default: its EDEKs are the local EDEKs of
 * every version (`envelope-local-kms`), and a local KMS call costs no more than a lease would.
 * @module
 */
import { LOCAL_PROVIDER_ID } from '../local-kms.ts'
import type { KmsProvider } from './provider.ts'
import { checkFields } from './settings.ts'

export const localProvider: KmsProvider = {
  name: 'local',
  providerId: LOCAL_PROVIDER_ID,
  managedBy: 'proxy',
  defaultMode: 'direct',
  checkSettings(settings) {
    checkFields(settings, {}, 'settings', ' (the local KMS has none)')
    return {}
  },
  async open(_settings, { tenant, entry, localKms }) {
    const client = localKms.cmk(tenant, entry)
    return { client, keyRef: client.keyRef, lifecycle: client }
  },
}
