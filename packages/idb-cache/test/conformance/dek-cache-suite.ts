// The acceptance suite every DekCache backend passes (memory, IndexedDB, memory+IndexedDB, degraded), in the
// manner of automerge-repo's runStorageAdapterTests: each backend's runner calls dekCacheSuite with a factory.
import { readHeader } from '@envelope/core'
import { assert, assertEqual, assertRejectsCode, type Suite, suite } from '../../../../tests/harness.ts'
import { type DekCache, type DekCacheOptions, dekCacheKey } from '../../src/index.ts'
import { fingerprint, freshDek, localProvider, opensWith, sealedMessage, type TestClock, testClock } from './kit.ts'

/** Makes a fresh, empty cache (a new database per call for persistent backends). */
export type MakeDekCache = (options: DekCacheOptions & { now: () => number }) => Promise<DekCache>

/** Options of a test cache: a long purge interval, so expiry is proven on read, not by a purge. */
const base = (clock: TestClock, extra: Partial<DekCacheOptions> = {}) => ({
  maxEntries: 10,
  ttlMs: 60_000,
  purgeIntervalMs: 24 * 3600_000,
  now: clock.now,
  ...extra,
})

async function using<T>(cache: DekCache, work: (cache: DekCache) => Promise<T>): Promise<T> {
  try {
    return await work(cache)
  } finally {
    cache.close()
  }
}

