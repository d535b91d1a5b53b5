// The demo as a person uses it, against the real key proxy and demo identity service that `npm start` runs:
// encrypt a note and a file in the page, decrypt it, and see the typed refusals for a flipped bit, the other
// tenant and an unreachable proxy. The proxy's audit log shows who used which key.
import { readdirSync, readFileSync } from 'node:fs'
import { expect, test } from '@playwright/test'

const url = 'http://127.0.0.1:4173/' // playwright.config.ts runs `scripts/start.mjs --preview` there
const auditLog = '.ci-out/demo-data/proxy/audit.log'
const storage = '.ci-out/demo-data/storage'
const auditLines = () =>
  readFileSync(auditLog, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
const unwraps = () => auditLines().filter((l) => l.action === 'unwrap').length

test('encrypts in the page with a proxy DEK, decrypts, and refuses tampering, the other tenant and a dead proxy', async ({
  page,
}) => {
  const sent: string[] = []
  page.on('request', (r) => {
    if (r.method() === 'POST') sent.push(r.postData() ?? '')
  })
  await page.goto(url)
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true')

  await page.getByLabel('Signed in as a user of').selectOption('acme')
  await page.getByLabel('Note').fill('meet at 6, marker-7f3a')
  await page
    .getByLabel('File')
    .setInputFiles({ name: 'a.bin', mimeType: 'application/octet-stream', buffer: Buffer.alloc(300_000, 7) })
  await page.getByRole('button', { name: 'Encrypt' }).click()
  await expect(page.getByRole('status')).toHaveText(
    'Encrypted in a Web Worker with a data key of tenant acme and stored. The note and file never left this page in the clear.',
  )
  await expect(page.locator('body')).toHaveAttribute('data-sealed-in', 'worker') // reported by the worker's own scope
  await expect(page.locator('#header')).toContainText('{"tenant":"acme"}')
  await expect(page.locator('#header')).toContainText('envelope-local-kms / acme/default v1')
  await expect(page.locator('#header')).toContainText('3 of 128 KiB')
  // Nothing readable went over the network or into storage: key requests, and ciphertext.
  expect(sent.length).toBeGreaterThan(0)
  for (const body of sent) expect(body).not.toContain('marker-7f3a')
  const stored = readdirSync(`${storage}/acme`).filter((f) => f.endsWith('.env'))
  expect(stored).toHaveLength(1)
  const bytes = readFileSync(`${storage}/acme/${stored[0]}`)
  expect(bytes.length).toBeGreaterThan(300_000)
  expect(bytes.includes('marker-7f3a')).toBe(false)
  expect(bytes.includes(Buffer.alloc(64, 7))).toBe(false) // nor do the file's bytes

  await page.getByRole('button', { name: 'Decrypt', exact: true }).click()
  await expect(page.getByRole('status')).toHaveText('Decrypted: “meet at 6, marker-7f3a” and 300000 file bytes.')

  await page.getByRole('button', { name: 'Flip one bit, then decrypt' }).click()
  await expect(page.getByRole('status')).toHaveText(/^Refused \(ERR_AUTHENTICATION_FAILED\): the message was altered/)

  await page.getByRole('button', { name: 'Decrypt as the other tenant' }).click()
  await expect(page.getByRole('status')).toHaveText(/^Refused \(ERR_TENANT_FORBIDDEN\)/)

  await page.getByRole('button', { name: 'Decrypt on a new device with the proxy unreachable' }).click()
  await expect(page.getByRole('status')).toHaveText(
    /^Refused \(ERR_PROXY_UNAVAILABLE\): the key proxy cannot be reached/,
  )
  // After a reload, the stored submission opens from storage through the IndexedDB DEK cache: no new unwrap.
  const before = unwraps()
  await page.reload()
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true')
  await page.getByRole('button', { name: /^Open / }).click()
  await expect(page.getByRole('log')).toHaveText(/^Opened .*: “meet at 6, marker-7f3a” and 300000 file bytes\.$/)
  expect(unwraps()).toBe(before)
  await page.screenshot({ path: 'test-results/demo.png', fullPage: true })
  // The other tenant sees none of acme's submissions.
  await page.getByLabel('Signed in as a user of').selectOption('globex')
  await expect(page.getByRole('button', { name: /^Open / })).toHaveCount(0)

  const lines = auditLines()
  expect(lines).toContainEqual(
    expect.objectContaining({ action: 'generate', tenant: 'acme', caller: 'jwt:demo-user@acme', outcome: 'ok' }),
  )
  expect(lines).toContainEqual(
    expect.objectContaining({
      action: 'unwrap',
      tenant: 'globex',
      caller: 'jwt:demo-user@globex',
      outcome: 'ERR_TENANT_FORBIDDEN',
    }),
  )
})
