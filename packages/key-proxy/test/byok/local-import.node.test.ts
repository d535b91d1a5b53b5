// Bring your own key material into the local KMS, on a real file keystore and a controlled clock: a key with
// no material refuses every use with its own code; the customer's material, wrapped under the proxy's RSA-OAEP
// public key, makes it usable; at its validTo the material is deleted (state back to pending_import, nothing of
// it left in the keystore's file) and only the same material can come back, after which its old EDEKs open again.
// Every bad input has its own code and changes nothing.
import { constants, createPublicKey, generateKeyPairSync, publicEncrypt } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, test } from 'vitest'
import type { ImportParameters } from '../../src/byok/local-import.ts'
import { FileKeystore } from '../../src/keystore/file-keystore.ts'
import { LocalKms } from '../../src/kms/local-kms.ts'
import { TenantKms } from '../../src/kms/tenant-kms.ts'
import { codeOf } from '../proxy-process.ts'

const DAY = 86_400_000
let now: number
let dir: string
let keystore: FileKeystore
let local: LocalKms
let kms: TenantKms
const rootKey = crypto.getRandomValues(new Uint8Array(32))

function open() {
  keystore = FileKeystore.open({ file: join(dir, 'keys.json') })
  local = new LocalKms({ keystore, rootKey, now: () => new Date(now) })
  kms = new TenantKms({ keystore, localKms: local, now: () => now })
}

beforeEach(async () => {
  now = Date.parse('2027-01-01T00:00:00Z')
  dir = mkdtempSync(join(tmpdir(), 'envelope-byok-'))
  open()
  await kms.configure(['acme', 'globex'])
  await kms.createKey('acme', 'byok', { origin: 'external' })
})
afterEach(async () => {
  await kms.close()
  local.close()
  await keystore.close()
})

/** The customer's side: RSA-OAEP-SHA-256 of the material under the parameters' public key. */
function wrap(p: ImportParameters, material: Uint8Array): string {
  const key = createPublicKey({ key: Buffer.from(p.publicKey, 'base64url'), format: 'der', type: 'spki' })
  return publicEncrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, material).toString(
    'base64url',
  )
}

async function importMaterial(material: Uint8Array, validTo?: string) {
  const p = await kms.importParameters('acme', 'byok')
  return kms.importMaterial('acme', 'byok', {
    importToken: p.importToken,
    encryptedKeyMaterial: wrap(p, material),
    ...(validTo ? { validTo } : {}),
  })
}

async function usePrimary(key: string) {
  await kms.setPrimary('acme', key)
  return kms.generate('acme', { doc: '1' })
}

