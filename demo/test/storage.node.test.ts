// The demo storage service (scripts/demo-storage.mjs) for real on loopback: uploads in parts at offsets, in any
// order, a part cut off not counted so it can be sent again, nothing visible before commit (nor a commit with a
// part missing), a discarded upload never
// touching stored submissions, each tenant listing only its own.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import type { AddressInfo, Server } from 'node:net'
import { tmpdir } from 'node:os'
import { generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
// @ts-expect-error: a plain ES module of the demo scripts, without types
import { startStorage } from '../../scripts/demo-storage.mjs'

let server: Server
let base: string
let dataDir: string
const tokens: Record<string, string> = {}

/** The service on `dataDir`, on a free port, trusting tokens signed for `verifyKey`. */
const start = (verifyKey: CryptoKey): Promise<Server> =>
  startStorage({
    host: '127.0.0.1',
    port: 0,
    dataDir,
    origin: 'http://127.0.0.1:1',
    verifyKey,
    issuer: 'test',
    audience: 'test',
  })

beforeAll(async () => {
  dataDir = mkdtempSync(`${tmpdir()}/envelope-storage-test-`)
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  server = await start(publicKey)
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  for (const tenant of ['acme', 'globex']) {
    tokens[tenant] = await new SignJWT({ tenant })
      .setProtectedHeader({ alg: 'ES256' })
      .setSubject(`someone@${tenant}`)
      .setIssuer('test')
      .setAudience('test')
      .setExpirationTime('5m')
      .sign(privateKey)
  }
})
afterAll(() => {
  server?.close()
  rmSync(dataDir, { recursive: true, force: true })
})

async function call(tenant: string | undefined, method: string, path: string, body?: Uint8Array<ArrayBuffer> | string) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: tenant ? { authorization: `Bearer ${tokens[tenant]}` } : {},
    ...(body === undefined ? {} : { body }),
  })
  const text = await r.text()
  let json: { error?: { code: string }; size?: number; id?: string; [k: string]: unknown } = {}
  try {
    json = JSON.parse(text)
  } catch {}
  return { status: r.status, code: json.error?.code, json, text }
}
const put = (id: string, name: string, offset: number, body: string | Uint8Array<ArrayBuffer>, tenant = 'acme') =>
  call(tenant, 'PUT', `/submissions/${id}/objects/${name}?offset=${offset}`, body)

