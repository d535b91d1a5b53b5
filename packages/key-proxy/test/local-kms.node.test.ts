// The local KMS in process, on a real key file in a temp folder: what it writes, and when. Every rename of a
// temp file over keys.json is counted (node:fs is the real one, observed).
import * as fs from 'node:fs'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, expect, test, vi } from 'vitest'
import { FileKeystore } from '../src/keystore/file-keystore.ts'
import { LocalKms } from '../src/kms/local-kms.ts'
import { TenantKms } from '../src/kms/tenant-kms.ts'
import { codeOf } from './proxy-process.ts'

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>()
  return { ...real, renameSync: vi.fn(real.renameSync) }
})
const keyFileWrites = () =>
  vi.mocked(fs.renameSync).mock.calls.filter(([, to]) => String(to).endsWith('/keys.json')).length

const open: { kms: TenantKms; local: LocalKms }[] = []
afterEach(async () => {
  for (const { kms, local } of open.splice(0)) {
    await kms.close()
    local.close()
    await local.keystore.close()
  }
})

function localKms(now: () => Date) {
  const dir = mkdtempSync(join(tmpdir(), 'envelope-local-kms-'))
  const local = new LocalKms({
    keystore: FileKeystore.open({ file: join(dir, 'keys.json') }),
    rootKey: crypto.getRandomValues(new Uint8Array(32)),
    minDeletionDays: 0,
    now,
  })
  const kms = new TenantKms({ keystore: local.keystore, localKms: local, now: () => now().getTime() })
  open.push({ kms, local })
  return { kms, local }
}

test('a key past its deletion date is destroyed once at first use, however many batch items touch it', async () => {
  let clock = new Date('2026-01-01T00:00:00Z')
  const { kms, local } = localKms(() => clock)
  await kms.configure(['acme'])
  const { edek } = await kms.generate('acme', { doc: '1' })
  await kms.lifecycle('acme', 'default', 'schedule-deletion', 1)
  clock = new Date('2026-01-03T00:00:00Z') // the waiting period is over
  const before = keyFileWrites()
  const codes = await Promise.all(Array.from({ length: 1000 }, () => codeOf(kms.unwrap('acme', edek, { doc: '1' }))))
  expect(new Set(codes)).toEqual(new Set(['ERR_KEY_DESTROYED']))
  expect(keyFileWrites() - before).toBe(1)
  expect(await kms.describe('acme', 'default')).toMatchObject({ state: 'destroyed' })
  // Destroying a destroyed key again changes nothing, and writes nothing.
  await local.destroy('acme', 'default')
  expect(keyFileWrites() - before).toBe(1)
})

test('instances starting at once on one keystore each configure the same tenant without ERR_KEY_EXISTS', async () => {
  const keystore = FileKeystore.open({ file: join(mkdtempSync(join(tmpdir(), 'envelope-local-kms-')), 'keys.json') })
  const rootKey = crypto.getRandomValues(new Uint8Array(32))
  const locals = [new LocalKms({ keystore, rootKey }), new LocalKms({ keystore, rootKey })]
  const instances = locals.map((localKms) => new TenantKms({ keystore, localKms }))
  try {
    const gamma = { id: 'gamma', kms: [{ id: 'k', provider: 'local', mode: 'leased' as const }], primary: 'k' }
    await Promise.all(instances.map((kms) => kms.configure(['acme', 'beta', gamma])))
    for (const kms of instances) {
      expect((await kms.describe('acme', 'default')).primaryVersion).toBe(1)
      expect((await kms.describe('gamma', 'k')).primaryVersion).toBe(1)
      const { dek, edek } = await kms.generate('beta', { doc: '1' })
      expect((await instances[0]!.unwrap('beta', edek, { doc: '1' })).dek).toEqual(dek)
    }
  } finally {
    for (const kms of instances) await kms.close()
    for (const local of locals) local.close()
    await keystore.close()
  }
})
