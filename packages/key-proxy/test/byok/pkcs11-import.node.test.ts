// Bring your own key material into an HSM (a real SoftHSM2 token) over PKCS#11: the wrapping key pair is made in
// the token (private half sensitive, not extractable, for C_UnwrapKey only), the customer's material is unwrapped
// by the HSM straight into version 1 (a sensitive, non-extractable AES-256 object: it never is in the proxy's
// memory), the wrapping key is destroyed once used. SoftHSM2 2.6 takes RSA-OAEP with SHA-1 only, and the
// parameters say so. Expiry, delete on demand, the same material again (its old EDEKs open), other material
// refused (nothing left in the token), bad inputs typed.
import { constants, createPublicKey, publicEncrypt } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import type { ImportParameters } from '../../src/byok/local-import.ts'
import { FileKeystore } from '../../src/keystore/file-keystore.ts'
import { LocalKms } from '../../src/kms/local-kms.ts'
import { TenantKms } from '../../src/kms/tenant-kms.ts'
import { RotationScheduler } from '../../src/rotation/scheduler.ts'
import { p11, rawSession, startSoftHsm } from '../pkcs11/softhsm.ts'
import { codeOf } from '../proxy-process.ts'

const TOKEN = 'byok'
const hsm = startSoftHsm([TOKEN])
const DAY = 86_400_000
let now = Date.parse('2027-01-01T00:00:00Z')
let keystore: FileKeystore
let local: LocalKms
let kms: TenantKms
const settings = { module: hsm.module, tokenLabel: TOKEN, pinFile: hsm.pinFile, versionCacheMs: 0 }

beforeAll(async () => {
  keystore = FileKeystore.open({ file: join(mkdtempSync(join(tmpdir(), 'envelope-byok-hsm-')), 'keys.json') })
  local = new LocalKms({ keystore, rootKey: crypto.getRandomValues(new Uint8Array(32)), now: () => new Date(now) })
  kms = new TenantKms({
    keystore,
    localKms: local,
    now: () => now,
    policy: { pkcs11Modules: [hsm.module], awsKmsEndpoints: [] },
  })
  await kms.configure(['acme'])
})
afterAll(async () => {
  await kms.close()
  local.close()
  await keystore.close()
  hsm.close()
})

function wrap(p: ImportParameters, material: Uint8Array): string {
  const key = createPublicKey({ key: Buffer.from(p.publicKey, 'base64url'), format: 'der', type: 'spki' })
  const oaepHash = p.wrappingAlgorithm === 'RSAES_OAEP_SHA_1' ? 'sha1' : 'sha256'
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash }, material).toString('base64url')
}

/** Objects in the token with this label prefix, seen by a session of the test's own. */
function objects(prefix: string) {
  const raw = rawSession(hsm, TOKEN)
  try {
    return raw
      .find([])
      .map((h) => {
        const [label] = raw.api.C_GetAttributeValue(raw.session, h, [{ type: p11.CKA_LABEL }])
        return { h, label: label!.value.toString('utf8') }
      })
      .filter((o) => o.label.startsWith(prefix))
      .map(({ h, label }) => {
        if (!label.endsWith('/v1')) return { label }
        const [sensitive, extractable, len] = raw.api.C_GetAttributeValue(raw.session, h, [
          { type: p11.CKA_SENSITIVE },
          { type: p11.CKA_EXTRACTABLE },
          { type: p11.CKA_VALUE_LEN },
        ])
        return {
          label,
          sensitive: sensitive!.value[0] === 1,
          extractable: extractable!.value[0] === 1,
          len: len!.value[0] || 'not reported',
        }
      })
  } finally {
    raw.close()
  }
}

const material = crypto.getRandomValues(new Uint8Array(32))
let edek: Awaited<ReturnType<TenantKms['generate']>>['edek']
let dek: Uint8Array

test('registered for imported material: pending_import, nothing in the token, every use refused', async () => {
  const d = await kms.register('acme', 'hsm', { provider: 'pkcs11', settings, origin: 'external', mode: 'direct' })
  expect(d).toMatchObject({ state: 'pending_import', origin: 'external', provider: 'pkcs11', versions: [] })
  expect(objects('envelope/acme/hsm')).toEqual([])
  await kms.setPrimary('acme', 'hsm')
  expect(await codeOf(kms.generate('acme', { doc: '1' }))).toBe('ERR_KEY_PENDING_IMPORT')
  expect(
    await codeOf(kms.register('acme', 'hsm2', { provider: 'pkcs11', settings, origin: 'external', create: true })),
  ).toBe('ERR_BAD_REQUEST')
})

