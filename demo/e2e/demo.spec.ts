// The demo as people use it, against the real stack `npm start` runs (key proxy, identity and storage services,
// the built app): a 200 MiB submission encrypted and opened in workers, the page's memory flat, opened again
// through the IndexedDB cache; another
// tenant refused; a key rotated, disabled, re-enabled and shredded by the tenant's key administrator; the key
// proxy stopped before and during an upload; a tampered stored file. Each failure shows its message, and
// nothing already stored is lost. The tests run in order and share the stack; the shred comes last.
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, expect, type Locator, type Page, test } from '@playwright/test'

const url = 'http://127.0.0.1:4173/' // playwright.config.ts runs `scripts/start.mjs --preview` there
const data = '.ci-out/demo-data'
const storage = `${data}/storage`
const shots = 'test-results/screens'
const MiB = 2 ** 20

const auditLines = () =>
  readFileSync(`${data}/audit.log`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, string>)
const unwraps = () => auditLines().filter((l) => l.action === 'unwrap').length
const committed = (tenant: string) =>
  (existsSync(`${storage}/${tenant}`) ? readdirSync(`${storage}/${tenant}`) : [])
    .filter((d) => !d.startsWith('.'))
    .sort()
const pending = (tenant: string) => readdirSync(`${storage}/${tenant}/.pending`)
/** Every byte storage holds, file by file. */
function* storedFiles(dir = storage): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* storedFiles(path)
    else yield path
  }
}
const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')

/** The processes of `npm start` (scripts/start.mjs writes them down on every start and restart). */
const pids = () => JSON.parse(readFileSync(`${data}/pids.json`, 'utf8')) as { start: number; proxy: number }
/** The real proxy process, paused and resumed: connections to it hang, as to a proxy that is down. */
const stopProxy = () => process.kill(pids().proxy, 'SIGSTOP')
const resumeProxy = () => process.kill(pids().proxy, 'SIGCONT')
const proxyReady = () =>
  fetch('http://127.0.0.1:7781/v1/ready').then(
    (r) => r.status,
    () => 0,
  )
/** This browser's cached data keys of `tenant`, counted in IndexedDB itself (not through the app). */
const cachedKeys = (page: Page, tenant: string) =>
  page.evaluate(
    (partition) =>
      new Promise<number>((resolve, reject) => {
        const open = indexedDB.open('envelope-dek-cache')
        open.onerror = () => reject(open.error)
        open.onsuccess = () => {
          const db = open.result
          const count = db
            .transaction('deks')
            .objectStore('deks')
            .count(IDBKeyRange.bound([partition], [partition, []]))
          count.onsuccess = () => {
            db.close()
            resolve(count.result)
          }
          count.onerror = () => reject(count.error)
        }
      }),
    tenant,
  )

type Role = 'member' | 'admin' | 'auditor'
async function signIn(page: Page, tenant: string, role: Role = 'member') {
  await page.goto(url)
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true')
  if (await page.getByRole('button', { name: 'Sign out' }).isVisible()) {
    await page.getByRole('button', { name: 'Sign out' }).click()
  }
  await page.locator('#sign-in select[name=tenant]').selectOption(tenant)
  await page.locator('#sign-in select[name=role]').selectOption(role)
  await page.getByRole('button', { name: 'Sign in' }).click()
  // A member (key user) lands on the form; a key administrator or auditor on the tenant key view.
  await expect(page.getByRole('heading', { name: role === 'member' ? 'New submission' : /^Tenant key/ })).toBeVisible()
}

/** Fills the form (a successful submit clears it). */
async function fillForm(page: Page, message: string, { title = message, name = 'Ada Lovelace' } = {}) {
  await page.locator('#submit [name=title]').fill(title)
  await page.locator('#submit [name=name]').fill(name)
  await page.locator('#submit [name=message]').fill(message)
}

/** Submits the form; resolves with the new submission's id, from the link the page gives to it once stored. */
async function submit(
  page: Page,
  message: string,
  files: Parameters<Page['setInputFiles']>[1] = [],
  fields: { title?: string; name?: string } = {},
) {
  await page.goto(`${url}#/new`)
  await fillForm(page, message, fields)
  await page.getByLabel('Attachments').setInputFiles(files)
  await page.getByRole('button', { name: 'Encrypt and upload' }).click()
  const status = page.locator('#submit-status')
  await expect(status).toHaveText(/^Stored submission /, { timeout: 120_000 })
  const href = (await status.getByRole('link').getAttribute('href')) ?? ''
  return /^#\/submissions\/[a-z0-9-]+\/(\S+)$/.exec(href)![1]!
}

/** The link to a submission in the list, whatever its title. */
const listed = (page: Page, tenant: string, id: string) =>
  page.locator(`#submission-list a[href="#/submissions/${tenant}/${id}"]`)
/** How far the page is wider than its viewport (0: nothing overflows). */
/** Whether `upper` ends above where `lower` starts, on the page. */
async function above(upper: Locator, lower: Locator) {
  const [a, b] = [await upper.boundingBox(), await lower.boundingBox()]
  return !!a && !!b && a.y + a.height <= b.y
}
const overflow = (page: Page) =>
  page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)

