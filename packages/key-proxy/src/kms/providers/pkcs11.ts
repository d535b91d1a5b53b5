/**
 * `pkcs11`: a CMK in an HSM over PKCS#11 (src/kms/pkcs11/). Settings: `module` (the vendor's library; through
 * the admin API only one listed in the proxy's `pkcs11Modules`), `tokenLabel` or `slot`, `pinFile` or `pinEnv`
 * (where the PIN is: never the PIN), `keyLabel` (the CMK's name in the token, default `<tenant>/<entry>`:
 * objects `envelope/<keyLabel>/v<n>`), `maxSessions`, `maxWaiting`, `versionCacheMs`. The proxy runs the CMK's
 * lifecycle in the token (`managedBy: 'proxy'`); the HSM's admin can act there too.
 * @module
 */
import { ConfigError, ProxyError } from '../../errors.ts'
import type { KmsProvider, KmsSettings } from './provider.ts'
import { checkFields, compact } from './settings.ts'

const FIELDS = {
  module: 'string',
  tokenLabel: 'string',
  slot: 'integer',
  pinFile: 'string',
  pinEnv: 'string',
  keyLabel: 'string',
  maxSessions: 'integer',
  maxWaiting: 'integer',
  versionCacheMs: 'integer',
} as const

const KEY_LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/

export const pkcs11Provider: KmsProvider = {
  name: 'pkcs11',
  providerId: 'envelope-pkcs11',
  managedBy: 'proxy',
  defaultMode: 'leased',
  checkSettings(settings, { tenant, entry }, policy) {
    const s = checkFields(settings, FIELDS, 'settings', ' (the PIN comes from pinFile or pinEnv)') as {
      -readonly [K in keyof typeof FIELDS]?: (typeof FIELDS)[K] extends 'integer' ? number : string
    }
    const bad = (message: string) => new ProxyError('ERR_BAD_REQUEST', `settings: ${message}`)
    if (!s.module) throw bad('module (the PKCS#11 library) is required')
    if (policy && !policy.pkcs11Modules.includes(s.module)) {
      throw bad('module is not one of the PKCS#11 libraries the proxy allows (its pkcs11Modules setting)')
    }
    if ((s.tokenLabel === undefined) === (s.slot === undefined)) throw bad('give exactly one of tokenLabel and slot')
    if ((s.pinFile === undefined) === (s.pinEnv === undefined)) throw bad('give exactly one of pinFile and pinEnv')
    if (s.pinEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(s.pinEnv)) {
      throw bad('pinEnv must be an environment variable name')
    }
    const keyLabel = s.keyLabel ?? `${tenant}/${entry}`
    if (keyLabel.length > 100 || !KEY_LABEL.test(keyLabel)) {
      throw bad('keyLabel is segments of letters, digits, . _ - split by /, at most 100 characters')
    }
    if (s.maxSessions !== undefined && (s.maxSessions < 1 || s.maxSessions > 1024))
      throw bad('maxSessions is 1 to 1024')
    return compact({ ...s, keyLabel }) as KmsSettings
  },
  async open(settings) {
    const s = settings as Record<string, string & number>
    const { Pkcs11Cmk } = await import('../pkcs11/index.ts')
    try {
      const client = await Pkcs11Cmk.open({
        module: s.module,
        tokenLabel: s.tokenLabel,
        slot: s.slot,
        pinFile: s.pinFile,
        pinEnv: s.pinEnv,
        key: s.keyLabel,
        maxSessions: s.maxSessions,
        maxWaiting: s.maxWaiting,
        versionCacheMs: s.versionCacheMs,
      })
      return { client, keyRef: client.keyRef, lifecycle: client, import: client }
    } catch (err) {
      if (err instanceof ConfigError) throw new ProxyError('ERR_KMS_UNAVAILABLE', err.message, { cause: err })
      throw err
    }
  },
}