test('import: the HSM unwraps the material into a sensitive, non-extractable AES-256 v1; the wrapping key is gone', async () => {
  const p = await kms.importParameters('acme', 'hsm')
  expect(p.wrappingAlgorithm).toBe('RSAES_OAEP_SHA_1') // SoftHSM2 2.6: no SHA-256 OAEP
  expect(objects('envelope/acme/hsm/import')).toEqual([{ label: 'envelope/acme/hsm/import' }])
  const d = await kms.importMaterial('acme', 'hsm', {
    importToken: p.importToken,
    encryptedKeyMaterial: wrap(p, material),
    validTo: new Date(now + 10 * DAY).toISOString(),
  })
  expect(d).toMatchObject({
    state: 'enabled',
    origin: 'external',
    versions: ['v1'],
    validTo: new Date(now + 10 * DAY).toISOString(),
  })
  expect(objects('envelope/acme/hsm')).toEqual([
    // SoftHSM2 2.6 reports no CKA_VALUE_LEN for an unwrapped key (the import checked the size)
    { label: 'envelope/acme/hsm/v1', sensitive: true, extractable: false, len: 'not reported' },
  ])
  ;({ dek, edek } = await kms.generate('acme', { doc: '1' }))
  expect((await kms.unwrap('acme', edek, { doc: '1' })).dek).toEqual(dek)
  const reused = kms.importMaterial('acme', 'hsm', {
    importToken: p.importToken,
    encryptedKeyMaterial: wrap(p, material),
  })
  expect(await codeOf(reused)).toBe('ERR_IMPORT_TOKEN_USED')
  expect(await codeOf(kms.lifecycle('acme', 'hsm', 'rotate'))).toBe('ERR_KEY_STATE')
})

test('bad inputs: other material, the wrong size, the wrong wrapping; nothing is left in the token', async () => {
  const p = await kms.importParameters('acme', 'hsm')
  const tryImport = (encryptedKeyMaterial: string) =>
    kms.importMaterial('acme', 'hsm', { importToken: p.importToken, encryptedKeyMaterial })
  expect(await codeOf(tryImport(wrap(p, crypto.getRandomValues(new Uint8Array(32)))))).toBe(
    'ERR_IMPORT_MATERIAL_MISMATCH',
  )
  expect(await codeOf(tryImport(wrap(p, crypto.getRandomValues(new Uint8Array(16)))))).toBe('ERR_IMPORT_MATERIAL_SIZE')
  const sha256 = publicEncrypt(
    {
      key: createPublicKey({ key: Buffer.from(p.publicKey, 'base64url'), format: 'der', type: 'spki' }),
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha256',
    },
    material,
  )
  expect(await codeOf(tryImport(sha256.toString('base64url')))).toBe('ERR_IMPORT_UNWRAP_FAILED')
  expect(await codeOf(tryImport(Buffer.alloc(384, 1).toString('base64url')))).toBe('ERR_IMPORT_UNWRAP_FAILED')
  expect(
    objects('envelope/acme/hsm')
      .map((o) => o.label)
      .sort(),
  ).toEqual(['envelope/acme/hsm/import', 'envelope/acme/hsm/v1'])
  // the same material: a new expiry, the object unchanged
  const d = await tryImport(wrap(p, material))
  expect(d.validTo).toBeUndefined()
  expect(objects('envelope/acme/hsm').map((o) => o.label)).toEqual(['envelope/acme/hsm/v1'])
})

test('expiry (swept by the rotation holder), delete on demand, the same material again: old EDEKs open', async () => {
  const p = await kms.importParameters('acme', 'hsm')
  await kms.importMaterial('acme', 'hsm', {
    importToken: p.importToken,
    encryptedKeyMaterial: wrap(p, material),
    validTo: new Date(now + DAY).toISOString(),
  })
  now += DAY
  const scheduler = new RotationScheduler({ keystore, kms, localKms: local, instanceId: 'x', now: () => now })
  expect((await scheduler.check()).expired).toEqual(['acme/hsm'])
  expect(objects('envelope/acme/hsm')).toEqual([])
  expect((await kms.describe('acme', 'hsm')).state).toBe('pending_import')
  expect(await codeOf(kms.unwrap('acme', edek, { doc: '1' }))).toBe('ERR_KEY_PENDING_IMPORT')

  const q = await kms.importParameters('acme', 'hsm')
  await kms.importMaterial('acme', 'hsm', { importToken: q.importToken, encryptedKeyMaterial: wrap(q, material) })
  expect((await kms.unwrap('acme', edek, { doc: '1' })).dek).toEqual(dek)
  expect((await kms.deleteImportedMaterial('acme', 'hsm')).state).toBe('pending_import')
  expect(objects('envelope/acme/hsm')).toEqual([])
  expect(await codeOf(kms.unwrap('acme', edek, { doc: '1' }))).toBe('ERR_KEY_PENDING_IMPORT')
})