export function dekCacheSuite(name: string, makeCache: MakeDekCache): Suite {
  return suite(name, (test) => {
    test('a DEK read back is the same non-extractable CryptoKey and opens a message made with the core', async () => {
      const clock = testClock()
      await using(await makeCache(base(clock)), async (cache) => {
        const provider = await localProvider()
        const sealed = await sealedMessage(provider, 'opened from the cache')
        const key = await dekCacheKey(sealed.edeks, sealed.context)
        await cache.set('acme', key, sealed.dek)
        const back = await cache.get('acme', key)
        assert(back !== undefined, 'hit')
        assertEqual(Object.prototype.toString.call(back), '[object CryptoKey]')
        assertEqual(back.extractable, false, 'still non-extractable')
        assertEqual(back.algorithm.name, 'HKDF')
        await assertRejectsCode(
          crypto.subtle.exportKey('raw', back).then(
            () => undefined,
            () => Promise.reject({ code: 'EXPORT_REFUSED' }),
          ),
          'EXPORT_REFUSED',
        )
        assertEqual(await opensWith(back, sealed.message), 'opened from the cache')
        assertEqual(await fingerprint(back), await fingerprint(sealed.dek))
      })
    })

    test('a miss is undefined; partitions and keys do not leak into each other', async () => {
      await using(await makeCache(base(testClock())), async (cache) => {
        const dek = await freshDek()
        assertEqual(await cache.get('acme', 'k1'), undefined)
        await cache.set('acme', 'k1', dek)
        assertEqual(await cache.get('globex', 'k1'), undefined, 'other partition')
        assertEqual(await cache.get('acme', 'k2'), undefined, 'other key')
        // Partition/key pairs that a naive separator would confuse stay distinct.
        await cache.set('a', 'b:c', dek)
        assertEqual(await cache.get('a:b', 'c'), undefined)
        assertEqual(await cache.size(), 2)
      })
    })

    test('an entry is never served at or after its expiry, even with no purge', async () => {
      const clock = testClock()
      await using(await makeCache(base(clock, { ttlMs: 1000 })), async (cache) => {
        await cache.set('acme', 'k', await freshDek())
        clock.advance(999)
        const entry = await cache.getEntry('acme', 'k')
        assert(entry !== undefined, 'served 1 ms before expiry')
        assertEqual(entry.expiresAt, clock.now() + 1)
        clock.advance(1)
        assertEqual(await cache.get('acme', 'k'), undefined, 'not served at expiry')
        clock.advance(1_000_000)
        assertEqual(await cache.get('acme', 'k'), undefined, 'nor later')
      })
    })

    test('a per-entry TTL can shorten the lifetime but never lengthen it', async () => {
      const clock = testClock()
      await using(await makeCache(base(clock, { ttlMs: 1000 })), async (cache) => {
        await cache.set('acme', 'short', await freshDek(), { ttlMs: 10 })
        await cache.set('acme', 'long', await freshDek(), { ttlMs: 5000 })
        await cache.set('acme', 'until', await freshDek(), { expiresAt: clock.now() + 5000 })
        clock.advance(10)
        assertEqual(await cache.get('acme', 'short'), undefined)
        clock.advance(989)
        assert(await cache.get('acme', 'long'), 'long alive at 999 ms')
        assert(await cache.get('acme', 'until'), 'until alive at 999 ms')
        clock.advance(1)
        assertEqual(await cache.get('acme', 'long'), undefined, 'capped at the cache TTL')
        assertEqual(await cache.get('acme', 'until'), undefined, 'expiresAt capped at the cache TTL')
        await cache.set('acme', 'past', await freshDek(), { expiresAt: clock.now() })
        assertEqual(await cache.get('acme', 'past'), undefined, 'an already expired entry is not stored')
      })
    })

    test('when full, the least recently used entry is evicted', async () => {
      const clock = testClock() // the clock stands still: order must not depend on distinct timestamps
      await using(await makeCache(base(clock, { maxEntries: 3 })), async (cache) => {
        for (const k of ['a', 'b', 'c']) await cache.set('t', k, await freshDek())
        assert(await cache.get('t', 'a'), 'a hit makes a the most recently used')
        await cache.set('t', 'd', await freshDek())
        assertEqual(await cache.get('t', 'b'), undefined, 'b was least recently used')
        for (const k of ['a', 'c', 'd']) assert(await cache.get('t', k), `${k} kept`)
        assertEqual(await cache.size(), 3)
        // Now the order is a, c, d (by these gets); rewriting c makes it newest.
        await cache.set('t', 'c', await freshDek())
        await cache.set('t', 'e', await freshDek())
        assertEqual(await cache.get('t', 'a'), undefined, 'a was least recently used')
        for (const k of ['c', 'd', 'e']) assert(await cache.get('t', k), `${k} kept`)
      })
    })

    test('expired entries are evicted before live ones', async () => {
      const clock = testClock()
      await using(await makeCache(base(clock, { maxEntries: 2 })), async (cache) => {
        await cache.set('t', 'old-but-live', await freshDek())
        await cache.set('t', 'new-but-short', await freshDek(), { ttlMs: 10 })
        clock.advance(20)
        await cache.set('t', 'newest', await freshDek())
        assert(await cache.get('t', 'old-but-live'), 'the live entry survives although least recently used')
        assert(await cache.get('t', 'newest'))
        assertEqual(await cache.size(), 2)
      })
    })

    test('clearPartition removes one tenant only (logout)', async () => {
      await using(await makeCache(base(testClock())), async (cache) => {
        const dek = await freshDek()
        for (const k of ['1', '2', '3']) await cache.set('acme', k, dek)
        await cache.set('acme-2', '1', dek) // a partition whose name extends another's
        await cache.set('globex', '1', dek)
        await cache.set('', '1', dek) // the empty partition is a partition like any other
        await cache.clearPartition('acme')
        for (const k of ['1', '2', '3']) assertEqual(await cache.get('acme', k), undefined)
        assert(await cache.get('acme-2', '1'), 'acme-2 kept')
        assert(await cache.get('globex', '1'), 'globex kept')
        assert(await cache.get('', '1'), 'empty partition kept')
        assertEqual(await cache.size(), 3)
      })
    })

    test('delete removes one entry; clear removes all', async () => {
      await using(await makeCache(base(testClock())), async (cache) => {
        const dek = await freshDek()
        await cache.set('acme', '1', dek)
        await cache.set('acme', '2', dek)
        await cache.set('globex', '1', dek)
        await cache.delete('acme', '1')
        assertEqual(await cache.get('acme', '1'), undefined)
        assert(await cache.get('acme', '2'))
        await cache.clear()
        assertEqual(await cache.size(), 0)
        assertEqual(await cache.get('globex', '1'), undefined)
      })
    })

    test('purge removes expired entries and reports how many', async () => {
      const clock = testClock()
      await using(await makeCache(base(clock, { ttlMs: 1000 })), async (cache) => {
        await cache.set('t', 'short-1', await freshDek(), { ttlMs: 100 })
        await cache.set('t', 'short-2', await freshDek(), { ttlMs: 100 })
        await cache.set('t', 'long', await freshDek())
        clock.advance(100)
        assertEqual(await cache.purge(), 2)
        assertEqual(await cache.size(), 1)
        assertEqual(await cache.purge(), 0)
      })
    })

    test('a write replaces the entry (last write wins)', async () => {
      await using(await makeCache(base(testClock())), async (cache) => {
        const first = await freshDek()
        const second = await freshDek()
        await cache.set('t', 'k', first)
        await cache.set('t', 'k', second)
        const back = await cache.get('t', 'k')
        assert(back)
        assertEqual(await fingerprint(back), await fingerprint(second))
        assertEqual(await cache.size(), 1)
      })
    })

    test('extractable keys, non-keys and bad ids are refused with ERR_INVALID_ARGUMENT', async () => {
      await using(await makeCache(base(testClock())), async (cache) => {
        const extractable = await crypto.subtle.importKey(
          'raw',
          crypto.getRandomValues(new Uint8Array(32)),
          { name: 'HMAC', hash: 'SHA-256' },
          true,
          ['sign'],
        )
        await assertRejectsCode(cache.set('t', 'k', extractable), 'ERR_INVALID_ARGUMENT')
        const bytes = crypto.getRandomValues(new Uint8Array(32)) as unknown as CryptoKey
        await assertRejectsCode(cache.set('t', 'k', bytes), 'ERR_INVALID_ARGUMENT')
        await assertRejectsCode(cache.set('t', '', await freshDek()), 'ERR_INVALID_ARGUMENT')
        await assertRejectsCode(cache.get(42 as unknown as string, 'k'), 'ERR_INVALID_ARGUMENT')
        await assertRejectsCode(cache.set('t', 'k', await freshDek(), { ttlMs: 0 }), 'ERR_INVALID_ARGUMENT')
        assertEqual(await cache.size(), 0, 'nothing was stored')
      })
    })

    test('bad options are refused with ERR_INVALID_ARGUMENT', async () => {
      const clock = testClock()
      for (const bad of [{ maxEntries: 0 }, { ttlMs: -1 }, { ttlMs: Number.NaN }, { maxEntries: 1.5 }]) {
        await assertRejectsCode(async () => (await makeCache(base(clock, bad))).close(), 'ERR_INVALID_ARGUMENT')
      }
    })

    test('the cache key changes with the context and with the EDEKs', async () => {
      const provider = await localProvider()
      const sealed = await sealedMessage(provider)
      const k1 = await dekCacheKey(sealed.edeks, sealed.context)
      assertEqual(k1, await dekCacheKey(readHeader(sealed.message).edeks, { ...sealed.context }), 'stable')
      assertEqual(k1.length, 64)
      assert(k1 !== (await dekCacheKey(sealed.edeks, { ...sealed.context, doc: '2' })), 'context changes the key')
      assert(k1 !== (await dekCacheKey(sealed.edeks, {})), 'an empty context is another key')
      const other = await sealedMessage(provider)
      assert(k1 !== (await dekCacheKey(other.edeks, other.context)), 'another EDEK, another key')
      const both = [...sealed.edeks, ...other.edeks]
      assert(
        (await dekCacheKey(both, sealed.context)) !== (await dekCacheKey([...both].reverse(), sealed.context)),
        'order counts',
      )
      await assertRejectsCode(dekCacheKey([], {}), 'ERR_INVALID_ARGUMENT')
    })
  })
}