const openSubmission = (page: Page, tenant: string, id: string) => page.goto(`${url}#/submissions/${tenant}/${id}`)

/** A browser profile of its own: another device, with an empty IndexedDB cache. */
async function newDevice(browser: Browser, tenant: string, role: Role = 'member') {
  const context = await browser.newContext()
  const page = await context.newPage()
  await signIn(page, tenant, role)
  return { page, close: () => context.close() }
}

test('a 200 MiB submission: encrypted and opened in workers, the page in constant memory, stored as ciphertext, opened again from the IndexedDB cache, byte for byte', async ({
  page,
}, testInfo) => {
  test.setTimeout(300_000)
  // 200 MiB of random bytes, each MiB starting with a marker to look for in storage.
  const big = testInfo.outputPath('big-upload.bin')
  const marker = Buffer.from('envelope-file-marker-9c1e')
  const fd = openSync(big, 'w')
  for (let i = 0; i < 200; i++) {
    const block = randomBytes(MiB)
    marker.copy(block)
    writeSync(fd, block)
  }
  closeSync(fd)

  await signIn(page, 'acme')
  // The page's JS heap, sampled over the protocol while the file is encrypted, uploaded and later saved:
  // V8's used heap plus ArrayBuffer backing stores (where file bytes would sit if held in the page).
  const cdp = await page.context().newCDPSession(page)
  await cdp.send('HeapProfiler.collectGarbage') // what the sign-in left behind is not this upload's
  let peak = 0
  let peakBreakdown = ''
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      const u = (await cdp.send('Runtime.getHeapUsage')) as { usedSize: number; backingStorageSize?: number }
      const total = u.usedSize + (u.backingStorageSize ?? 0)
      if (total > peak) {
        peak = total
        peakBreakdown = `${(u.usedSize / MiB).toFixed(1)} heap + ${((u.backingStorageSize ?? 0) / MiB).toFixed(1)} ArrayBuffers`
      }
      await new Promise((r) => setTimeout(r, 50))
    }
  })()
  const id = await submit(page, 'please find attached marker-field-4d2b', [big], {
    title: 'Scanned contract',
    name: 'Grace marker-field-4d2b',
  })
  await expect(page.locator('body')).toHaveAttribute('data-sealed-in', 'DedicatedWorkerGlobalScope')
  await page.screenshot({ path: `${shots}/submit.png`, fullPage: true })

  // Storage holds ciphertext only: no field marker, no file marker, anywhere in its folder.
  const files = [...storedFiles(`${storage}/acme/${id}`)]
  expect(files.map((f) => f.split('/').at(-1)).sort()).toEqual(['fields', 'file-0', 'meta.json'])
  expect(statSync(`${storage}/acme/${id}/file-0`).size).toBeGreaterThan(200 * MiB)
  for (const file of storedFiles()) {
    const bytes = readFileSync(file)
    expect(bytes.includes('marker-field-4d2b'), file).toBe(false)
    expect(bytes.includes(marker), file).toBe(false)
  }

  // Opened once (its data keys unwrapped and cached), then after a reload from the IndexedDB cache alone.
  await openSubmission(page, 'acme', id)
  await expect(page.locator('#open-status')).toHaveText('Decrypted in this browser. Encrypted under acme/default v1.')
  await page.getByRole('button', { name: 'Save big-upload.bin' }).click()
  await expect(page.locator('#save-status')).toHaveText(/^Saved big-upload.bin/, { timeout: 120_000 })
  const before = unwraps()
  await page.reload()
  await expect(page.locator('#submission-fields')).toContainText('Grace marker-field-4d2b')
  await expect(page.locator('#submission-fields')).toContainText('please find attached marker-field-4d2b')
  await page.screenshot({ path: `${shots}/submission.png`, fullPage: true })
  const download = page.waitForEvent('download')
  await page.getByRole('button', { name: 'Save big-upload.bin' }).click()
  await expect(page.locator('#save-status')).toHaveText(
    `Saved big-upload.bin: 200 MiB (${200 * MiB} bytes), every frame verified.`,
    { timeout: 120_000 },
  )
  await expect(page.locator('body')).toHaveAttribute('data-opened-in', 'DedicatedWorkerGlobalScope')
  const saved = await (await download).path()
  sampling = false
  await sampler
  expect(unwraps()).toBe(before) // both data keys came from the IndexedDB cache
  expect(sha256(saved)).toBe(sha256(big))
  expect(peak).toBeGreaterThan(0)
  expect(peak).toBeLessThan(150 * MiB)
  testInfo.annotations.push({
    type: 'peak page JS heap (MiB)',
    description: `${(peak / MiB).toFixed(1)} (${peakBreakdown})`,
  })

  await page.goto(`${url}#/submissions`)
  await expect(listed(page, 'acme', id)).toHaveText('Scanned contract')
  await expect(page.locator(`#submission-list li[data-id="${id}"]`)).toContainText('1 file, 200 MiB')
})

