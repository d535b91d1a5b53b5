// idb-cache in Chromium with real IndexedDB: acceptance suite, reload, two tabs (pages of one context share the
// origin's storage), and site data cleared under an open cache (through the DevTools protocol).
import { type BrowserContext, expect, test } from '@playwright/test'
import { conformancePageUrl } from '../../../tests/runtimes/browser/page.ts'
import { defineIdbCacheTests, openTab } from './browser/define-tests.ts'

let context: BrowserContext

test.beforeAll(async ({ browser }) => {
  context = await browser.newContext()
})

test.afterAll(async () => {
  await context?.close()
})

defineIdbCacheTests(async () => openTab(await context.newPage()))

test('site data cleared by the user: the open cache degrades to memory with one warning, without key material', async () => {
  const page = await context.newPage()
  const tab = await openTab(page)
  const db = `cleared-${Date.now()}`
  await tab.call('openCache', db, 'tiered')
  await tab.call('put', db, 'acme', 'before')
  const cdp = await context.newCDPSession(page)
  // What "Clear site data" does: the browser deletes the origin's IndexedDB and force-closes open connections.
  await cdp.send('Storage.clearDataForOrigin', {
    origin: new URL(conformancePageUrl).origin,
    storageTypes: 'indexeddb',
  })
  const result = await tab.call('useAfterStorageLoss', db, 'acme', 'before')
  expect(result).toMatchObject({ backend: 'memory', before: true, after: true, leaked: false })
  expect(result.warnings).toHaveLength(1)
  expect(result.warnings[0]).toMatch(
    /^envelope idb-cache: IndexedDB unavailable \(\w+\); caching data keys in memory only$/,
  )
  await tab.call('closeAll')
  await tab.close()
})
