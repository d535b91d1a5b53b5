// Tenant and key names: one pattern (docs/key-proxy-api.md, "Names") checked on every route, in the admin CLI and
// in the configuration; names that are members of Object.prototype are ordinary names, stored and found like any
// other. Also the limit on key versions per key.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { decryptToString, encrypt } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { resolveConfig } from '../src/config.ts'
import { hashKey, type RunningProxy, startProxy } from './proxy-process.ts'

const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']
const BAD_NAMES = ['a b', 'x'.repeat(65), '.hidden', '-rf', 'caf\u00e9', 'a/b', 'a#1', 'a\nb', '']
const ANY_TENANT_KEY = 'any-tenant-key'
let proxy: RunningProxy
let signing: CryptoKey

beforeAll(async () => {
  const pair = await generateKeyPair('ES256')
  signing = pair.privateKey
  proxy = await startProxy({
    tenants: ['acme', ...PROTOTYPE_NAMES.slice(1, 3)],
    maxKeyVersions: 3,
    apiKeys: [{ id: 'any', sha256: await hashKey(ANY_TENANT_KEY), tenants: ['*'] }],
    jwt: {
      jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k', alg: 'ES256' }] },
      issuer: 'https://id.test',
      audience: 'envelope',
      keyAdminRole: 'key-admin',
    },
  })
})
afterAll(() => proxy?.stop())

