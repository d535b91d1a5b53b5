// The IndexedDB backend in Node on fake-indexeddb: the shared acceptance suite (bare backend and memory + IndexedDB),
// then what only a persistent, shared store has: reopening ("reload"), two connections ("two tabs"), purge on
// open and on writes, and real IndexedDB failures (newer schema, foreign database, deleted under us) falling back.
import 'fake-indexeddb/auto'
import { afterEach, describe, expect, test } from 'vitest'
import type { Suite } from '../../../tests/harness.ts'
import { type DekCache, type DekCacheOptions, openDekCache, openIdbDekCache } from '../src/index.ts'
import { dekCacheSuite } from './conformance/dek-cache-suite.ts'
import {
  captureWarnings,
  fingerprint,
  freshDek,
  localProvider,
  opensWith,
  sealedMessage,
  testClock,
  uniqueName,
} from './conformance/kit.ts'

function register(s: Suite): void {
  describe(s.name, () => {
    for (const t of s.tests) test(t.name, () => t.fn())
  })
}

register(dekCacheSuite('IndexedDB backend (fake-indexeddb)', (o) => openIdbDekCache({ ...o, name: uniqueName('idb') })))
register(
  dekCacheSuite('memory + IndexedDB (fake-indexeddb)', async (o) => {
    const cache = await openDekCache({ ...o, name: uniqueName('tiered') })
    expect(cache.backend).toBe('memory+indexeddb')
    return cache
  }),
)

const opened: DekCache[] = []
afterEach(() => {
  for (const c of opened.splice(0)) c.close()
})

function options(name: string, now: () => number, extra: Partial<DekCacheOptions> = {}) {
  return { name, maxEntries: 10, ttlMs: 60_000, purgeIntervalMs: 3600_000, now, ...extra }
}
async function idb(name: string, now: () => number, extra: Partial<DekCacheOptions> = {}) {
  const cache = await openIdbDekCache(options(name, now, extra))
  opened.push(cache)
  return cache
}
async function tiered(name: string, now: () => number, extra: Partial<DekCacheOptions> = {}) {
  const cache = await openDekCache(options(name, now, extra))
  opened.push(cache)
  return cache
}

function rawOpen(name: string, version: number, upgrade?: (db: IDBDatabase) => void): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(name, version)
    request.onupgradeneeded = () => upgrade?.(request.result)
    request.onsuccess = () => resolve(request.result)
    request.onerror = () => reject(request.error)
  })
}

describe('IndexedDB: persistence and sharing', () => {
  test('entries survive closing and reopening the database (a reload), still non-extractable and usable', async () => {
    const name = uniqueName('reload')
    const clock = testClock()
    const sealed = await sealedMessage(await localProvider(), 'after reload')
    const first = await idb(name, clock.now)
    await first.set('acme', 'k', sealed.dek)
    first.close()
    const second = await idb(name, clock.now)
    const back = await second.get('acme', 'k')
    expect(back?.extractable).toBe(false)
    expect(await opensWith(back!, sealed.message)).toBe('after reload')
  })

  test('expired entries are purged on open', async () => {
    const name = uniqueName('purge-open')
    const clock = testClock()
    const first = await idb(name, clock.now)
    await first.set('t', 'short', await freshDek(), { ttlMs: 100 })
    await first.set('t', 'long', await freshDek())
    first.close()
    clock.advance(100)
    const second = await idb(name, clock.now)
    expect(await second.size()).toBe(1)
  })

  test('expired entries are purged by a write once purgeIntervalMs has passed, not before', async () => {
    const clock = testClock()
    const cache = await idb(uniqueName('purge-periodic'), clock.now, { purgeIntervalMs: 1000 })
    await cache.set('t', 'short', await freshDek(), { ttlMs: 10 })
    clock.advance(500)
    await cache.set('t', 'a', await freshDek())
    expect(await cache.size()).toBe(2) // expired but not yet purged (and never served: see the suite)
    clock.advance(500)
    await cache.set('t', 'b', await freshDek())
    expect(await cache.size()).toBe(2)
    expect(await cache.get('t', 'a')).toBeDefined()
  })

  test('two tabs writing and reading at once: all writes land, the bound holds, reads see the other tab', async () => {
    const name = uniqueName('two-tabs')
    const clock = testClock()
    const [a, b] = [await idb(name, clock.now, { maxEntries: 50 }), await idb(name, clock.now, { maxEntries: 50 })]
    const dek = await freshDek()
    const writes: Promise<unknown>[] = []
    for (let i = 0; i < 40; i++) {
      writes.push(a.set('t', `a${i}`, dek), b.set('t', `b${i}`, dek), a.get('t', `b${i}`), b.get('t', `a${i}`))
      writes.push(a.set('t', 'shared', dek), b.set('t', 'shared', dek)) // same entry from both: last write wins
    }
    await Promise.all(writes)
    expect(await a.size()).toBe(50) // 81 distinct entries written, bounded to 50 across both tabs
    expect(await b.size()).toBe(50)
    expect(await a.get('t', 'shared')).toBeDefined()
    expect(await a.get('t', 'b39')).toBeDefined() // the newest writes of the other tab survive eviction
    expect(await b.get('t', 'a39')).toBeDefined()
  })

  test('a tab sees entries the other tab stored; a logout in one tab empties the other tab memory tier', async () => {
    const name = uniqueName('tabs-tiered')
    const clock = testClock()
    const [a, b] = [await tiered(name, clock.now), await tiered(name, clock.now)]
    const dek = await freshDek()
    await a.set('acme', 'k', dek)
    await a.set('globex', 'k', dek)
    const inB = await b.get('acme', 'k') // from IndexedDB, now also in b's memory tier
    expect(await fingerprint(inB!)).toBe(await fingerprint(dek))
    expect(await b.get('globex', 'k')).toBeDefined()
    await a.clearPartition('acme')
    // b's memory tier learns it from a's message (BroadcastChannel): wait for it, a bounded number of turns.
    let gone = false
    for (let turn = 0; turn < 1000 && !gone; turn++) {
      gone = (await b.get('acme', 'k')) === undefined
      if (!gone) await new Promise((resolve) => setTimeout(resolve, 0))
    }
    expect(gone).toBe(true)
    expect(await b.get('globex', 'k')).toBeDefined()
    expect(b.backend).toBe('memory+indexeddb')
  })
})