test('a user of another tenant cannot open the submission, and is told why', async ({ page }) => {
  await signIn(page, 'acme')
  const id = await submit(page, 'for acme eyes only', [
    { name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('acme') },
  ])
  await signIn(page, 'globex')
  await page.goto(`${url}#/submissions`)
  await expect(page.locator('#submission-list')).not.toBeEmpty()
  await expect(page.locator(`#submission-list li[data-id="${id}"]`)).toHaveCount(0) // not even listed
  await openSubmission(page, 'acme', id) // a shared link: the ciphertext downloads, its key does not unwrap
  await expect(page.locator('#open-status')).toHaveText(
    /^This submission belongs to tenant acme\. Its data key is wrapped by acme’s master key, and the key proxy refuses to unwrap it for a user of globex\. Nothing of this submission is shown\. \(ERR_TENANT_FORBIDDEN\)$/,
  )
  await expect(page.locator('#submission-fields')).toBeEmpty()
  await page.screenshot({ path: `${shots}/other-tenant.png`, fullPage: true })
  expect(auditLines()).toContainEqual(
    expect.objectContaining({
      action: 'unwrap',
      tenant: 'globex',
      caller: 'jwt:demo-user@globex',
      outcome: 'ERR_TENANT_FORBIDDEN',
    }),
  )
})

test('a tampered stored file is refused with its message; nothing of it is released, and other submissions still open', async ({
  page,
}) => {
  await signIn(page, 'acme')
  const kept = await submit(page, 'untouched', [
    { name: 'k.bin', mimeType: 'application/octet-stream', buffer: randomBytes(300_000) },
  ])
  const id = await submit(page, 'about to be altered', [
    { name: 't.bin', mimeType: 'application/octet-stream', buffer: randomBytes(300_000) },
  ])
  const file = `${storage}/acme/${id}/file-0`
  const bytes = readFileSync(file)
  bytes[bytes.length - 40]! ^= 1 // one bit of the last frame
  writeFileSync(file, bytes)

  let downloads = 0
  page.on('download', () => downloads++)
  await openSubmission(page, 'acme', id)
  await expect(page.locator('#open-status')).toHaveText(/^Decrypted in this browser/) // the fields are intact
  await page.getByRole('button', { name: 'Save t.bin' }).click()
  await expect(page.locator('#save-status')).toHaveText(
    'This submission was altered after it was stored: it failed authentication. Nothing of this submission is shown. (ERR_AUTHENTICATION_FAILED)',
  )
  await page.screenshot({ path: `${shots}/tampered.png`, fullPage: true })
  expect(downloads).toBe(0)

  await openSubmission(page, 'acme', kept)
  await expect(page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)
  const download = page.waitForEvent('download')
  await page.getByRole('button', { name: 'Save k.bin' }).click()
  await expect(page.locator('#save-status')).toHaveText('Saved k.bin: 293 KiB (300000 bytes), every frame verified.')
  expect(statSync(await (await download).path()).size).toBe(300_000)
})

test('the key proxy down before and during an upload: a clear message, the form kept, nothing stored lost', async ({
  page,
  context,
  browser,
}, testInfo) => {
  test.setTimeout(120_000)
  await signIn(page, 'acme')
  const stored = committed('acme')
  stopProxy()
  try {
    await page.goto(`${url}#/new`)
    await fillForm(page, 'sent while the proxy is down', { title: 'Change of address' })
    await page.getByRole('button', { name: 'Encrypt and upload' }).click()
    await expect(page.locator('#submit-status')).toHaveText(
      'The key proxy did not answer in time. Nothing was stored; your form is kept, so you can try again. (ERR_PROXY_TIMEOUT)',
      { timeout: 30_000 },
    )
  } finally {
    resumeProxy()
  }
  await page.screenshot({ path: `${shots}/proxy-down.png`, fullPage: true })
  await expect(page.locator('#submit [name=message]')).toHaveValue('sent while the proxy is down')
  expect(committed('acme')).toEqual(stored)
  expect(pending('acme')).toEqual([])

  // During the upload: the data keys are in hand before the first byte goes up, so the upload completes.
  // The first part of the file waits until the proxy is stopped, so the outage is surely mid-upload.
  const big = testInfo.outputPath('mid.bin')
  writeFileSync(big, randomBytes(24 * MiB))
  let held = 0
  const firstPart = (u: URL) => u.pathname.endsWith('/objects/file-0') && u.searchParams.get('offset') === '0'
  await context.route(firstPart, async (route) => {
    held++
    stopProxy()
    await route.continue()
  })
  let id: string
  try {
    id = await submit(page, 'sent while the proxy goes down', [big])
    expect(held).toBe(1)
    // Opening it needs its data key: a new device has none cached, and the proxy is down.
    const other = await newDevice(browser, 'acme')
    await openSubmission(other.page, 'acme', id)
    await expect(other.page.locator('#open-status')).toHaveText(
      'The key proxy did not answer in time. Nothing of this submission is shown. (ERR_PROXY_TIMEOUT)',
      { timeout: 30_000 },
    )
    resumeProxy()
    await other.page.reload()
    await expect(other.page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)
    await other.close()
  } finally {
    resumeProxy()
    await context.unroute(firstPart)
  }
  expect(committed('acme')).toEqual([...stored, id].sort())
})

