// Key policy, as a matrix against a real proxy: every caller (each role by JWT and by API-key scope, no role, no
// credentials, another tenant's callers, the operator) × every route → allowed, or its own refusal code; each
// request audited with its request id and that outcome. Then the policy routes themselves, and the upgrade path.

import { decryptToString, encrypt } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { testIssuer } from '../harness/issuer.ts'
import { codeOf, hashKey, type RunningProxy, startProxy } from '../proxy-process.ts'

const KEYS = { user: 'acme-user-key', admin: 'acme-admin-key', auditor: 'acme-auditor-key', globex: 'globex-user-key' }
let proxy: RunningProxy
let jwt: Awaited<ReturnType<typeof testIssuer>>['token']

/** acme's policy: one claim value per role and no `*`, so a token with none of them holds no role. */
const ACME_POLICY = {
  jwtRoles: { 'key-admin': ['acme-key-admins'], 'key-user': ['acme-users'], auditor: ['acme-auditors'] },
  logContext: ['doc'],
}

beforeAll(async () => {
  const issuer = await testIssuer()
  jwt = issuer.token
  proxy = await startProxy({
    tenants: ['acme', 'globex'],
    minDeletionDays: 0,
    apiKeys: [
      { id: 'acme-user', sha256: await hashKey(KEYS.user), tenants: ['acme'] }, // default scopes: key-user
      { id: 'acme-admin', sha256: await hashKey(KEYS.admin), tenants: ['acme'], scopes: ['key-admin'] },
      { id: 'acme-auditor', sha256: await hashKey(KEYS.auditor), tenants: ['acme'], scopes: ['auditor'] },
      { id: 'globex-user', sha256: await hashKey(KEYS.globex), tenants: ['globex'] },
    ],
    jwt: { ...issuer.jwt, keyAdminRole: 'key-admin' },
  })
  expect((await proxy.adminApi('PUT', 'acme/policy', ACME_POLICY)).status).toBe(200)
})
afterAll(() => proxy?.stop())

const AUTH_CODES = ['ERR_UNAUTHENTICATED', 'ERR_TENANT_FORBIDDEN', 'ERR_ROLE_FORBIDDEN', 'ERR_ADMIN_REQUIRED']
type Expect = 'ok' | (typeof AUTH_CODES)[number]

// Admin routes act on a key that does not exist ("m"): an allowed call gets past authorization to the route (and
// its own answer, ERR_KEY_NOT_FOUND or a bad body), so the matrix changes no key.
const ROUTES: ReadonlyArray<{ name: string; method: string; path: string; body?: unknown; need: string }> = [
  ...['generate', 'batch-generate', 'unwrap', 'batch-unwrap', 'rekey'].map((r) => ({
    name: r,
    method: 'POST',
    path: `/v1/keys/${r}`,
    body: { tenant: 'acme' },
    need: 'use',
  })),
  { name: 'describe-tenant', method: 'GET', path: '/v1/admin/tenants/acme', need: 'manage' },
  { name: 'describe', method: 'GET', path: '/v1/admin/tenants/acme/keys/m', need: 'manage' },
  ...['rotate', 'disable', 'enable', 'schedule-deletion', 'cancel-deletion', 'destroy', 'test'].map((a) => ({
    name: a,
    method: 'POST',
    path: `/v1/admin/tenants/acme/keys/m/${a}`,
    need: 'manage',
  })),
  ...['create', 'primary', 'retire', 'reactivate'].map((a) => ({
    name: a,
    method: 'POST',
    path: `/v1/admin/tenants/acme/keys/m/${a}`,
    body: {},
    need: 'kms-entry',
  })),
  { name: 'register', method: 'PUT', path: '/v1/admin/tenants/acme/keys/m', body: {}, need: 'kms-entry' },
  { name: 'policy', method: 'GET', path: '/v1/admin/tenants/acme/policy', need: 'policy' },
  { name: 'set-policy', method: 'PUT', path: '/v1/admin/tenants/acme/policy', body: { bad: 1 }, need: 'policy' },
  { name: 'audit', method: 'GET', path: '/v1/admin/tenants/acme/audit', need: 'audit' },
]

