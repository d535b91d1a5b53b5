// Several base URLs: a request that meets a refused connection or a 5xx goes to the next URL at once, within its
// bounded retries, and later requests start from the URL that answered. A real proxy answers; the others are a
// port nothing listens on and a front that answers 503. Plain http:// beyond loopback is refused at creation.
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { decryptToString, encrypt } from '@envelope/core'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { codeOf, hashKey, type RunningProxy, startProxy } from '../../key-proxy/test/proxy-process.ts'
import { createKeyProxyClient, type KeyProxyClientOptions } from '../src/index.ts'

const API_KEY = 'failover-key'
let proxy: RunningProxy
let busy: Server
let busyUrl: string
let busySeen = 0
let deadUrl: string

async function listen(server: Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

beforeAll(async () => {
  proxy = await startProxy({
    tenants: ['acme'],
    apiKeys: [{ id: 'failover', sha256: await hashKey(API_KEY), tenants: ['acme'] }],
  })
  busy = createServer((req, res) => {
    busySeen++
    req.resume()
    res.writeHead(503, { 'content-type': 'application/json' }).end('{}')
  })
  busyUrl = await listen(busy)
  const gone = createServer()
  deadUrl = await listen(gone) // a port that was just free: nothing listens on it once closed
  gone.close()
  await once(gone, 'close')
})

afterAll(async () => {
  busy?.close()
  await proxy?.stop()
})

function client(baseUrl: readonly string[], options: Partial<KeyProxyClientOptions> = {}) {
  const sleeps: number[] = []
  const calls: string[] = []
  const provider = createKeyProxyClient({
    baseUrl,
    apiKey: API_KEY,
    tenant: 'acme',
    fetch: (url, init) => {
      calls.push(new URL(String(url)).origin)
      return fetch(url, init)
    },
    sleep: async (ms) => {
      sleeps.push(ms)
    },
    ...options,
  })
  return { provider, sleeps, calls }
}

describe('several base URLs', () => {
  test('a refused connection and a 503 fail over at once to the instance that answers; later requests start there', async () => {
    busySeen = 0
    const { provider, sleeps, calls } = client([deadUrl, busyUrl, proxy.url])
    const message = await encrypt('through the third instance', { provider, context: { n: '1' } })
    expect(calls).toEqual([deadUrl, busyUrl, proxy.url])
    expect(sleeps).toEqual([]) // no wait while an untried URL remained
    expect(busySeen).toBe(1)
    calls.length = 0
    expect(await decryptToString(message, { provider, expectedContext: { n: '1' } })).toBe('through the third instance')
    expect(calls).toEqual([proxy.url])
  })

  test('bounded: when every URL fails, the request ends after its retries with ERR_PROXY_UNAVAILABLE', async () => {
    const { provider, sleeps, calls } = client([deadUrl, busyUrl], { retries: 4 })
    expect(await codeOf(provider.generateDataKey({}))).toBe('ERR_PROXY_UNAVAILABLE')
    expect(calls).toEqual([deadUrl, busyUrl, deadUrl, busyUrl, deadUrl])
    expect(sleeps).toHaveLength(3) // only once each URL had been tried
  })

  test('by default every URL is tried once (retries: one per other URL, at least 2)', async () => {
    const { provider, calls } = client([deadUrl, deadUrl, busyUrl, deadUrl, proxy.url])
    const key = await provider.generateDataKey({})
    expect(key.edeks).toHaveLength(1)
    expect(calls).toHaveLength(5)
  })

  test('a refusal (4xx) is the answer: no other URL is asked', async () => {
    const { provider, calls } = client([proxy.url, busyUrl], { apiKey: 'not-a-key' })
    expect(await codeOf(provider.generateDataKey({}))).toBe('ERR_API_KEY_UNKNOWN')
    expect(calls).toEqual([proxy.url])
  })
})

describe('plain HTTP', () => {
  const make = (baseUrl: string, allowInsecureHttp?: boolean) => () =>
    createKeyProxyClient({ baseUrl, apiKey: 'k', tenant: 't', allowInsecureHttp })
  const codeOfSync = (f: () => unknown) => {
    try {
      f()
    } catch (err) {
      return (err as { code?: string }).code
    }
    return undefined
  }

  test('is refused beyond loopback unless allowed, at creation, before any request', () => {
    for (const url of ['http://keys.example.com', 'http://10.0.0.5:7777', 'http://127.example.com']) {
      expect(codeOfSync(make(url))).toBe('ERR_PROXY_URL')
      expect(codeOfSync(make(url, true))).toBeUndefined()
    }
    expect(
      codeOfSync(() =>
        createKeyProxyClient({ baseUrl: ['https://a.example', 'http://b.example'], apiKey: 'k', tenant: 't' }),
      ),
    ).toBe('ERR_PROXY_URL')
  })

  test('is allowed to loopback; https anywhere; other schemes and unreadable URLs never', () => {
    for (const url of [
      'http://127.0.0.1:7777',
      'http://127.1.2.3',
      'http://localhost:1',
      'http://[::1]:7777',
      'https://keys.example.com/',
    ]) {
      expect(codeOfSync(make(url))).toBeUndefined()
    }
    for (const url of ['ftp://keys.example.com', 'not a url', 'https://keys.example.com/?x=1', 'file:///etc/passwd']) {
      expect(codeOfSync(make(url, true))).toBe('ERR_PROXY_URL')
    }
    expect(codeOfSync(() => createKeyProxyClient({ baseUrl: [], apiKey: 'k', tenant: 't' }))).toBe('ERR_PROXY_URL')
  })
})
