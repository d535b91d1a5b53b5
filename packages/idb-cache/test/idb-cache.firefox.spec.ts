// idb-cache in Firefox ESR with real IndexedDB (puppeteer-core over WebDriver BiDi): acceptance suite, reload,
// two tabs (pages of one browser share the origin's storage).
import { test } from '@playwright/test'
import type { Browser } from 'puppeteer-core'
import { launchFirefox } from '../../../tests/runtimes/browser/firefox.ts'
import { type AnyPage, defineIdbCacheTests, openTab } from './browser/define-tests.ts'

let browser: Browser

test.beforeAll(async () => {
  browser = await launchFirefox()
})

test.afterAll(async () => {
  await browser?.close()
})

defineIdbCacheTests(async () => openTab((await browser.newPage()) as unknown as AnyPage))