const fileText = () =>
  readdirSync(dir)
    .filter((f) => f.startsWith('keys.json'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .join('\n')

test('a key made for imported material holds none until the import: every use is refused with ERR_KEY_PENDING_IMPORT', async () => {
  const d = await kms.describe('acme', 'byok')
  expect(d).toMatchObject({ state: 'pending_import', origin: 'external', versions: [] })
  expect(await codeOf(usePrimary('byok'))).toBe('ERR_KEY_PENDING_IMPORT')
  expect(await codeOf(kms.lifecycle('acme', 'byok', 'enable'))).toBe('ERR_KEY_STATE')
})

test('imported material wraps and unwraps; describe says when it was imported and when it expires', async () => {
  const material = crypto.getRandomValues(new Uint8Array(32))
  const validTo = new Date(now + 30 * DAY).toISOString()
  const d = await importMaterial(material, validTo)
  expect(d).toMatchObject({ state: 'enabled', origin: 'external', validTo, versions: [1], primaryVersion: 1 })
  const { dek, edek } = await usePrimary('byok')
  expect((await kms.unwrap('acme', edek, { doc: '1' })).dek).toEqual(dek)
  expect(fileText()).not.toContain(Buffer.from(material).toString('base64url'))
})

test('at validTo the material is deleted: pending_import, its EDEKs refused, no trace of it in the keystore files', async () => {
  const material = crypto.getRandomValues(new Uint8Array(32))
  await importMaterial(material, new Date(now + 2 * DAY).toISOString())
  const { dek, edek } = await usePrimary('byok')
  const sealedBefore = JSON.parse(readFileSync(join(dir, 'keys.json'), 'utf8')).records['local-key']['acme/byok']
    .versions['1'].sealed
  expect(sealedBefore).toBeTypeOf('string')
  now += 2 * DAY
  expect(await codeOf(kms.unwrap('acme', edek, { doc: '1' }))).toBe('ERR_KEY_PENDING_IMPORT')
  expect(await codeOf(kms.generate('acme', { doc: '2' }))).toBe('ERR_KEY_PENDING_IMPORT')
  expect(await kms.describe('acme', 'byok')).toMatchObject({ state: 'pending_import', versions: [] })
  expect(fileText()).not.toContain(sealedBefore)

  // the same material again: its old EDEKs open again
  const again = await importMaterial(material)
  expect(again.state).toBe('enabled')
  expect((await kms.unwrap('acme', edek, { doc: '1' })).dek).toEqual(dek)
})

test('the expiry is seen by describe alone, and after a restart on the same keystore', async () => {
  await importMaterial(crypto.getRandomValues(new Uint8Array(32)), new Date(now + DAY).toISOString())
  now += DAY + 1
  await kms.close()
  local.close()
  await keystore.close()
  open()
  expect((await kms.describe('acme', 'byok')).state).toBe('pending_import')
})

test('other material for a key that had material is refused (ERR_IMPORT_MATERIAL_MISMATCH), the key unchanged', async () => {
  const material = crypto.getRandomValues(new Uint8Array(32))
  await importMaterial(material)
  const { edek } = await usePrimary('byok')
  expect(await codeOf(importMaterial(crypto.getRandomValues(new Uint8Array(32))))).toBe('ERR_IMPORT_MATERIAL_MISMATCH')
  await kms.deleteImportedMaterial('acme', 'byok')
  expect(await codeOf(importMaterial(crypto.getRandomValues(new Uint8Array(32))))).toBe('ERR_IMPORT_MATERIAL_MISMATCH')
  expect((await kms.describe('acme', 'byok')).state).toBe('pending_import')
  await importMaterial(material)
  expect((await kms.unwrap('acme', edek, { doc: '1' })).dek).toHaveLength(32)
})

test('re-importing the same material sets a new validTo (as AWS KMS)', async () => {
  const material = crypto.getRandomValues(new Uint8Array(32))
  await importMaterial(material, new Date(now + DAY).toISOString())
  const later = new Date(now + 90 * DAY).toISOString()
  expect((await importMaterial(material, later)).validTo).toBe(later)
  now += 2 * DAY
  expect((await kms.describe('acme', 'byok')).state).toBe('enabled')
})

test('delete-imported-material: refused at once, leases too; the same material brings it back', async () => {
  await kms.register('acme', 'byok-leased', { provider: 'local', create: false }).catch(() => {})
  const material = crypto.getRandomValues(new Uint8Array(32))
  await importMaterial(material)
  const { edek } = await usePrimary('byok')
  const d = await kms.deleteImportedMaterial('acme', 'byok')
  expect(d).toMatchObject({ state: 'pending_import' })
  expect(await codeOf(kms.unwrap('acme', edek, { doc: '1' }))).toBe('ERR_KEY_PENDING_IMPORT')
  await importMaterial(material)
  expect((await kms.unwrap('acme', edek, { doc: '1' })).dek).toHaveLength(32)
})

describe('bad inputs: each its own code, nothing imported', () => {
  const material = () => crypto.getRandomValues(new Uint8Array(32))
  afterEach(async () => {
    const d = await kms.describe('acme', 'byok')
    expect(d.state === 'pending_import' || d.state === 'enabled').toBe(true)
  })

  test('an expired import token (24 h)', async () => {
    const p = await kms.importParameters('acme', 'byok')
    expect(Date.parse(p.parametersValidTo) - now).toBe(24 * 3_600_000)
    now += 24 * 3_600_000
    const r = kms.importMaterial('acme', 'byok', {
      importToken: p.importToken,
      encryptedKeyMaterial: wrap(p, material()),
    })
    expect(await codeOf(r)).toBe('ERR_IMPORT_TOKEN_EXPIRED')
    expect((await kms.describe('acme', 'byok')).state).toBe('pending_import')
  })

  test('a reused token', async () => {
    const p = await kms.importParameters('acme', 'byok')
    const m = material()
    await kms.importMaterial('acme', 'byok', { importToken: p.importToken, encryptedKeyMaterial: wrap(p, m) })
    await kms.deleteImportedMaterial('acme', 'byok')
    const r = kms.importMaterial('acme', 'byok', { importToken: p.importToken, encryptedKeyMaterial: wrap(p, m) })
    expect(await codeOf(r)).toBe('ERR_IMPORT_TOKEN_USED')
  })

  test('a token superseded by newer parameters, and junk', async () => {
    const p = await kms.importParameters('acme', 'byok')
    await kms.importParameters('acme', 'byok')
    const w = wrap(p, material())
    expect(
      await codeOf(kms.importMaterial('acme', 'byok', { importToken: p.importToken, encryptedKeyMaterial: w })),
    ).toBe('ERR_IMPORT_TOKEN_INVALID')
    for (const importToken of [
      undefined,
      42,
      '',
      'x'.repeat(10_000),
      `${p.importToken}x`,
      p.importToken.slice(0, -1),
    ]) {
      expect(await codeOf(kms.importMaterial('acme', 'byok', { importToken, encryptedKeyMaterial: w }))).toBe(
        'ERR_IMPORT_TOKEN_INVALID',
      )
    }
  })

  test("a token for another key, or another tenant's key", async () => {
    await kms.createKey('acme', 'byok2', { origin: 'external' })
    await kms.createKey('globex', 'byok', { origin: 'external' })
    const p = await kms.importParameters('acme', 'byok2')
    const q = await kms.importParameters('globex', 'byok')
    for (const t of [p, q]) {
      const r = kms.importMaterial('acme', 'byok', {
        importToken: t.importToken,
        encryptedKeyMaterial: wrap(t, material()),
      })
      expect(await codeOf(r)).toBe('ERR_IMPORT_TOKEN_WRONG_KEY')
    }
    // material wrapped for another key does not unwrap for this one, with this one's own token
    const mine = await kms.importParameters('acme', 'byok')
    expect(mine.publicKey).not.toBe(p.publicKey)
    const r = kms.importMaterial('acme', 'byok', {
      importToken: mine.importToken,
      encryptedKeyMaterial: wrap(p, material()),
    })
    expect(await codeOf(r)).toBe('ERR_IMPORT_UNWRAP_FAILED')
  })

  test('the wrong key size (16, 31, 33, 64 bytes)', async () => {
    const p = await kms.importParameters('acme', 'byok') // a refusal leaves the parameters usable
    for (const n of [16, 31, 33, 64]) {
      const r = kms.importMaterial('acme', 'byok', {
        importToken: p.importToken,
        encryptedKeyMaterial: wrap(p, crypto.getRandomValues(new Uint8Array(n))),
      })
      expect(await codeOf(r)).toBe('ERR_IMPORT_MATERIAL_SIZE')
    }
  })

  test('the wrong wrapping: another public key, RSA-OAEP with SHA-1, PKCS#1 v1.5, the material in the clear, tampered', async () => {
    const p = await kms.importParameters('acme', 'byok')
    const m = material()
    const pub = createPublicKey({ key: Buffer.from(p.publicKey, 'base64url'), format: 'der', type: 'spki' })
    const other = generateKeyPairSync('rsa', { modulusLength: 3072 }).publicKey
    const good = Buffer.from(wrap(p, m), 'base64url')
    good[10]! ^= 1
    const wrongs = [
      publicEncrypt({ key: other, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, m),
      publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, m),
      publicEncrypt({ key: pub, padding: constants.RSA_PKCS1_PADDING }, m),
      Buffer.from(m),
      good,
    ]
    for (const w of wrongs) {
      const r = kms.importMaterial('acme', 'byok', {
        importToken: p.importToken,
        encryptedKeyMaterial: w.toString('base64url'),
      })
      expect(await codeOf(r)).toBe('ERR_IMPORT_UNWRAP_FAILED')
    }
    for (const encryptedKeyMaterial of [undefined, 7, 'not base64!', 'A'.repeat(5000)]) {
      const r = kms.importMaterial('acme', 'byok', { importToken: p.importToken, encryptedKeyMaterial })
      expect(await codeOf(r)).toBe('ERR_BAD_REQUEST')
    }
    // the parameters still work after every refusal
    await kms.importMaterial('acme', 'byok', { importToken: p.importToken, encryptedKeyMaterial: wrap(p, m) })
  })

  test('a validTo in the past, past 365 days, not a date', async () => {
    const p = await kms.importParameters('acme', 'byok')
    for (const validTo of [new Date(now - 1).toISOString(), new Date(now + 366 * DAY).toISOString(), 'soon', 12]) {
      const r = kms.importMaterial('acme', 'byok', {
        importToken: p.importToken,
        encryptedKeyMaterial: wrap(p, material()),
        validTo,
      })
      expect(await codeOf(r)).toBe('ERR_BAD_REQUEST')
    }
  })

  test('the wrong key state: a key of proxy-made material, one scheduled for deletion, an unknown wrapping spec', async () => {
    expect(await codeOf(kms.importParameters('acme', 'default'))).toBe('ERR_KEY_STATE')
    expect(await codeOf(kms.deleteImportedMaterial('acme', 'default'))).toBe('ERR_KEY_STATE')
    expect(await codeOf(kms.importParameters('acme', 'byok', 'RSA_2048'))).toBe('ERR_BAD_REQUEST')
    expect(await codeOf(kms.importParameters('acme', 'nope'))).toBe('ERR_KEY_NOT_FOUND')
    const p = await kms.importParameters('acme', 'byok')
    await kms.lifecycle('acme', 'byok', 'schedule-deletion', 30)
    const r = kms.importMaterial('acme', 'byok', {
      importToken: p.importToken,
      encryptedKeyMaterial: wrap(p, material()),
    })
    expect(await codeOf(r)).toBe('ERR_KEY_STATE')
    await kms.lifecycle('acme', 'byok', 'cancel-deletion')
    expect((await kms.describe('acme', 'byok')).state).toBe('pending_import')
  })
})

test('a key of imported material does not rotate (by hand or on a schedule)', async () => {
  await importMaterial(crypto.getRandomValues(new Uint8Array(32)))
  expect(await codeOf(kms.lifecycle('acme', 'byok', 'rotate'))).toBe('ERR_KEY_STATE')
  expect(await codeOf(kms.setRotationSchedule('acme', 'byok', 365))).toBe('ERR_KEY_STATE')
})
