// Administering tenants' KMS keys on a real proxy, with a real SoftHSM2 token and the AWS KMS endpoint:
// registration refuses a KMS that does not work (with its own code) and settings that hold secrets, leaving
// nothing stored; a customer-managed key (AWS) is reported, never acted on; a proxy-managed one (PKCS#11) is
// rotated, disabled, scheduled for deletion and destroyed in the HSM itself (C_DestroyObject); envelope-admin
// does the same from the command line. Secrets (the PIN, the AWS secret key) appear in no file of the data
// folder, no audit line, no response and nothing the proxy prints.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { DisableKeyCommand, EnableKeyCommand } from '@aws-sdk/client-kms'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type EndpointFixture, PROXY, startEndpoint } from '../aws-kms/endpoint-fixture.ts'
import { p11, rawSession, startSoftHsm } from '../pkcs11/softhsm.ts'
import { codeOf, type RunningProxy } from '../proxy-process.ts'
import { API_KEY, startKmsProxy } from './kms-fixtures.ts'

const TOKEN = 'kms-admin'
const PIN = 'pin-5c1d-7e0a-93b2'
const hsm = startSoftHsm([TOKEN], PIN)
let aws: EndpointFixture
let arn: string
let proxy: RunningProxy
const responses: string[] = []
const api = async (method: string, path: string, body?: unknown) => {
  const r = await proxy.adminApi(method, path, body)
  responses.push(JSON.stringify(r.body))
  return r
}
const pkcs11Settings = (extra: Record<string, unknown> = {}) => ({
  module: hsm.module,
  tokenLabel: TOKEN,
  pinFile: hsm.pinFile,
  ...extra,
})

beforeAll(async () => {
  aws = await startEndpoint()
  ;({ arn } = aws.endpoint.createKey({ description: 'admin test' }))
  ;({ proxy } = await startKmsProxy(
    { tenants: ['globex'], pkcs11Modules: [hsm.module], awsKmsEndpoints: [aws.endpoint.url] },
    { ACME_AWS_SECRET: PROXY.secretAccessKey },
  ))
})
afterAll(async () => {
  await proxy?.stop()
  await aws?.close()
  hsm.close()
})

describe('registering a key', () => {
  test('refused, nothing stored: unknown provider, secrets in settings, a library or endpoint not allowed', async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ provider: 'vault' }, /provider/],
      [{ provider: 'pkcs11', settings: pkcs11Settings({ pin: PIN }) }, /settings\.pin is not a setting.*pinFile/],
      [{ provider: 'pkcs11', settings: pkcs11Settings({ module: '/tmp/evil.so' }) }, /pkcs11Modules/],
      [{ provider: 'pkcs11', settings: { module: hsm.module, tokenLabel: TOKEN } }, /pinFile and pinEnv/],
      [
        {
          provider: 'aws-kms',
          settings: {
            keyId: arn,
            endpoint: aws.endpoint.url,
            credentials: { source: 'static', accessKeyId: PROXY.accessKeyId, secretAccessKey: PROXY.secretAccessKey },
          },
        },
        /secretAccessKey is not a setting/,
      ],
      [{ provider: 'aws-kms', settings: { keyId: arn, endpoint: 'http://169.254.169.254/' } }, /awsKmsEndpoints/],
      [{ provider: 'local', mode: 'sometimes' }, /mode/],
    ]
    for (const [body, message] of cases) {
      const r = await api('PUT', 'acme/keys/k', body)
      expect(r).toMatchObject({ status: 400, code: 'ERR_BAD_REQUEST' })
      expect(r.body.error.message).toMatch(message)
      expect(r.body.error.message).not.toContain(PIN)
      expect(r.body.error.message).not.toContain(PROXY.secretAccessKey)
    }
    expect(await api('GET', 'acme')).toMatchObject({ status: 404, code: 'ERR_KEY_NOT_FOUND' })
  })

  test('a KMS that does not work is refused with the KMS’s code after a test wrap: nothing stored', async () => {
    const wrongPin = join(hsm.dir, 'wrong.pin')
    writeFileSync(wrongPin, 'not-the-pin\n')
    const awsSettings = (keyId: string) => ({
      keyId,
      endpoint: aws.endpoint.url,
      credentials: { source: 'static', accessKeyId: PROXY.accessKeyId, secretAccessKeyEnv: 'ACME_AWS_SECRET' },
    })
    const cases: Array<[unknown, string]> = [
      [{ provider: 'pkcs11', settings: pkcs11Settings({ pinFile: wrongPin }) }, 'ERR_KMS_ACCESS_DENIED'],
      [{ provider: 'pkcs11', settings: pkcs11Settings() }, 'ERR_KEY_NOT_FOUND'], // no such key in the token yet
      [{ provider: 'pkcs11', settings: pkcs11Settings({ tokenLabel: 'no-such-token' }) }, 'ERR_KMS_UNAVAILABLE'],
      [
        {
          provider: 'aws-kms',
          settings: awsSettings(arn.replace(/key\/.*/, 'key/00000000-0000-0000-0000-000000000000')),
        },
        'ERR_KEY_NOT_FOUND',
      ],
    ]
    for (const [body, code] of cases) {
      const r = await api('PUT', 'acme/keys/k', body)
      expect(r.code).toBe(code)
      expect(r.body.error.message).toMatch(/test wrap and unwrap|PKCS#11|AWS KMS/)
    }
    aws.endpoint.setFaults({ deny: [PROXY.accessKeyId] }) // the customer has not granted the proxy its key
    expect((await api('PUT', 'acme/keys/k', { provider: 'aws-kms', settings: awsSettings(arn) })).code).toBe(
      'ERR_KMS_ACCESS_DENIED',
    )
    aws.endpoint.setFaults({})
    expect(await api('GET', 'acme')).toMatchObject({ status: 404 })
    // A service key is not an admin key.
    const r = await fetch(`${proxy.url}/v1/admin/tenants/acme/keys/k`, {
      method: 'PUT',
      headers: { authorization: `ApiKey ${API_KEY}` },
      body: '{}',
    })
    expect((await r.json()).error.code).toBe('ERR_ADMIN_REQUIRED')

    // Registered once it works: the AWS key with its secret from the environment, the HSM key made in the token.
    expect(await api('PUT', 'acme/keys/aws', { provider: 'aws-kms', settings: awsSettings(arn) })).toMatchObject({
      status: 200,
      body: {
        provider: 'aws-kms',
        managedBy: 'customer',
        primary: true,
        mode: 'leased',
        state: 'enabled',
        keyRef: arn,
      },
    })
    expect(
      await api('PUT', 'acme/keys/hsm', { provider: 'pkcs11', settings: pkcs11Settings(), create: true }),
    ).toMatchObject({
      status: 200,
      body: { provider: 'pkcs11', managedBy: 'proxy', primary: false, state: 'enabled', versions: ['v1'] },
    })
    expect(await api('POST', 'acme/keys/hsm/test')).toMatchObject({
      status: 200,
      body: { ok: true, provider: 'pkcs11' },
    })
  })
})

