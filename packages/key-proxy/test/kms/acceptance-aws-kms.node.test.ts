// The backend acceptance suite on AWS KMS — the real @aws-sdk/client-kms in the proxy, against the
// AWS-KMS-compatible endpoint on loopback — behind a real proxy, in direct and leased modes. Direct: the proxy's
// credentials from the SDK's default chain (environment). Leased: an access key whose secret is in a file, and a
// role the customer's account lets the proxy assume. The customer acts in its own account with its own SDK calls
// (DisableKey, EnableKey, RotateKeyOnDemand, ScheduleKeyDeletion and the waiting period passing).
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DisableKeyCommand,
  EnableKeyCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms'
import { PROXY, PROXY_ROLE, startEndpoint } from '../aws-kms/endpoint-fixture.ts'
import { defineBackendAcceptance } from './backend-acceptance.ts'
import { startKmsProxy } from './kms-fixtures.ts'

const DAY = 86_400_000

for (const mode of ['direct', 'leased'] as const) {
  defineBackendAcceptance('aws-kms (endpoint)', mode, async () => {
    const aws = await startEndpoint()
    const { arn } = aws.endpoint.createKey({ description: `${mode} CMK` })
    const tenant = mode === 'direct' ? 'acme' : 'initech'
    const secretFile = join(mkdtempSync(join(tmpdir(), 'envelope-aws-secret-')), 'secret')
    writeFileSync(secretFile, `${PROXY.secretAccessKey}\n`, { mode: 0o600 })
    const { proxy, apiKey } = await startKmsProxy(
      { tenants: ['globex'], awsKmsEndpoints: [aws.endpoint.url] },
      // the SDK's default chain, for the direct tenant
      { AWS_ACCESS_KEY_ID: PROXY.accessKeyId, AWS_SECRET_ACCESS_KEY: PROXY.secretAccessKey },
    )
    const settings =
      mode === 'direct'
        ? { keyId: arn, endpoint: aws.endpoint.url }
        : {
            keyId: arn,
            endpoint: aws.endpoint.url,
            credentials: { source: 'static', accessKeyId: PROXY.accessKeyId, secretAccessKeyFile: secretFile },
            assumeRole: { roleArn: PROXY_ROLE, externalId: 'tenant-acme', endpoint: aws.endpoint.url },
          }
    const registered = await proxy.adminApi('PUT', `${tenant}/keys/aws`, { provider: 'aws-kms', settings, mode })
    if (registered.status !== 200) throw new Error(`register: ${JSON.stringify(registered.body)}`)
    const customer = aws.customer
    return {
      proxy,
      tenant,
      key: 'aws',
      other: 'globex',
      apiKey,
      providerId: 'envelope-aws-kms',
      provider: 'aws-kms',
      managedBy: 'customer',
      versions: false,
      rotationMakesLease: false,
      wrongContext: mode === 'direct' ? 'ERR_EDEK_INVALID' : 'ERR_EDEK_CONTEXT_MISMATCH',
      destroyedCodes: ['ERR_KEY_NOT_FOUND', 'ERR_KEY_PENDING_DELETION'],
      control: {
        disable: async () => void (await customer.send(new DisableKeyCommand({ KeyId: arn }))),
        enable: async () => void (await customer.send(new EnableKeyCommand({ KeyId: arn }))),
        rotate: async () => void (await customer.send(new RotateKeyOnDemandCommand({ KeyId: arn }))),
        destroy: async () => {
          await customer.send(new ScheduleKeyDeletionCommand({ KeyId: arn, PendingWindowInDays: 7 }))
          aws.endpoint.advanceClock(7 * DAY)
        },
      },
      close: async () => {
        await proxy.stop()
        await aws.close()
      },
    }
  })
}