// What each caller gets per permission the route needs. `create` by the operator really creates key "m": it runs
// last among the kms-entry routes' operator cells (the matrix runs the operator's row last).
const CALLERS: ReadonlyArray<{ name: string; auth: () => Promise<string | undefined>; gets: Record<string, Expect> }> =
  [
    {
      name: 'no credentials',
      auth: async () => undefined,
      gets: {
        use: 'ERR_UNAUTHENTICATED',
        manage: 'ERR_UNAUTHENTICATED',
        'kms-entry': 'ERR_UNAUTHENTICATED',
        policy: 'ERR_UNAUTHENTICATED',
        audit: 'ERR_UNAUTHENTICATED',
      },
    },
    ...(['jwt', 'apikey'] as const).flatMap((kind) => [
      {
        name: `${kind} key user`,
        auth: async () => (kind === 'jwt' ? `Bearer ${await jwt('acme', ['acme-users'])}` : `ApiKey ${KEYS.user}`),
        gets: {
          use: 'ok',
          manage: 'ERR_ROLE_FORBIDDEN',
          'kms-entry': 'ERR_ADMIN_REQUIRED',
          policy: 'ERR_ROLE_FORBIDDEN',
          audit: 'ERR_ROLE_FORBIDDEN',
        } as Record<string, Expect>,
      },
      {
        name: `${kind} key administrator`,
        auth: async () =>
          kind === 'jwt' ? `Bearer ${await jwt('acme', ['acme-key-admins'])}` : `ApiKey ${KEYS.admin}`,
        gets: {
          use: 'ERR_ROLE_FORBIDDEN',
          manage: 'ok',
          'kms-entry': 'ERR_ADMIN_REQUIRED',
          policy: 'ok',
          audit: 'ok',
        } as Record<string, Expect>,
      },
      {
        name: `${kind} auditor`,
        auth: async () =>
          kind === 'jwt' ? `Bearer ${await jwt('acme', ['acme-auditors'])}` : `ApiKey ${KEYS.auditor}`,
        gets: {
          use: 'ERR_ROLE_FORBIDDEN',
          manage: 'ERR_ROLE_FORBIDDEN',
          'kms-entry': 'ERR_ADMIN_REQUIRED',
          policy: 'ERR_ROLE_FORBIDDEN',
          audit: 'ok',
        } as Record<string, Expect>,
      },
    ]),
    {
      // acme's policy has no `*`: a token of acme with no mapped value holds no role.
      name: 'jwt of acme with no role',
      auth: async () => `Bearer ${await jwt('acme', ['key-admin', 'intern'])}`,
      gets: {
        use: 'ERR_ROLE_FORBIDDEN',
        manage: 'ERR_ROLE_FORBIDDEN',
        'kms-entry': 'ERR_ADMIN_REQUIRED',
        policy: 'ERR_ROLE_FORBIDDEN',
        audit: 'ERR_ROLE_FORBIDDEN',
      },
    },
    {
      // globex has the default policy: every token is a key user, `key-admin` tokens are key administrators.
      name: 'globex key user (jwt)',
      auth: async () => `Bearer ${await jwt('globex', [])}`,
      gets: {
        use: 'ERR_TENANT_FORBIDDEN',
        manage: 'ERR_TENANT_FORBIDDEN',
        'kms-entry': 'ERR_TENANT_FORBIDDEN',
        policy: 'ERR_TENANT_FORBIDDEN',
        audit: 'ERR_TENANT_FORBIDDEN',
      },
    },
    {
      // Its role is checked before the body names acme: not a key user anywhere, so refused as such.
      name: 'globex key administrator (jwt)',
      auth: async () => `Bearer ${await jwt('globex', ['key-admin'])}`,
      gets: {
        use: 'ERR_ROLE_FORBIDDEN',
        manage: 'ERR_TENANT_FORBIDDEN',
        'kms-entry': 'ERR_TENANT_FORBIDDEN',
        policy: 'ERR_TENANT_FORBIDDEN',
        audit: 'ERR_TENANT_FORBIDDEN',
      },
    },
    {
      name: 'globex service key',
      auth: async () => `ApiKey ${KEYS.globex}`,
      gets: {
        use: 'ERR_TENANT_FORBIDDEN',
        manage: 'ERR_TENANT_FORBIDDEN',
        'kms-entry': 'ERR_TENANT_FORBIDDEN',
        policy: 'ERR_TENANT_FORBIDDEN',
        audit: 'ERR_TENANT_FORBIDDEN',
      },
    },
    {
      name: 'operator (admin key)',
      auth: async () => `ApiKey ${proxy.adminKey}`,
      gets: { use: 'ERR_ROLE_FORBIDDEN', manage: 'ok', 'kms-entry': 'ok', policy: 'ok', audit: 'ok' },
    },
  ]