const adminCall = async (path: string, method = 'POST') => {
  const r = await fetch(`${proxy.url}/v1/admin/tenants/${path}`, {
    method,
    headers: { authorization: `ApiKey ${proxy.adminKey}` },
  })
  const body = (await r.json()) as { state?: string; versions?: number[]; error?: { code: string } }
  return { status: r.status, code: body.error?.code, body }
}
const dataCall = async (path: string, body: Record<string, unknown>, authorization = `ApiKey ${ANY_TENANT_KEY}`) => {
  const r = await fetch(`${proxy.url}/v1/keys/${path}`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
  return { status: r.status, code: ((await r.json()) as { error?: { code: string } }).error?.code }
}

describe('names that are members of Object.prototype', () => {
  test('are not found before they are created, then are created, stored and used like any name', async () => {
    for (const name of PROTOTYPE_NAMES.filter((n) => n !== 'constructor' && n !== 'toString')) {
      expect(await adminCall(`${name}/keys/default`, 'GET')).toMatchObject({ status: 404, code: 'ERR_KEY_NOT_FOUND' })
    }
    for (const name of PROTOTYPE_NAMES) {
      expect(await adminCall(`acme/keys/${name}`, 'GET')).toMatchObject({ status: 404, code: 'ERR_KEY_NOT_FOUND' })
      expect(await adminCall(`acme/keys/${name}/create`)).toMatchObject({ status: 200, body: { state: 'enabled' } })
      expect(await adminCall(`acme/keys/${name}/create`)).toMatchObject({ status: 409, code: 'ERR_KEY_EXISTS' })
      if (name === 'constructor' || name === 'toString') continue // created at start from the configuration
      expect(await adminCall(`${name}/keys/default/create`)).toMatchObject({ status: 200, body: { state: 'enabled' } })
      expect(await adminCall(`${name}/keys/default/create`)).toMatchObject({ status: 409, code: 'ERR_KEY_EXISTS' })
    }
    await proxy.stop()
    await proxy.restart()
    for (const name of PROTOTYPE_NAMES) {
      expect(await adminCall(`${name}/keys/default`, 'GET')).toMatchObject({ status: 200, body: { state: 'enabled' } })
      expect(await adminCall(`acme/keys/${name}`, 'GET')).toMatchObject({ status: 200, body: { state: 'enabled' } })
      const provider = createKeyProxyClient({ baseUrl: proxy.url, apiKey: ANY_TENANT_KEY, tenant: name, retries: 0 })
      const message = await encrypt(`for ${name}`, { provider, context: { tenant: name } })
      expect(await decryptToString(message, { provider })).toBe(`for ${name}`)
    }
  })

  test('an API key or a JWT for a prototype-named tenant acts for that tenant only', async () => {
    expect([200, 409]).toContain((await adminCall('__proto__/keys/default/create')).status)
    const token = await new SignJWT({ tenant: '__proto__' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k' })
      .setIssuer('https://id.test')
      .setAudience('envelope')
      .setExpirationTime('5m')
      .sign(signing)
    const clientKey = (await import('@envelope/fetch-client/protocol')).generateDeliveryKeyPair()
    const body = { context: {}, clientKey: (await clientKey).publicJwk, nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }
    expect(await dataCall('generate', { ...body, tenant: 'acme' }, `Bearer ${token}`)).toMatchObject({
      status: 403,
      code: 'ERR_TENANT_FORBIDDEN',
    })
    expect(await dataCall('generate', body, `Bearer ${token}`)).toMatchObject({ status: 200 })
  })
})

describe('one name pattern, checked everywhere', () => {
  test('admin routes refuse a bad tenant or key name with ERR_BAD_REQUEST', async () => {
    for (const bad of BAD_NAMES.filter(Boolean)) {
      const name = encodeURIComponent(bad)
      for (const path of [`${name}/keys/default`, `acme/keys/${name}`]) {
        expect({ bad, ...(await adminCall(`${path}/create`)) }).toMatchObject({
          bad,
          status: 400,
          code: 'ERR_BAD_REQUEST',
        })
        expect({ bad, ...(await adminCall(path, 'GET')) }).toMatchObject({ bad, status: 400, code: 'ERR_BAD_REQUEST' })
      }
    }
  })

  test('data-key routes refuse a bad "tenant" or "toTenant" with ERR_BAD_REQUEST', async () => {
    const { publicJwk } = await (await import('@envelope/fetch-client/protocol')).generateDeliveryKeyPair()
    const nonce = 'AAAAAAAAAAAAAAAAAAAAAA'
    for (const bad of BAD_NAMES) {
      for (const [path, body] of [
        ['generate', { context: {}, clientKey: publicJwk, nonce, tenant: bad }],
        ['batch-generate', { items: [{ context: {} }], clientKey: publicJwk, nonce, tenant: bad }],
        ['unwrap', { edeks: [], context: {}, clientKey: publicJwk, nonce, tenant: bad }],
        ['batch-unwrap', { items: [{ edeks: [], context: {} }], clientKey: publicJwk, nonce, tenant: bad }],
        ['rekey', { edeks: [], context: {}, tenant: bad }],
        ['rekey', { edeks: [], context: {}, tenant: 'acme', toTenant: bad }],
      ] as const) {
        expect({ path, bad, ...(await dataCall(path, body)) }).toMatchObject({
          path,
          bad,
          status: 400,
          code: 'ERR_BAD_REQUEST',
        })
      }
    }
  })

  test('a JWT whose tenant claim is not a name is refused', async () => {
    for (const bad of ['a b', 'x'.repeat(65)]) {
      const token = await new SignJWT({ tenant: bad })
        .setProtectedHeader({ alg: 'ES256', kid: 'k' })
        .setIssuer('https://id.test')
        .setAudience('envelope')
        .setExpirationTime('5m')
        .sign(signing)
      expect(await dataCall('generate', { context: {} }, `Bearer ${token}`)).toMatchObject({
        status: 401,
        code: 'ERR_TOKEN_NO_TENANT',
      })
    }
  })

  test('the admin CLI refuses a bad name before calling the proxy (usage error, exit 2)', () => {
    for (const bad of ['a b', '.hidden', 'x'.repeat(65)]) {
      const r = proxy.admin('create', bad)
      expect({ bad, status: r.status }).toEqual({ bad, status: 2 })
      expect(r.stderr).toContain('tenant name')
      const k = proxy.admin('describe', 'acme', '--key', bad)
      expect({ bad, status: k.status }).toEqual({ bad, status: 2 })
      expect(k.stderr).toContain('key name')
    }
  })

  test('the configuration refuses bad tenant names, and the proxy does not start', () => {
    expect(() => resolveConfig({ tenants: ['acme', 'a b'] }, {})).toThrow(/"tenants\[1\]"/)
    expect(() => resolveConfig({}, { ENVELOPE_TENANTS: 'acme,.x' })).toThrow(/"tenants\[1\]"/)
    expect(() => resolveConfig({ tenants: [{ id: 'a b' }] }, {})).toThrow(/"tenants\[0\]"/)
    expect(() => resolveConfig({ tenants: [{ id: 'acme', kms: [{ id: 'x/y', provider: 'local' }] }] }, {})).toThrow(
      /"tenants\[0\]\.kms\[0\]"/,
    )
    expect(() => resolveConfig({ apiKeys: [{ id: 'a', sha256: 'a'.repeat(64), tenants: ['a b'] }] }, {})).toThrow(
      /"apiKeys\[0\]"/,
    )
    const dir = mkdtempSync(join(tmpdir(), 'envelope-badnames-'))
    writeFileSync(join(dir, 'c.json'), JSON.stringify({ dataDir: dir, port: 0, tenants: ['__proto__', 'bad name'] }))
    const r = spawnSync(
      process.execPath,
      [fileURLToPath(new URL('../dist/serve-node.mjs', import.meta.url)), '--config', join(dir, 'c.json')],
      { encoding: 'utf8', timeout: 15_000 },
    )
    expect(r.status).toBe(1)
    expect(r.stderr).toContain('ERR_CONFIG: configuration "tenants[1]"')
  })
})

test('a key has at most maxKeyVersions versions: one rotation more is refused with ERR_KEY_VERSION_LIMIT', async () => {
  expect(await adminCall('acme/keys/default/rotate')).toMatchObject({ status: 200, body: { versions: [1, 2] } })
  expect(await adminCall('acme/keys/default/rotate')).toMatchObject({ status: 200, body: { versions: [1, 2, 3] } })
  expect(await adminCall('acme/keys/default/rotate')).toMatchObject({ status: 409, code: 'ERR_KEY_VERSION_LIMIT' })
  expect(await adminCall('acme/keys/default', 'GET')).toMatchObject({ body: { versions: [1, 2, 3] } })
  expect(() => resolveConfig({ maxKeyVersions: 0 }, {})).toThrow(/"maxKeyVersions"/)
})
