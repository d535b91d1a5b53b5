// The idb-cache browser tests, shared by the Chromium (Playwright) and Firefox (puppeteer) specs. Each tab is the
// conformance page (http://127.0.0.1:5174, a secure context) with ./kit.ts imported into it through Vite's /@fs/.
import { fileURLToPath } from 'node:url'
import { expect, test } from '@playwright/test'
import { conformancePageUrl, pageIsReady } from '../../../../tests/runtimes/browser/page.ts'
import type * as Kit from './kit.ts'

type KitApi = typeof Kit
type Method = keyof KitApi
type Args<M extends Method> = Parameters<KitApi[M]>
type Result<M extends Method> = Awaited<ReturnType<KitApi[M]>>

/** What the specs need from a page: Playwright's and puppeteer's Page both fit. */
export interface AnyPage {
  goto(url: string): Promise<unknown>
  reload(): Promise<unknown>
  close(): Promise<void>
  waitForFunction(fn: () => boolean): Promise<unknown>
  evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>
}

/** A tab running the kit. */
export interface Tab {
  call<M extends Method>(method: M, ...args: Args<M>): Promise<Result<M>>
  reload(): Promise<void>
  close(): Promise<void>
}

export const kitUrl = `/@fs${fileURLToPath(new URL('./kit.ts', import.meta.url))}`

export async function openTab(page: AnyPage): Promise<Tab> {
  await page.goto(conformancePageUrl)
  await page.waitForFunction(pageIsReady)
  return {
    call: <M extends Method>(method: M, ...args: Args<M>) =>
      page.evaluate(
        async ({ url, method, args }: { url: string; method: string; args: unknown[] }) => {
          const g = globalThis as unknown as { __idbCacheKit?: Record<string, (...a: unknown[]) => unknown> }
          g.__idbCacheKit ??= await import(/* @vite-ignore */ url)
          return g.__idbCacheKit![method]!(...args)
        },
        { url: kitUrl, method, args },
      ) as Promise<Result<M>>,
    async reload() {
      await page.reload()
      await page.waitForFunction(pageIsReady)
    },
    close: () => page.close(),
  }
}

const unique = (prefix: string) => `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`

/** The acceptance suite's test names (the same list the kit builds in the page). */
export const acceptanceNames: string[] = [
  'a DEK read back is the same non-extractable CryptoKey and opens a message made with the core',
  'a miss is undefined; partitions and keys do not leak into each other',
  'an entry is never served at or after its expiry, even with no purge',
  'a per-entry TTL can shorten the lifetime but never lengthen it',
  'when full, the least recently used entry is evicted',
  'expired entries are evicted before live ones',
  'clearPartition removes one tenant only (logout)',
  'delete removes one entry; clear removes all',
  'purge removes expired entries and reports how many',
  'a write replaces the entry (last write wins)',
  'extractable keys, non-keys and bad ids are refused with ERR_INVALID_ARGUMENT',
  'bad options are refused with ERR_INVALID_ARGUMENT',
  'the cache key changes with the context and with the EDEKs',
]

export function defineIdbCacheTests(newTab: () => Promise<Tab>): void {
  test('the page builds the same acceptance tests', async () => {
    const tab = await newTab()
    expect(await tab.call('acceptanceNames')).toEqual(acceptanceNames)
    await tab.close()
  })

  test.describe('acceptance suite on real IndexedDB', () => {
    let tab: Tab
    test.beforeAll(async () => {
      tab = await newTab()
    })
    test.afterAll(async () => {
      await tab?.close()
    })
    for (const name of acceptanceNames) {
      test(name, async () => {
        const result = await tab.call('runAcceptance', name)
        expect(result.error).toBeUndefined()
        expect(result.ok).toBe(true)
      })
    }
  })

  test('a cached DEK survives a reload, still a non-extractable HKDF CryptoKey that opens its message', async () => {
    const tab = await newTab()
    const db = unique('reload')
    const message = await tab.call('sealAndCache', db)
    await tab.reload()
    expect(await tab.call('openFromCache', db, message)).toEqual({
      found: true,
      type: '[object CryptoKey]',
      extractable: false,
      algorithm: 'HKDF',
      usages: ['deriveBits', 'deriveKey'],
      exportRefused: true,
      text: 'survives a reload',
    })
    await tab.close()
  })

  test('two tabs: one sees what the other stored, and a logout in one empties both', async () => {
    const [a, b] = [await newTab(), await newTab()]
    const db = unique('tabs')
    expect(await a.call('openCache', db, 'tiered')).toBe('memory+indexeddb')
    expect(await b.call('openCache', db, 'tiered')).toBe('memory+indexeddb')
    const acme = await a.call('put', db, 'acme', 'k')
    await a.call('put', db, 'globex', 'k')
    expect(await b.call('fingerprintOf', db, 'acme', 'k')).toBe(acme) // read from IndexedDB, now in b's memory
    await a.call('clearPartition', db, 'acme')
    expect(await b.call('waitUntilGone', db, 'acme', 'k')).toBe(true) // b's memory tier was told
    expect(await b.call('fingerprintOf', db, 'globex', 'k')).not.toBeNull()
    await Promise.all([a.call('closeAll'), b.call('closeAll')])
    await Promise.all([a.close(), b.close()])
  })

  test('two tabs writing and reading at once: every transaction lands and the bound holds', async () => {
    const [a, b] = [await newTab(), await newTab()]
    const db = unique('concurrent')
    await a.call('openCache', db, 'idb')
    await b.call('openCache', db, 'idb')
    await Promise.all([a.call('writeMany', db, 'a', 'b', 40), b.call('writeMany', db, 'b', 'a', 40)])
    expect(await a.call('size', db)).toBe(50) // 81 distinct entries from two tabs, bounded to maxEntries
    expect(await b.call('size', db)).toBe(50)
    expect(await a.call('fingerprintOf', db, 't', 'shared')).not.toBeNull()
    expect(await a.call('fingerprintOf', db, 't', 'b39')).not.toBeNull()
    await Promise.all([a.call('closeAll'), b.call('closeAll')])
    await Promise.all([a.close(), b.close()])
  })

  test('the database deleted from another tab: the open cache lets it go, then degrades to memory with one warning', async () => {
    const [a, b] = [await newTab(), await newTab()]
    const db = unique('deleted')
    await a.call('openCache', db, 'tiered')
    await a.call('put', db, 'acme', 'before')
    expect(await b.call('deleteDatabase', db)).toBe('deleted') // not 'blocked': a closed its connection
    const result = await a.call('useAfterStorageLoss', db, 'acme', 'before')
    expect(result).toMatchObject({ backend: 'memory', before: true, after: true, leaked: false })
    expect(result.warnings).toHaveLength(1)
    expect(result.warnings[0]).toMatch(
      /^envelope idb-cache: IndexedDB unavailable \(\w+\); caching data keys in memory only$/,
    )
    await a.call('closeAll')
    await Promise.all([a.close(), b.close()])
  })
}
