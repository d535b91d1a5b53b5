// Firefox ESR through puppeteer-core over WebDriver BiDi: the only way to drive Debian's firefox-esr here
// (Playwright's Firefox needs its patched build). Used by the *.firefox.spec.ts files, which the playwright.config.ts
// `firefox` project runs without launching a Playwright browser.
import puppeteer, { type Browser, type Page } from 'puppeteer-core'
import { conformancePageUrl, pageIsReady } from './page.ts'

export interface FirefoxPage {
  browser: Browser
  page: Page
}

/** Launches headless firefox-esr (close it in afterAll). */
export function launchFirefox(): Promise<Browser> {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr',
    headless: true,
  })
}

/**
 * Launches firefox-esr and opens `url` (by default the conformance page), resolving once `ready()` is true in the
 * page. Page errors are echoed to the test output.
 */
export async function openFirefoxPage(
  url: string = conformancePageUrl,
  ready: () => boolean = pageIsReady,
): Promise<FirefoxPage> {
  const browser = await launchFirefox()
  try {
    const page = await browser.newPage()
    page.on('pageerror', (err) => console.error(`[firefox page error] ${String(err)}`))
    await page.goto(url)
    await page.waitForFunction(ready, { timeout: 20_000 })
    return { browser, page }
  } catch (err) {
    await browser.close()
    throw err
  }
}
