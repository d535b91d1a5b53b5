// withDekCache in every runtime (memory cache): hits never reach the inner provider, misses are single-flight,
// entries expire, partitions separate tenants, batches, cancellation, and a broken cache is only a miss.
import { decrypt, decryptToString, encrypt, type KeyProvider, readHeader } from '@envelope/core'
import { assert, assertEqual, assertRejectsCode, suite } from '../../../../tests/harness.ts'
import { createMemoryDekCache, type DekCache, withDekCache } from '../../src/index.ts'
import { counting, localProvider, sealedMessage, type TestClock, testClock, until } from './kit.ts'

async function setup(clock: TestClock = testClock(), ttlMs = 60_000) {
  const inner = counting(await localProvider())
  const cache = createMemoryDekCache({ maxEntries: 100, ttlMs, now: clock.now })
  const provider = withDekCache(inner, cache, { partition: 'acme' })
  return { inner, cache, provider, clock }
}

/** Wraps a cache to count completed gets (to know when concurrent callers are past the cache). */
function countingCache(cache: DekCache): DekCache & { gets: number } {
  const wrapped = Object.create(cache) as DekCache & { gets: number }
  wrapped.gets = 0
  wrapped.get = async (partition, key) => {
    const dek = await cache.get(partition, key)
    wrapped.gets++
    return dek
  }
  return wrapped
}

