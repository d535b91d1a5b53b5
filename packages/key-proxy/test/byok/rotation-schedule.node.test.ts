// Rotation on a schedule, on the keystore interface (a real file keystore) and a controlled clock, with two
// instances on the keystore: exactly one holds the `rotation` lock and rotates what is due; a dead holder's lock
// expires and the other takes over; two instances that both try rotate a key once. History and schedule in
// describe; off by default; bounds; a key that cannot rotate is reported and tried again; imported material
// past its validTo is deleted by the holder even when no request touches it.
import { constants, createPublicKey, publicEncrypt } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, expect, test } from 'vitest'
import type { AuditLine } from '../../src/audit.ts'
import { FileKeystore } from '../../src/keystore/file-keystore.ts'
import { LocalKms } from '../../src/kms/local-kms.ts'
import { TenantKms } from '../../src/kms/tenant-kms.ts'
import { RotationScheduler } from '../../src/rotation/scheduler.ts'
import { codeOf } from '../proxy-process.ts'

const DAY = 86_400_000
let now: number
let keystore: FileKeystore
const audit: AuditLine[] = []
const rootKey = crypto.getRandomValues(new Uint8Array(32))

/** One instance: its own local KMS, tenant KMS and scheduler over the shared keystore. */
function instance(id: string, maxKeyVersions = 100) {
  const localKms = new LocalKms({ keystore, rootKey, now: () => new Date(now), maxKeyVersions })
  const kms = new TenantKms({ keystore, localKms, now: () => now })
  const scheduler = new RotationScheduler({
    keystore,
    kms,
    localKms,
    instanceId: id,
    checkMs: 60_000,
    now: () => now,
    audit: (l) => void audit.push(l),
  })
  return { localKms, kms, scheduler }
}
let a: ReturnType<typeof instance>
let b: ReturnType<typeof instance>

beforeEach(async () => {
  now = Date.parse('2027-01-01T00:00:00Z')
  audit.length = 0
  keystore = FileKeystore.open({ file: join(mkdtempSync(join(tmpdir(), 'envelope-rotation-')), 'keys.json') })
  a = instance('a')
  b = instance('b')
  await a.kms.configure(['acme', 'globex'])
})
afterEach(async () => {
  for (const i of [a, b]) {
    await i.kms.close()
    i.localKms.close()
  }
  await keystore.close()
})

test('off by default; a schedule is shown in describe, with its next rotation; bounds', async () => {
  expect((await a.kms.describe('acme', 'default')).rotation).toBeUndefined()
  const d = await a.kms.setRotationSchedule('acme', 'default', 365)
  expect(d.rotation).toEqual({ periodDays: 365, nextRotation: new Date(now + 365 * DAY).toISOString() })
  for (const bad of [0, 3651, 1.5, '365', undefined, -1]) {
    expect(await codeOf(a.kms.setRotationSchedule('acme', 'default', bad))).toBe('ERR_BAD_REQUEST')
  }
  expect((await a.kms.setRotationSchedule('acme', 'default', null)).rotation).toBeUndefined()
  expect(await codeOf(a.kms.setRotationSchedule('acme', 'nope', 30))).toBe('ERR_KEY_NOT_FOUND')
})

test('one instance leads; it rotates what is due once, with the history in describe', async () => {
  await a.kms.setRotationSchedule('acme', 'default', 30)
  await a.kms.setRotationSchedule('globex', 'default', 90)
  // nothing due: no lock is taken, nothing written
  expect(await a.scheduler.check()).toMatchObject({ leader: false, rotated: [] })
  expect(await keystore.get('lock', 'rotation')).toBeUndefined()
  expect(await a.scheduler.lead()).toBe(true)
  expect(await b.scheduler.lead()).toBe(false)

  now += 30 * DAY - 60_000
  expect(await a.scheduler.lead()).toBe(true) // the holder renews its lock
  now += 60_000
  expect(await b.scheduler.check()).toMatchObject({ leader: false, rotated: [] })
  expect(await a.scheduler.check()).toMatchObject({
    leader: true,
    rotated: [{ tenant: 'acme', key: 'default', version: '2' }],
  })
  expect(await a.scheduler.check()).toMatchObject({ rotated: [] }) // not due again for 30 days
  const d = await b.kms.describe('acme', 'default')
  expect(d).toMatchObject({ primaryVersion: 2, versions: [1, 2] })
  expect(d.rotations).toEqual([{ time: new Date(now).toISOString(), version: '2', by: 'schedule' }])
  expect(d.rotation?.nextRotation).toBe(new Date(now + 30 * DAY).toISOString())
  expect((await a.kms.describe('globex', 'default')).primaryVersion).toBe(1)
  expect(audit).toContainEqual(
    expect.objectContaining({ action: 'admin.rotate', caller: 'schedule', keyVersion: '2', outcome: 'ok' }),
  )

  // a rotation by hand goes into the history too, and restarts the count
  now += DAY
  await a.kms.lifecycle('acme', 'default', 'rotate', undefined, 'admin:ops')
  const after = await a.kms.describe('acme', 'default')
  expect(after.rotations?.at(-1)).toEqual({ time: new Date(now).toISOString(), version: '3', by: 'admin:ops' })
  expect(after.rotation?.nextRotation).toBe(new Date(now + 30 * DAY).toISOString())
})