test('the key proxy killed: the app says it cannot be reached, npm start starts it again, and the app works again', async ({
  page,
}) => {
  test.setTimeout(60_000)
  await signIn(page, 'acme')
  const stored = committed('acme')
  const { start, proxy } = pids()
  // The supervisor is held while the proxy is dead, so that the app is surely tried against no proxy at all.
  process.kill(start, 'SIGSTOP')
  try {
    process.kill(proxy, 'SIGKILL')
    await expect.poll(proxyReady).toBe(0)
    await page.goto(`${url}#/new`)
    await fillForm(page, 'sent while the proxy is dead')
    await page.getByRole('button', { name: 'Encrypt and upload' }).click()
    await expect(page.locator('#submit-status')).toHaveText(
      'The key proxy cannot be reached, so no data key could be made. Nothing was stored; your form is kept, so you can try again. (ERR_PROXY_UNAVAILABLE)',
    )
  } finally {
    process.kill(start, 'SIGCONT')
  }
  expect(committed('acme')).toEqual(stored)
  // npm start is still running, and starts a new proxy process; the same form, sent again, is stored.
  await expect.poll(() => pids().proxy, { timeout: 20_000 }).not.toBe(proxy)
  await expect.poll(proxyReady, { timeout: 20_000 }).toBe(200)
  await expect(page.locator('#submit [name=message]')).toHaveValue('sent while the proxy is dead')
  await page.getByRole('button', { name: 'Encrypt and upload' }).click()
  await expect(page.locator('#submit-status')).toHaveText(/^Stored submission /)
  await page.locator('#submit-status').getByRole('link').click() // the page links to what it stored
  await expect(page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)
  await expect(page.locator('#submission-fields')).toContainText('sent while the proxy is dead')
})

test('signing out drops the tenant’s data keys from this browser’s IndexedDB', async ({ page }) => {
  await signIn(page, 'acme')
  const id = await submit(page, 'opened, then signed out', [
    { name: 's.txt', mimeType: 'text/plain', buffer: Buffer.from('signed out') },
  ])
  await openSubmission(page, 'acme', id)
  await expect(page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)
  expect(await cachedKeys(page, 'acme')).toBeGreaterThan(0)

  await page.getByRole('button', { name: 'Sign out' }).click()
  await expect(page.getByRole('button', { name: 'Sign in' })).toBeVisible()
  expect(await cachedKeys(page, 'acme')).toBe(0)
  // Not in the memory tier either: opening it again after signing in again asks the proxy.
  const before = unwraps()
  await page.locator('#sign-in select[name=tenant]').selectOption('acme')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await openSubmission(page, 'acme', id)
  await expect(page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)
  expect(unwraps()).toBeGreaterThan(before)
})

test('an upload part lost on the way is sent again, and the stored file opens whole', async ({
  page,
  context,
}, testInfo) => {
  await signIn(page, 'acme')
  const file = testInfo.outputPath('resent.bin')
  writeFileSync(file, randomBytes(20 * MiB)) // three parts of ciphertext
  // The connection carrying the second part is reset once, before the storage service sees it.
  const laterPart = (u: URL) => u.pathname.endsWith('/objects/file-0') && u.searchParams.get('offset') !== '0'
  let seen = 0
  await context.route(laterPart, (route) => (seen++ === 0 ? route.abort('connectionreset') : route.continue()))
  try {
    const id = await submit(page, 'one part resent', [file])
    expect(seen).toBe(3) // the second part twice, then the third
    await openSubmission(page, 'acme', id)
    await expect(page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)
    const download = page.waitForEvent('download')
    await page.getByRole('button', { name: 'Save resent.bin' }).click()
    await expect(page.locator('#save-status')).toHaveText(
      `Saved resent.bin: 20 MiB (${20 * MiB} bytes), every frame verified.`,
    )
    expect(sha256(await (await download).path())).toBe(sha256(file))
  } finally {
    await context.unroute(laterPart)
  }
})

