// The fetch client under network faults. A real proxy runs behind a small front server that misbehaves on cue
// (refuses, stalls, answers 503 or 429 with Retry-After) before forwarding, as a flaky network or load balancer
// would. Retry waits go through an injected sleep, so nothing here waits on a clock.
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { decryptToString, encrypt } from '@envelope/core'
import { createMemoryDekCache } from '@envelope/idb-cache'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { codeOf, hashKey, type RunningProxy, startProxy } from '../../key-proxy/test/proxy-process.ts'
import { createKeyProxyClient } from '../src/index.ts'

const API_KEY = 'faults-key'
let proxy: RunningProxy
let front: Server
let frontUrl: string
/** What the front server does with each coming request, in order; then it forwards. */
let script: Array<'stall' | { status: number; headers?: Record<string, string>; body?: unknown }> = []
let seen = 0

beforeAll(async () => {
  proxy = await startProxy({
    tenants: ['acme'],
    apiKeys: [{ id: 'faults', sha256: await hashKey(API_KEY), tenants: ['acme'] }],
  })
  front = createServer(async (req, res) => {
    seen++
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const step = script.shift()
    if (step === 'stall') return // never answers; the client's timeout must fire
    if (step) {
      res.writeHead(step.status, { 'content-type': 'application/json', ...step.headers })
      return res.end(JSON.stringify(step.body ?? {}))
    }
    const r = await fetch(`${proxy.url}${req.url}`, {
      method: req.method,
      headers: { authorization: req.headers.authorization ?? '', 'content-type': 'application/json' },
      body: req.method === 'POST' ? Buffer.concat(chunks) : undefined,
    })
    res.writeHead(r.status, { 'content-type': 'application/json' })
    res.end(Buffer.from(await r.arrayBuffer()))
  })
  front.listen(0, '127.0.0.1')
  await once(front, 'listening')
  frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`
})

afterAll(async () => {
  front?.closeAllConnections()
  front?.close()
  await proxy?.stop()
})

function run(steps: typeof script, options: Partial<Parameters<typeof createKeyProxyClient>[0]> = {}) {
  script = steps
  seen = 0
  const sleeps: number[] = []
  const provider = createKeyProxyClient({
    baseUrl: frontUrl,
    apiKey: API_KEY,
    tenant: 'acme',
    sleep: async (ms) => {
      sleeps.push(ms)
    },
    ...options,
  })
  return { provider, sleeps }
}

test('503 then success: retried, and the message is sealed', async () => {
  const { provider, sleeps } = run([{ status: 503 }, { status: 503 }])
  await encrypt('x', { provider, context: {} })
  expect(seen).toBe(3)
  expect(sleeps).toHaveLength(2)
  for (const [i, ms] of sleeps.entries()) expect(ms).toBeLessThanOrEqual(100 * 2 ** i) // full jitter under the cap
})

test('429 with Retry-After: the client waits what the server asked, then succeeds', async () => {
  const { provider, sleeps } = run([{ status: 429, headers: { 'retry-after': '3' } }])
  await provider.generateDataKey({})
  expect(sleeps).toEqual([3000])
  expect(seen).toBe(2)
})

test('a Retry-After longer than the client accepts fails at once', async () => {
  const { provider, sleeps } = run([{ status: 429, headers: { 'retry-after': '3600' } }])
  expect(await codeOf(provider.generateDataKey({}))).toBe('ERR_PROXY_UNAVAILABLE')
  expect(sleeps).toEqual([])
  expect(seen).toBe(1)
})

test('other 4xx answers are not retried, and keep the proxy’s code', async () => {
  const { provider } = run([{ status: 409, body: { error: { code: 'ERR_KEY_DISABLED', message: 'disabled' } } }])
  expect(await codeOf(provider.generateDataKey({}))).toBe('ERR_KEY_DISABLED')
  expect(seen).toBe(1)
})

test('5xx on every attempt ends in ERR_PROXY_UNAVAILABLE after the retries', async () => {
  const { provider, sleeps } = run([{ status: 502 }, { status: 502 }, { status: 502 }], { retries: 2 })
  expect(await codeOf(provider.generateDataKey({}))).toBe('ERR_PROXY_UNAVAILABLE')
  expect(seen).toBe(3)
  expect(sleeps).toHaveLength(2)
})

test('a proxy that does not answer gives ERR_PROXY_TIMEOUT', async () => {
  const { provider } = run(['stall', 'stall'], { timeoutMs: 300, retries: 1 })
  expect(await codeOf(provider.generateDataKey({}))).toBe('ERR_PROXY_TIMEOUT')
  expect(seen).toBe(2)
})

test('a proxy that is down gives ERR_PROXY_UNAVAILABLE', async () => {
  const closed = createServer()
  closed.listen(0, '127.0.0.1')
  await once(closed, 'listening')
  const port = (closed.address() as AddressInfo).port
  closed.close()
  await once(closed, 'close')
  const sleeps: number[] = []
  const provider = createKeyProxyClient({
    baseUrl: `http://127.0.0.1:${port}`,
    apiKey: API_KEY,
    tenant: 'acme',
    sleep: async (ms) => void sleeps.push(ms),
  })
  expect(await codeOf(provider.generateDataKey({}))).toBe('ERR_PROXY_UNAVAILABLE')
  expect(sleeps).toHaveLength(2)
})

test('a response that is not the protocol gives ERR_PROXY_PROTOCOL, never a crash', async () => {
  const { provider } = run([{ status: 200, body: { edek: 'nope' } }])
  expect(await codeOf(provider.generateDataKey({}))).toBe('ERR_PROXY_PROTOCOL')
  const r2 = run([{ status: 200, body: { results: [] } }])
  expect(
    await codeOf(
      r2.provider.unwrapDataKey([{ providerId: 'x', keyId: 'y', keyVersion: '', ciphertext: new Uint8Array([1]) }], {}),
    ),
  ).toBe('ERR_PROXY_PROTOCOL')
})

test('an aborted signal stops the call with ERR_ABORTED', async () => {
  const { provider } = run([])
  expect(await codeOf(provider.generateDataKey({}, { signal: AbortSignal.abort() }))).toBe('ERR_ABORTED')
})

test('with a cache, opening one message again and again costs one unwrap request until the TTL ends', async () => {
  let clock = 1_000_000
  const dekCache = createMemoryDekCache({ maxEntries: 100, ttlMs: 60_000, now: () => clock })
  const { provider } = run([], { cache: { dekCache, partition: 'acme' }, batchWindowMs: 0 })
  const message = await encrypt('cached', {
    provider: createKeyProxyClient({ baseUrl: frontUrl, apiKey: API_KEY, tenant: 'acme' }),
    context: { d: '1' },
  })
  seen = 0
  const opens = () => Promise.all(Array.from({ length: 5 }, () => decryptToString(message, { provider })))
  expect(await opens()).toEqual(Array(5).fill('cached')) // five concurrent cold opens: one request
  expect(await opens()).toEqual(Array(5).fill('cached')) // hits: no request
  expect(seen).toBe(1)
  clock += 60_001 // past the TTL: the proxy is asked again
  expect(await decryptToString(message, { provider })).toBe('cached')
  expect(seen).toBe(2)
})