describe('lifecycle', () => {
  test('a customer-managed key (AWS): its state reported, every lifecycle action refused and where to do it said', async () => {
    for (const action of ['create', 'rotate', 'disable', 'enable', 'schedule-deletion', 'cancel-deletion', 'destroy']) {
      const r = await api('POST', `acme/keys/aws/${action}`)
      expect(r).toMatchObject({ status: 409, code: 'ERR_KMS_CUSTOMER_MANAGED' })
      expect(r.body.error.message).toContain("lives in the customer's AWS KMS")
    }
    expect((await api('POST', 'acme/keys/aws/disable')).body.error.message).toContain('disable it there')
    await aws.customer.send(new DisableKeyCommand({ KeyId: arn }))
    expect((await api('GET', 'acme/keys/aws')).body.state).toBe('disabled')
    await aws.customer.send(new EnableKeyCommand({ KeyId: arn }))
    expect((await api('GET', 'acme/keys/aws')).body.state).toBe('enabled')
  })

  test('a proxy-managed key (PKCS#11): each action in the HSM itself, destroy is C_DestroyObject', async () => {
    const raw = rawSession(hsm, TOKEN, PIN)
    const objects = () =>
      raw
        .find([
          { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
          { type: p11.CKA_ID, value: Buffer.from('envelope/acme/hsm') },
        ])
        .map((h) => raw.api.C_GetAttributeValue(raw.session, h, [{ type: p11.CKA_LABEL }, { type: p11.CKA_ENCRYPT }]))
        .map(([label, enc]) => `${label!.value.toString()} ${enc!.value[0] ? 'usable' : 'disabled'}`)
        .sort()
    const client = createKeyProxyClient({ baseUrl: proxy.url, apiKey: API_KEY, tenant: 'acme', retries: 0 })
    expect(await api('POST', 'acme/keys/hsm/primary')).toMatchObject({ body: { primary: true } })
    const { edeks } = await client.generateDataKey({ doc: '1' })

    expect((await api('POST', 'acme/keys/hsm/rotate')).body).toMatchObject({
      primaryVersion: 'v2',
      versions: ['v1', 'v2'],
    })
    expect(objects()).toEqual(['envelope/acme/hsm/v1 usable', 'envelope/acme/hsm/v2 usable'])
    expect((await api('POST', 'acme/keys/hsm/disable')).body.state).toBe('disabled')
    expect(objects()).toEqual(['envelope/acme/hsm/v1 disabled', 'envelope/acme/hsm/v2 disabled'])
    expect((await api('POST', 'acme/keys/hsm/enable')).body.state).toBe('enabled')

    const scheduled = await api('POST', 'acme/keys/hsm/schedule-deletion', { waitingDays: 3 })
    expect(scheduled.body).toMatchObject({ state: 'pending_deletion', deletionDate: expect.any(String) })
    expect(objects()).toEqual(['envelope/acme/hsm/v1 disabled', 'envelope/acme/hsm/v2 disabled']) // the HSM refuses it
    expect(await codeOf(client.generateDataKey({ doc: '2' }))).toBe('ERR_KEY_PENDING_DELETION')
    expect(await api('POST', 'acme/keys/hsm/enable')).toMatchObject({ code: 'ERR_KEY_STATE' })
    expect(await api('POST', 'acme/keys/hsm/destroy')).toMatchObject({ code: 'ERR_KEY_STATE' }) // not yet
    expect((await api('POST', 'acme/keys/hsm/cancel-deletion')).body.state).toBe('disabled') // as AWS KMS does
    expect((await api('POST', 'acme/keys/hsm/enable')).body.state).toBe('enabled')
    expect(await client.unwrapDataKey(edeks, { doc: '1' })).toBeDefined()

    await api('POST', 'acme/keys/hsm/schedule-deletion', { waitingDays: 0 })
    expect((await api('POST', 'acme/keys/hsm/destroy')).body.state).toBe('destroyed')
    expect(objects()).toEqual([]) // C_DestroyObject: gone from the token
    expect(raw.find([{ type: p11.CKA_LABEL, value: 'envelope/acme/hsm/destroyed' }])).toHaveLength(1)
    expect(await codeOf(client.unwrapDataKey(edeks, { doc: '1' }))).toBe('ERR_KEY_DESTROYED')
    expect(await api('POST', 'acme/keys/hsm/create')).toMatchObject({ code: 'ERR_KEY_EXISTS' })
    raw.close()
  })
})

test('envelope-admin: register, test, tenant, set-primary, describe', async () => {
  const settingsFile = join(hsm.dir, 'hsm2.json')
  writeFileSync(settingsFile, JSON.stringify(pkcs11Settings({ keyLabel: 'globex/hsm2' })))
  const r = proxy.admin(
    'register',
    'globex',
    '--key',
    'hsm2',
    '--provider',
    'pkcs11',
    '--settings-file',
    settingsFile,
    '--mode',
    'direct',
    '--create',
  )
  expect(r.status).toBe(0)
  expect(JSON.parse(r.stdout)).toMatchObject({ keyName: 'hsm2', provider: 'pkcs11', mode: 'direct', primary: false })
  expect(JSON.parse(proxy.admin('test', 'globex', '--key', 'hsm2').stdout)).toMatchObject({ ok: true })
  expect(JSON.parse(proxy.admin('set-primary', 'globex', '--key', 'hsm2').stdout)).toMatchObject({ primary: true })
  const tenant = JSON.parse(proxy.admin('tenant', 'globex').stdout)
  expect(tenant).toMatchObject({ primary: 'hsm2', entries: [{ id: 'default', provider: 'local' }, { id: 'hsm2' }] })
  responses.push(JSON.stringify(tenant))
  const client = createKeyProxyClient({ baseUrl: proxy.url, apiKey: API_KEY, tenant: 'globex', retries: 0 })
  expect((await client.generateDataKey({})).edeks[0]).toMatchObject({ providerId: 'envelope-pkcs11', keyVersion: 'v1' })
  const refused = proxy.admin('rotate', 'acme', '--key', 'aws')
  expect(refused.status).toBe(1)
  expect(refused.stderr).toContain('ERR_KMS_CUSTOMER_MANAGED')
  expect(proxy.admin('register', 'globex', '--key', 'x', '--provider', 'pkcs11', '--settings', '{nope').status).toBe(2)
})

test('no secret anywhere: data folder, audit log, responses, what the proxy printed', async () => {
  const files: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (statSync(path).isDirectory()) walk(path)
      else files.push(path)
    }
  }
  walk(proxy.dataDir)
  expect(files.map((f) => f.slice(proxy.dataDir.length + 1))).toEqual(
    expect.arrayContaining(['keys.json', 'audit.log']),
  )
  const haystacks = [...files.map((f) => readFileSync(f, 'latin1')), ...responses, proxy.output()]
  for (const secret of [PIN, PROXY.secretAccessKey, 'not-the-pin']) {
    for (const text of haystacks) expect(text.includes(secret)).toBe(false)
  }
  // What is stored names where the secrets are.
  const keys = readFileSync(join(proxy.dataDir, 'keys.json'), 'utf8')
  expect(keys).toContain(hsm.pinFile)
  expect(keys).toContain('ACME_AWS_SECRET')
})