test('a new submission: a link to it and the form cleared; sizes in B, KiB, MiB; listed with its title (encrypted), date, size and sender', async ({
  page,
}) => {
  await signIn(page, 'acme')
  await page.goto(`${url}#/new`)
  await fillForm(page, 'Figures attached, see you Monday.', { title: 'Quarterly report 7f3a' })
  await page
    .getByLabel('Attachments')
    .setInputFiles([{ name: 'tiny.txt', mimeType: 'text/plain', buffer: Buffer.from('twenty-four bytes, this.') }])
  await page.getByRole('button', { name: 'Encrypt and upload' }).click()
  const status = page.locator('#submit-status')
  await expect(status).toHaveText(
    'Stored submission “Quarterly report 7f3a”: its fields and 1 file (24 B), encrypted in this browser under data keys of acme; storage received ciphertext only. The form is cleared for the next one.',
  )
  await expect(page.getByRole('progressbar', { name: 'Encryption and upload progress' })).toBeVisible()
  for (const field of ['title', 'name', 'email', 'message']) {
    await expect(page.locator(`#submit [name=${field}]`)).toHaveValue('')
  }
  expect(await page.getByLabel('Attachments').evaluate((input: HTMLInputElement) => input.files?.length)).toBe(0)

  await status.getByRole('link', { name: 'Quarterly report 7f3a' }).click()
  const id = /#\/submissions\/acme\/(\S+)$/.exec(page.url())![1]!
  await expect(page.getByRole('heading', { name: 'Quarterly report 7f3a' })).toBeVisible()
  await expect(page.locator('#submission-files li')).toHaveText('Save tiny.txt 24 B')

  // Storage never sees the title: it is one of the encrypted fields.
  for (const file of storedFiles(`${storage}/acme/${id}`)) {
    expect(readFileSync(file).includes('Quarterly report 7f3a'), file).toBe(false)
  }
  const meta = JSON.parse(readFileSync(`${storage}/acme/${id}/meta.json`, 'utf8')) as { created: string; by: string }
  expect(meta.by).toBe('demo-user@acme')

  await page.goto(`${url}#/submissions`)
  const row = page.locator(`#submission-list li[data-id="${id}"]`)
  await expect(listed(page, 'acme', id)).toHaveText('Quarterly report 7f3a') // decrypted in this page
  await expect(row.locator('time')).toHaveAttribute('datetime', meta.created)
  await expect(row).toContainText('demo-user@acme')
  await expect(row).toContainText('1 file, 24 B')
  // The list says plainly what storage sees in clear, and what is decrypted here.
  await expect(page.locator('#submissions-note')).toHaveText(
    'Titles and sizes are decrypted in this browser. Storage holds ciphertext only, and sees in clear just when each submission was stored, who uploaded it (it checks the sign-in) and how many bytes it holds.',
  )
  await expect(page.locator('#submission-list .busy')).toHaveCount(0)
  await page.screenshot({ path: `${shots}/submissions.png`, fullPage: true })
})

test('the submissions list decrypts its titles through the DEK cache and batched unwraps, a few at a time', async ({
  page,
}) => {
  await signIn(page, 'acme')
  const ids: string[] = []
  for (let i = 0; i < 8; i++) ids.push(await submit(page, `listed ${i}`, [], { title: `Listed title ${i}` }))
  await page.getByRole('button', { name: 'Sign out' }).click() // drops the cached data keys
  await page.locator('#sign-in select[name=tenant]').selectOption('acme')
  await page.getByRole('button', { name: 'Sign in' }).click()

  let inFlight = 0
  let most = 0
  let unwrapCalls = 0
  await page.route(/\/objects\/fields$/, async (route) => {
    most = Math.max(most, ++inFlight)
    const response = await route.fetch()
    inFlight--
    await route.fulfill({ response })
  })
  page.on('request', (r) => {
    if (/\/v1\/keys\/(batch-)?unwrap$/.test(r.url())) unwrapCalls++
  })
  await page.goto(`${url}#/submissions`)
  for (const [i, id] of ids.entries()) await expect(listed(page, 'acme', id)).toHaveText(`Listed title ${i}`)
  const listedCount = await page.locator('#submission-list li').count()
  expect(most).toBeGreaterThan(1) // in parallel
  expect(most).toBeLessThanOrEqual(6) // and bounded
  expect(unwrapCalls).toBeGreaterThan(0)
  expect(unwrapCalls).toBeLessThanOrEqual(Math.ceil(listedCount / 25)) // one batch per page of 25 (src/list.ts)

  const before = unwrapCalls
  await page.reload()
  for (const [i, id] of ids.entries()) await expect(listed(page, 'acme', id)).toHaveText(`Listed title ${i}`)
  expect(unwrapCalls).toBe(before) // after a reload, every data key from the IndexedDB cache
  await page.unroute(/\/objects\/fields$/)
})

test('a stored fields object larger than the page accepts is refused while it downloads, with its message', async ({
  page,
}) => {
  await signIn(page, 'acme')
  const id = await submit(page, 'small fields')
  let served = 0
  // Storage is not trusted with the size: here it serves 4 MiB for the fields object (limit 1 MiB).
  await page.route(new RegExp(`/submissions/${id}/objects/fields$`), async (route) => {
    served++
    await route.fulfill({ status: 200, contentType: 'application/octet-stream', body: Buffer.alloc(4 * MiB, 7) })
  })
  await openSubmission(page, 'acme', id)
  await expect(page.locator('#open-status')).toHaveText(
    /^The stored data is larger than this page accepts for it: storage holds something other than what was submitted\. Nothing of this submission is shown\. \(ERR_LIMIT_EXCEEDED\)$/,
  )
  await expect(page.locator('#submission-fields')).toBeEmpty()
  expect(served).toBeGreaterThan(0)
  await page.unroute(new RegExp(`/submissions/${id}/objects/fields$`))
})

