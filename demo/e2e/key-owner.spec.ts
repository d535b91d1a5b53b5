// The tenant key view's rotation schedule and the tenant's own key material (BYOK), against the real stack
// `npm start` runs, as acme's key administrator: a schedule set, shown with its next date, a rotation by hand in
// its history, the schedule off; then a key file made in the page, wrapped in the page with WebCrypto (RSA-OAEP)
// and imported with a short validity: the proxy deletes it when it expires and the view says so; a file of
// the wrong size and other material are refused with their messages; the same file brings the key back; the
// material deleted on demand. The material itself never leaves the page: only its wrap.
import { readFileSync } from 'node:fs'
import { expect, type Page, test } from '@playwright/test'

const url = 'http://127.0.0.1:4173/' // playwright.config.ts runs `scripts/start.mjs --preview` there
const data = '.ci-out/demo-data'
const shots = 'test-results/screens'
const auditLines = () =>
  readFileSync(`${data}/audit.log`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, string>)

async function signInAsAdmin(page: Page, tenant: string) {
  await page.goto(url)
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true')
  if (await page.getByRole('button', { name: 'Sign out' }).isVisible()) {
    await page.getByRole('button', { name: 'Sign out' }).click()
  }
  await page.locator('#sign-in select[name=tenant]').selectOption(tenant)
  await page.locator('#sign-in select[name=role]').selectOption('admin')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await page.getByRole('link', { name: 'Tenant key' }).click()
  await expect(page.locator('#key-state')).toContainText('state')
}

test('the rotation schedule: set, shown with its next rotation, a rotation by hand in the history, turned off', async ({
  page,
}) => {
  await signInAsAdmin(page, 'acme')
  await expect(page.locator('#rotation-state')).toContainText('scheduleoff')
  await expect(page.getByRole('button', { name: 'Turn the schedule off' })).toBeHidden()
  await page.locator('#rotation [name=days]').fill('90')
  await page.getByRole('button', { name: 'Save the schedule' }).click()
  await expect(page.locator('#rotation-status')).toHaveText(/^Saved: the key rotates every 90 days, next on .+\.$/)
  await expect(page.locator('#rotation-state')).toContainText('scheduleevery 90 days')
  await expect(page.locator('#rotation-state')).toContainText('next rotation')
  await page.getByRole('button', { name: 'Rotate' }).click()
  await expect(page.locator('#admin-status')).toHaveText(/^Rotated: new submissions use version (\d+)/)
  await expect(page.locator('#rotation-state')).toContainText(/rotationsv\d+ .+ by jwt:demo-admin/)
  await page.locator('#rotation').scrollIntoViewIfNeeded()
  await page.screenshot({ path: `${shots}/admin-rotation.png`, fullPage: true })
  // out of bounds: refused by the proxy with its message, the schedule unchanged
  await page.locator('#rotation [name=days]').fill('0')
  await page.locator('#rotation [name=days]').evaluate((i: HTMLInputElement) => i.removeAttribute('min'))
  await page.getByRole('button', { name: 'Save the schedule' }).click()
  await expect(page.locator('#rotation-status')).toHaveText(
    /"periodDays" must be a whole number of days from 1 to 3650.*\(ERR_BAD_REQUEST\)$/,
  )
  await page.getByRole('button', { name: 'Turn the schedule off' }).click()
  await expect(page.locator('#rotation-status')).toHaveText('The schedule is off: the key rotates only by hand.')
  await expect(page.locator('#rotation-state')).toContainText('scheduleoff')
  const lines = auditLines().filter((l) => l.action === 'admin.rotation-schedule' && l.tenant === 'acme')
  expect(lines.map((l) => l.outcome)).toEqual(['ok', 'ERR_BAD_REQUEST', 'ok'])
})

