// What the AWS KMS CMK client adds beyond the acceptance suite: the wrap context as the exact KMS
// EncryptionContext, rewrap through ReEncrypt (after a rotation, to another key), describe of a key pending
// deletion, alias key ids, local refusals before any KMS call, credential sources, and the AWS error mapping.
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  CreateAliasCommand,
  DecryptCommand,
  DependencyTimeoutException,
  GenerateDataKeyCommand,
  KeyUnavailableException,
  KMSInternalException,
  KMSInvalidStateException,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
  UpdateAliasCommand,
} from '@aws-sdk/client-kms'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type AwsKmsCmkOptions, createAwsKmsCmk, mapAwsKmsError } from '../../src/kms/aws-kms/index.ts'
import { ADMIN, codeOf, type EndpointFixture, PROXY, startEndpoint } from './endpoint-fixture.ts'

const ctx = { tenant: 'acme', purpose: 'dek', ctx: 'h1' }
let f: EndpointFixture
const cmks: Array<{ close(): Promise<void> }> = []
beforeAll(async () => {
  f = await startEndpoint()
})
afterAll(async () => {
  for (const c of cmks) await c.close()
  await f?.close()
})

const cmkFor = (keyId: string, options: Partial<AwsKmsCmkOptions> = {}) => {
  const c = createAwsKmsCmk({
    keyId,
    region: f.endpoint.region,
    endpoint: f.endpoint.url,
    credentials: { source: 'static', accessKeyId: PROXY.accessKeyId, secretAccessKeyEnv: 'S' },
    env: { S: PROXY.secretAccessKey },
    ...options,
  })
  cmks.push(c)
  return c
}

