// Retiring old CMK versions (as Vault's min_decryption_version), on a real file keystore, in direct and leased
// modes: EDEKs of versions below the minimum are refused with ERR_KEY_VERSION_RETIRED (a leased one by the CMK
// version of its lease, as its authenticated header says), what is at or above it opens; bounds; 1 lifts it.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { FileKeystore } from '../../src/keystore/file-keystore.ts'
import { LocalKms } from '../../src/kms/local-kms.ts'
import { TenantKms } from '../../src/kms/tenant-kms.ts'
import { codeOf } from '../proxy-process.ts'

let keystore: FileKeystore
let local: LocalKms
let kms: TenantKms

beforeAll(async () => {
  keystore = FileKeystore.open({ file: join(mkdtempSync(join(tmpdir(), 'envelope-minver-')), 'keys.json') })
  local = new LocalKms({ keystore, rootKey: crypto.getRandomValues(new Uint8Array(32)) })
  kms = new TenantKms({ keystore, localKms: local })
  await kms.configure(['acme'])
  await kms.register('acme', 'leased', { provider: 'local', mode: 'leased' })
})
afterAll(async () => {
  await kms.close()
  local.close()
  await keystore.close()
})

for (const key of ['default', 'leased']) {
  test(`${key}: versions below the minimum refused, the others open; 1 lifts it`, async () => {
    await kms.setPrimary('acme', key)
    const old = await kms.generate('acme', { doc: 'old' })
    await kms.lifecycle('acme', key, 'rotate')
    const fresh = await kms.generate('acme', { doc: 'new' })
    const moved = await kms.rewrap('acme', old.edek, { doc: 'old' })
    const d = await kms.setMinDecryptionVersion('acme', key, 2)
    expect(d.minDecryptionVersion).toBe(2)
    expect(await codeOf(kms.unwrap('acme', old.edek, { doc: 'old' }))).toBe('ERR_KEY_VERSION_RETIRED')
    expect((await kms.unwrap('acme', moved, { doc: 'old' })).dek).toEqual(old.dek)
    expect((await kms.unwrap('acme', fresh.edek, { doc: 'new' })).dek).toEqual(fresh.dek)
    for (const bad of [0, 3, 1.5, '2', undefined]) {
      expect(await codeOf(kms.setMinDecryptionVersion('acme', key, bad))).toBe('ERR_BAD_REQUEST')
    }
    expect((await kms.setMinDecryptionVersion('acme', key, 1)).minDecryptionVersion).toBeUndefined()
    expect((await kms.unwrap('acme', old.edek, { doc: 'old' })).dek).toEqual(old.dek)
  })
}
