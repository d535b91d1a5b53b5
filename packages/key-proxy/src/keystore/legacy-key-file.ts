/**
 * The key file of earlier versions (`format: "envelope-local-kms/1"`, docs/key-proxy-api.md before issue 11):
 * `{ tenants: { <tenant>: { <key>: { state, primary, deletionDate?, versions } } } }`, the local KMS's keys only.
 * Read into records: each key a `local-key` record (the same shape), and each tenant a `tenant` record with one
 * local entry per key, in direct mode (the EDEKs it made are today's local EDEKs), `default` primary. The file is
 * written in the keystore's format at its next change.
 * @module
 */
import { ProxyError } from '../errors.ts'
import { isName } from '../names.ts'
import type { KeystoreKind, KmsEntryRecord, LocalKeyRecord, TenantRecord } from './records.ts'

export const LEGACY_FORMAT = 'envelope-local-kms/1'

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The records of a legacy key file, by kind. @throws ERR_KEYSTORE_UNAVAILABLE when it is not one */
export function fromLegacyKeyFile(json: unknown, path: string): Map<KeystoreKind, Map<string, unknown>> {
  const f = json as { format?: unknown; tenants?: unknown }
  if (!isObject(f) || f.format !== LEGACY_FORMAT || !isObject(f.tenants)) {
    throw new ProxyError('ERR_KEYSTORE_UNAVAILABLE', `the key file ${path} is not an ${LEGACY_FORMAT} key file`)
  }
  const localKeys = new Map<string, unknown>()
  const tenants = new Map<string, unknown>()
  for (const [tenant, keys] of Object.entries(f.tenants)) {
    if (!isName(tenant) || !isObject(keys)) continue
    const entries: KmsEntryRecord[] = []
    for (const [name, key] of Object.entries(keys)) {
      if (!isName(name) || !isObject(key)) continue
      localKeys.set(`${tenant}/${name}`, key as unknown as LocalKeyRecord)
      const created = Object.values((key as unknown as LocalKeyRecord).versions ?? {})[0]?.created ?? ''
      entries.push({ id: name, provider: 'local', mode: 'direct', settings: {}, created })
    }
    if (!entries.length) continue
    const primary = entries.some((e) => e.id === 'default') ? 'default' : entries[0]!.id
    tenants.set(tenant, { primary, entries } satisfies TenantRecord)
  }
  return new Map<KeystoreKind, Map<string, unknown>>([
    ['tenant', tenants],
    ['local-key', localKeys],
    ['lease', new Map()],
  ])
}
