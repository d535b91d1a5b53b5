// BYOK and bulk rekey behind a real proxy process, driven by envelope-admin as a customer would: a key made for
// imported material, `import-key` (the customer's side: parameters fetched, material wrapped locally with
// node:crypto, uploaded), messages under it, `delete-imported-material` (refused at once: ERR_KEY_PENDING_IMPORT),
// the same material again (the old messages open again). Every admin route answers typed codes and is audited.
// Then `rekey-bulk`: stored EDEKs of an old version moved to the primary version in bounded batches, resumable
// (a rerun skips what the output says is done; a proxy that stops mid-run loses nothing).
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decryptToString, encrypt, readHeader, replaceEdeks } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { edekFromJson, edekToJson } from '@envelope/fetch-client/protocol'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { API_KEY, startKmsProxy } from '../kms/kms-fixtures.ts'
import { codeOf, type RunningProxy } from '../proxy-process.ts'

let proxy: RunningProxy
const dir = mkdtempSync(join(tmpdir(), 'envelope-byok-cli-'))
const client = () => createKeyProxyClient({ baseUrl: proxy.url, apiKey: API_KEY, tenant: 'acme', retries: 0 })
const materialFile = join(dir, 'material.bin')
const material = crypto.getRandomValues(new Uint8Array(32))

beforeAll(async () => {
  ;({ proxy } = await startKmsProxy({ tenants: ['acme', 'globex'] }))
  writeFileSync(materialFile, material)
})
afterAll(async () => {
  await proxy?.stop()
})

test('import-key, use, delete-imported-material, import again: the old messages open again', async () => {
  expect(proxy.admin('create', 'acme', '--key', 'byok', '--origin', 'external').status).toBe(0)
  expect((await proxy.adminApi('GET', 'acme/keys/byok')).body).toMatchObject({
    state: 'pending_import',
    origin: 'external',
  })
  expect(proxy.admin('set-primary', 'acme', '--key', 'byok').status).toBe(0)
  expect(await codeOf(encrypt('x', { provider: client() }))).toBe('ERR_KEY_PENDING_IMPORT')

  const validTo = new Date(Date.now() + 30 * 86_400_000).toISOString()
  const imported = proxy.admin('import-key', 'acme', '--key', 'byok', '--material', materialFile, '--valid-to', validTo)
  expect(imported.status, imported.stderr).toBe(0)
  expect(JSON.parse(imported.stdout)).toMatchObject({ state: 'enabled', validTo })
  const message = await encrypt('mine', { provider: client(), context: { doc: 'a' } })
  expect(readHeader(message).edeks[0]).toMatchObject({ keyId: 'acme/byok', keyVersion: '1' })

  const deleted = proxy.admin('delete-imported-material', 'acme', '--key', 'byok')
  expect(deleted.status).toBe(0)
  expect(JSON.parse(deleted.stdout).state).toBe('pending_import')
  expect(await codeOf(decryptToString(message, { provider: client(), expectedContext: { doc: 'a' } }))).toBe(
    'ERR_KEY_PENDING_IMPORT',
  )
  const other = join(dir, 'other.bin')
  writeFileSync(other, crypto.getRandomValues(new Uint8Array(32)))
  const refused = proxy.admin('import-key', 'acme', '--key', 'byok', '--material', other)
  expect(refused.status).toBe(1)
  expect(refused.stderr).toContain('ERR_IMPORT_MATERIAL_MISMATCH')
  expect(
    proxy.admin('import-key', 'acme', '--key', 'byok', '--material', materialFile, '--wrapping-key-spec', 'RSA_4096')
      .status,
  ).toBe(0)
  expect(await decryptToString(message, { provider: client(), expectedContext: { doc: 'a' } })).toBe('mine')

  const actions = proxy.auditLines().map((l) => `${l.action} ${l.outcome}`)
  for (const a of [
    'admin.import-parameters ok',
    'admin.import ok',
    'admin.delete-imported-material ok',
    'admin.import ERR_IMPORT_MATERIAL_MISMATCH',
  ]) {
    expect(actions).toContain(a)
  }
  expect(readFileSync(join(proxy.dataDir, 'audit.log'), 'utf8')).not.toContain('importToken')
  await proxy.adminApi('POST', 'acme/keys/default/primary')
})