describe('key policy', () => {
  test('every caller × every route: allowed, or its own refusal code; each request audited with that outcome', async () => {
    const table: string[] = []
    const wrong: string[] = []
    for (const caller of CALLERS) {
      for (const route of ROUTES) {
        const authorization = await caller.auth()
        const r = await fetch(`${proxy.url}${route.path}`, {
          method: route.method,
          headers: { ...(authorization ? { authorization } : {}), 'content-type': 'application/json' },
          body: route.body === undefined ? undefined : JSON.stringify(route.body),
        })
        const requestId = r.headers.get('x-request-id')
        const body = (await r.json()) as { error?: { code: string } }
        const code = body.error?.code
        const got: string = code && AUTH_CODES.includes(code) ? code : 'ok'
        const expected = caller.gets[route.need]!
        table.push(`${caller.name} × ${route.name}: ${got}`)
        if (got !== expected) wrong.push(`${caller.name} × ${route.name}: expected ${expected}, got ${got} (${code})`)
        // Audited: a line with this request id and the outcome the caller was told (audit reads are lines too).
        const line = proxy.auditLines().find((l) => l.requestId === requestId)
        if (!line || line.outcome !== (code ?? 'ok'))
          wrong.push(`${caller.name} × ${route.name}: audit line ${JSON.stringify(line)} for outcome ${code ?? 'ok'}`)
      }
    }
    expect(wrong).toEqual([])
    expect(table.length).toBe(CALLERS.length * ROUTES.length)
  }, 60_000)

  test('a key user uses the key; a key administrator cannot, and manages it; the policy edit is audited', async () => {
    const as = async (roles: string[]) =>
      createKeyProxyClient({
        baseUrl: proxy.url,
        getToken: (
          (t) => () =>
            t
        )(await jwt('acme', roles, 'alice')),
        retries: 0,
      })
    const context = { doc: 'd1' }
    const sealed = await encrypt('for users only', { provider: await as(['acme-users']), context })
    expect(await decryptToString(sealed, { provider: await as(['acme-users']) })).toBe('for users only')
    expect(await codeOf(decryptToString(sealed, { provider: await as(['acme-key-admins']) }))).toBe(
      'ERR_ROLE_FORBIDDEN',
    )
    expect(await codeOf(decryptToString(sealed, { provider: await as(['acme-auditors']) }))).toBe('ERR_ROLE_FORBIDDEN')

    // A key administrator edits the policy (by JWT): the change is audited with the policy before and after.
    const adminJwt = await jwt('acme', ['acme-key-admins'], 'root-of-trust')
    const next = { ...ACME_POLICY, jwtRoles: { ...ACME_POLICY.jwtRoles, auditor: ['acme-auditors', 'soc'] } }
    const r = await fetch(`${proxy.url}/v1/admin/tenants/acme/policy`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${adminJwt}` },
      body: JSON.stringify(next),
    })
    expect(r.status).toBe(200)
    expect(await r.json()).toMatchObject({
      tenant: 'acme',
      isDefault: false,
      policy: { ...next, updatedBy: 'jwt:root-of-trust' },
    })
    const change = proxy
      .auditLines()
      .filter((l) => l.action === 'admin.set-policy' && l.outcome === 'ok')
      .at(-1)
    expect(change).toMatchObject({
      tenant: 'acme',
      caller: 'jwt:root-of-trust',
      policy: {
        old: { jwtRoles: { auditor: ['acme-auditors'] } },
        new: { jwtRoles: { auditor: ['acme-auditors', 'soc'] } },
      },
    })
    // A bad policy is refused with the field it got wrong, and changes nothing.
    for (const bad of [
      { jwtRoles: { owner: ['x'] } },
      { jwtRoles: { auditor: ['has space'] } },
      { logContext: Array(17).fill('f') },
      [],
    ]) {
      expect(await proxy.adminApi('PUT', 'acme/policy', bad)).toMatchObject({ status: 400, code: 'ERR_BAD_REQUEST' })
    }
    expect((await proxy.adminApi('GET', 'acme/policy')).body.policy.jwtRoles.auditor).toEqual(['acme-auditors', 'soc'])
  })

  test('a tenant without a policy of its own has the default: tokens use keys, key-admin tokens manage only', async () => {
    const got = await proxy.adminApi('GET', 'globex/policy')
    expect(got.body).toMatchObject({
      isDefault: true,
      policy: { jwtRoles: { 'key-admin': ['key-admin'], 'key-user': ['*'], auditor: [] }, logContext: [] },
    })
    const user = createKeyProxyClient({
      baseUrl: proxy.url,
      getToken: (
        (t) => () =>
          t
      )(await jwt('globex', [])),
      retries: 0,
    })
    const sealed = await encrypt('globex data', { provider: user })
    expect(await decryptToString(sealed, { provider: user })).toBe('globex data')
    // Upgrade note: a key-admin token no longer uses keys (it did before key policies).
    const admin = createKeyProxyClient({
      baseUrl: proxy.url,
      getToken: (
        (t) => () =>
          t
      )(await jwt('globex', ['key-admin'])),
      retries: 0,
    })
    expect(await codeOf(decryptToString(sealed, { provider: admin }))).toBe('ERR_ROLE_FORBIDDEN')
    // Unless the tenant's policy makes it a key user too.
    expect(
      (
        await proxy.adminApi('PUT', 'globex/policy', {
          jwtRoles: { 'key-admin': ['key-admin'], 'key-user': ['*', 'key-admin'] },
        })
      ).status,
    ).toBe(200)
    expect(await decryptToString(sealed, { provider: admin })).toBe('globex data')
  })
})
