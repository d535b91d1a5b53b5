// The tenant's own audit log against a real proxy: who, what, on which resource (the context's hash and the
// fields the policy logs in clear), when, the outcome and the request id; an unwrap's reason; filters, cursor
// pagination, a tenant never seeing another's lines (hostile filters and cursors); the NDJSON export checked by
// `envelope-admin audit verify`, intact and tampered.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { decryptToString, encrypt, readHeader } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { edekToJson, newNonce } from '@envelope/fetch-client/protocol'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { testIssuer } from '../harness/issuer.ts'
import { type RunningProxy, startProxy } from '../proxy-process.ts'

let proxy: RunningProxy
let jwt: Awaited<ReturnType<typeof testIssuer>>['token']
const client = async (tenant: string, roles: string[], sub: string) => {
  const token = await jwt(tenant, roles, sub)
  return createKeyProxyClient({ baseUrl: proxy.url, getToken: () => token, retries: 0 })
}

/** GET the audit route as `auth` (a JWT or the admin key); the JSON and the status. */
async function audit(tenant: string, query: Record<string, string>, auth: string) {
  const r = await fetch(`${proxy.url}/v1/admin/tenants/${tenant}/audit?${new URLSearchParams(query)}`, {
    headers: { authorization: auth },
  })
  // biome-ignore lint/suspicious/noExplicitAny: the route's JSON, read as the test needs
  const body = (await r.json()) as any
  return { status: r.status, code: body.error?.code as string | undefined, body }
}

/** A hand-made unwrap with any `reason` (the fetch client checks its own first): the answer's status and code. */
async function unwrapWithReason(token: string, message: Uint8Array, context: Record<string, string>, reason: unknown) {
  const pair = (await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, [
    'deriveBits',
  ])) as CryptoKeyPair
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey)
  const r = await fetch(`${proxy.url}/v1/keys/unwrap`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      nonce: newNonce(),
      clientKey: { kty, crv, x, y },
      edeks: readHeader(message).edeks.map(edekToJson),
      context,
      reason,
    }),
  })
  const body = (await r.json()) as { error?: { code: string } }
  return { status: r.status, code: body.error?.code, requestId: r.headers.get('x-request-id') }
}

let auditor: string
let admin: string
const context = { submission: 's-1', name: 'private name' }

beforeAll(async () => {
  const issuer = await testIssuer()
  jwt = issuer.token
  proxy = await startProxy({ tenants: ['acme', 'globex'], jwt: issuer.jwt })
  const policy = {
    jwtRoles: { 'key-admin': ['admins'], 'key-user': ['users'], auditor: ['auditors'] },
    logContext: ['submission'],
  }
  expect((await proxy.adminApi('PUT', 'acme/policy', policy)).status).toBe(200)
  auditor = `Bearer ${await jwt('acme', ['auditors'], 'carol')}`
  admin = `Bearer ${await jwt('acme', ['admins'], 'bob')}`
})
afterAll(() => proxy?.stop())

