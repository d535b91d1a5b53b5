// Crash safety of the local KMS: kill -9 the proxy while key administration writes are in flight, again and
// again. After every restart the key file loads, every rotation the proxy acknowledged is still there, and data
// sealed before the crashes still opens.
import { readdirSync } from 'node:fs'
import { decryptToString, encrypt } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { afterAll, expect, test } from 'vitest'
import { hashKey, type RunningProxy, startProxy } from './proxy-process.ts'

let proxy: RunningProxy | undefined
afterAll(() => proxy?.stop())

test('kill -9 during admin writes, 12 times: the key file always loads and no acknowledged version is lost', async () => {
  const apiKey = 'crash-key'
  proxy = await startProxy({
    tenants: ['crash'],
    apiKeys: [{ id: 'crash', sha256: await hashKey(apiKey), tenants: ['crash'] }],
  })
  const client = () => createKeyProxyClient({ baseUrl: proxy!.url, apiKey, tenant: 'crash', retries: 0 })
  const sealedBefore = await encrypt('written before any crash', { provider: client(), context: {} })
  let acknowledged = 1
  for (let round = 0; round < 12; round++) {
    const rotate = () =>
      fetch(`${proxy!.url}/v1/admin/tenants/crash/keys/default/rotate`, {
        method: 'POST',
        headers: { authorization: `ApiKey ${proxy!.adminKey}` },
      })
        .then(async (r) => (r.ok ? ((await r.json()) as { primaryVersion: number }).primaryVersion : 0))
        .catch(() => 0) // cut off by the crash: not acknowledged
    const inFlight = Array.from({ length: 8 }, rotate)
    await Promise.race(inFlight) // at least one answered (or failed): writes are under way
    await proxy.kill9()
    acknowledged = Math.max(acknowledged, ...(await Promise.all(inFlight)))
    await proxy.restart() // the proxy reads the key file at its first request; a torn file would fail below
    const info = JSON.parse(proxy.admin('describe', 'crash').stdout) as { primaryVersion: number; versions: number[] }
    expect(info.primaryVersion).toBeGreaterThanOrEqual(acknowledged)
    for (let v = 1; v <= acknowledged; v++) expect(info.versions).toContain(v)
  }
  expect(acknowledged).toBeGreaterThan(1)
  expect(await decryptToString(sealedBefore, { provider: client() })).toBe('written before any crash')
  const fresh = await encrypt('after the crashes', { provider: client(), context: {} })
  expect(await decryptToString(fresh, { provider: client() })).toBe('after the crashes')
  // Temp files of interrupted writes may remain; they are never read as the key file.
  expect(readdirSync(proxy.dataDir)).toContain('keys.json')
})