test('own key material: made and wrapped in the page, imported with an expiry, deleted by the proxy when it expires, the same file brings it back', async ({
  page,
}) => {
  test.setTimeout(90_000)
  const sent: string[] = []
  page.on('request', (r) => {
    if (r.url().includes('/v1/admin/')) sent.push(r.postData() ?? '')
  })
  await signInAsAdmin(page, 'acme')
  await expect(page.locator('#own-state')).toContainText('statepending import: no key material (import yours)')
  await expect(page.getByRole('button', { name: 'Delete the imported material' })).toBeHidden()

  // a key file made in the page: the customer's copy
  const download = page.waitForEvent('download')
  await page.getByRole('button', { name: 'Make a 32-byte key file' }).click()
  const file = await (await download).path()
  const material = readFileSync(file)
  expect(material).toHaveLength(32)

  // imported, to be deleted a few seconds from now (the time in the page's own time zone)
  const validTo = await page.evaluate(() => {
    const t = new Date(Date.now() + 8000)
    const pad = (n: number) => String(n).padStart(2, '0')
    return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())}T${pad(t.getHours())}:${pad(t.getMinutes())}:${pad(t.getSeconds())}`
  })
  await page.locator('#own-key [name=material]').setInputFiles(file)
  await page.locator('#own-key [name=validTo]').fill(validTo)
  await page.getByRole('button', { name: 'Wrap and import' }).click()
  await expect(page.locator('#own-status')).toHaveText(
    /^Imported: acme\/own is enabled with your material, until .+\. Only a wrap of it was sent\.$/,
  )
  await expect(page.locator('#own-state')).toContainText('stateenabled')
  await expect(page.locator('#own-state')).toContainText('deleted after')
  await page.locator('#own-key').scrollIntoViewIfNeeded()
  await page.screenshot({ path: `${shots}/admin-own-key.png`, fullPage: true })

  // expiry: the proxy deletes the material, and the view says so once it has (no reload)
  await expect(page.locator('#own-state')).toContainText('statepending import', { timeout: 30_000 })
  await expect(page.locator('#own-status')).toHaveText(
    /^Expired: the key proxy deleted acme\/own’s material at .+\. The key refuses every use until you import the same file again\.$/,
  )
  await page.screenshot({ path: `${shots}/admin-own-key-expired.png`, fullPage: true })

  // a file of the wrong size: refused in the page; other material: refused by the proxy
  await page
    .locator('#own-key [name=material]')
    .setInputFiles({ name: 'short.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(16, 1) })
  await page.getByRole('button', { name: 'Wrap and import' }).click()
  await expect(page.locator('#own-status')).toHaveText(/this file has 16\..*\(ERR_IMPORT_MATERIAL_SIZE\)$/)
  await page
    .locator('#own-key [name=material]')
    .setInputFiles({ name: 'other.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(32, 7) })
  await page.getByRole('button', { name: 'Wrap and import' }).click()
  await expect(page.locator('#own-status')).toHaveText(
    /^This is not the material the key had.*\(ERR_IMPORT_MATERIAL_MISMATCH\)$/,
  )

  // the same file again, with no expiry: back
  await page.locator('#own-key [name=material]').setInputFiles(file)
  await page.getByRole('button', { name: 'Wrap and import' }).click()
  await expect(page.locator('#own-status')).toHaveText(/^Imported: acme\/own is enabled with your material\./)
  await expect(page.locator('#own-state')).toContainText('deleted afternever (no expiry)')
  await page.getByRole('button', { name: 'Delete the imported material' }).click()
  await expect(page.locator('#own-status')).toHaveText(
    'Deleted: acme/own holds no material now. Import the same file to bring it back.',
  )
  await expect(page.locator('#own-state')).toContainText('statepending import')

  // only wraps left the page: never the material, in any encoding
  for (const encoding of ['base64url', 'base64', 'hex'] as const) {
    expect(sent.join('\n')).not.toContain(material.toString(encoding).replace(/=+$/, ''))
  }
  const actions = auditLines()
    .filter((l) => l.tenant === 'acme' && l.keyId === 'acme/own')
    .map((l) => `${l.action} ${l.outcome}`)
  expect(actions).toEqual(
    expect.arrayContaining([
      'admin.import ok',
      'admin.import ERR_IMPORT_MATERIAL_MISMATCH',
      'admin.delete-imported-material ok',
    ]),
  )
})
