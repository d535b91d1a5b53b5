// Firefox runner: one Playwright test per portable test, all in one shared firefox-esr page (puppeteer-core).
import { expect, test } from '@playwright/test'
import { suites } from '../../suites.ts'
import { type FirefoxPage, openFirefoxPage } from './firefox.ts'
import { defineInteropTests } from './interop-tests.ts'
import { conformanceNames } from './page.ts'

let firefox: FirefoxPage

test.beforeAll(async () => {
  firefox = await openFirefoxPage()
})

test.afterAll(async () => {
  await firefox?.browser.close()
})

test('the page lists the same tests as Node', async () => {
  expect(await firefox.page.evaluate(() => globalThis.__conformance!.list())).toEqual(conformanceNames)
})

for (const s of suites) {
  test.describe(s.name, () => {
    for (const t of s.tests) {
      test(t.name, async () => {
        const name = `${s.name} › ${t.name}`
        const result = await firefox.page.evaluate((n) => globalThis.__conformance!.run(n), name)
        expect(result.error).toBeUndefined()
        expect(result.ok).toBe(true)
      })
    }
  })
}

defineInteropTests('firefox', () => (fn, arg) => firefox.page.evaluate(fn, arg))