test('a field keeps its newlines, and no ordinary word is split across lines', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 })
  await signIn(page, 'acme')
  const message =
    'Dear team,\nthe quarterly statements arrived yesterday afternoon, together with the reconciliation spreadsheets and the auditors’ preliminary correspondence; please acknowledge receipt.\n\nKind regards'
  const id = await submit(page, message, [], { title: 'Statements received' })
  await openSubmission(page, 'acme', id)
  await expect(page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)
  const dd = page.locator('#submission-fields dd').filter({ hasText: 'Dear team' })
  // biome-ignore lint/performance/useDomNodeTextContent: the text as rendered is the point (a collapsed newline reads as a space)
  expect(await dd.innerText()).toBe(message)
  const split = await page.locator('#submission-fields dd').evaluateAll((dds) =>
    dds.flatMap((dd) => {
      const text = dd.firstChild
      if (!(text instanceof Text)) return []
      return [...text.data.matchAll(/\S+/g)].flatMap((m) => {
        const range = document.createRange()
        range.setStart(text, m.index)
        range.setEnd(text, m.index + m[0].length)
        return range.getClientRects().length > 1 ? [m[0]] : []
      })
    }),
  )
  expect(split).toEqual([])
})

test('at 390 px wide nothing overflows, in any view', async ({ page }) => {
  await page.setViewportSize({ width: 390, height: 844 })
  await page.goto(url)
  await expect(page.getByRole('heading', { name: 'Sign in' })).toBeVisible()
  expect(await overflow(page)).toBe(0)
  await signIn(page, 'acme')
  expect(await overflow(page)).toBe(0)
  const id = await submit(page, 'narrow screens, a long unbroken value: 0123456789abcdef0123456789abcdef0123456789', [
    { name: 'a-rather-long-file-name-without-any-spaces-in-it.txt', mimeType: 'text/plain', buffer: Buffer.from('x') },
  ])
  expect(await overflow(page)).toBe(0)
  await page.goto(`${url}#/submissions`)
  await expect(listed(page, 'acme', id)).toBeVisible()
  expect(await overflow(page)).toBe(0)
  await openSubmission(page, 'acme', id)
  await expect(page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)
  expect(await overflow(page)).toBe(0)
  await signIn(page, 'acme', 'admin')
  await expect(page.locator('#key-state')).toContainText('stateenabled')
  await expect(page.locator('#audit-lines tbody tr').first()).toBeVisible()
  expect(await overflow(page)).toBe(0)
  await page.screenshot({ path: `${shots}/narrow-admin.png`, fullPage: true })
})

test('a favicon, and no request fails on any load of any view', async ({ page, context }) => {
  // Playwright hides favicon requests from its own events, so the browser's network log is read directly.
  const cdp = await context.newCDPSession(page)
  await cdp.send('Network.enable')
  const urls = new Map<string, string>()
  const inFlight = new Set<string>()
  const failures: string[] = []
  const icons: string[] = []
  cdp.on('Network.requestWillBeSent', (e) => {
    urls.set(e.requestId, e.request.url)
    // A worker's own script (no loader) is never reported finished, only failed: not waited for.
    const workerScript = e.type === 'Script' && !e.loaderId
    if (e.request.url.startsWith('http') && !workerScript) inFlight.add(e.requestId)
  })
  cdp.on('Network.responseReceived', (e) => {
    if (/\/favicon\.\w+$/.test(e.response.url)) icons.push(`${e.response.status} ${e.response.url}`)
    if (e.response.status >= 400) failures.push(`${e.response.status} ${e.response.url}`)
  })
  cdp.on('Network.loadingFinished', (e) => inFlight.delete(e.requestId))
  cdp.on('Network.loadingFailed', (e) => {
    inFlight.delete(e.requestId)
    failures.push(`${e.errorText} ${urls.get(e.requestId)}`)
  })
  page.on('requestfailed', (r) => failures.push(`${r.failure()?.errorText} ${r.url()}`))
  page.on('console', (m) => {
    if (m.type() === 'error') failures.push(`console: ${m.text()}`)
  })
  /** Loads `hash` afresh once nothing is loading (a navigation cancels what is, and that would count as failed). */
  const load = async (hash: string) => {
    await expect.poll(() => [...inFlight].map((r) => urls.get(r))).toEqual([])
    const before = icons.length
    await page.goto('about:blank')
    await page.goto(`${url}${hash}`)
    await expect(page.locator('body')).toHaveAttribute('data-ready', 'true')
    await expect.poll(() => icons.length).toBeGreaterThan(before) // every load asks for the icon
  }

  await load('')
  await page.getByRole('button', { name: 'Sign in' }).click() // a member: the form and the submissions
  const id = await submit(page, 'every view loaded', [
    { name: 'v.txt', mimeType: 'text/plain', buffer: Buffer.from('views') },
  ])
  const views: [string, () => Promise<void>][] = [
    ['#/new', () => expect(page.getByRole('heading', { name: 'New submission' })).toBeVisible()],
    ['#/submissions', () => expect(page.locator('#submission-list .busy')).toHaveCount(0)], // every title decrypted
    [`#/submissions/acme/${id}`, () => expect(page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)],
  ]
  for (const [hash, loaded] of views) {
    await load(hash)
    await loaded()
  }
  const download = page.waitForEvent('download')
  await page.goto(`${url}#/submissions/acme/${id}`)
  await page.getByRole('button', { name: 'Save v.txt' }).click()
  await download
  // The tenant key view, as its key administrator: the key, its policy and its audit log (polled live).
  await expect.poll(() => [...inFlight].map((r) => urls.get(r))).toEqual([])
  await page.getByRole('button', { name: 'Sign out' }).click()
  await page.locator('#sign-in select[name=role]').selectOption('admin')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await load('#/admin')
  await expect(page.locator('#key-state')).toContainText('stateenabled')
  await expect(page.locator('#audit-lines tbody tr').first()).toBeVisible()
  await expect.poll(() => [...inFlight].map((r) => urls.get(r))).toEqual([])
  expect(icons.every((line) => line.startsWith('200 '))).toBe(true)
  expect(failures).toEqual([])
})

