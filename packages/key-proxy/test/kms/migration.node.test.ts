// A tenant moved from the embedded local KMS to its own HSM (real SoftHSM2), behind a real proxy: the HSM key is
// registered and made primary; messages made before still open; rekey moves their EDEKs to the HSM key without the
// DEK leaving the proxy and without touching their bodies; once every EDEK moved, the local key is retired, and
// what was not moved is refused while what was moved opens. Then the other way round, from one tenant's HSM key to
// another tenant (rekey across tenants), and a proxy restart keeps all of it.
import { decryptToString, encrypt, readHeader, replaceEdeks } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { startSoftHsm } from '../pkcs11/softhsm.ts'
import { codeOf, type RunningProxy } from '../proxy-process.ts'
import { API_KEY, startKmsProxy } from './kms-fixtures.ts'

const TOKEN = 'migration'
const hsm = startSoftHsm([TOKEN])
let proxy: RunningProxy
const client = (tenant = 'acme') => createKeyProxyClient({ baseUrl: proxy.url, apiKey: API_KEY, tenant, retries: 0 })

beforeAll(async () => {
  ;({ proxy } = await startKmsProxy({ tenants: ['acme', 'globex'], pkcs11Modules: [hsm.module] }))
})
afterAll(async () => {
  await proxy?.stop()
  hsm.close()
})

test('local → HSM: register, make primary, rekey everything, retire the local key', async () => {
  const before = await Promise.all(
    ['one', 'two', 'three'].map(async (doc) => ({
      doc,
      message: await encrypt(`local ${doc}`, { provider: client(), context: { doc } }),
    })),
  )
  expect(readHeader(before[0]!.message).edeks[0]).toMatchObject({
    providerId: 'envelope-local-kms',
    keyId: 'acme/default',
  })

  const registered = await proxy.adminApi('PUT', 'acme/keys/hsm', {
    provider: 'pkcs11',
    settings: { module: hsm.module, tokenLabel: TOKEN, pinFile: hsm.pinFile },
    primary: true,
    create: true,
  })
  expect(registered).toMatchObject({ status: 200, body: { provider: 'pkcs11', primary: true, mode: 'leased' } })
  expect((await proxy.adminApi('GET', 'acme')).body).toMatchObject({
    primary: 'hsm',
    entries: [
      { id: 'default', provider: 'local', primary: false },
      { id: 'hsm', provider: 'pkcs11', primary: true },
    ],
  })
  // New data keys come from the HSM key; old messages still open through the local one.
  const after = await encrypt('hsm new', { provider: client(), context: { doc: 'new' } })
  expect(readHeader(after).edeks[0]).toMatchObject({ providerId: 'envelope-pkcs11', keyId: 'acme/hsm' })
  for (const { doc, message } of before) {
    expect(await decryptToString(message, { provider: client(), expectedContext: { doc } })).toBe(`local ${doc}`)
  }

  // Rekey the first two: same bodies, EDEKs of the HSM key.
  const moved = []
  for (const { doc, message } of before.slice(0, 2)) {
    const edek = await client().rekey!(readHeader(message).edeks, { doc })
    expect(edek).toMatchObject({ providerId: 'envelope-pkcs11', keyId: 'acme/hsm' })
    const rekeyed = replaceEdeks(message, [edek])
    expect(rekeyed.subarray(rekeyed.length - 40)).toEqual(message.subarray(message.length - 40))
    moved.push({ doc, message: rekeyed })
  }
  const rekeyLine = proxy
    .auditLines()
    .filter((l) => l.action === 'rekey')
    .at(-1)
  expect(rekeyLine).toMatchObject({ outcome: 'ok', keyId: 'acme/default' })

  // The primary cannot be retired; the local key can.
  expect(await proxy.adminApi('POST', 'acme/keys/hsm/retire')).toMatchObject({ status: 409, code: 'ERR_KEY_STATE' })
  expect(await proxy.adminApi('POST', 'acme/keys/default/retire')).toMatchObject({
    status: 200,
    body: { retired: true },
  })
  expect(await codeOf(decryptToString(before[2]!.message, { provider: client() }))).toBe('ERR_KEY_RETIRED')
  for (const { doc, message } of moved) {
    expect(await decryptToString(message, { provider: client(), expectedContext: { doc } })).toBe(`local ${doc}`)
  }
  // Retired keys cannot become primary; reactivated, the last message opens and is moved too.
  expect(await proxy.adminApi('POST', 'acme/keys/default/primary')).toMatchObject({ code: 'ERR_KEY_RETIRED' })
  expect(await proxy.adminApi('POST', 'acme/keys/default/reactivate')).toMatchObject({ body: { retired: false } })
  const last = replaceEdeks(before[2]!.message, [
    await client().rekey!(readHeader(before[2]!.message).edeks, { doc: 'three' }),
  ])
  expect(await decryptToString(last, { provider: client() })).toBe('local three')

  // HSM key → another tenant (a tenant split): the DEK moves to globex's key inside the proxy.
  const toGlobex = await client().rekey!(readHeader(after).edeks, { doc: 'new' }, { toTenant: 'globex' })
  expect(toGlobex).toMatchObject({ providerId: 'envelope-local-kms', keyId: 'globex/default' })
  expect(await decryptToString(replaceEdeks(after, [toGlobex]), { provider: client('globex') })).toBe('hsm new')

  // A restart keeps the tenant's keys and its lease.
  await proxy.stop()
  await proxy.restart()
  for (const { doc, message } of [...moved, { doc: 'three', message: last }]) {
    expect(await decryptToString(message, { provider: client(), expectedContext: { doc } })).toMatch(/^local /)
  }
  expect(await decryptToString(after, { provider: client() })).toBe('hsm new')
})
