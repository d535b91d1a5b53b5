// What the proxy does when its disk is full, on a really full filesystem: the data folder is a small tmpfs
// mounted for this test (CI runs as root; a machine where it cannot mount fails this test, it never skips).
// Key use fails closed with ERR_AUDIT_UNAVAILABLE (no DEK leaves without its audit line), readiness says so,
// nothing is left half written, and everything comes back once there is room again.
import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decryptToString, encrypt, readHeader } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { edekToJson, generateDeliveryKeyPair } from '@envelope/fetch-client/protocol'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { codeOf, hashKey, type RunningProxy, startProxy } from './proxy-process.ts'

const API_KEY = 'full-disk-key'
const mountPoint = mkdtempSync(join(tmpdir(), 'envelope-full-disk-'))
let mounted = false
let proxy: RunningProxy | undefined

beforeAll(async () => {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=512k,mode=0700', 'tmpfs', mountPoint], { stdio: 'pipe' })
  } catch (err) {
    throw new Error(
      `this test needs a real full filesystem and could not mount a tmpfs at ${mountPoint} (it must run as root): ${(err as Error).message}`,
    )
  }
  mounted = true
  proxy = await startProxy(
    // One process: its audit log counts every line lost (with --workers, each worker counts its own).
    { workers: 0, tenants: ['acme'], apiKeys: [{ id: 'full', sha256: await hashKey(API_KEY), tenants: ['acme'] }] },
    mountPoint,
  )
})

afterAll(async () => {
  await proxy?.stop()
  if (mounted) execFileSync('umount', [mountPoint])
  rmSync(mountPoint, { recursive: true, force: true })
})

/** Fills the filesystem to the last byte. */
function fill(path: string): void {
  const fd = openSync(path, 'w')
  try {
    for (const chunk of [Buffer.alloc(64 << 10), Buffer.alloc(1)]) {
      try {
        for (;;) writeSync(fd, chunk)
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
      }
    }
  } finally {
    closeSync(fd)
  }
}