test('a dead leader: its lock expires and the other instance takes over; a stopped one gives it up at once', async () => {
  await a.kms.setRotationSchedule('acme', 'default', 1)
  expect(await a.scheduler.lead()).toBe(true)
  // a stops checking (killed): b cannot lead until the lock (3 × checkMs) expires
  now += 2 * 60_000
  expect(await b.scheduler.lead()).toBe(false)
  now += DAY
  const taken = await b.scheduler.check()
  expect(taken).toMatchObject({ leader: true, rotated: [{ tenant: 'acme', key: 'default', version: '2' }] })
  expect((await keystore.get('lock', 'rotation'))?.term).toBe(2)
  expect(await a.scheduler.lead()).toBe(false) // a is back: b holds it now
  await b.scheduler.stop()
  expect(await a.scheduler.lead()).toBe(true)
})

test('two instances that both rotate a due key (both think they lead) rotate it once', async () => {
  await a.kms.setRotationSchedule('acme', 'default', 7)
  now += 7 * DAY
  const results = await Promise.all([a.kms.rotateIfDue('acme', 'default'), b.kms.rotateIfDue('acme', 'default')])
  expect(results.filter((r) => r !== undefined)).toEqual(['2'])
  expect((await a.kms.describe('acme', 'default')).versions).toEqual([1, 2])
})

test('a key that cannot rotate is reported and audited, and tried again at the next check; a disabled key waits', async () => {
  a = instance('a', 1) // at most one version: the rotation is refused
  await a.kms.setRotationSchedule('acme', 'default', 1)
  now += DAY
  const r = await a.scheduler.check()
  expect(r.failed).toEqual([{ tenant: 'acme', key: 'default', code: 'ERR_KEY_VERSION_LIMIT' }])
  expect(audit).toContainEqual(expect.objectContaining({ action: 'admin.rotate', outcome: 'ERR_KEY_VERSION_LIMIT' }))
  expect((await a.kms.describe('acme', 'default')).rotation?.nextRotation).toBe(new Date(now).toISOString())
  expect((await a.scheduler.check()).failed).toHaveLength(1) // again

  await b.kms.lifecycle('acme', 'default', 'disable')
  expect(await b.scheduler.check()).toMatchObject({ leader: false }) // a holds the lock
  expect(await a.scheduler.check()).toMatchObject({ leader: true, rotated: [], failed: [] })
})

test('the leader deletes imported material past its validTo, untouched by any request', async () => {
  await a.kms.createKey('acme', 'byok', { origin: 'external' })
  const p = await a.kms.importParameters('acme', 'byok')
  const key = createPublicKey({ key: Buffer.from(p.publicKey, 'base64url'), format: 'der', type: 'spki' })
  const wrapped = publicEncrypt(
    { key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
    crypto.getRandomValues(new Uint8Array(32)),
  )
  await a.kms.importMaterial('acme', 'byok', {
    importToken: p.importToken,
    encryptedKeyMaterial: wrapped.toString('base64url'),
    validTo: new Date(now + DAY).toISOString(),
  })
  expect(await a.scheduler.check()).toMatchObject({ leader: false, expired: [] })
  now += DAY
  expect((await a.scheduler.check()).expired).toEqual(['acme/byok'])
  const record = await keystore.get('local-key', 'acme/byok')
  expect(record?.state).toBe('pending_import')
  expect(record?.versions['1']?.sealed).toBeUndefined()
  expect(audit).toContainEqual(expect.objectContaining({ action: 'admin.material-expired', keyId: 'acme/byok' }))
})