export default suite('idb-cache: withDekCache', (test) => {
  test('the second open of a message is a cache hit: the inner provider is called once', async () => {
    const { inner, provider } = await setup()
    const context = { tenant: 'acme', doc: 'a' }
    const message = await encrypt('twice', { provider, context })
    for (let i = 0; i < 3; i++) assertEqual(await decryptToString(message, { provider }), 'twice')
    assertEqual(inner.calls.unwrap, 1)
    assertEqual(inner.calls.generate, 1, 'generateDataKey is passed through')
  })

  test('after the TTL the DEK is unwrapped again', async () => {
    const { inner, provider, clock } = await setup(testClock(), 1000)
    const message = await encrypt('ttl', { provider })
    await decrypt(message, { provider })
    clock.advance(999)
    await decrypt(message, { provider })
    assertEqual(inner.calls.unwrap, 1)
    clock.advance(1)
    await decrypt(message, { provider })
    assertEqual(inner.calls.unwrap, 2)
  })

  test('another context is another cache key: a cached DEK never opens an EDEK under a different context', async () => {
    const { inner, provider } = await setup()
    const sealed = await sealedMessage(inner, 'ctx', { tenant: 'acme', doc: '1' })
    await provider.unwrapDataKey(sealed.edeks, sealed.context)
    const before = inner.calls.unwrap
    await assertRejectsCode(provider.unwrapDataKey(sealed.edeks, { tenant: 'acme', doc: '2' }), 'ERR_KEY_UNAVAILABLE')
    assertEqual(inner.calls.unwrap, before + 1, 'the inner provider was asked, and refused')
  })

  test('concurrent opens of the same EDEK make one inner call', async () => {
    const inner = counting(await localProvider())
    const cache = countingCache(createMemoryDekCache({ maxEntries: 10, ttlMs: 60_000 }))
    const provider = withDekCache(inner, cache, { partition: 'acme' })
    const message = await encrypt('together', { provider })
    inner.hold()
    const opens = Array.from({ length: 8 }, () => decryptToString(message, { provider }))
    await until(() => cache.gets === 8, 'all 8 opens to miss the cache')
    await new Promise((resolve) => setTimeout(resolve, 0)) // one turn: every miss has joined the flight
    inner.release()
    for (const text of await Promise.all(opens)) assertEqual(text, 'together')
    assertEqual(inner.calls.unwrap, 1)
  })

  test('a caller that aborts does not cancel the shared unwrap for the others', async () => {
    const inner = counting(await localProvider())
    const cache = countingCache(createMemoryDekCache({ maxEntries: 10, ttlMs: 60_000 }))
    const provider = withDekCache(inner, cache, { partition: 'acme' })
    const sealed = await sealedMessage(inner)
    const first = inner.calls.unwrap
    inner.hold()
    const controller = new AbortController()
    const aborted = provider.unwrapDataKey(sealed.edeks, sealed.context, { signal: controller.signal })
    await until(() => inner.calls.unwrap === first + 1, 'the inner call')
    const other = provider.unwrapDataKey(sealed.edeks, sealed.context)
    await until(() => cache.gets === 2, 'the second caller to miss the cache')
    await new Promise((resolve) => setTimeout(resolve, 0)) // one turn: it has joined the flight
    controller.abort()
    await assertRejectsCode(aborted, 'ERR_ABORTED')
    assertEqual(inner.signals.at(-1)?.aborted, false, 'the inner call is still running for the other caller')
    inner.release()
    assertEqual((await other).extractable, false)
    assertEqual(inner.calls.unwrap, first + 1)
  })

  test('when every caller aborts, the inner call is cancelled and nothing is cached', async () => {
    const { inner, provider, cache } = await setup()
    const sealed = await sealedMessage(inner)
    inner.hold()
    const controller = new AbortController()
    const call = provider.unwrapDataKey(sealed.edeks, sealed.context, { signal: controller.signal })
    await until(() => inner.signals.length > 0 && inner.calls.unwrap === 2, 'the inner call')
    controller.abort()
    await assertRejectsCode(call, 'ERR_ABORTED')
    assertEqual(inner.signals.at(-1)?.aborted, true)
    inner.release()
    assertEqual(await cache.size(), 0)
  })

  test('a partition function separates tenants: the same EDEK costs one unwrap per partition', async () => {
    const inner = counting(await localProvider())
    const cache = createMemoryDekCache({ maxEntries: 10, ttlMs: 60_000 })
    let user = 'alice'
    const provider = withDekCache(inner, cache, { partition: (context) => `${context.tenant}/${user}` })
    const message = await encrypt('per user', { provider, context: { tenant: 'acme' } })
    await decrypt(message, { provider })
    await decrypt(message, { provider })
    user = 'bob'
    await decrypt(message, { provider })
    assertEqual(inner.calls.unwrap, 2)
    await cache.clearPartition('acme/alice') // alice logs out
    user = 'alice'
    await decrypt(message, { provider })
    assertEqual(inner.calls.unwrap, 3)
    const bad = withDekCache(inner, cache, { partition: () => 42 as unknown as string })
    await assertRejectsCode(decrypt(message, { provider: bad }), 'ERR_INVALID_ARGUMENT')
  })

  test('batches: hits answered from the cache, duplicate misses asked once, one inner batch', async () => {
    const { inner, provider } = await setup()
    const messages = await Promise.all(['a', 'b', 'c'].map((doc) => encrypt(doc, { provider, context: { doc } })))
    const requests = messages.map((m) => {
      const h = readHeader(m)
      return { edeks: h.edeks, context: h.context }
    })
    await provider.unwrapDataKey(requests[0]!.edeks, requests[0]!.context) // a is cached
    const before = { ...inner.calls }
    const bad = { edeks: requests[1]!.edeks, context: { doc: 'wrong' } }
    const results = await provider.unwrapDataKeys([requests[0]!, requests[1]!, requests[2]!, requests[1]!, bad])
    assertEqual(inner.calls.unwrapBatch, before.unwrapBatch + 1)
    assertEqual(inner.calls.batchItems - before.batchItems, 3, 'b, c and the bad one; a was a hit, b asked once')
    assertEqual(results.map((r) => r.ok).join(), 'true,true,true,true,false')
    const failed = results[4]!
    assertEqual(failed.ok ? '' : failed.error.code, 'ERR_KEY_UNAVAILABLE')
    const again = await provider.unwrapDataKeys(requests)
    assert(
      again.every((r) => r.ok),
      'all hits',
    )
    assertEqual(inner.calls.unwrapBatch, before.unwrapBatch + 1, 'the second batch was all hits')
  })

  test('a cache that fails is a miss, never a failed decrypt', async () => {
    const inner = counting(await localProvider())
    const broken: DekCache = {
      backend: 'memory',
      get: () => Promise.reject(new Error('storage exploded')),
      getEntry: () => Promise.reject(new Error('storage exploded')),
      set: () => Promise.reject(new Error('storage exploded')),
      delete: async () => {},
      clearPartition: async () => {},
      clear: async () => {},
      purge: async () => 0,
      size: async () => 0,
      close: () => {},
    }
    const provider: KeyProvider = withDekCache(inner, broken, { partition: 'acme' })
    const message = await encrypt('still opens', { provider })
    assertEqual(await decryptToString(message, { provider }), 'still opens')
    assertEqual(inner.calls.unwrap, 1)
  })

  test('misuse is refused with ERR_INVALID_ARGUMENT', async () => {
    const { inner, cache } = await setup()
    await assertRejectsCode(async () => withDekCache(inner, cache, {} as never), 'ERR_INVALID_ARGUMENT')
    await assertRejectsCode(async () => withDekCache({} as never, cache, { partition: 'a' }), 'ERR_INVALID_ARGUMENT')
    await assertRejectsCode(async () => withDekCache(inner, {} as never, { partition: 'a' }), 'ERR_INVALID_ARGUMENT')
  })
})
