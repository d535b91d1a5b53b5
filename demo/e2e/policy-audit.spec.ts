// Key policy and the tenant's own audit log in the demo, against the real stack `npm start` runs: a key user's open
// shows in its key administrator's audit view, live; the key administrator cannot open submissions and is told why;
// the auditor sees the audit log only; the key administrator edits the policy and who may use the key changes at
// once, audited. Each role in a browser of its own.
import { type Browser, expect, type Page, test } from '@playwright/test'

const url = 'http://127.0.0.1:4173/' // playwright.config.ts runs `scripts/start.mjs --preview` there
const shots = 'test-results/screens'
type Role = 'member' | 'admin' | 'auditor'

async function as(browser: Browser, tenant: string, role: Role) {
  const context = await browser.newContext()
  const page = await context.newPage()
  await page.goto(url)
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true')
  await page.locator('#sign-in select[name=tenant]').selectOption(tenant)
  await page.locator('#sign-in select[name=role]').selectOption(role)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page.getByRole('heading', { name: role === 'member' ? 'New submission' : /^Tenant key/ })).toBeVisible()
  return { page, close: () => context.close() }
}

async function submit(page: Page, title: string) {
  await page.goto(`${url}#/new`)
  await page.locator('#submit [name=title]').fill(title)
  await page.locator('#submit [name=name]').fill('Grace Hopper')
  await page.locator('#submit [name=message]').fill(`${title}: the message`)
  await page.getByRole('button', { name: 'Encrypt and upload' }).click()
  const status = page.locator('#submit-status')
  await expect(status).toHaveText(/^Stored submission /, { timeout: 60_000 })
  return /\/([^/]+)$/.exec((await status.getByRole('link').getAttribute('href')) ?? '')![1]!
}

const auditRow = (page: Page, ...texts: string[]) => {
  let rows = page.locator('#audit-lines tbody tr')
  for (const t of texts) rows = rows.filter({ hasText: t })
  return rows.first()
}

test('a key user’s open shows in its key administrator’s audit view, live; the key administrator cannot open, and is told why', async ({
  browser,
}) => {
  const user = await as(browser, 'acme', 'member')
  const id = await submit(user.page, 'audited open')
  const admin = await as(browser, 'acme', 'admin')
  await expect(admin.page.locator('#role-note')).toContainText('You cannot open or make acme’s submissions')
  await expect(admin.page.getByRole('link', { name: 'New submission' })).toBeHidden()
  await admin.page.locator('#audit-filter').selectOption('opens')

  // The key user opens it; the open appears in the administrator's view without a reload.
  await user.page.goto(`${url}#/submissions/acme/${id}`)
  await expect(user.page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)
  const open = auditRow(admin.page, 'jwt:demo-user@acme', 'unwrap', `submission ${id}`)
  await expect(open).toBeVisible()
  await expect(open).toContainText('acme/default')
  await expect(open).toContainText('ok')
  await admin.page.screenshot({ path: `${shots}/audit-log.png`, fullPage: true })

  // The key administrator opening the same submission is refused, and told why in plain words.
  await admin.page.goto(`${url}#/submissions/acme/${id}`)
  await expect(admin.page.locator('#open-status')).toHaveText(
    /^You are signed in as a key administrator or auditor of acme: .* you cannot open submissions .*\(ERR_ROLE_FORBIDDEN\)$/,
  )
  await admin.page.screenshot({ path: `${shots}/admin-cannot-open.png`, fullPage: true })
  await admin.page.goto(`${url}#/admin`)
  await admin.page.locator('#audit-filter').selectOption('refused')
  await expect(auditRow(admin.page, 'jwt:demo-admin@acme', 'ERR_ROLE_FORBIDDEN')).toBeVisible()
  // Refusals only: no line with outcome ok.
  await expect(admin.page.locator('#audit-lines tbody tr td:last-child').filter({ hasText: /^ok$/ })).toHaveCount(0)
  await admin.close()
  await user.close()
})

test('the auditor sees the tenant’s audit log only: no key actions, no policy, no submissions', async ({ browser }) => {
  const auditor = await as(browser, 'acme', 'auditor')
  const page = auditor.page
  await expect(page.locator('#who')).toHaveText('demo-auditor@acme · auditor')
  await expect(page.locator('#role-note')).toContainText('You are acme’s auditor')
  for (const hidden of ['#key-state', '#key-actions', '#shred', '#policy'])
    await expect(page.locator(hidden)).toBeHidden()
  await expect(page.getByRole('link', { name: 'New submission' })).toBeHidden()
  await expect(auditRow(page, 'unwrap')).toBeVisible()
  await page.screenshot({ path: `${shots}/auditor.png`, fullPage: true })
  await auditor.close()
})

test('the key administrator edits the key policy: who may use the key changes at once, and the change is audited', async ({
  browser,
}) => {
  const user = await as(browser, 'acme', 'member')
  const id = await submit(user.page, 'policy edit')
  await user.close()
  const admin = await as(browser, 'acme', 'admin')
  const policy = admin.page.locator('#policy')
  await expect(policy.getByLabel('Key users')).toHaveValue('member')
  await expect(policy.getByLabel('Key administrators')).toHaveValue('key-admin')
  await expect(policy.getByLabel('Auditors')).toHaveValue('auditor')
  await expect(admin.page.locator('#policy-default')).toHaveText('(the default policy)')
  await policy.getByLabel('Key users').fill('nobody-yet')
  await policy.getByRole('button', { name: 'Save the policy' }).click()
  await expect(admin.page.locator('#policy-status')).toHaveText(/^Saved/)
  await expect(admin.page.locator('#policy-default')).toHaveText('(set by jwt:demo-admin@acme)')
  await admin.page.locator('#audit-filter').selectOption('all')
  await expect(auditRow(admin.page, 'jwt:demo-admin@acme', 'edit policy', 'ok')).toBeVisible()
  await admin.page.screenshot({ path: `${shots}/policy.png`, fullPage: true })

  // A member is no key user any more: refused, on a device with no cached key.
  const refused = await as(browser, 'acme', 'member')
  await refused.page.goto(`${url}#/submissions/acme/${id}`)
  await expect(refused.page.locator('#open-status')).toHaveText(/\(ERR_ROLE_FORBIDDEN\)$/)
  await refused.close()

  await policy.getByLabel('Key users').fill('member')
  await policy.getByRole('button', { name: 'Save the policy' }).click()
  await expect(admin.page.locator('#policy-status')).toHaveText(/^Saved/)
  const again = await as(browser, 'acme', 'member')
  await again.page.goto(`${url}#/submissions/acme/${id}`)
  await expect(again.page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)
  await again.close()
  await admin.close()
})
