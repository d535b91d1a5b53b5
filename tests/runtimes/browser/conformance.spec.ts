// Chromium runner: one Playwright test per portable test, all in one shared page.
import { expect, type Page, test } from '@playwright/test'
import { suites } from '../../suites.ts'
import { defineInteropTests } from './interop-tests.ts'
import { conformanceNames, conformancePageUrl, pageIsReady } from './page.ts'

let page: Page

test.beforeAll(async ({ browser }) => {
  page = await browser.newPage()
  page.on('pageerror', (err) => console.error(`[page error] ${err.message}`))
  await page.goto(conformancePageUrl)
  await page.waitForFunction(pageIsReady)
})

test.afterAll(async () => {
  await page?.close()
})

test('the page lists the same tests as Node', async () => {
  expect(await page.evaluate(() => globalThis.__conformance!.list())).toEqual(conformanceNames)
})

for (const s of suites) {
  test.describe(s.name, () => {
    for (const t of s.tests) {
      test(t.name, async () => {
        const result = await page.evaluate((name) => globalThis.__conformance!.run(name), `${s.name} › ${t.name}`)
        expect(result.error).toBeUndefined()
        expect(result.ok).toBe(true)
      })
    }
  })
}

defineInteropTests('chromium', () => (fn, arg) => page.evaluate(fn, arg))
