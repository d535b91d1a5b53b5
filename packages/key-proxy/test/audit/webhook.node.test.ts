// Export to the customer's own sink: a real local HTTP server that first hangs, then fails, then recovers; key use
// goes on meanwhile (delivery never blocks it), and once the sink takes lines it has every one, in seq order,
// once; with `--workers`, too (the primary writes and posts the lines of every worker). The bounded queue drops (and
// counts) what does not fit.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { encrypt } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { afterAll, beforeAll, expect, test } from 'vitest'
import type { AuditRecord } from '../../src/audit/chain.ts'
import { AuditWebhook } from '../../src/audit/webhook.ts'
import { fetchPerConnection } from '../harness/fetch-per-connection.ts'
import { startInstance } from '../harness/instance.ts'
import { hashKey, type RunningProxy, startProxy } from '../proxy-process.ts'

type Mode = 'hang' | 'fail' | 'ok'
let mode: Mode = 'hang'
const received: AuditRecord[] = []
const attempts: Mode[] = []
const hung: ServerResponse[] = []
let headers: IncomingMessage['headers'] | undefined
const waiters: Array<{ done: () => boolean; resolve: () => void }> = []
const notify = () => {
  for (const w of [...waiters]) if (w.done()) waiters.splice(waiters.indexOf(w), 1) && w.resolve()
}
/** Resolves once `done()` holds, checked at each request the sink gets (no timers). */
const until = (done: () => boolean) =>
  new Promise<void>((resolve) => (done() ? resolve() : waiters.push({ done, resolve })))

const sink = createServer((req, res) => {
  let body = ''
  req.on('data', (d) => {
    body += d
  })
  req.on('end', () => {
    attempts.push(mode)
    if (mode === 'hang') hung.push(res)
    else if (mode === 'fail') res.writeHead(503).end()
    else {
      headers = req.headers
      for (const line of body.split('\n').filter(Boolean)) received.push(JSON.parse(line))
      res.writeHead(204).end()
    }
    notify()
  })
})
let proxy: RunningProxy
const API_KEY = 'webhook-test-key'

beforeAll(async () => {
  await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/envelope`
  proxy = await startProxy(
    {
      tenants: ['acme', 'globex'],
      apiKeys: [{ id: 'svc', sha256: await hashKey(API_KEY), tenants: ['acme', 'globex'] }],
      auditWebhooks: [{ tenant: 'acme', url, authorizationEnv: 'ACME_SINK_AUTH' }],
      auditWebhookRetryMs: 20,
      auditWebhookTimeoutMs: 300,
    },
    undefined,
    { ACME_SINK_AUTH: 'Bearer sink-secret' },
  )
})
afterAll(async () => {
  await proxy?.stop()
  for (const r of hung) r.destroy()
  sink.closeAllConnections()
  await new Promise((resolve) => sink.close(resolve))
})

test('a sink that hangs, then fails, then recovers gets every line of its tenant, in order, once; key use never waits', async () => {
  const acme = createKeyProxyClient({ baseUrl: proxy.url, apiKey: API_KEY, tenant: 'acme', retries: 0 })
  const globex = createKeyProxyClient({ baseUrl: proxy.url, apiKey: API_KEY, tenant: 'globex', retries: 0 })
  // While the sink hangs (each POST times out) and then fails, key use goes on.
  await encrypt('one', { provider: acme })
  await until(() => attempts.filter((m) => m === 'hang').length >= 2)
  mode = 'fail'
  await encrypt('two', { provider: acme })
  await encrypt('other tenant', { provider: globex })
  await until(() => attempts.filter((m) => m === 'fail').length >= 2)
  await encrypt('three', { provider: acme })
  expect(received).toEqual([])
  mode = 'ok'
  const lines = (await proxy.adminApi('GET', 'acme/audit?limit=1000')).body.records as AuditRecord[]
  expect(lines.length).toBe(3)
  await until(() => received.length >= lines.length)
  expect(received).toEqual(lines) // every line, in seq order, once; globex's never
  expect(headers).toMatchObject({
    authorization: 'Bearer sink-secret',
    'x-envelope-tenant': 'acme',
    'content-type': 'application/x-ndjson',
  })
})

test('the queue is bounded: past it lines are dropped and counted, never held', async () => {
  mode = 'fail'
  const url = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/bounded`
  const hook = new AuditWebhook({ tenant: 'acme', url }, { maxQueue: 3, retryMs: 1_000_000 })
  const before = attempts.length
  for (let seq = 1; seq <= 10; seq++) hook.push({ seq } as AuditRecord)
  expect(hook.stats()).toMatchObject({ queued: 3, dropped: 7 })
  await until(() => attempts.length > before)
  hook.close()
  mode = 'ok'
})

test('with --workers, the sink gets the lines of both workers in seq order, once each', async () => {
  // Each worker once posted its own lines: two posters, so a sink saw a tenant's lines out of seq order.
  mode = 'ok'
  const url = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/workers`
  const instance = await startInstance({
    workers: 2,
    config: {
      tenants: ['initech'],
      apiKeys: [{ id: 'svc', sha256: await hashKey(API_KEY), tenants: ['initech'] }],
      auditWebhooks: [{ tenant: 'initech', url }],
      auditWebhookRetryMs: 20,
    },
  })
  try {
    const start = received.length
    const c = createKeyProxyClient({
      baseUrl: instance.url,
      apiKey: API_KEY,
      tenant: 'initech',
      fetch: fetchPerConnection, // a connection per request: both workers serve
      retries: 0,
    })
    await Promise.all(Array.from({ length: 40 }, (_, i) => c.generateDataKey({ i: String(i) })))
    const served = new Set(
      instance
        .logs()
        .filter((l) => l.route === '/v1/keys/generate')
        .map((l) => l.worker),
    )
    expect(served.size).toBe(2)
    const r = await fetch(`${instance.url}/v1/admin/tenants/initech/audit?limit=1000`, {
      headers: { authorization: `ApiKey ${instance.adminKey}` },
    })
    const lines = ((await r.json()) as { records: AuditRecord[] }).records
    expect(lines.length).toBeGreaterThanOrEqual(40)
    await until(() => received.length - start >= lines.length)
    expect(received.slice(start)).toEqual(lines)
  } finally {
    await instance.stop()
  }
})
