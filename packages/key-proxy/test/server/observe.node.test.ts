// What an operator sees: a JSON log line per request (request id, route pattern, status, code, duration; no
// secret, key, token or plaintext; every field bounded), the caller's x-request-id carried into the response,
// the log and the audit line (a malformed one replaced), and Prometheus metrics added up over the workers.

import { decryptToString, encrypt } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { fetchPerConnection } from '../harness/fetch-per-connection.ts'
import { send } from '../harness/http.ts'
import { type Instance, startInstance } from '../harness/instance.ts'
import { hashKey } from '../proxy-process.ts'

const API_KEY = 'observe-secret-api-key-0123456789'
const PLAINTEXT = 'PLAINTEXT-MARKER-never-logged'
let instance: Instance
let metricsUrl: string

beforeAll(async () => {
  instance = await startInstance({
    workers: 2,
    config: {
      tenants: ['obs'],
      apiKeys: [{ id: 'obs-service', sha256: await hashKey(API_KEY), tenants: ['obs'] }],
      metrics: { port: 0 },
    },
  })
  metricsUrl = String((await instance.waitFor((l) => l.msg === 'metrics listening')).url)
})
afterAll(() => instance?.stop())

const requestLines = () => instance.logs().filter((l) => l.msg === 'request')

describe('request ids and log lines', () => {
  test('a well-formed x-request-id is kept: in the response, the log line and the audit line', async () => {
    const provider = createKeyProxyClient({
      baseUrl: instance.url,
      apiKey: API_KEY,
      tenant: 'obs',
      fetch: (url, init) =>
        fetchPerConnection(url, {
          ...init,
          headers: { ...(init?.headers as object), 'x-request-id': 'trace-4bf92f35' },
        }),
    })
    const message = await encrypt(PLAINTEXT, { provider, context: { doc: 'observed' } })
    expect(await decryptToString(message, { provider, expectedContext: { doc: 'observed' } })).toBe(PLAINTEXT)
    const line = await instance.waitFor((l) => l.msg === 'request' && l.requestId === 'trace-4bf92f35')
    expect(line).toMatchObject({ level: 'info', method: 'POST', status: 200, code: 'ok' })
    expect(typeof line.durationMs).toBe('number')
    expect(typeof line.worker).toBe('number')
    const audited = instance.auditLines().filter((l) => l.requestId === 'trace-4bf92f35')
    expect(audited.map((l) => l.action).sort()).toEqual(['generate', 'unwrap'])
    const r = await send(`${instance.url}/v1/health`, { headers: { 'x-request-id': 'abc:DEF.123_x-y+z/=' } })
    expect(r.headers['x-request-id']).toBe('abc:DEF.123_x-y+z/=')
  })

  test('a malformed or oversized x-request-id is replaced by a fresh one', async () => {
    for (const hostile of ['has space', 'a'.repeat(129), 'quote"json', 'ünïcode', '']) {
      const r = await send(`${instance.url}/v1/health`, { headers: { 'x-request-id': hostile } })
      const id = String(r.headers['x-request-id'])
      expect(id).not.toBe(hostile)
      expect(id).toMatch(/^[0-9a-f-]{36}$/)
    }
  })

  test('log lines name the route pattern and code, never the credentials, the path, the body or a key', async () => {
    await send(`${instance.url}/v1/keys/generate`, {
      headers: { authorization: `ApiKey wrong-${API_KEY}` },
      body: { context: { secret: PLAINTEXT } },
    })
    await send(`${instance.url}/v1/admin/tenants/obs/keys/default`, {
      headers: { authorization: `ApiKey ${instance.adminKey}`, 'x-request-id': 'admin-describe' },
    })
    await send(`${instance.url}/v1/${'x'.repeat(5000)}?token=${API_KEY}`, { headers: { 'x-request-id': 'long-path' } })
    const refused = await instance.waitFor((l) => l.msg === 'request' && l.code === 'ERR_API_KEY_UNKNOWN')
    expect(refused).toMatchObject({ route: '/v1/keys/generate', status: 401 })
    expect(await instance.waitFor((l) => l.requestId === 'admin-describe')).toMatchObject({
      route: '/v1/admin/tenants/:tenant/keys/:key',
      status: 200,
    })
    expect(await instance.waitFor((l) => l.requestId === 'long-path')).toMatchObject({
      route: 'unmatched',
      status: 404,
      code: 'ERR_NOT_FOUND',
    })
    const all = JSON.stringify(instance.logs()) + instance.stderr()
    for (const secret of [API_KEY, instance.adminKey, PLAINTEXT, 'xxxxxxxxxx']) expect(all).not.toContain(secret)
    for (const l of instance.logs()) expect(Buffer.byteLength(JSON.stringify(l))).toBeLessThan(4096)
    expect(requestLines().length).toBeGreaterThan(5)
  })
})

describe('/metrics on its own listener', () => {
  const scrape = async () => {
    const r = await send(metricsUrl)
    expect(r.status).toBe(200)
    expect(String(r.headers['content-type'])).toContain('text/plain')
    return r.body
  }
  const sample = (text: string, name: string, labels: string) => {
    const m = new RegExp(`^${name}\\{${labels.replace(/[{}]/g, '\\$&')}\\} (\\S+)$`, 'm').exec(text)
    return m ? Number(m[1]) : 0
  }

  test('requests by route, status and code are added up over both workers; latencies are histograms', async () => {
    const labels = 'route="/v1/ready",method="GET",status="200",code="ok"'
    const before = sample(await scrape(), 'envelope_proxy_http_requests_total', labels)
    for (let i = 0; i < 12; i++)
      expect((await send(`${instance.url}/v1/ready`, { headers: { 'x-request-id': `m-${i}` } })).status).toBe(200)
    await instance.waitFor((l) => l.requestId === 'm-11')
    const workers = new Set(
      requestLines()
        .filter((l) => String(l.requestId).startsWith('m-'))
        .map((l) => l.worker),
    )
    expect(workers.size).toBe(2) // both contributed, and the scrape adds them up
    const text = await scrape()
    expect(sample(text, 'envelope_proxy_http_requests_total', labels)).toBe(before + 12)
    expect(
      sample(text, 'envelope_proxy_http_request_duration_seconds_count', 'route="/v1/ready",method="GET"'),
    ).toBeGreaterThanOrEqual(before + 12)
    expect(text).toMatch(
      /^envelope_proxy_http_request_duration_seconds_bucket\{le="0\.005",route="\/v1\/ready",method="GET"\} \d+$/m,
    )
    expect(text).toMatch(/^envelope_proxy_workers 2$/m)
    expect(text).toMatch(/^envelope_proxy_audit_write_failures_total 0$/m)
    expect(text).toContain('# TYPE envelope_proxy_kms_calls_total counter')
    expect(text).toContain('# TYPE envelope_proxy_lease_cache_lookups_total counter')
    expect(text).toContain('# TYPE envelope_proxy_keystore_errors_total counter')
    expect(text).toMatch(/^envelope_proxy_process_resident_memory_bytes \d+/m)
    expect(
      sample(
        text,
        'envelope_proxy_http_requests_total',
        'route="/v1/keys/generate",method="POST",status="401",code="ERR_API_KEY_UNKNOWN"',
      ),
    ).toBeGreaterThan(0)
  })

  test('the metrics listener serves only GET /metrics', async () => {
    expect((await send(metricsUrl.replace('/metrics', '/v1/health'))).status).toBe(404)
    expect((await send(metricsUrl, { method: 'POST', body: {} })).status).toBe(404)
  })
})