test('the sign-in page has a short guided tour: what to try, and what each role shows', async ({ page }) => {
  await page.goto(url)
  const tour = page.getByRole('region', { name: 'Guided tour' })
  await expect(tour).toBeVisible()
  expect(await tour.locator('ol > li').count()).toBeGreaterThanOrEqual(3) // what to try, step by step
  // Every role one can sign in as has its entry, made from the same data as the role list.
  const roles = await page
    .locator('#sign-in select[name=role] option')
    .evaluateAll((options) => options.map((o) => (o as HTMLOptionElement).value))
  expect(roles).toEqual(['member', 'admin', 'auditor'])
  for (const role of roles) {
    const entry = tour.locator(`[data-role="${role}"]`)
    await expect(entry.getByRole('heading')).not.toBeEmpty()
    await expect(entry.locator('p').first()).not.toBeEmpty()
    await expect(entry.getByRole('button', { name: /^Try as / })).toBeVisible()
  }
  await expect(tour.locator('[data-role="admin"]')).toContainText('Tenant key')
  await page.screenshot({ path: `${shots}/sign-in.png`, fullPage: true })
  await page.locator('#sign-in select[name=tenant]').selectOption('globex')
  await tour.getByRole('button', { name: 'Try as key administrator' }).click()
  await expect(page.locator('#who')).toHaveText('demo-admin@globex · key administrator')
  await expect(page.getByRole('link', { name: 'Tenant key' })).toBeVisible()
})

test('the tenant’s key administrator rotates, disables and re-enables the key; the app says what each means', async ({
  page,
  browser,
}) => {
  test.setTimeout(120_000)
  await signIn(page, 'acme') // a member: a key user, who submits and opens
  const old = await submit(page, 'before the rotation')
  // The key administrator, in a browser of its own (it manages the key, and opens nothing).
  const keys = await newDevice(browser, 'acme', 'admin')
  const admin = keys.page
  await expect(admin.locator('#key-state')).toContainText('stateenabled')
  await admin.getByRole('button', { name: 'Rotate' }).click()
  await expect(admin.locator('#admin-status')).toHaveText(
    /^Rotated: new submissions use version (\d+); submissions under older versions still open\.$/,
  )
  const version = /version (\d+)/.exec((await admin.locator('#admin-status').textContent()) ?? '')![1]!
  // The message shows where the action was: right below the buttons, above the shred box.
  expect(await above(admin.locator('#key-actions'), admin.locator('#admin-status'))).toBe(true)
  expect(await above(admin.locator('#admin-status'), admin.locator('#shred'))).toBe(true)
  await admin.screenshot({ path: `${shots}/admin.png`, fullPage: true })
  const fresh = await submit(page, 'after the rotation')
  await openSubmission(page, 'acme', fresh)
  await expect(page.locator('#open-status')).toHaveText(
    `Decrypted in this browser. Encrypted under acme/default v${version}.`,
  )
  const device = await newDevice(browser, 'acme')
  await openSubmission(device.page, 'acme', old) // an older version, unwrapped by the proxy on a new device
  await expect(device.page.locator('#open-status')).toHaveText(
    /^Decrypted in this browser\. Encrypted under acme\/default v/,
  )

  await admin.getByRole('button', { name: 'Disable' }).click()
  await expect(admin.locator('#admin-status')).toHaveText(
    /^Disabled: new submissions, and opening acme’s submissions in any browser without a cached data key, are refused now\./,
  )
  await expect(admin.locator('#key-state')).toContainText('statedisabled')
  const keyButtons = '#key-actions button:visible, #rotation button:visible, #shred button:visible'
  await expect(admin.locator(keyButtons)).toHaveText(['Re-enable', 'Save the schedule', 'Shred the tenant key']) // what applies
  await admin.screenshot({ path: `${shots}/admin-disabled.png`, fullPage: true })
  // A device that never cached this submission's key is refused; the key user's browser that did keeps its
  // cached key until its TTL, as the message says.
  await openSubmission(device.page, 'acme', fresh)
  await expect(device.page.locator('#open-status')).toHaveText(
    'acme’s key is disabled by its key administrator: submissions cannot be made or opened until it is re-enabled. Nothing of this submission is shown. (ERR_KEY_DISABLED)',
  )
  await openSubmission(page, 'acme', fresh)
  await expect(page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)
  await page.goto(`${url}#/new`)
  await fillForm(page, 'while disabled')
  await page.getByRole('button', { name: 'Encrypt and upload' }).click()
  await expect(page.locator('#submit-status')).toHaveText(
    / Nothing was stored; your form is kept, so you can try again\. \(ERR_KEY_DISABLED\)$/,
  )

  await admin.getByRole('button', { name: 'Re-enable' }).click()
  await expect(admin.locator('#admin-status')).toHaveText(
    'Re-enabled: acme’s submissions can be made and opened again.',
  )
  await openSubmission(device.page, 'acme', fresh)
  await device.page.reload()
  await expect(device.page.locator('#open-status')).toHaveText(
    `Decrypted in this browser. Encrypted under acme/default v${version}.`,
  )
  await device.close()
  await keys.close()
  expect(auditLines()).toContainEqual(
    expect.objectContaining({ action: 'admin.disable', tenant: 'acme', caller: 'jwt:demo-admin@acme', outcome: 'ok' }),
  )
})