const call = async (path: string, body?: unknown, authorization = `ApiKey ${API_KEY}`) => {
  const r = await fetch(`${proxy!.url}/v1${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const json = (await r.json()) as { error?: { code: string }; wrappedDek?: string; results?: unknown[] }
  return { status: r.status, code: json.error?.code, json }
}

test('a full disk: key use fails closed with ERR_AUDIT_UNAVAILABLE, readiness reports it, and it recovers', async () => {
  const client = createKeyProxyClient({ baseUrl: proxy!.url, apiKey: API_KEY, tenant: 'acme', retries: 0 })
  const message = await encrypt('sealed before the disk filled', { provider: client, context: { doc: 'd' } })
  const { publicJwk } = await generateDeliveryKeyPair()
  const nonce = 'AAAAAAAAAAAAAAAAAAAAAA'
  const filler = join(mountPoint, 'filler')
  fill(filler)

  // The key file cannot be written: the rotation is refused with a typed error and leaves no temp file.
  const rotate = () => call('/admin/tenants/acme/keys/default/rotate', {}, `ApiKey ${proxy!.adminKey}`)
  expect(await rotate()).toMatchObject({ status: 503, code: 'ERR_KEYSTORE_UNAVAILABLE' })
  expect(readdirSync(mountPoint).filter((f) => f.endsWith('.tmp'))).toEqual([])

  // Audit lines still fit in the last page of audit.log for a while; then they cannot be written.
  let refused: Awaited<ReturnType<typeof call>> | undefined
  for (let i = 0; i < 200 && !refused; i++) {
    const r = await call('/keys/generate', { context: { i: String(i) }, clientKey: publicJwk, nonce })
    if (r.status !== 200) refused = r
  }
  expect(refused).toMatchObject({ status: 503, code: 'ERR_AUDIT_UNAVAILABLE' })
  expect(refused!.json.wrappedDek).toBeUndefined()

  const edeks = readHeader(message).edeks.map(edekToJson)
  expect(await call('/keys/generate', { context: {}, clientKey: publicJwk, nonce })).toMatchObject({
    status: 503,
    code: 'ERR_AUDIT_UNAVAILABLE',
  })
  const batch = await call('/keys/batch-unwrap', {
    items: [{ edeks, context: { doc: 'd' } }],
    clientKey: publicJwk,
    nonce,
  })
  expect(batch).toMatchObject({ status: 503, code: 'ERR_AUDIT_UNAVAILABLE' })
  expect(await codeOf(decryptToString(message, { provider: client }))).toBe('ERR_AUDIT_UNAVAILABLE')
  expect(await rotate()).toMatchObject({ status: 503, code: 'ERR_AUDIT_UNAVAILABLE' })
  expect(await call('/ready')).toMatchObject({ status: 503, code: 'ERR_AUDIT_UNAVAILABLE' })
  expect(await call('/health')).toMatchObject({ status: 200 })

  // Room again: ready, key use works, and the log says that lines were lost, with no torn line in it.
  rmSync(filler)
  expect(await call('/ready')).toMatchObject({ status: 200 })
  expect(await decryptToString(message, { provider: client })).toBe('sealed before the disk filled')
  expect(await rotate()).toMatchObject({ status: 200 })
  const lines = proxy!.auditLines() // each line parses
  // Two logs share the disk (the operator's audit.log and acme's own, audit/acme/): whichever could not take its
  // line says how many it lost once it can again; the operator's log tells of both.
  const resumed = lines.filter((l) => l.action === 'audit.resumed')
  expect(resumed.length).toBeGreaterThanOrEqual(1)
  for (const r of resumed) expect(r).toMatchObject({ outcome: 'ok', lost: expect.any(Number) })
  expect(resumed.reduce((n, r) => n + (r.lost as number), 0)).toBeGreaterThanOrEqual(1)
  expect(lines.at(-1)).toMatchObject({ action: 'admin.rotate', outcome: 'ok' })
  const own = (await proxy!.adminApi('GET', 'acme/audit?action=audit.resumed')).body.records
  const acmeGap = resumed.find((r) => r.tenant === 'acme')
  if (acmeGap) expect(own[0]).toMatchObject({ lost: acmeGap.lost, since: acmeGap.since })
  else expect(own).toEqual([]) // acme's own log lost nothing: the operator's did
})

test('a batch whose audit lines cannot be written is refused as a whole (503), never answered item by item', async () => {
  // The first batch to meet the full disk, before the proxy knows it: a client fails over on a 503, while a 200
  // with items refused would be taken as those items' answers (a killed --workers primary left a worker doing this).
  const client = createKeyProxyClient({ baseUrl: proxy!.url, apiKey: API_KEY, tenant: 'acme', retries: 0 })
  const message = await encrypt('sealed before the disk filled again', { provider: client, context: { doc: 'e' } })
  const edeks = readHeader(message).edeks.map(edekToJson)
  const { publicJwk } = await generateDeliveryKeyPair()
  const nonce = 'AAAAAAAAAAAAAAAAAAAAAA'
  const filler = join(mountPoint, 'filler-2')
  fill(filler)
  try {
    const item = { edeks, context: { doc: 'e' } }
    let refused: Awaited<ReturnType<typeof call>> | undefined
    for (let i = 0; i < 400 && !refused; i++) {
      const r = await call('/keys/batch-unwrap', { items: [item, item, item], clientKey: publicJwk, nonce })
      const allOk = r.status === 200 && (r.json.results as Array<{ ok: boolean }>).every((x) => x.ok)
      if (!allOk) refused = r
    }
    expect(refused).toMatchObject({ status: 503, code: 'ERR_AUDIT_UNAVAILABLE' })
    expect(refused!.json.results).toBeUndefined()
  } finally {
    rmSync(filler)
  }
  expect(await call('/ready')).toMatchObject({ status: 200 })
  expect(await decryptToString(message, { provider: client })).toBe('sealed before the disk filled again')
})