describe('AWS KMS CMK client', () => {
  test('the wrap context is the EncryptionContext, exactly: the customer decrypts with it, not with more or less', async () => {
    const { arn } = f.endpoint.createKey()
    const g = await cmkFor(arn).generate(ctx)
    const d = await f.customer.send(new DecryptCommand({ CiphertextBlob: g.ciphertext, EncryptionContext: ctx }))
    expect(d.Plaintext).toEqual(g.key)
    expect(d.KeyId).toBe(arn)
    for (const EncryptionContext of [
      { tenant: 'acme', purpose: 'dek' },
      { ...ctx, extra: 'x' },
    ]) {
      const e = await f.customer
        .send(new DecryptCommand({ CiphertextBlob: g.ciphertext, EncryptionContext }))
        .catch((x) => x)
      expect(e.name).toBe('InvalidCiphertextException')
    }
  })

  test('rewrap (ReEncrypt): after a rotation onto the current material; to another key and context', async () => {
    const a = f.endpoint.createKey()
    const b = f.endpoint.createKey()
    const cmk = cmkFor(a.arn)
    const old = await cmk.wrap(new Uint8Array(32).fill(6), ctx)
    await f.customer.send(new RotateKeyOnDemandCommand({ KeyId: a.keyId }))
    const fresh = await cmk.rewrap(old, ctx)
    const current = (
      await f.customer.send(new DecryptCommand({ CiphertextBlob: fresh.ciphertext, EncryptionContext: ctx }))
    ).KeyMaterialId
    const before = (
      await f.customer.send(new DecryptCommand({ CiphertextBlob: old.ciphertext, EncryptionContext: ctx }))
    ).KeyMaterialId
    expect(current).not.toBe(before)
    expect(await cmk.unwrap(fresh, ctx)).toEqual(new Uint8Array(32).fill(6))
    const moved = await cmk.rewrap(old, ctx, { keyId: b.arn, context: { ...ctx, tenant: 'acme-2' } })
    expect(await cmkFor(b.arn).unwrap(moved, { ...ctx, tenant: 'acme-2' })).toEqual(new Uint8Array(32).fill(6))
    expect(await codeOf(cmk.unwrap(moved, { ...ctx, tenant: 'acme-2' }))).toBe('ERR_EDEK_INVALID') // pinned to key a
    expect(await codeOf(cmk.rewrap(old, { ...ctx, ctx: 'h2' }))).toBe('ERR_EDEK_INVALID')
  })

  test('describe: customer-managed, the key ARN, and a deletion pending with its date', async () => {
    const { arn, keyId } = f.endpoint.createKey({ alias: 'alias/describe-me' })
    const cmk = cmkFor('alias/describe-me')
    expect(await cmk.describe()).toEqual({ state: 'enabled', managedBy: 'customer', keyRef: arn })
    const s = await f.customer.send(new ScheduleKeyDeletionCommand({ KeyId: keyId, PendingWindowInDays: 7 }))
    const status = await cmk.describe()
    expect(status).toMatchObject({ state: 'pending_deletion', deletionDate: s.DeletionDate!.toISOString() })
    expect(await codeOf(cmk.generate(ctx))).toBe('ERR_KEY_PENDING_DELETION')
  })

  test('an alias key id: wraps go to its key; old wraps still unwrap after the alias moves', async () => {
    const a = f.endpoint.createKey()
    const b = f.endpoint.createKey()
    await f.customer.send(new CreateAliasCommand({ AliasName: 'alias/moving', TargetKeyId: a.keyId }))
    const cmk = cmkFor('alias/moving')
    const onA = await cmk.wrap(new Uint8Array(32).fill(7), ctx)
    await f.customer.send(new UpdateAliasCommand({ AliasName: 'alias/moving', TargetKeyId: b.keyId }))
    const onB = await cmk.wrap(new Uint8Array(32).fill(8), ctx)
    expect(await cmk.unwrap(onA, ctx)).toEqual(new Uint8Array(32).fill(7))
    expect(await cmk.unwrap(onB, ctx)).toEqual(new Uint8Array(32).fill(8))
    expect(await codeOf(cmkFor(b.arn).unwrap(onA, ctx))).toBe('ERR_EDEK_INVALID') // a key ARN pins the key
  })

  test('refused before any KMS call: a key that is not 32 bytes, an empty or oversized ciphertext', async () => {
    const cmk = cmkFor(f.endpoint.createKey().arn)
    f.endpoint.resetStats()
    expect(await codeOf(cmk.wrap(new Uint8Array(16), ctx))).toBe('ERR_BAD_REQUEST')
    expect(await codeOf(cmk.unwrap({ ciphertext: new Uint8Array(0), version: '' }, ctx))).toBe('ERR_EDEK_INVALID')
    expect(await codeOf(cmk.unwrap({ ciphertext: new Uint8Array(6145), version: '' }, ctx))).toBe('ERR_EDEK_INVALID')
    expect(f.endpoint.stats.calls).toBe(0)
  })

  test('a ciphertext of a key that is not 32 bytes: ERR_EDEK_INVALID', async () => {
    const { arn } = f.endpoint.createKey()
    const short = await f.customer.send(
      new GenerateDataKeyCommand({ KeyId: arn, NumberOfBytes: 16, EncryptionContext: ctx }),
    )
    expect(await codeOf(cmkFor(arn).unwrap({ ciphertext: short.CiphertextBlob!, version: '' }, ctx))).toBe(
      'ERR_EDEK_INVALID',
    )
  })

  test('credentials from a shared credentials file profile, or the environment through the default chain', async () => {
    const { arn } = f.endpoint.createKey()
    const fromProfile = cmkFor(arn, {
      credentials: { source: 'profile', profile: 'default', file: f.endpoint.sharedCredentialsFile },
    })
    expect((await fromProfile.describe()).state).toBe('enabled')
    const saved = { ...process.env }
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: ADMIN.accessKeyId,
      AWS_SECRET_ACCESS_KEY: ADMIN.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
    })
    try {
      const fromChain = cmkFor(arn, { credentials: { source: 'default' } })
      expect((await fromChain.describe()).state).toBe('enabled')
    } finally {
      for (const k of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_EC2_METADATA_DISABLED']) {
        if (saved[k] === undefined) delete process.env[k]
        else process.env[k] = saved[k]
      }
    }
  })

  test('configuration errors: ERR_CONFIG, naming the setting and never a secret', () => {
    const config = (o: Partial<AwsKmsCmkOptions>) => {
      try {
        createAwsKmsCmk({ keyId: 'arn:aws:kms:us-east-1:111122223333:key/x', ...o })
        return 'created'
      } catch (e) {
        return `${(e as { code: string }).code}: ${(e as Error).message}`
      }
    }
    expect(config({ keyId: '1234abcd-12ab-34cd-56ef-1234567890ab', env: {} })).toMatch(/^ERR_CONFIG: .*no region/)
    expect(config({ credentials: { source: 'static', accessKeyId: 'AKIAEXAMPLE000000000' } })).toMatch(
      /^ERR_CONFIG: .*secretAccessKeyFile or secretAccessKeyEnv/,
    )
    expect(
      config({
        credentials: {
          source: 'static',
          accessKeyId: 'AKIAEXAMPLE000000000',
          secretAccessKeyFile: join(f.dataDir, 'none'),
        },
      }),
    ).toMatch(/^ERR_CONFIG: cannot read the secret access key file .*ENOENT/)
    expect(
      config({
        credentials: { source: 'static', accessKeyId: 'AKIAEXAMPLE000000000', secretAccessKeyEnv: 'NOPE' },
        env: {},
      }),
    ).toMatch(/^ERR_CONFIG: environment variable NOPE/)
    expect(config({ assumeRole: { roleArn: 'arn:aws:iam::1:user/x' } })).toMatch(/^ERR_CONFIG: .*not a role ARN/)
    const secretFile = join(f.dataDir, 'secret-test')
    writeFileSync(secretFile, 'top-secret-value\n')
    expect(
      config({
        credentials: { source: 'static', accessKeyId: 'AKIAEXAMPLE000000000', secretAccessKeyFile: secretFile },
      }),
    ).toBe('created')
  })
})