test('the routes: typed refusals, credentials before the body, usage errors of the CLI', async () => {
  expect(await proxy.adminApi('GET', 'acme/keys/default/import-parameters')).toMatchObject({
    status: 409,
    code: 'ERR_KEY_STATE',
  })
  expect(await proxy.adminApi('GET', 'acme/keys/byok/import-parameters?wrappingKeySpec=RSA_1024')).toMatchObject({
    status: 400,
    code: 'ERR_BAD_REQUEST',
  })
  expect(
    await proxy.adminApi('POST', 'acme/keys/byok/import', { importToken: 'nope', encryptedKeyMaterial: 'AA' }),
  ).toMatchObject({
    status: 400,
    code: 'ERR_IMPORT_TOKEN_INVALID',
  })
  expect(await proxy.adminApi('POST', 'acme/keys/nokey/delete-imported-material')).toMatchObject({
    status: 404,
    code: 'ERR_KEY_NOT_FOUND',
  })
  expect(await proxy.adminApi('POST', 'acme/keys/byok/create', { origin: 'elsewhere' })).toMatchObject({
    code: 'ERR_BAD_REQUEST',
  })
  const r = await fetch(`${proxy.url}/v1/admin/tenants/acme/keys/byok/import-parameters`)
  expect(r.status).toBe(401)
  const svc = await fetch(`${proxy.url}/v1/admin/tenants/acme/keys/byok/import-parameters`, {
    headers: { authorization: `ApiKey ${API_KEY}` },
  })
  // A service key is a key user (its default scopes): the key policy refuses it the admin routes.
  expect((await svc.json()).error.code).toBe('ERR_ROLE_FORBIDDEN')
  const short = join(dir, 'short.bin')
  writeFileSync(short, new Uint8Array(16))
  expect(proxy.admin('import-key', 'acme', '--key', 'byok', '--material', short).status).toBe(2)
  expect(proxy.admin('import-key', 'acme', '--key', 'byok').status).toBe(2)
})

