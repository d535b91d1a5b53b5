// openDekCache degrades to memory, never fails: IndexedDB missing, refusing to open, or never opening. The broken
// factories here stand for what browsers do (Chromium on an opaque origin, Firefox private mode, a WebKit open
// that never completes); real IndexedDB failures are tested in Node (fake-indexeddb) and in the browser specs.
import { assert, assertEqual, assertRejectsCode, suite } from '../../../../tests/harness.ts'
import { openDekCache, openIdbDekCache } from '../../src/index.ts'
import { captureWarnings, fingerprint, freshDek, testClock, uniqueName } from './kit.ts'

const options = () => ({ name: uniqueName('fallback'), maxEntries: 10, ttlMs: 60_000, now: testClock().now })

/** An IDBFactory that refuses like a browser with storage disabled. */
const refusing = {
  open() {
    throw new DOMException('The operation is insecure.', 'SecurityError')
  },
} as unknown as IDBFactory

/** An IDBFactory whose open request never completes. */
const hanging = {
  open: () => ({}) as IDBOpenDBRequest,
} as unknown as IDBFactory

export default suite('idb-cache: fallback to memory', (test) => {
  test('no IndexedDB (indexedDB: null): memory only, and no warning since the caller asked for it', async () => {
    const { result: cache, warnings } = await captureWarnings(() => openDekCache({ ...options(), indexedDB: null }))
    assertEqual(cache.backend, 'memory')
    assertEqual(warnings.length, 0)
    await cache.set('t', 'k', await freshDek())
    assert(await cache.get('t', 'k'))
    cache.close()
  })

  test('IndexedDB refusing to open (SecurityError): memory, one warning naming the error and no key', async () => {
    const { result, warnings } = await captureWarnings(async () => {
      const cache = await openDekCache({ ...options(), indexedDB: refusing })
      const dek = await freshDek()
      for (let i = 0; i < 3; i++) await cache.set('acme', `k${i}`, dek)
      const back = await cache.get('acme', 'k1')
      assert(back, 'the memory tier serves')
      const result = { backend: cache.backend, fp: await fingerprint(back) }
      cache.close()
      return result
    })
    assertEqual(result.backend, 'memory')
    assertEqual(warnings.length, 1, 'warned once')
    assert(warnings[0]!.includes('SecurityError'), warnings[0])
    assert(!warnings[0]!.includes(result.fp), 'no key material')
    assert(!/acme|k1/.test(warnings[0]!), 'no partition or cache key either')
  })

  test('IndexedDB that never opens: memory after openTimeoutMs', async () => {
    const { result: cache, warnings } = await captureWarnings(() =>
      openDekCache({ ...options(), indexedDB: hanging, openTimeoutMs: 1 }),
    )
    assertEqual(cache.backend, 'memory')
    assertEqual(warnings.length, 1)
    await cache.set('t', 'k', await freshDek())
    assert(await cache.get('t', 'k'))
    cache.close()
  })

  test('openIdbDekCache itself rejects with ERR_CACHE_UNAVAILABLE in those cases', async () => {
    await assertRejectsCode(openIdbDekCache({ ...options(), indexedDB: null }), 'ERR_CACHE_UNAVAILABLE')
    const refused = await assertRejectsCode(
      openIdbDekCache({ ...options(), indexedDB: refusing }),
      'ERR_CACHE_UNAVAILABLE',
    )
    assertEqual((refused.cause as DOMException).name, 'SecurityError', 'the browser error is kept as cause')
    await assertRejectsCode(
      openIdbDekCache({ ...options(), indexedDB: hanging, openTimeoutMs: 1 }),
      'ERR_CACHE_UNAVAILABLE',
    )
  })

  test('bad options are a caller error (ERR_INVALID_ARGUMENT), not a fallback', async () => {
    await assertRejectsCode(openDekCache({ ...options(), ttlMs: 0 }), 'ERR_INVALID_ARGUMENT')
  })

  test("with this runtime's own storage the cache works: IndexedDB where there is one, memory elsewhere", async () => {
    const { result: cache } = await captureWarnings(() => openDekCache(options()))
    try {
      assertEqual(cache.backend, typeof indexedDB === 'undefined' ? 'memory' : 'memory+indexeddb')
      await cache.set('t', 'k', await freshDek())
      assert(await cache.get('t', 'k'))
    } finally {
      await cache.clear()
      cache.close()
    }
  })
})
