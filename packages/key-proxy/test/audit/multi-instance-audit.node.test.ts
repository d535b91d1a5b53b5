// A tenant's audit log with several instances (and their workers) on one PostgreSQL keystore: key uses on every
// instance at once extend the tenant's one chain in the database, each instance serves all of it, and the export
// from one verifies with the signing key another publishes (one key, agreed in the keystore).
import { encrypt } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { verifyExport } from '../../src/audit/chain.ts'
import { type Instance, startInstance } from '../harness/instance.ts'
import { type RunningPostgres, startPostgres } from '../harness/postgres.ts'
import { hashKey } from '../proxy-process.ts'

const API_KEY = 'audit-multi-key'
const ADMIN_KEY = 'audit-multi-admin'
const ROOT_KEY = 'IiEgHx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAM'
let pg: RunningPostgres
let instances: Instance[] = []

beforeAll(async () => {
  pg = await startPostgres({ fsync: false })
  const config = {
    rootKey: ROOT_KEY,
    tenants: ['acme'],
    apiKeys: [{ id: 'svc', sha256: await hashKey(API_KEY), tenants: ['acme'] }],
    adminKeys: [{ id: 'ops', sha256: await hashKey(ADMIN_KEY) }],
    keystore: { url: pg.url, pollMs: 100 },
  }
  instances = await Promise.all([startInstance({ workers: 1, config }), startInstance({ workers: 2, config })])
})
afterAll(async () => {
  await Promise.all(instances.map((i) => i.stop()))
  await pg?.stop()
})

test('key uses on two instances at once: one chain for the tenant, served whole by each, verified with one key', async () => {
  const uses = Array.from({ length: 24 }, (_, i) => {
    const client = createKeyProxyClient({ baseUrl: instances[i % 2]!.url, apiKey: API_KEY, tenant: 'acme', retries: 0 })
    return encrypt(`message ${i}`, { provider: client, context: { n: String(i) } })
  })
  await Promise.all(uses)
  const [keyA, keyB] = await Promise.all(
    instances.map(async (i) => (await fetch(`${i.url}/v1/audit/signing-key`)).json()),
  )
  expect(keyA).toEqual(keyB)
  for (const instance of instances) {
    const r = await fetch(`${instance.url}/v1/admin/tenants/acme/audit?format=ndjson`, {
      headers: { authorization: `ApiKey ${ADMIN_KEY}` },
    })
    const text = await r.text()
    const report = verifyExport(text, keyB as { kty: string; crv: string; x: string })
    expect(report.problems).toEqual([])
    const generates = text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .filter((l) => l.action === 'generate')
    expect(generates.length).toBe(24)
  }
})