describe('AWS error mapping', () => {
  const meta = { $metadata: { httpStatusCode: 500, requestId: 'req-1' } }
  test.each([
    [new KMSInternalException({ message: 'boom', ...meta }), 'ERR_KMS_UNAVAILABLE', true],
    [new KeyUnavailableException({ message: 'hsm away', ...meta }), 'ERR_KMS_UNAVAILABLE', true],
    [new DependencyTimeoutException({ message: 'slow', ...meta }), 'ERR_KMS_TIMEOUT', true],
    [new KMSInvalidStateException({ message: 'arn:… is pending import.', $metadata: {} }), 'ERR_KEY_STATE', false],
    [
      new KMSInvalidStateException({ message: 'arn:… is pending deletion.', $metadata: {} }),
      'ERR_KEY_PENDING_DELETION',
      false,
    ],
    [
      Object.assign(new Error('Could not load credentials from any providers'), { name: 'CredentialsProviderError' }),
      'ERR_KMS_ACCESS_DENIED',
      false,
    ],
    [
      Object.assign(new Error('Too Many Requests'), { name: 'Unknown', $metadata: { httpStatusCode: 429 } }),
      'ERR_KMS_THROTTLED',
      true,
    ],
    [Object.assign(new Error('getaddrinfo ENOTFOUND kms.example'), { code: 'ENOTFOUND' }), 'ERR_KMS_UNAVAILABLE', true],
    [new TypeError('something odd'), 'ERR_KMS_UNAVAILABLE', false],
  ])('%s → %s', (err, code, retry) => {
    const mapped = mapAwsKmsError(err, 'Decrypt')
    expect(mapped.error.code).toBe(code)
    expect(mapped.retry).toBe(retry)
    expect(mapped.error.message).toMatch(/^AWS KMS Decrypt: /)
  })

  test('the request id is in the message, for the customer’s CloudTrail', () => {
    const { error } = mapAwsKmsError(new KMSInternalException({ message: 'boom', ...meta }), 'Encrypt')
    expect(error.message).toBe('AWS KMS Encrypt: KMSInternalException: boom (request req-1)')
  })
})
