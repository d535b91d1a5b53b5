// The demo as people use it, against the real stack `npm start` runs (key proxy, identity and storage services,
// the built app): a 200 MiB submission encrypted and opened in workers, the page's memory flat, opened again
// through the IndexedDB cache; another
// tenant refused; a key rotated, disabled, re-enabled and shredded by the tenant's key administrator; the key
// proxy stopped before and during an upload; a tampered stored file. Each failure shows its message, and
// nothing already stored is lost. The tests run in order and share the stack; the shred comes last.
import { createHash, randomBytes } from 'node:crypto'
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { type Browser, expect, type Page, test } from '@playwright/test'

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

async function signIn(page: Page, tenant: string, role: 'member' | 'admin' = 'member') {
  await page.goto(url)
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true')
  if (await page.getByRole('button', { name: 'Sign out' }).isVisible()) {
    await page.getByRole('button', { name: 'Sign out' }).click()
  }
  await page.locator('#sign-in select[name=tenant]').selectOption(tenant)
  await page.locator('#sign-in select[name=role]').selectOption(role)
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page.getByRole('heading', { name: 'New submission' })).toBeVisible()
}

/** Submits the form; resolves with the new submission's id once stored. */
async function submit(page: Page, message: string, files: Parameters<Page['setInputFiles']>[1] = []) {
  await page.goto(`${url}#/new`)
  await page.locator('#submit [name=message]').fill(message)
  await page.getByLabel('Attachments').setInputFiles(files)
  await page.getByRole('button', { name: 'Encrypt and upload' }).click()
  const status = page.locator('#submit-status')
  await expect(status).toHaveText(/^Stored submission (\S+):/, { timeout: 120_000 })
  return /^Stored submission (\S+):/.exec((await status.textContent()) ?? '')![1]!
}

const openSubmission = (page: Page, tenant: string, id: string) => page.goto(`${url}#/submissions/${tenant}/${id}`)

/** A browser profile of its own: another device, with an empty IndexedDB cache. */
async function newDevice(browser: Browser, tenant: string, role: 'member' | 'admin' = 'member') {
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
  await page.locator('#submit [name=name]').fill('Grace marker-field-4d2b')
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
  const id = await submit(page, 'please find attached marker-field-4d2b', [big])
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
    `Saved big-upload.bin: ${200 * MiB} bytes, every frame verified.`,
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
  await expect(page.getByRole('link', { name: `Open ${id}` })).toBeVisible()
  await page.screenshot({ path: `${shots}/submissions.png`, fullPage: true })
})

test('a user of another tenant cannot open the submission, and is told why', async ({ page }) => {
  await signIn(page, 'acme')
  const id = await submit(page, 'for acme eyes only', [
    { name: 'a.txt', mimeType: 'text/plain', buffer: Buffer.from('acme') },
  ])
  await signIn(page, 'globex')
  await page.goto(`${url}#/submissions`)
  await expect(page.getByRole('link', { name: `Open ${id}` })).toHaveCount(0) // not even listed
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
  await expect(page.locator('#save-status')).toHaveText('Saved k.bin: 300000 bytes, every frame verified.')
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
    await page.locator('#submit [name=message]').fill('sent while the proxy is down')
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
    await page.locator('#submit [name=message]').fill('sent while the proxy is dead')
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
  await expect(page.locator('#submit-status')).toHaveText(/^Stored submission (\S+):/)
  const id = /^Stored submission (\S+):/.exec((await page.locator('#submit-status').textContent()) ?? '')![1]!
  await openSubmission(page, 'acme', id)
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
    await expect(page.locator('#save-status')).toHaveText(`Saved resent.bin: ${20 * MiB} bytes, every frame verified.`)
    expect(sha256(await (await download).path())).toBe(sha256(file))
  } finally {
    await context.unroute(laterPart)
  }
})

