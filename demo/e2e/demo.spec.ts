// The demo as a person uses it: encrypt a note and a file in the page, decrypt it, and see the typed refusals
// for a flipped bit and for another tenant.
import { expect, test } from '@playwright/test'

const url = 'http://127.0.0.1:4173/' // playwright.config.ts serves the built demo there

test('encrypts in the page, decrypts, and refuses a tampered message and another tenant', async ({ page }) => {
  const requests: string[] = []
  page.on('request', (r) => requests.push(r.url()))
  await page.goto(url)
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true')
  const sent = requests.length

  await page.getByLabel('Note').fill('meet at 6, marker-7f3a')
  await page
    .getByLabel('File')
    .setInputFiles({ name: 'a.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(300_000, 7) })
  await page.getByRole('button', { name: 'Encrypt' }).click()
  await expect(page.getByRole('status')).toHaveText('Encrypted. Nothing left this page.')
  await expect(page.locator('#header')).toContainText('{"tenant":"acme"}')
  await expect(page.locator('#header')).toContainText('3 of 128 KiB')
  expect(requests.length, 'encrypting made no network request').toBe(sent)

  await page.getByRole('button', { name: 'Decrypt', exact: true }).click()
  await expect(page.getByRole('status')).toHaveText('Decrypted: “meet at 6, marker-7f3a” and 300000 file bytes.')

  await page.getByRole('button', { name: 'Flip one bit, then decrypt' }).click()
  await expect(page.getByRole('status')).toContainText('Refused (ERR_AUTHENTICATION_FAILED)')
  await expect(page.getByRole('status')).toContainText('Nothing was decrypted.')

  await page.getByRole('button', { name: 'Decrypt as another tenant' }).click()
  await expect(page.getByRole('status')).toContainText('Refused (ERR_CONTEXT_MISMATCH)')
  await page.screenshot({ path: 'test-results/demo.png', fullPage: true })
})
