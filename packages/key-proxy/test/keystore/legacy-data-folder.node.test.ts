// A data folder written by main before the keystore (383dea9: keys.json in the `envelope-local-kms/1` format,
// messages sealed through its proxy, one tenant rotated) opens with this proxy: every message decrypts, the
// tenants' keys keep their versions and states, the first change writes the keystore format, and after a
// restart everything still opens. The fixture is never changed: each run works on a copy.
import { cpSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decryptToString, readHeader } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { afterAll, expect, test } from 'vitest'
import { hashKey, type RunningProxy, startProxy } from '../proxy-process.ts'

const FIXTURE = new URL('../fixtures/main-383dea9/', import.meta.url).pathname
const fixture = JSON.parse(readFileSync(join(FIXTURE, 'messages.json'), 'utf8')) as {
  messages: { tenant: string; text: string; context: Record<string, string>; message: string; edek: string }[]
}
let proxy: RunningProxy | undefined
afterAll(() => proxy?.stop())

test('a data folder of the key file before the keystore: its EDEKs unwrap, its keys keep versions and states', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'envelope-legacy-'))
  cpSync(FIXTURE, dir, { recursive: true })
  expect(JSON.parse(readFileSync(join(dir, 'keys.json'), 'utf8')).format).toBe('envelope-local-kms/1')
  proxy = await startProxy(
    { apiKeys: [{ id: 'svc', sha256: await hashKey('svc-key'), tenants: ['*'] }], minDeletionDays: 0 },
    dir,
  )
  const client = (tenant: string) =>
    createKeyProxyClient({ baseUrl: proxy!.url, apiKey: 'svc-key', tenant, retries: 0 })
  const openAll = async () => {
    for (const m of fixture.messages) {
      const bytes = new Uint8Array(Buffer.from(m.message, 'base64'))
      expect(readHeader(bytes).edeks[0]).toMatchObject({ providerId: 'envelope-local-kms', keyVersion: m.edek })
      expect(await decryptToString(bytes, { provider: client(m.tenant), expectedContext: m.context })).toBe(m.text)
    }
  }
  await openAll()
  expect(fixture.messages.map((m) => m.edek)).toEqual(['1', '1', '2', '2'])
  expect(JSON.parse(proxy.admin('describe', 'acme').stdout)).toMatchObject({
    state: 'enabled',
    primaryVersion: 2,
    versions: [1, 2],
  })
  // The first change writes the keystore's format; nothing of the old keys is lost.
  const rotated = proxy.admin('rotate', 'globex')
  expect(rotated, `${rotated.stdout} ${rotated.stderr}`).toMatchObject({ status: 0 })
  const file = JSON.parse(readFileSync(join(dir, 'keys.json'), 'utf8'))
  expect(file.format).toBe('envelope-keystore/1')
  expect(Object.keys(file.records['local-key']).sort()).toEqual(['acme/default', 'globex/default'])
  expect(file.records.tenant.acme).toMatchObject({
    primary: 'default',
    entries: [{ id: 'default', provider: 'local' }],
  })
  await proxy.stop()
  await proxy.restart()
  await openAll()
  expect(JSON.parse(proxy.admin('describe', 'globex').stdout)).toMatchObject({ primaryVersion: 2, versions: [1, 2] })
})
