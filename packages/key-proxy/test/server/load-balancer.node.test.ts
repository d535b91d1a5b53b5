// Three proxy instances on loopback behind a real nginx, or behind the client's own failover over three base
// URLs: `kill -9` of one instance under load, and every client request still completes through the others.
// (Until the keystore is shared, the three hold the same root key and a copy of one key file, and no test here
// writes keys: the data path alone.)
import { copyFileSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decryptToString, encrypt } from '@envelope/core'
import { createKeyProxyClient, type KeyProxyClient } from '@envelope/fetch-client'
import { afterEach, expect, test } from 'vitest'
import { type Instance, startInstance } from '../harness/instance.ts'
import { NGINX_UPSTREAM_HOST, type RunningNginx, startNginx } from '../harness/nginx.ts'
import { hashKey } from '../proxy-process.ts'

const API_KEY = 'lb-test-key'
const ROOT_KEY = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8' // 32 bytes, base64url: the same for the three
let instances: Instance[] = []
let nginx: RunningNginx | undefined

afterEach(async () => {
  await nginx?.stop()
  await Promise.all(instances.map((i) => i.stop()))
  instances = []
  nginx = undefined
})

async function threeInstances(): Promise<Instance[]> {
  const config = {
    rootKey: ROOT_KEY,
    allowedHosts: [NGINX_UPSTREAM_HOST],
    tenants: ['lb'],
    apiKeys: [{ id: 'lb', sha256: await hashKey(API_KEY), tenants: ['lb'] }],
  }
  const first = await startInstance({ workers: 1, config })
  // The same key file everywhere, so any instance opens any EDEK.
  const copies = [0, 1].map(() => {
    const dir = mkdtempSync(join(tmpdir(), 'envelope-lb-'))
    copyFileSync(join(first.dataDir, 'keys.json'), join(dir, 'keys.json'))
    return startInstance({ workers: 1, config, dataDir: dir })
  })
  return [first, ...(await Promise.all(copies))]
}

/** `clients` loops of encrypt + decrypt, `rounds` each; `midway` runs once after a third of the work. */
async function underLoad(make: () => KeyProxyClient, clients: number, rounds: number, midway: () => Promise<void>) {
  let done = 0
  let killed: Promise<void> | undefined
  const failures: unknown[] = []
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const provider = make()
      for (let r = 0; r < rounds; r++) {
        try {
          const context = { client: String(c), round: String(r) }
          const sealed = await encrypt(`client ${c} round ${r}`, { provider, context })
          expect(await decryptToString(sealed, { provider, expectedContext: context })).toBe(`client ${c} round ${r}`)
        } catch (err) {
          failures.push(err)
        }
        if (++done === Math.floor((clients * rounds) / 3)) killed = midway()
      }
    }),
  )
  await killed
  return { done, failures }
}

test('behind nginx: kill -9 of one of three instances under load, every request completes', async () => {
  instances = await threeInstances()
  nginx = await startNginx(instances.map((i) => i.url))
  const { done, failures } = await underLoad(
    () => createKeyProxyClient({ baseUrl: nginx!.url, apiKey: API_KEY, tenant: 'lb', retries: 0, batchWindowMs: 0 }),
    4,
    30,
    async () => {
      instances[1]!.signal('SIGKILL')
      await instances[1]!.exited
    },
  )
  expect(failures).toEqual([])
  expect(done).toBe(120)
  // The two others served after the kill.
  const servedAfter = instances.filter((i, n) => n !== 1 && i.auditLines().length > 0)
  expect(servedAfter).toHaveLength(2)
})

test('client-side failover over three base URLs: kill -9 of one under load, every request completes', async () => {
  instances = await threeInstances()
  const urls = instances.map((i) => i.url)
  const { done, failures } = await underLoad(
    () => createKeyProxyClient({ baseUrl: urls, apiKey: API_KEY, tenant: 'lb', batchWindowMs: 0 }),
    4,
    30,
    async () => {
      instances[0]!.signal('SIGKILL') // the first URL: where every client starts
      await instances[0]!.exited
    },
  )
  expect(failures).toEqual([])
  expect(done).toBe(120)
})