describe('IndexedDB failures fall back to memory', () => {
  test('a database of a newer schema (VersionError): openIdbDekCache rejects, openDekCache degrades', async () => {
    const name = uniqueName('newer')
    ;(await rawOpen(name, 5)).close()
    const err = await openIdbDekCache(options(name, Date.now)).catch((e) => e)
    expect(err.code).toBe('ERR_CACHE_UNAVAILABLE')
    expect(err.cause.name).toBe('VersionError')
    const { result: cache, warnings } = await captureWarnings(() => tiered(name, Date.now))
    expect(cache.backend).toBe('memory')
    expect(warnings).toEqual([
      'envelope idb-cache: IndexedDB unavailable (VersionError); caching data keys in memory only',
    ])
    await cache.set('t', 'k', await freshDek())
    expect(await cache.get('t', 'k')).toBeDefined()
  })

  test('a database of the same name made by something else (no DEK store) is not used', async () => {
    const name = uniqueName('foreign')
    ;(await rawOpen(name, 1, (db) => db.createObjectStore('other'))).close()
    await expect(openIdbDekCache(options(name, Date.now))).rejects.toMatchObject({ code: 'ERR_CACHE_UNAVAILABLE' })
    const { result: cache, warnings } = await captureWarnings(() => tiered(name, Date.now))
    expect(cache.backend).toBe('memory')
    expect(warnings).toHaveLength(1)
  })

  test('the database deleted by another tab: the open cache degrades to memory with one warning, keeps working', async () => {
    const name = uniqueName('deleted')
    const { result, warnings } = await captureWarnings(async () => {
      const cache = await tiered(name, Date.now)
      const bare = await idb(name, Date.now)
      const dek = await freshDek()
      await cache.set('t', 'before', dek)
      await new Promise<void>((resolve, reject) => {
        const request = indexedDB.deleteDatabase(name) // closes our connections through versionchange
        request.onsuccess = () => resolve()
        request.onerror = () => reject(request.error)
      })
      const bareError = await bare.get('t', 'before').catch((e) => e)
      await cache.set('t', 'after', dek)
      const outcome = {
        bareCode: bareError.code,
        backend: cache.backend,
        before: await cache.get('t', 'before'),
        after: await cache.get('t', 'after'),
      }
      await cache.set('t', 'again', dek)
      return outcome
    })
    expect(result.bareCode).toBe('ERR_CACHE_UNAVAILABLE')
    expect(result.backend).toBe('memory')
    expect(result.before).toBeDefined() // still in the memory tier
    expect(result.after).toBeDefined()
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).not.toMatch(/before|after/)
  })
})

test('a full disk (QuotaExceededError on put): the cache keeps working from memory, warns once, loses nothing', async () => {
  const clock = testClock()
  const cache = await openDekCache({ maxEntries: 10, ttlMs: 60_000, now: clock.now, name: uniqueName('quota') })
  opened.push(cache)
  expect(cache.backend).toBe('memory+indexeddb')
  const before = await freshDek()
  await cache.set('acme', 'k1', before)
  const put = IDBObjectStore.prototype.put
  IDBObjectStore.prototype.put = () => {
    throw new DOMException('the disk is full', 'QuotaExceededError')
  }
  try {
    const after = await freshDek()
    const { warnings } = await captureWarnings(async () => {
      await cache.set('acme', 'k2', after)
      await cache.set('acme', 'k3', await freshDek())
    })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain('QuotaExceededError')
    expect(cache.backend).toBe('memory')
    expect(await fingerprint((await cache.get('acme', 'k2'))!)).toBe(await fingerprint(after))
    expect(await fingerprint((await cache.get('acme', 'k1'))!)).toBe(await fingerprint(before))
  } finally {
    IDBObjectStore.prototype.put = put
  }
})
