// Against a real key proxy process (packages/key-proxy, on 127.0.0.1): the cache saves unwraps at the proxy, counted
// from the proxy's own audit log; and data key reuse saves generates the same way.
import 'fake-indexeddb/auto'
import { decryptToString, encrypt, withDataKeyReuse } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { hashKey, type RunningProxy, startProxy } from '../../key-proxy/test/proxy-process.ts'
import { openDekCache, withDekCache } from '../src/index.ts'
import { testClock, uniqueName } from './conformance/kit.ts'

const API_KEY = 'acme-cache-test-key'
let proxy: RunningProxy

const audited = (action: string) => proxy.auditLines().filter((l) => l.action === action).length
const client = () => createKeyProxyClient({ baseUrl: proxy.url, apiKey: API_KEY, tenant: 'acme', retries: 0 })

beforeAll(async () => {
  proxy = await startProxy({
    tenants: ['acme'],
    apiKeys: [{ id: 'acme-svc', sha256: await hashKey(API_KEY), tenants: ['acme'] }],
  })
})

afterAll(async () => {
  await proxy?.stop()
})

describe('DEK cache against a real proxy', () => {
  test('N opens of one EDEK within the TTL cost one unwrap at the proxy; after expiry, one more', async () => {
    const clock = testClock()
    const name = uniqueName('proxy')
    const cache = await openDekCache({ name, maxEntries: 100, ttlMs: 60_000, now: clock.now })
    expect(cache.backend).toBe('memory+indexeddb')
    const provider = withDekCache(client(), cache, { partition: 'acme' })
    const context = { tenant: 'acme', doc: 'cached' }
    const message = await encrypt('opened through the cache', { provider, context })
    const before = audited('unwrap')

    for (let i = 0; i < 5; i++) expect(await decryptToString(message, { provider })).toBe('opened through the cache')
    const opens = await Promise.all(Array.from({ length: 5 }, () => decryptToString(message, { provider })))
    expect(opens.every((t) => t === 'opened through the cache')).toBe(true)
    expect(audited('unwrap') - before).toBe(1)

    // A reload: a new cache on the same database has an empty memory tier but finds the DEK in IndexedDB.
    cache.close()
    const reloaded = await openDekCache({ name, maxEntries: 100, ttlMs: 60_000, now: clock.now })
    const afterReload = withDekCache(client(), reloaded, { partition: 'acme' })
    expect(await decryptToString(message, { provider: afterReload })).toBe('opened through the cache')
    expect(audited('unwrap') - before).toBe(1)

    clock.advance(60_000) // the TTL has passed: the next open asks the proxy again, once
    for (let i = 0; i < 3; i++) await decryptToString(message, { provider: afterReload })
    expect(audited('unwrap') - before).toBe(2)
    reloaded.close()
  })

  test('concurrent cold opens of one EDEK make one unwrap at the proxy', async () => {
    const cache = await openDekCache({ name: uniqueName('proxy-cold'), maxEntries: 100, ttlMs: 60_000 })
    const provider = withDekCache(client(), cache, { partition: 'acme' })
    const message = await encrypt('cold', { provider, context: { tenant: 'acme', doc: 'cold' } })
    const before = audited('unwrap')
    const opens = await Promise.all(Array.from({ length: 8 }, () => decryptToString(message, { provider })))
    expect(opens).toEqual(Array(8).fill('cold'))
    expect(audited('unwrap') - before).toBe(1)
    cache.close()
  })

  test('data key reuse: N encrypts of one context cost one generate at the proxy, and all open', async () => {
    const provider = withDataKeyReuse(client(), { maxAgeMs: 60_000, maxMessages: 4 })
    const before = audited('generate')
    const messages = []
    for (let i = 0; i < 8; i++) messages.push(await encrypt(`m${i}`, { provider, context: { tenant: 'acme' } }))
    expect(audited('generate') - before).toBe(2) // 8 messages, 4 per DEK
    for (let i = 0; i < 8; i++) expect(await decryptToString(messages[i]!, { provider: client() })).toBe(`m${i}`)
  })
})
