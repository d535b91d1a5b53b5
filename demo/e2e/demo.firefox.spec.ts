// The demo's main path in Firefox ESR (driven by puppeteer-core over WebDriver BiDi, see
// tests/runtimes/browser/firefox.ts), against the same real stack as demo.spec.ts: a submission with a 24 MiB file
// encrypted in a worker and stored as ciphertext, opened and saved through a worker, and after a reload opened
// again with its data keys from Firefox's IndexedDB (no new unwrap at the proxy).
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { expect, test } from '@playwright/test'
import type { ElementHandle, Page } from 'puppeteer-core'
import { type FirefoxPage, openFirefoxPage } from '../../tests/runtimes/browser/firefox.ts'

const url = 'http://127.0.0.1:4173/'
const data = '.ci-out/demo-data'
const unwraps = () =>
  readFileSync(`${data}/audit.log`, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => JSON.parse(l).action === 'unwrap').length
const ready = () => document.body.dataset.ready === 'true'
const textOf = (page: Page, selector: string) => page.$eval(selector, (e) => e.textContent ?? '')
/** Waits until the element's text matches (in the page: no sleeps). */
const waitText = (page: Page, selector: string, pattern: RegExp) =>
  page.waitForFunction(
    (s, p) => new RegExp(p).test(document.querySelector(s)?.textContent ?? ''),
    { timeout: 60_000 },
    selector,
    pattern.source,
  )

let firefox: FirefoxPage
test.beforeAll(async () => {
  firefox = await openFirefoxPage(url, ready)
})
test.afterAll(async () => {
  await firefox?.browser.close()
})

test('Firefox: a 24 MiB submission sealed in a worker, stored as ciphertext, opened again from IndexedDB', async () => {
  test.setTimeout(120_000)
  const testInfo = test.info()
  const { page } = firefox
  const file = testInfo.outputPath('firefox-upload.bin')
  const marker = Buffer.from('firefox-file-marker-51aa')
  const bytes = randomBytes(24 * 2 ** 20)
  marker.copy(bytes, 4096)
  writeFileSync(file, bytes)

  await page.select('#sign-in select[name=tenant]', 'acme')
  await page.click('#sign-in button[type=submit]')
  await page.waitForFunction(() => !document.getElementById('view-new')!.hidden)
  await page.$eval('#submit [name=message]', (e) => {
    ;(e as HTMLTextAreaElement).value = 'from firefox, marker-ff-77c0'
  })
  const input = (await page.$('#submit [name=files]')) as ElementHandle<HTMLInputElement>
  await input.uploadFile(file)
  await page.click('#submit button[type=submit]')
  await waitText(page, '#submit-status', /^Stored submission |\(ERR_/)
  const status = await textOf(page, '#submit-status')
  const href = await page.$eval('#submit-status a', (a) => a.getAttribute('href')).catch(() => '')
  const id = /^#\/submissions\/acme\/(\S+)$/.exec(href ?? '')?.[1] // the page links to what it stored
  expect(id, status).toBeTruthy()
  expect(await page.evaluate(() => document.body.dataset.sealedIn)).toBe('DedicatedWorkerGlobalScope')

  const dir = `${data}/storage/acme/${id}`
  for (const name of readdirSync(dir)) {
    const stored = readFileSync(join(dir, name))
    expect(stored.includes('marker-ff-77c0')).toBe(false)
    expect(stored.includes(marker)).toBe(false)
  }

  const open = async () => {
    await page.goto(`${url}#/submissions/acme/${id}`)
    await page.waitForFunction(ready)
    await waitText(page, '#open-status', /^Decrypted in this browser|\(ERR_/)
    expect(await textOf(page, '#open-status')).toMatch(
      /^Decrypted in this browser\. Encrypted under acme\/default v\d+\.$/,
    )
    expect(await textOf(page, '#submission-fields')).toContain('from firefox, marker-ff-77c0')
    await page.click('#submission-files button')
    await waitText(page, '#save-status', /^Saved |\(ERR_/)
    expect(await textOf(page, '#save-status')).toBe(
      `Saved firefox-upload.bin: 24 MiB (${24 * 2 ** 20} bytes), every frame verified.`,
    )
    expect(await page.evaluate(() => document.body.dataset.openedIn)).toBe('DedicatedWorkerGlobalScope')
  }
  await open()
  const before = unwraps()
  await page.reload()
  await open()
  expect(unwraps()).toBe(before) // both data keys came from Firefox's IndexedDB
})