describe('demo storage', () => {
  test('parts land at their offsets in any order; a part sent again is harmless; too far ahead is refused', async () => {
    const { json } = await call('acme', 'POST', '/submissions')
    const id = json.id as string
    // `size` is what arrived in full from the start.
    expect(await put(id, 'file-0', 5, ' wor')).toMatchObject({ status: 200, json: { size: 0 } })
    expect(await put(id, 'file-0', 0, 'hello')).toMatchObject({ status: 200, json: { size: 9 } })
    expect(await put(id, 'file-0', 0, 'hello')).toMatchObject({ status: 200, json: { size: 9 } }) // sent again
    expect(await put(id, 'file-0', 9 + 64 * 2 ** 20 + 1, 'x')).toMatchObject({
      status: 409,
      code: 'ERR_OFFSET',
      json: { size: 9 },
    })
    await put(id, 'fields', 0, '{}')
    expect(await call('acme', 'POST', `/submissions/${id}/commit`)).toMatchObject({ status: 200 })
    const withHole = (await call('acme', 'POST', '/submissions')).json.id as string
    await put(withHole, 'fields', 0, '{}')
    await put(withHole, 'file-0', 3, 'def')
    expect(await call('acme', 'POST', `/submissions/${withHole}/commit`)).toMatchObject({
      status: 409,
      code: 'ERR_UPLOAD_INCOMPLETE',
    })
    await put(withHole, 'file-0', 0, 'abc')
    expect(await call('acme', 'POST', `/submissions/${withHole}/commit`)).toMatchObject({ status: 200 })
    expect((await call('acme', 'GET', `/tenants/acme/submissions/${withHole}/objects/file-0`)).text).toBe('abcdef')
    expect(readdirSync(`${dataDir}/storage/acme/${withHole}`).sort()).toEqual(['fields', 'file-0', 'meta.json'])
  })

  test('parts sent at the same time all land, and the object commits whole', async () => {
    const id = (await call('acme', 'POST', '/submissions')).json.id as string
    const part = (i: number) => new Uint8Array(100_000).fill(i + 1)
    const results = await Promise.all([3, 1, 0, 2].map((i) => put(id, 'file-0', i * 100_000, part(i))))
    expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200])
    await put(id, 'fields', 0, '{}')
    expect(await call('acme', 'POST', `/submissions/${id}/commit`)).toMatchObject({
      json: { objects: [{ name: 'fields' }, { name: 'file-0', bytes: 400_000 }] },
    })
    const stored = readFileSync(`${dataDir}/storage/acme/${id}/file-0`)
    for (let i = 0; i < 4; i++) expect(stored[i * 100_000 + 99_999]).toBe(i + 1)
  })

  test('parts append at their offsets; nothing shows before commit; committed is final', async () => {
    const { json } = await call('acme', 'POST', '/submissions')
    const id = json.id as string
    expect(await put(id, 'file-0', 0, 'hello')).toMatchObject({ status: 200, json: { size: 5 } })
    expect(await put(id, 'file-0', 5, ' world')).toMatchObject({ status: 200, json: { size: 11 } })
    const listed = async () => (await call('acme', 'GET', '/submissions')).json.submissions as { id: string }[]
    expect((await listed()).map((x) => x.id)).not.toContain(id) // not yet
    expect(await call('acme', 'POST', `/submissions/${id}/commit`)).toMatchObject({ status: 404 }) // no fields
    await put(id, 'fields', 0, '{}')
    const committed = await call('acme', 'POST', `/submissions/${id}/commit`)
    expect(committed.json).toMatchObject({
      id,
      by: 'someone@acme', // who uploaded it, from the verified token: storage sees it anyway
      objects: [
        { name: 'fields', bytes: 2 },
        { name: 'file-0', bytes: 11 },
      ],
    })
    expect((await call('acme', 'GET', '/submissions')).json.submissions).toContainEqual(committed.json)
    expect((await call('globex', 'GET', '/submissions')).json.submissions).toEqual([])
    expect((await call('acme', 'GET', `/tenants/acme/submissions/${id}/objects/file-0`)).text).toBe('hello world')
    // Committed: no more parts, and a discard does not touch it.
    expect(await put(id, 'file-0', 11, '!')).toMatchObject({ status: 404 })
    expect((await call('acme', 'DELETE', `/submissions/${id}`)).status).toBe(204)
    expect((await call('acme', 'GET', `/tenants/acme/submissions/${id}/objects/file-0`)).text).toBe('hello world')
  })

  test('a part cut off mid-body does not count, so the same part can be sent again', async () => {
    const id = (await call('acme', 'POST', '/submissions')).json.id as string
    await put(id, 'file-0', 0, 'abc')
    await new Promise<void>((resolve) => {
      const req = request(`${base}/submissions/${id}/objects/file-0?offset=3`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${tokens.acme}`, 'content-length': '1000' },
      })
      req.on('error', () => resolve())
      req.write(Buffer.alloc(400, 1), () => setImmediate(() => req.destroy()))
    })
    // The server notices the cut-off body and does not count it; a put at the same offset then succeeds, and the
    // committed object holds exactly the parts that arrived whole.
    await expect.poll(async () => (await put(id, 'file-0', 3, 'def')).status).toBe(200)
    await put(id, 'fields', 0, '{}')
    await call('acme', 'POST', `/submissions/${id}/commit`)
    expect(readFileSync(`${dataDir}/storage/acme/${id}/file-0`, 'utf8')).toBe('abcdef')
  })

  test('a discarded upload leaves nothing; bad input and strangers are refused with codes', async () => {
    const id = (await call('acme', 'POST', '/submissions')).json.id as string
    await put(id, 'file-0', 0, 'partial')
    expect((await call('acme', 'DELETE', `/submissions/${id}`)).status).toBe(204)
    expect(readdirSync(`${dataDir}/storage/acme/.pending`)).not.toContain(id)
    expect(await put(id, 'file-0', 7, 'more')).toMatchObject({ status: 404, code: 'ERR_NOT_FOUND' })

    const other = (await call('acme', 'POST', '/submissions')).json.id as string
    expect(await put(other, 'file-0', 0, 'x', 'globex')).toMatchObject({ status: 404 }) // not globex's upload
    expect(await put(other, 'secrets', 0, 'x')).toMatchObject({ status: 404 }) // not an object name
    expect(await put(other, 'file-0', 0, new Uint8Array(16 * 2 ** 20 + 1))).toMatchObject({
      status: 413,
      code: 'ERR_PART_TOO_LARGE',
    })
    expect(await call(undefined, 'GET', '/submissions')).toMatchObject({ status: 401, code: 'ERR_UNAUTHENTICATED' })
    expect(await call('acme', 'GET', '/tenants/acme/submissions/..%2F..%2Fx/objects/fields')).toMatchObject({
      status: 404,
    })
    expect(await call('acme', 'GET', '/tenants/acme/submissions/nope-00000000/objects/fields')).toMatchObject({
      status: 404,
      code: 'ERR_NOT_FOUND',
    })
  })

  test('uploads abandoned for a day are dropped at start; recent ones and submissions stay', async () => {
    const recent = (await call('acme', 'POST', '/submissions')).json.id as string
    const old = 'abc-0000beef'
    mkdirSync(`${dataDir}/storage/acme/.pending/${old}`)
    writeFileSync(
      `${dataDir}/storage/acme/.pending/${old}/meta.json`,
      JSON.stringify({ created: new Date(Date.now() - 25 * 3_600_000).toISOString() }),
    )
    const stored = readdirSync(`${dataDir}/storage/acme`).filter((d) => !d.startsWith('.'))
    expect(stored.length).toBeGreaterThan(0)
    const again = await start((await generateKeyPair('ES256')).publicKey)
    again.close()
    expect(readdirSync(`${dataDir}/storage/acme/.pending`)).toContain(recent)
    expect(readdirSync(`${dataDir}/storage/acme/.pending`)).not.toContain(old)
    expect(readdirSync(`${dataDir}/storage/acme`).filter((d) => !d.startsWith('.'))).toEqual(stored)
  })
})