test('the tenant’s key administrator rotates, disables and re-enables the key; the app says what each means', async ({
  page,
  browser,
}) => {
  test.setTimeout(120_000)
  await signIn(page, 'acme')
  const old = await submit(page, 'before the rotation')
  await signIn(page, 'acme', 'admin')
  await page.getByRole('link', { name: 'Tenant key' }).click()
  await expect(page.locator('#key-state')).toContainText('stateenabled')
  await page.getByRole('button', { name: 'Rotate' }).click()
  await expect(page.locator('#admin-status')).toHaveText(
    /^Rotated: new submissions use version (\d+); submissions under older versions still open\.$/,
  )
  const version = /version (\d+)/.exec((await page.locator('#admin-status').textContent()) ?? '')![1]!
  await page.screenshot({ path: `${shots}/admin.png`, fullPage: true })
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

  await page.goto(`${url}#/admin`)
  await page.getByRole('button', { name: 'Disable' }).click()
  await expect(page.locator('#admin-status')).toHaveText(
    /^Disabled: new submissions, and opening acme’s submissions in any browser without a cached data key, are refused now\./,
  )
  await expect(page.locator('#key-state')).toContainText('statedisabled')
  await page.screenshot({ path: `${shots}/admin-disabled.png`, fullPage: true })
  // This browser dropped its cached keys; a device that never cached this submission's key is refused too.
  await openSubmission(page, 'acme', fresh)
  await expect(page.locator('#open-status')).toHaveText(
    'acme’s key is disabled by its key administrator: submissions cannot be made or opened until it is re-enabled. Nothing of this submission is shown. (ERR_KEY_DISABLED)',
  )
  await openSubmission(device.page, 'acme', fresh)
  await expect(device.page.locator('#open-status')).toHaveText(/\(ERR_KEY_DISABLED\)$/)
  await page.goto(`${url}#/new`)
  await page.locator('#submit [name=message]').fill('while disabled')
  await page.getByRole('button', { name: 'Encrypt and upload' }).click()
  await expect(page.locator('#submit-status')).toHaveText(
    / Nothing was stored; your form is kept, so you can try again\. \(ERR_KEY_DISABLED\)$/,
  )

  await page.goto(`${url}#/admin`)
  await page.getByRole('button', { name: 'Re-enable' }).click()
  await expect(page.locator('#admin-status')).toHaveText('Re-enabled: acme’s submissions can be made and opened again.')
  await openSubmission(device.page, 'acme', fresh)
  await device.page.reload()
  await expect(device.page.locator('#open-status')).toHaveText(
    `Decrypted in this browser. Encrypted under acme/default v${version}.`,
  )
  await device.close()
  expect(auditLines()).toContainEqual(
    expect.objectContaining({ action: 'admin.disable', tenant: 'acme', caller: 'jwt:demo-admin@acme', outcome: 'ok' }),
  )
})

test('shredding the tenant key makes its submissions unrecoverable, and the app says so plainly', async ({ page }) => {
  await signIn(page, 'globex', 'admin')
  const id = await submit(page, 'globex secret', [
    { name: 'g.txt', mimeType: 'text/plain', buffer: Buffer.from('globex') },
  ])
  await openSubmission(page, 'globex', id)
  await expect(page.locator('#open-status')).toHaveText(/^Decrypted in this browser/)
  const before = [...storedFiles(`${storage}/globex`)].length

  await page.goto(`${url}#/admin`)
  await page.getByLabel('Type the tenant’s name to confirm').fill('globe')
  await page.getByRole('button', { name: 'Shred the tenant key' }).click()
  await expect(page.locator('#admin-status')).toHaveText('Type the tenant’s name exactly to confirm shredding.')
  await expect(page.locator('#key-state')).toContainText('stateenabled')
  await page.getByLabel('Type the tenant’s name to confirm').fill('globex')
  await page.getByRole('button', { name: 'Shred the tenant key' }).click()
  await expect(page.locator('#admin-status')).toHaveText(
    'Shredded: every version of globex’s key is erased. globex’s submissions can never be opened again, by anyone.',
  )
  await expect(page.locator('#key-state')).toContainText('statedestroyed')
  await page.screenshot({ path: `${shots}/admin-shredded.png`, fullPage: true })

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
