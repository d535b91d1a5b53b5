// Crypto-shredding leaves no copy: after `destroy` is acknowledged, no file in the data folder holds material of
// the destroyed key, including the temp files that writes cut off by kill -9 leave behind. Every file is tried
// with root.key, as someone holding a copy of the folder would.
import { copyFileSync, readdirSync, readFileSync, statSync, watch } from 'node:fs'
import { join } from 'node:path'
import { encrypt, readHeader } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { compactDecrypt } from 'jose'
import { afterAll, expect, test } from 'vitest'
import { hashKey, type RunningProxy, startProxy } from './proxy-process.ts'

let proxy: RunningProxy | undefined
afterAll(() => proxy?.stop())

const tempFiles = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.tmp'))

/**
 * Every version key of `tenant/key` found in any file of the folder: each 60-byte base64url token
 * (iv ‖ key ‖ tag) that opens under the root key with a version's AAD, and whether it opens the EDEK.
 */
async function materialIn(dir: string, tenant: string, versions: number, jwe: string) {
  const root = Buffer.from(readFileSync(join(dir, 'root.key'), 'utf8').trim(), 'base64url')
  const rootKey = await crypto.subtle.importKey('raw', root, 'AES-GCM', false, ['decrypt'])
  const found: { file: string; version: number; opensEdek: boolean }[] = []
  for (const file of readdirSync(dir)) {
    if (!statSync(join(dir, file)).isFile()) continue
    const text = readFileSync(join(dir, file), 'latin1')
    for (const [token] of text.matchAll(/(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{80}(?![A-Za-z0-9_-])/g)) {
      const sealed = Buffer.from(token, 'base64url')
      for (let v = 1; v <= versions; v++) {
        const aad = new TextEncoder().encode(`envelope-local-kms/1 ${tenant}/default#${v}`)
        const params = { name: 'AES-GCM', iv: sealed.subarray(0, 12), additionalData: aad }
        const material = await crypto.subtle.decrypt(params, rootKey, sealed.subarray(12)).catch(() => undefined)
        if (!material) continue
        const opensEdek = await compactDecrypt(jwe, new Uint8Array(material)).then(
          () => true,
          () => false,
        )
        found.push({ file, version: v, opensEdek })
      }
    }
  }
  return found
}

test('kill -9 during admin writes, then destroy: no file in the data folder still opens the destroyed key', async () => {
  const apiKey = 'victim-key'
  proxy = await startProxy({
    tenants: ['victim', 'bystander'],
    minDeletionDays: 0,
    apiKeys: [{ id: 'victim', sha256: await hashKey(apiKey), tenants: ['victim'] }],
  })
  const client = createKeyProxyClient({ baseUrl: proxy.url, apiKey, tenant: 'victim', retries: 0 })
  const jwe = Buffer.from(readHeader(await encrypt('shred me', { provider: client })).edeks[0]!.ciphertext).toString()
  // Another tenant's admin writes rewrite the whole key file, the victim's sealed key included.
  const toggle = (i: number) =>
    fetch(`${proxy!.url}/v1/admin/tenants/bystander/keys/default/${i % 2 ? 'enable' : 'disable'}`, {
      method: 'POST',
      headers: { authorization: `ApiKey ${proxy!.adminKey}` },
    }).catch(() => undefined) // cut off by the crash
  // Crash in the middle of key-file writes (SIGKILL as soon as a write's temp file is written) until one leaves
  // behind a temp file that holds the victim's sealed key.
  const sealed = JSON.parse(readFileSync(join(proxy.dataDir, 'keys.json'), 'utf8')).records['local-key'][
    'victim/default'
  ].versions[1].sealed as string
  const holdsVictim = (f: string) => readFileSync(join(proxy!.dataDir, f), 'utf8').includes(sealed)
  let orphaned: string[] = []
  for (let round = 0; round < 40 && orphaned.length === 0; round++) {
    const killed = new Promise<void>((resolve) => {
      const watcher = watch(proxy!.dataDir, (event, name) => {
        if (event !== 'change' || !name?.endsWith('.tmp')) return // written, not yet renamed
        watcher.close()
        resolve(proxy!.kill9())
      })
    })
    const inFlight = Array.from({ length: 16 }, (_, i) => toggle(i))
    await killed
    await Promise.all(inFlight)
    orphaned = tempFiles(proxy.dataDir).filter(holdsVictim)
    await proxy.restart()
  }
  expect(orphaned.length).toBeGreaterThan(0)
  // An orphan may also appear while the proxy runs (a write that failed half way): plant a full copy of the key
  // file under a temp name.
  copyFileSync(join(proxy.dataDir, 'keys.json'), join(proxy.dataDir, 'keys.json.12345.planted.tmp'))
  const versions = (JSON.parse(proxy.admin('describe', 'victim').stdout) as { versions: number[] }).versions.length

  // The scan itself finds the key while it exists.
  expect((await materialIn(proxy.dataDir, 'victim', versions, jwe)).some((m) => m.opensEdek)).toBe(true)

  expect(proxy.admin('schedule-deletion', 'victim', '--days', '0').status).toBe(0)
  const destroyed = proxy.admin('destroy', 'victim')
  expect(destroyed.status).toBe(0)
  expect(JSON.parse(destroyed.stdout)).toMatchObject({ state: 'destroyed' })
  expect(await materialIn(proxy.dataDir, 'victim', versions, jwe)).toEqual([])
  expect(tempFiles(proxy.dataDir)).toEqual([])
})
