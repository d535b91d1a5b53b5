// Configuration: bad settings stop the proxy with ERR_CONFIG naming the setting; the environment overrides the file.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { resolveConfig } from '../src/config.ts'
import { buildProxy } from './proxy-process.ts'

const codeAndMessage = (f: () => unknown) => {
  try {
    f()
  } catch (err) {
    return `${(err as { code?: string }).code}: ${(err as Error).message}`
  }
  return 'no error'
}

test('each bad setting is named', () => {
  const bad: [Record<string, unknown>, string][] = [
    [{ port: 'x' }, '"port"'],
    [{ port: 70000 }, '"port"'],
    [{ rootKey: 'short' }, '"rootKey"'],
    [{ tenants: 'acme' }, '"tenants"'],
    [{ apiKeys: [{ id: 'a', sha256: 'zz', tenants: [] }] }, '"apiKeys[0]"'],
    [{ jwt: { issuer: 'i' } }, '"jwt"'],
    [{ jwt: { issuer: 'i', audience: 'a' } }, '"jwt"'],
    [{ maxBatch: 0 }, '"maxBatch"'],
    [{ minDeletionDays: 31 }, '"minDeletionDays"'],
    [{ tenants: [{ id: 'acme', kms: 'local' }] }, '"tenants[0].kms"'],
    [{ tenants: [{ id: 'acme', kms: [{ id: 'k', provider: 'local', mode: 'fast' }] }] }, '"tenants[0].kms[0].mode"'],
    [{ tenants: [{ id: 'acme', kms: [{ id: 'k', provider: 'local' }], primary: 'other' }] }, '"tenants[0].primary"'],
    [{ leaseTtlMs: 0 }, '"leaseTtlMs"'],
    [{ leaseTtlMs: 1000, leaseRefreshAheadMs: 2000 }, '"leaseRefreshAheadMs"'],
    [{ leaseMaxDeks: 0 }, '"leaseMaxDeks"'],
    [{ pkcs11Modules: '/usr/lib/x.so' }, '"pkcs11Modules"'],
    [{ allowedHosts: [] }, '"allowedHosts"'],
    [{ apiKeys: [{ id: 'a', sha256: 'a'.repeat(64), tenants: ['acme'], scopes: ['owner'] }] }, '"apiKeys[0]"'],
    [{ defaultPolicy: { jwtRoles: { superuser: ['x'] } } }, '"defaultPolicy"'],
    [{ defaultPolicy: { logContext: 'submission' } }, '"defaultPolicy"'],
    [{ tenantKmsAdmin: 'yes' }, '"tenantKmsAdmin"'],
    [{ auditRetentionDays: 0 }, '"auditRetentionDays"'],
    [{ auditWebhooks: [{ tenant: 'acme', url: 'file:///etc/passwd' }] }, '"auditWebhooks[0]"'],
    [{ auditWebhooks: [{ tenant: '../x', url: 'https://siem.example/' }] }, '"auditWebhooks[0]"'],
    [{ auditWebhookRetryMs: 0 }, '"auditWebhookRetryMs"'],
  ]
  for (const [settings, name] of bad) {
    const got = codeAndMessage(() => resolveConfig(settings, {}))
    expect(got).toMatch(/^ERR_CONFIG: /)
    expect(got).toContain(name)
  }
})

test('environment variables override the file, defaults fill the rest', () => {
  const c = resolveConfig({ port: 9000, tenants: ['a'] }, { ENVELOPE_PROXY_PORT: '9100', ENVELOPE_TENANTS: 'x,y' })
  expect(c).toMatchObject({
    host: '127.0.0.1',
    port: 9100,
    tenants: ['x', 'y'],
    dataDir: '.envelope-data',
    maxBatch: 1000,
  })
})

test('a proxy with a bad configuration file refuses to start and says why', () => {
  buildProxy()
  const dir = mkdtempSync(join(tmpdir(), 'envelope-badconfig-'))
  writeFileSync(join(dir, 'c.json'), JSON.stringify({ dataDir: dir, port: -1 }))
  const r = spawnSync(
    process.execPath,
    [new URL('../dist/serve-node.mjs', import.meta.url).pathname, '--config', join(dir, 'c.json')],
    { encoding: 'utf8' },
  )
  expect(r.status).toBe(1)
  expect(r.stderr).toContain(
    'key proxy did not start: ERR_CONFIG: configuration "port" must be an integer from 0 to 65535',
  )
  const r2 = spawnSync(
    process.execPath,
    [new URL('../dist/serve-node.mjs', import.meta.url).pathname, '--config', join(dir, 'missing.json')],
    { encoding: 'utf8' },
  )
  expect(r2.status).toBe(1)
  expect(r2.stderr).toContain('ERR_CONFIG: cannot read configuration file')
})

test('tenants: names (one local key) and tenants with their KMS keys; allowed hosts by default on loopback only', async () => {
  const { allowedHostsFor } = await import('../src/config.ts')
  const c = resolveConfig(
    { tenants: ['acme', { id: 'globex', kms: [{ id: 'hsm', provider: 'pkcs11', settings: {} }], primary: 'hsm' }] },
    { ENVELOPE_ALLOWED_HOSTS: 'keys.example.test,keys.example.test:443' },
  )
  expect(c.tenants).toHaveLength(2)
  expect(c.allowedHosts).toEqual(['keys.example.test', 'keys.example.test:443'])
  expect(c.leaseTtlMs).toBe(300_000)
  const own = ['127.0.0.1:7777', 'localhost:7777', '[::1]:7777']
  expect(allowedHostsFor('127.0.0.1', 7777, undefined)).toEqual(own)
  expect(allowedHostsFor('127.0.0.2', 80, undefined)).toContain('127.0.0.2:80')
  expect(allowedHostsFor('0.0.0.0', 7777, undefined)).toBeUndefined()
  expect(allowedHostsFor('0.0.0.0', 7777, ['Keys.Example.test'])).toEqual(['keys.example.test', ...own])
})