describe("the tenant's audit log", () => {
  let message: Uint8Array
  let reasoned: { requestId: string | null }

  test('each line says who, what, on which resource, when, the outcome and the request id; the reason is logged', async () => {
    message = await encrypt('report', { provider: await client('acme', ['users'], 'alice'), context })
    for (const doc of ['g-1', 'g-2'])
      await encrypt('globex data', { provider: await client('globex', [], 'gina'), context: { submission: doc } })
    const aliceToken = await jwt('acme', ['users'], 'alice')
    reasoned = await unwrapWithReason(aliceToken, message, context, 'support ticket 4711 — café ✓')
    expect(reasoned).toMatchObject({ status: 200 })
    // The key administrator may not open it: refused, and that refusal is in the tenant's log too.
    expect(await unwrapWithReason(admin.slice(7), message, context, undefined)).toMatchObject({
      code: 'ERR_ROLE_FORBIDDEN',
    })

    const got = await audit('acme', { action: 'unwrap' }, auditor)
    expect(got.status).toBe(200)
    const operatorLine = proxy.auditLines().find((l) => l.requestId === reasoned.requestId)!
    expect(got.body.records[0]).toMatchObject({
      seq: expect.any(Number),
      time: expect.any(String),
      tenant: 'acme',
      requestId: reasoned.requestId,
      caller: 'jwt:alice',
      action: 'unwrap',
      keyId: 'acme/default',
      keyVersion: '1',
      contextHash: operatorLine.contextHash,
      context: { submission: 's-1' }, // only the field the policy logs in clear
      reason: 'support ticket 4711 — café ✓',
      outcome: 'ok',
      prev: expect.stringMatching(/^[0-9a-f]{64}$/),
      hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    })
    expect(operatorLine.reason).toBe('support ticket 4711 — café ✓')
    expect(JSON.stringify(got.body)).not.toContain('private name')
    expect(got.body.records[1]).toMatchObject({ caller: 'jwt:bob', outcome: 'ERR_ROLE_FORBIDDEN' })
  })

  test('a reason with control characters, or over 1 KiB, is refused (and audited)', async () => {
    const token = await jwt('acme', ['users'], 'alice')
    for (const bad of [
      'line\nforged',
      'tab\there',
      'bidi \u202e gnp.exe',
      'nul\u0000',
      'x'.repeat(1025),
      'é'.repeat(513),
      42,
      '',
    ]) {
      expect({ bad, ...(await unwrapWithReason(token, message, context, bad)) }).toMatchObject({
        status: 400,
        code: 'ERR_BAD_REQUEST',
      })
    }
    expect(await unwrapWithReason(token, message, context, 'y'.repeat(1024))).toMatchObject({ status: 200 })
    const refused = await audit('acme', { outcome: 'ERR_BAD_REQUEST', caller: 'jwt:alice' }, auditor)
    expect(refused.body.records.length).toBe(8)
  })

  test('the fetch client sends a reason, per client and per use; a bad one is refused before it is sent', async () => {
    const token = await jwt('acme', ['users'], 'alice')
    const base = createKeyProxyClient({
      baseUrl: proxy.url,
      getToken: () => token,
      retries: 0,
      reason: 'nightly export',
    })
    expect(await decryptToString(message, { provider: base })).toBe('report')
    // The same EDEK at once under two reasons: not coalesced into one unwrap, each logged with its own.
    const ticket = base.withReason('support ticket 4712')
    await Promise.all([decryptToString(message, { provider: ticket }), decryptToString(message, { provider: base })])
    const recent = (await audit('acme', { action: 'unwrap', caller: 'jwt:alice', order: 'desc', limit: '3' }, auditor))
      .body.records
    expect(recent.map((r: { reason?: string }) => r.reason).sort()).toEqual([
      'nightly export',
      'nightly export',
      'support ticket 4712',
    ])
    const codeOf = (f: () => unknown) => {
      try {
        f()
        return 'no error'
      } catch (err) {
        return (err as { code?: string }).code
      }
    }
    for (const bad of ['line\nforged', '', 'x'.repeat(1025), 'bidi \u202e gnp.exe']) {
      expect(codeOf(() => base.withReason(bad))).toBe('ERR_BAD_REQUEST')
      expect(codeOf(() => createKeyProxyClient({ baseUrl: proxy.url, getToken: () => token, reason: bad }))).toBe(
        'ERR_BAD_REQUEST',
      )
    }
  })

  test('filters: outcome, caller, action, time range; cursors page through without a gap or a repeat', async () => {
    expect(
      (await audit('acme', { outcome: 'refused' }, auditor)).body.records.every(
        (r: { outcome: string }) => r.outcome !== 'ok',
      ),
    ).toBe(true)
    const alice = (await audit('acme', { caller: 'jwt:alice', limit: '1000' }, auditor)).body.records
    expect(alice.length).toBeGreaterThan(2)
    expect(alice.every((r: { caller: string }) => r.caller === 'jwt:alice')).toBe(true)
    expect((await audit('acme', { from: '2999-01-01T00:00:00Z' }, auditor)).body.records).toEqual([])
    const all = (await audit('acme', { limit: '1000' }, auditor)).body.records
    const paged: unknown[] = []
    let cursor: string | undefined
    do {
      const page = await audit('acme', { limit: '3', ...(cursor ? { cursor } : {}) }, auditor)
      expect(page.status).toBe(200)
      paged.push(...page.body.records)
      cursor = page.body.next
    } while (cursor)
    expect(paged).toEqual(all)
    const newest = (await audit('acme', { order: 'desc', limit: '2' }, auditor)).body
    expect(newest.records.map((r: { seq: number }) => r.seq)).toEqual([all.at(-1).seq, all.at(-2).seq])
  })

  test('a tenant never sees another tenant’s lines: hostile paths, filters and cursors', async () => {
    const all = (await audit('acme', { limit: '1000' }, auditor)).body.records
    expect(all.every((r: { tenant: string }) => r.tenant === 'acme')).toBe(true)
    expect(JSON.stringify(all)).not.toContain('gina')
    expect(await audit('globex', {}, auditor)).toMatchObject({ status: 403, code: 'ERR_TENANT_FORBIDDEN' })
    for (const path of ['..%2Fglobex', '%2e%2e', 'globex%00', 'ac%2Fme']) {
      expect((await audit(path, {}, auditor)).status).toBeGreaterThanOrEqual(400)
    }
    // Filters naming globex's caller, or with control characters, find nothing or are refused.
    expect((await audit('acme', { caller: 'jwt:gina' }, auditor)).body.records).toEqual([])
    expect((await audit('acme', { tenant: 'globex', limit: '1000' }, auditor)).body.records).toEqual(all)
    expect(await audit('acme', { action: 'unwrap\n' }, auditor)).toMatchObject({ status: 400, code: 'ERR_BAD_REQUEST' })
    expect(await audit('acme', { limit: '100000' }, auditor)).toMatchObject({ status: 400, code: 'ERR_BAD_REQUEST' })
    // Cursors: another tenant's (the operator's, for globex), one for other filters, one edited, one made up.
    const operator = `ApiKey ${proxy.adminKey}`
    const globexCursor = (await audit('globex', { limit: '1' }, operator)).body.next as string
    expect(globexCursor).toEqual(expect.any(String))
    const acmeCursor = (await audit('acme', { limit: '1' }, auditor)).body.next as string
    const [data, mac] = acmeCursor.split('.')
    const edited = JSON.parse(Buffer.from(data!, 'base64url').toString())
    const forged = `${Buffer.from(JSON.stringify({ ...edited, t: 'globex' })).toString('base64url')}.${mac}`
    for (const [cursor, query] of [
      [globexCursor, {}],
      [acmeCursor, { action: 'unwrap' }],
      [forged, {}],
      [`${data}.${'A'.repeat(43)}`, {}],
      ['garbage', {}],
    ] as const) {
      expect(await audit('acme', { limit: '1', ...query, cursor }, auditor)).toMatchObject({
        status: 400,
        code: 'ERR_CURSOR_INVALID',
      })
    }
    // The key administrator reads it too; the policy change it made is a line with the policy before and after.
    const policy = (await proxy.adminApi('GET', 'acme/policy')).body.policy
    const put = await fetch(`${proxy.url}/v1/admin/tenants/acme/policy`, {
      method: 'PUT',
      headers: { authorization: admin },
      body: JSON.stringify({ ...policy, logContext: [] }),
    })
    expect(put.status).toBe(200)
    const changes = (await audit('acme', { action: 'admin.set-policy', order: 'desc', limit: '1' }, admin)).body.records
    expect(changes[0]).toMatchObject({
      caller: 'jwt:bob',
      policy: { old: { logContext: ['submission'] }, new: { logContext: [] } },
    })
  })

  test('the NDJSON export verifies with `envelope-admin audit verify`; a tampered one is reported', async () => {
    const file = join(proxy.dataDir, 'acme-export.ndjson')
    const exported = proxy.admin('audit', 'acme', '--out', file)
    expect(exported.status).toBe(0)
    const lines = readFileSync(file, 'utf8').trim().split('\n')
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ type: 'checkpoint', tenant: 'acme' })
    const verified = proxy.admin('audit', 'verify', file)
    expect(verified).toMatchObject({ status: 0 })
    expect(verified.stdout).toMatch(/^intact: \d+ lines/)
    // The public key kept apart by the customer works offline too.
    const keyFile = join(proxy.dataDir, 'signing-key.json')
    writeFileSync(keyFile, await (await fetch(`${proxy.url}/v1/audit/signing-key`)).text())
    expect(proxy.admin('audit', 'verify', file, '--public-key', keyFile).status).toBe(0)
    writeFileSync(file, [...lines.slice(0, 2), ...lines.slice(3)].join('\n'))
    const tampered = proxy.admin('audit', 'verify', file, '--public-key', keyFile)
    expect(tampered.status).toBe(1)
    expect(tampered.stderr).toContain('dropped')
    expect(tampered.stdout).toContain('NOT INTACT')
    // An export filtered by anything but time is refused: it would not verify.
    expect(await audit('acme', { format: 'ndjson', action: 'unwrap' }, auditor)).toMatchObject({ status: 400 })
  })
})