test('shredding the tenant key makes its submissions unrecoverable, and the app says so plainly', async ({
  page,
  browser,
}) => {
  await signIn(page, 'globex') // a key user submits; the key administrator shreds, in a browser of its own
  const id = await submit(page, 'globex secret', [
    { name: 'g.txt', mimeType: 'text/plain', buffer: Buffer.from('globex') },
  ])
  await openSubmission(page, 'globex', id)
  await expect(page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)
  const before = [...storedFiles(`${storage}/globex`)].length

  const keyAdmin = await newDevice(browser, 'globex', 'admin')
  const admin = keyAdmin.page
  for (const next of [2, 3]) {
    await admin.getByRole('button', { name: 'Rotate' }).click()
    await expect(admin.locator('#key-state')).toContainText(`primary version${next}`)
  }
  await expect(admin.locator('#key-state')).toContainText('versions1, 2, 3')
  await admin.getByLabel('Type the tenant’s name to confirm').fill('globe')
  await admin.getByRole('button', { name: 'Shred the tenant key' }).click()
  // Said in the shred box, where the action was.
  const shredStatus = admin.locator('#shred #shred-status')
  await expect(shredStatus).toHaveText('Type the tenant’s name exactly to confirm shredding.')
  expect(await above(admin.getByRole('button', { name: 'Shred the tenant key' }), shredStatus)).toBe(true)
  await expect(admin.locator('#key-state')).toContainText('stateenabled')
  await admin.getByLabel('Type the tenant’s name to confirm').fill('globex')
  await admin.getByRole('button', { name: 'Shred the tenant key' }).click()
  await expect(admin.locator('#admin-status')).toHaveText(
    'Shredded: every version of globex’s key is erased. globex’s submissions can never be opened again, by anyone.',
  )
  await expect(admin.locator('#key-state')).toContainText('statedestroyed')
  await admin.screenshot({ path: `${shots}/admin-shredded.png`, fullPage: true })
  // No dead buttons, no versions that no longer exist; the same after a reload.
  for (const load of [() => Promise.resolve(), () => admin.reload()]) {
    await load()
    await expect(admin.locator('#key-state')).toContainText('statedestroyed')
    // nothing applies to the shredded key (the tenant's own-material key, `own`, is another key)
    await expect(
      admin.locator('#key-actions button:visible, #rotation button:visible, #shred button:visible'),
    ).toHaveCount(0)
    await expect(admin.locator('#key-state')).not.toContainText('primary version')
    await expect(admin.locator('#key-state')).toContainText('versionsnone left (3 erased)')
  }
  await keyAdmin.close()
  // The key user's browser still holds the data keys it cached before the shred (until their TTL, as after a
  // disable); signing in again drops them (sign-out clears the tenant's cache), as on any other device.
  await signIn(page, 'globex')

  // The list opens nothing that can never open: it says the data is shredded.
  await page.goto(`${url}#/submissions`)
  const row = page.locator(`#submission-list li[data-id="${id}"]`)
  await expect(row).toContainText('Shredded: can never be opened, by anyone')
  await expect(page.locator('#submission-list a')).toHaveCount(0)
  await page.screenshot({ path: `${shots}/shredded-list.png`, fullPage: true })

  // Submitting says plainly that trying again cannot help.
  await page.goto(`${url}#/new`)
  await fillForm(page, 'after the shred')
  await page.getByRole('button', { name: 'Encrypt and upload' }).click()
  await expect(page.locator('#submit-status')).toHaveText(
    'globex’s key was shredded: this tenant cannot encrypt anything any more. Nothing was stored and your form is kept, but sending it again cannot work: a shredded key is gone for good. (ERR_KEY_DESTROYED)',
  )

  await openSubmission(page, 'globex', id)
  await expect(page.locator('#open-status')).toHaveText(
    'globex’s key was shredded: this submission can never be opened again, by anyone. (ERR_KEY_DESTROYED)',
  )
  await page.screenshot({ path: `${shots}/shredded-submission.png`, fullPage: true })
  expect([...storedFiles(`${storage}/globex`)].length).toBe(before) // the ciphertext is still there, and useless
  const keys = JSON.parse(readFileSync(`${data}/keys.json`, 'utf8')) as {
    records: Record<string, Record<string, unknown>>
  }
  // no key material left to recover it with
  expect(JSON.stringify(keys.records['local-key']!['globex/default'])).not.toContain('sealed')
})
