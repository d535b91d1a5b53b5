// The AWS KMS CMK client passes the shared CMK acceptance suite against the AWS-KMS-compatible endpoint, with the
// customer's controls done as a customer would: its own SDK calls (DisableKey, EnableKey, RotateKeyOnDemand,
// ScheduleKeyDeletion) and the deletion waiting period passing on the endpoint's clock. Twice: with the proxy's
// own access key (secret from a file), and with a role the proxy assumes (secret from the environment).
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  DisableKeyCommand,
  EnableKeyCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms'
import { createAwsKmsCmk } from '../../src/kms/aws-kms/index.ts'
import { type CmkControl, defineCmkAcceptance } from '../cmk/acceptance.ts'
import { type EndpointFixture, PROXY, PROXY_ROLE, startEndpoint } from './endpoint-fixture.ts'

const DAY = 86_400_000

function customerControl(f: EndpointFixture, KeyId: string): CmkControl {
  return {
    disable: async () => void (await f.customer.send(new DisableKeyCommand({ KeyId }))),
    enable: async () => void (await f.customer.send(new EnableKeyCommand({ KeyId }))),
    rotate: async () => void (await f.customer.send(new RotateKeyOnDemandCommand({ KeyId }))),
    destroy: async () => {
      await f.customer.send(new ScheduleKeyDeletionCommand({ KeyId, PendingWindowInDays: 7 }))
      f.endpoint.advanceClock(7 * DAY)
    },
  }
}

defineCmkAcceptance('aws-kms (endpoint, the proxy access key)', async () => {
  const f = await startEndpoint()
  const { arn } = f.endpoint.createKey({ description: 'acme CMK' })
  const secretFile = join(mkdtempSync(join(tmpdir(), 'envelope-aws-secret-')), 'secret')
  writeFileSync(secretFile, `${PROXY.secretAccessKey}\n`, { mode: 0o600 })
  const client = createAwsKmsCmk({
    keyId: arn,
    endpoint: f.endpoint.url,
    credentials: { source: 'static', accessKeyId: PROXY.accessKeyId, secretAccessKeyFile: secretFile },
  })
  return { client, control: customerControl(f, arn), close: () => f.close() }
})

defineCmkAcceptance('aws-kms (endpoint, an assumed role)', async () => {
  const f = await startEndpoint()
  const { arn } = f.endpoint.createKey({ description: 'acme CMK', alias: 'alias/acme' })
  const client = createAwsKmsCmk({
    keyId: arn,
    endpoint: f.endpoint.url,
    credentials: { source: 'static', accessKeyId: PROXY.accessKeyId, secretAccessKeyEnv: 'ACME_AWS_SECRET' },
    assumeRole: { roleArn: PROXY_ROLE, externalId: 'tenant-acme', sessionName: 'acme', endpoint: f.endpoint.url },
    env: { ACME_AWS_SECRET: PROXY.secretAccessKey },
  })
  return { client, control: customerControl(f, arn), close: () => f.close() }
})