test('rekey-bulk: old-version EDEKs moved to the primary version in batches, resumable, each item its own result', async () => {
  const messages = await Promise.all(
    Array.from({ length: 7 }, (_, i) => encrypt(`doc ${i}`, { provider: client(), context: { doc: String(i) } })),
  )
  expect(proxy.admin('rotate', 'acme').status).toBe(0)
  const line = (i: number) =>
    JSON.stringify({
      id: `doc-${i}`,
      edeks: readHeader(messages[i]!).edeks.map(edekToJson),
      context: { doc: String(i) },
    })
  const input = join(dir, 'edeks.ndjson')
  const output = join(dir, 'moved.ndjson')
  const keyFile = join(dir, 'svc.key')
  writeFileSync(keyFile, API_KEY)
  writeFileSync(input, `${[0, 1, 2].map(line).join('\n')}\n`)
  const bulk = () =>
    proxy.admin('rekey-bulk', 'acme', '--in', input, '--out', output, '--batch', '2', '--api-key-file', keyFile)

  let run = bulk()
  expect(run.status, run.stderr).toBe(0)
  expect(JSON.parse(run.stdout)).toEqual({ moved: 3, skipped: 0, refused: 0 })

  // more items, one of another context (refused on its own), and a torn line at the end of the output (a crash)
  appendFileSync(input, `${[3, 4, 5].map(line).join('\n')}\n`)
  appendFileSync(
    input,
    `${JSON.stringify({ id: 'wrong', edeks: readHeader(messages[6]!).edeks.map(edekToJson), context: { doc: 'x' } })}\n`,
  )
  appendFileSync(output, '{"id":"doc-3","ok":tr')
  await proxy.stop()
  run = bulk()
  expect(run.status).toBe(1)
  expect(run.stderr).toContain('rerun to resume')
  await proxy.restart()
  run = bulk()
  expect(run.status).toBe(1) // the refused item
  expect(JSON.parse(run.stdout)).toEqual({ moved: 3, skipped: 3, refused: 1 })

  const results = new Map(
    readFileSync(output, 'utf8')
      .split('\n')
      .flatMap((l) => {
        try {
          return [JSON.parse(l)]
        } catch {
          return []
        }
      })
      .map((r) => [r.id, r]),
  )
  expect(results.get('wrong')).toMatchObject({ ok: false, error: { code: 'ERR_EDEK_CONTEXT_MISMATCH' } })
  for (let i = 0; i < 6; i++) {
    const r = results.get(`doc-${i}`)
    expect(r).toMatchObject({ ok: true, edek: { keyId: 'acme/default', keyVersion: '2' } })
    const moved = replaceEdeks(messages[i]!, [edekFromJson(r.edek)!])
    expect(await decryptToString(moved, { provider: client(), expectedContext: { doc: String(i) } })).toBe(`doc ${i}`)
  }
  const rekeyLines = proxy.auditLines().filter((l) => l.action === 'rekey')
  expect(rekeyLines.filter((l) => l.outcome === 'ok')).toHaveLength(6)
  // every stored EDEK moved: version 1 retired; what was not moved (doc 6) is refused, what moved opens
  const retired = proxy.admin('min-decryption-version', 'acme', '--version', '2')
  expect(retired.status, retired.stderr).toBe(0)
  expect(JSON.parse(retired.stdout).minDecryptionVersion).toBe(2)
  expect(await codeOf(decryptToString(messages[6]!, { provider: client(), expectedContext: { doc: '6' } }))).toBe(
    'ERR_KEY_VERSION_RETIRED',
  )
  const moved0 = replaceEdeks(messages[0]!, [edekFromJson(results.get('doc-0').edek)!])
  expect(await decryptToString(moved0, { provider: client(), expectedContext: { doc: '0' } })).toBe('doc 0')
  expect((await proxy.adminApi('POST', 'acme/keys/default/min-decryption-version', { version: 3 })).code).toBe(
    'ERR_BAD_REQUEST',
  )
  expect(proxy.admin('min-decryption-version', 'acme', '--version', '1').status).toBe(0)
  expect(await decryptToString(messages[6]!, { provider: client(), expectedContext: { doc: '6' } })).toBe('doc 6')
})

test('rotation-schedule from the CLI and the route: shown in describe, audited, bounds typed', async () => {
  const set = proxy.admin('rotation-schedule', 'globex', '--period-days', '365')
  expect(set.status, set.stderr).toBe(0)
  expect(JSON.parse(set.stdout).rotation).toMatchObject({ periodDays: 365 })
  expect((await proxy.adminApi('POST', 'globex/keys/default/rotation-schedule', { periodDays: 0 })).code).toBe(
    'ERR_BAD_REQUEST',
  )
  expect(proxy.admin('rotation-schedule', 'globex', '--period-days', 'soon').status).toBe(2)
  expect(proxy.admin('rotate', 'globex').status).toBe(0)
  const d = (await proxy.adminApi('GET', 'globex/keys/default')).body
  expect(d.rotations).toEqual([expect.objectContaining({ version: '2', by: 'admin:local-admin' })])
  const off = proxy.admin('rotation-schedule', 'globex', '--period-days', 'off')
  expect(JSON.parse(off.stdout).rotation).toBeUndefined()
  expect(
    proxy
      .auditLines()
      .filter((l) => l.action === 'admin.rotation-schedule')
      .map((l) => l.outcome),
  ).toEqual(['ok', 'ERR_BAD_REQUEST', 'ok'])
})
