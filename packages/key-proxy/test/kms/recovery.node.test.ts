// Disaster recovery, per backend and mode: messages sealed through a real proxy, then the proxy stopped for good,
// and each DEK recovered from its EDEK with the customer's KMS alone by recover-dek.mjs — a process of its own
// with no envelope code (jose, pkcs11js, the AWS SDK). The recovered DEK is checked by opening the message.
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { decryptToString, encrypt, type KeyProvider, readHeader } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { edekToJson } from '@envelope/fetch-client/protocol'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { ADMIN, type EndpointFixture, PROXY, startEndpoint } from '../aws-kms/endpoint-fixture.ts'
import { startSoftHsm } from '../pkcs11/softhsm.ts'
import type { RunningProxy } from '../proxy-process.ts'
import { API_KEY, startKmsProxy } from './kms-fixtures.ts'

const script = fileURLToPath(new URL('./recover-dek.mjs', import.meta.url))
const TOKEN = 'recovery'
const hsm = startSoftHsm([TOKEN])
let aws: EndpointFixture
let proxy: RunningProxy
const KEYS = ['local', 'pkcs11', 'aws-kms'].flatMap((provider) =>
  (['direct', 'leased'] as const).map((mode) => ({ provider, mode, tenant: `${provider.replace('-', '')}-${mode}` })),
)

beforeAll(async () => {
  aws = await startEndpoint()
  const { arn } = aws.endpoint.createKey({ description: 'recovery' })
  const settings = (provider: string, tenant: string) =>
    provider === 'pkcs11'
      ? { module: hsm.module, tokenLabel: TOKEN, pinFile: hsm.pinFile, keyLabel: `${tenant}/k` }
      : provider === 'aws-kms'
        ? { keyId: arn, endpoint: aws.endpoint.url }
        : {}
  ;({ proxy } = await startKmsProxy(
    {
      tenants: KEYS.map(({ provider, mode, tenant }) => ({
        id: tenant,
        kms: [{ id: 'k', provider, mode, settings: settings(provider, tenant) }],
      })),
    },
    { AWS_ACCESS_KEY_ID: PROXY.accessKeyId, AWS_SECRET_ACCESS_KEY: PROXY.secretAccessKey },
  ))
  for (const { provider, tenant } of KEYS) {
    if (provider === 'pkcs11') expect((await proxy.adminApi('POST', `${tenant}/keys/k/create`)).status).toBe(200)
  }
})
afterAll(async () => {
  await proxy?.stop()
  await aws?.close()
  hsm.close()
})

test('every backend and mode: one EDEK and the customer’s KMS alone recover the DEK, with the proxy gone', async () => {
  const sealed = []
  for (const { provider, mode, tenant } of KEYS) {
    const client = createKeyProxyClient({ baseUrl: proxy.url, apiKey: API_KEY, tenant, retries: 0 })
    const context = { tenant, doc: `${provider} ${mode}`, note: 'ünïcode "quoted"' }
    const message = await encrypt(`recovered: ${provider}, ${mode}`, { provider: client, context })
    const edek = readHeader(message).edeks[0]!
    expect(edek.keyVersion.startsWith('lease:')).toBe(mode === 'leased')
    sealed.push({ provider, mode, context, message, edek })
  }
  await proxy.stop() // for good: nothing of the proxy runs from here on

  for (const { provider, mode, context, message, edek } of sealed) {
    // async: the AWS KMS endpoint runs in this process and must answer the script meanwhile
    const { stdout: hex } = await promisify(execFile)(
      process.execPath,
      [script, JSON.stringify(edekToJson(edek)), JSON.stringify(context)],
      {
        encoding: 'utf8',
        timeout: 30_000,
        env: {
          ...process.env,
          DATA_DIR: proxy.dataDir,
          HSM_MODULE: hsm.module,
          HSM_TOKEN: TOKEN,
          HSM_PIN: hsm.pin,
          HSM_KEY_LABEL: `${edek.keyId.split('/')[0]}/k`,
          AWS_ENDPOINT_URL_KMS: aws.endpoint.url,
          AWS_REGION: aws.endpoint.region,
          AWS_ACCESS_KEY_ID: ADMIN.accessKeyId, // the customer's own credentials
          AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
          AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
        },
      },
    )
    expect(hex, `${provider} ${mode}`).toMatch(/^[0-9a-f]{64}$/)
    const dek = await crypto.subtle.importKey('raw', Buffer.from(hex, 'hex'), 'HKDF', false, [
      'deriveKey',
      'deriveBits',
    ])
    const offline: KeyProvider = {
      generateDataKey: () => Promise.reject(new Error('recovery only opens')),
      unwrapDataKey: async () => dek,
      unwrapDataKeys: async (requests) => requests.map(() => ({ ok: true as const, dek })),
    }
    expect(await decryptToString(message, { provider: offline, expectedContext: context })).toBe(
      `recovered: ${provider}, ${mode}`,
    )
  }
})
