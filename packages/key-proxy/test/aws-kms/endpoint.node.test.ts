// The AWS-KMS-compatible endpoint as the real @aws-sdk/client-kms sees it: operations, key states, errors (name,
// HTTP status, message as the SDK parses them), EncryptionContext binding, self-describing ciphertexts,
// rotation, deletion, aliases, and keys persisted (sealed) across a restart.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  CancelKeyDeletionCommand,
  CreateAliasCommand,
  CreateKeyCommand,
  DecryptCommand,
  DeleteAliasCommand,
  DescribeKeyCommand,
  DisableKeyCommand,
  EnableKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  GenerateDataKeyWithoutPlaintextCommand,
  GenerateRandomCommand,
  GetKeyPolicyCommand,
  ListAliasesCommand,
  ListKeyRotationsCommand,
  ListKeysCommand,
  ReEncryptCommand,
  RotateKeyOnDemandCommand,
  ScheduleKeyDeletionCommand,
} from '@aws-sdk/client-kms'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { awsError, type EndpointFixture, signedFetch, startEndpoint } from './endpoint-fixture.ts'

const DAY = 86_400_000
let f: EndpointFixture
beforeAll(async () => {
  f = await startEndpoint()
})
afterAll(() => f?.close())

const newKey = async (Description = 'test') =>
  (await f.customer.send(new CreateKeyCommand({ Description }))).KeyMetadata!

describe('keys', () => {
  test('CreateKey and DescribeKey: a symmetric key with AWS metadata, named by id, ARN or alias', async () => {
    const m = await newKey('for acme')
    expect(m.KeyId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    expect(m.Arn).toBe(`arn:aws:kms:us-east-1:111122223333:key/${m.KeyId}`)
    expect(m).toMatchObject({
      AWSAccountId: '111122223333',
      Description: 'for acme',
      Enabled: true,
      KeyState: 'Enabled',
      KeyUsage: 'ENCRYPT_DECRYPT',
      KeySpec: 'SYMMETRIC_DEFAULT',
      Origin: 'AWS_KMS',
      KeyManager: 'CUSTOMER',
      EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    })
    expect(m.CreationDate).toBeInstanceOf(Date)
    expect(m.CurrentKeyMaterialId).toMatch(/^[0-9a-f]{64}$/)
    await f.customer.send(new CreateAliasCommand({ AliasName: 'alias/acme', TargetKeyId: m.KeyId }))
    for (const id of [m.KeyId!, m.Arn!, 'alias/acme', 'arn:aws:kms:us-east-1:111122223333:alias/acme']) {
      expect((await f.customer.send(new DescribeKeyCommand({ KeyId: id }))).KeyMetadata!.KeyId).toBe(m.KeyId)
    }
    const aliases = (await f.customer.send(new ListAliasesCommand({ KeyId: m.KeyId }))).Aliases!
    expect(aliases.map((a) => a.AliasName)).toEqual(['alias/acme'])
    expect(aliases[0]!.AliasArn).toBe('arn:aws:kms:us-east-1:111122223333:alias/acme')
    expect(
      await awsError(f.customer.send(new CreateAliasCommand({ AliasName: 'alias/acme', TargetKeyId: m.KeyId }))),
    ).toMatchObject({ name: 'AlreadyExistsException', status: 409 })
    expect(
      await awsError(f.customer.send(new CreateAliasCommand({ AliasName: 'alias/aws/s3', TargetKeyId: m.KeyId }))),
    ).toMatchObject({ name: 'InvalidAliasNameException', status: 400 })
    await f.customer.send(new DeleteAliasCommand({ AliasName: 'alias/acme' }))
    expect(await awsError(f.customer.send(new DescribeKeyCommand({ KeyId: 'alias/acme' })))).toMatchObject({
      name: 'NotFoundException',
      status: 404,
      message: 'Alias arn:aws:kms:us-east-1:111122223333:alias/acme is not found.',
    })
  })

  test('unknown, malformed and foreign key ids: NotFoundException (404)', async () => {
    const missing = 'arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000'
    expect(await awsError(f.customer.send(new DescribeKeyCommand({ KeyId: missing })))).toEqual({
      name: 'NotFoundException',
      status: 404,
      message: `Key '${missing}' does not exist`,
    })
    for (const id of ['nonsense', 'arn:aws:kms:eu-west-1:111122223333:key/00000000-0000-4000-8000-000000000000']) {
      expect((await awsError(f.customer.send(new DescribeKeyCommand({ KeyId: id })))).name).toBe('NotFoundException')
    }
  })

  test('ListKeys pages with Limit and Marker', async () => {
    for (let i = 0; i < 3; i++) await newKey(`page ${i}`)
    const all = (await f.customer.send(new ListKeysCommand({}))).Keys!
    const seen: string[] = []
    let Marker: string | undefined
    do {
      const page = await f.customer.send(new ListKeysCommand({ Limit: 2, Marker }))
      expect(page.Keys!.length).toBeLessThanOrEqual(2)
      seen.push(...page.Keys!.map((k) => k.KeyId!))
      Marker = page.Truncated ? page.NextMarker : undefined
    } while (Marker)
    expect(seen).toEqual(all.map((k) => k.KeyId))
    expect(all[0]!.KeyArn).toMatch(/^arn:aws:kms:us-east-1:111122223333:key\//)
    expect((await awsError(f.customer.send(new ListKeysCommand({ Marker: 'bogus' })))).name).toBe(
      'InvalidMarkerException',
    )
  })

  test('operations the endpoint does not serve: UnsupportedOperationException', async () => {
    const m = await newKey()
    expect(await awsError(f.customer.send(new GetKeyPolicyCommand({ KeyId: m.KeyId })))).toMatchObject({
      name: 'UnsupportedOperationException',
      status: 400,
    })
    expect(
      (await awsError(f.customer.send(new CreateKeyCommand({ KeySpec: 'RSA_2048', KeyUsage: 'SIGN_VERIFY' })))).name,
    ).toBe('UnsupportedOperationException')
  })
})

describe('crypto operations', () => {
  test('Encrypt / Decrypt: the ciphertext names its key, so Decrypt needs no KeyId; EncryptionContext bound exactly', async () => {
    const m = await newKey()
    const Plaintext = new TextEncoder().encode('a secret of 30 bytes or so...')
    const EncryptionContext = { tenant: 'acme', purpose: 'dek' }
    const e = await f.customer.send(new EncryptCommand({ KeyId: m.KeyId, Plaintext, EncryptionContext }))
    expect(e.KeyId).toBe(m.Arn)
    expect(e.EncryptionAlgorithm).toBe('SYMMETRIC_DEFAULT')
    expect(Buffer.from(e.CiphertextBlob!).includes(Buffer.from(Plaintext))).toBe(false)
    const d = await f.customer.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, EncryptionContext }))
    expect(d.Plaintext).toEqual(Plaintext)
    expect(d.KeyId).toBe(m.Arn)
    expect(d.KeyMaterialId).toBe(m.CurrentKeyMaterialId)
    const wrongs: Array<Record<string, string>> = [
      {},
      { tenant: 'acme' },
      { tenant: 'Acme', purpose: 'dek' },
      { ...EncryptionContext, x: '' },
    ]
    for (const wrong of wrongs) {
      expect(
        await awsError(
          f.customer.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, EncryptionContext: wrong })),
        ),
      ).toMatchObject({ name: 'InvalidCiphertextException', status: 400 })
    }
    const altered = Uint8Array.from(e.CiphertextBlob!)
    altered[70]! ^= 1
    expect(
      (await awsError(f.customer.send(new DecryptCommand({ CiphertextBlob: altered, EncryptionContext })))).name,
    ).toBe('InvalidCiphertextException')
    expect(
      (await awsError(f.customer.send(new DecryptCommand({ CiphertextBlob: new Uint8Array(40), EncryptionContext }))))
        .name,
    ).toBe('InvalidCiphertextException')
  })

  test('Decrypt with the KeyId of another key: IncorrectKeyException', async () => {
    const a = await newKey()
    const b = await newKey()
    const e = await f.customer.send(new EncryptCommand({ KeyId: a.KeyId, Plaintext: new Uint8Array(32) }))
    expect(
      await awsError(f.customer.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, KeyId: b.Arn }))),
    ).toMatchObject({
      name: 'IncorrectKeyException',
      status: 400,
    })
    const d = await f.customer.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob, KeyId: a.Arn }))
    expect(d.Plaintext).toEqual(new Uint8Array(32))
  })

  test('GenerateDataKey (KeySpec or NumberOfBytes), GenerateDataKeyWithoutPlaintext, GenerateRandom', async () => {
    const m = await newKey()
    const EncryptionContext = { tenant: 'acme' }
    const g = await f.customer.send(
      new GenerateDataKeyCommand({ KeyId: m.KeyId, KeySpec: 'AES_256', EncryptionContext }),
    )
    expect(g.Plaintext).toHaveLength(32)
    expect(g.KeyMaterialId).toBe(m.CurrentKeyMaterialId)
    const d = await f.customer.send(new DecryptCommand({ CiphertextBlob: g.CiphertextBlob, EncryptionContext }))
    expect(d.Plaintext).toEqual(g.Plaintext)
    const n = await f.customer.send(new GenerateDataKeyCommand({ KeyId: m.KeyId, NumberOfBytes: 7 }))
    expect(n.Plaintext).toHaveLength(7)
    const w = await f.customer.send(new GenerateDataKeyWithoutPlaintextCommand({ KeyId: m.KeyId, KeySpec: 'AES_128' }))
    expect('Plaintext' in w).toBe(false)
    expect((await f.customer.send(new DecryptCommand({ CiphertextBlob: w.CiphertextBlob }))).Plaintext).toHaveLength(16)
    expect((await f.customer.send(new GenerateRandomCommand({ NumberOfBytes: 9 }))).Plaintext).toHaveLength(9)
    for (const bad of [
      {},
      { KeySpec: 'AES_256' as const, NumberOfBytes: 32 },
      { NumberOfBytes: 0 },
      { NumberOfBytes: 1025 },
    ]) {
      expect(await awsError(f.customer.send(new GenerateDataKeyCommand({ KeyId: m.KeyId, ...bad })))).toMatchObject({
        name: 'ValidationException',
        status: 400,
      })
    }
    expect(
      (await awsError(f.customer.send(new EncryptCommand({ KeyId: m.KeyId, Plaintext: new Uint8Array(4097) })))).name,
    ).toBe('ValidationException')
    expect(
      (
        await awsError(
          f.customer.send(new EncryptCommand({ KeyId: m.KeyId, Plaintext: new Uint8Array(1), DryRun: true })),
        )
      ).status,
    ).toBe(412)
  })

  test('ReEncrypt moves a ciphertext to another key and context inside the KMS', async () => {
    const a = await newKey()
    const b = await newKey()
    const e = await f.customer.send(
      new EncryptCommand({ KeyId: a.KeyId, Plaintext: new Uint8Array(32).fill(5), EncryptionContext: { v: '1' } }),
    )
    const r = await f.customer.send(
      new ReEncryptCommand({
        CiphertextBlob: e.CiphertextBlob,
        SourceEncryptionContext: { v: '1' },
        DestinationKeyId: b.KeyId,
        DestinationEncryptionContext: { v: '2' },
      }),
    )
    expect(r.SourceKeyId).toBe(a.Arn)
    expect(r.KeyId).toBe(b.Arn)
    expect(r.DestinationKeyMaterialId).toBe(b.CurrentKeyMaterialId)
    const d = await f.customer.send(
      new DecryptCommand({ CiphertextBlob: r.CiphertextBlob, EncryptionContext: { v: '2' } }),
    )
    expect(d.KeyId).toBe(b.Arn)
    expect(d.Plaintext).toEqual(new Uint8Array(32).fill(5))
    expect(
      (
        await awsError(
          f.customer.send(
            new ReEncryptCommand({
              CiphertextBlob: e.CiphertextBlob,
              SourceEncryptionContext: { v: 'x' },
              DestinationKeyId: b.KeyId,
            }),
          ),
        )
      ).name,
    ).toBe('InvalidCiphertextException')
  })
})

describe('key states and lifecycle', () => {
  test('DisableKey: crypto refused with DisabledException (409); EnableKey restores it', async () => {
    const m = await newKey()
    const e = await f.customer.send(new EncryptCommand({ KeyId: m.KeyId, Plaintext: new Uint8Array(32) }))
    await f.customer.send(new DisableKeyCommand({ KeyId: m.KeyId }))
    const d = (await f.customer.send(new DescribeKeyCommand({ KeyId: m.KeyId }))).KeyMetadata!
    expect(d).toMatchObject({ KeyState: 'Disabled', Enabled: false })
    for (const call of [
      f.customer.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob })),
      f.customer.send(new EncryptCommand({ KeyId: m.KeyId, Plaintext: new Uint8Array(1) })),
      f.customer.send(new GenerateDataKeyCommand({ KeyId: m.KeyId, KeySpec: 'AES_256' })),
      f.customer.send(new RotateKeyOnDemandCommand({ KeyId: m.KeyId })),
    ]) {
      expect(await awsError(call)).toEqual({ name: 'DisabledException', status: 409, message: `${m.Arn} is disabled.` })
    }
    await f.customer.send(new EnableKeyCommand({ KeyId: m.KeyId }))
    expect((await f.customer.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob }))).Plaintext).toEqual(
      new Uint8Array(32),
    )
  })

  test('RotateKeyOnDemand: new material for new ciphertexts, old material still decrypts; at most 10', async () => {
    const m = await newKey()
    const before = await f.customer.send(new GenerateDataKeyCommand({ KeyId: m.KeyId, KeySpec: 'AES_256' }))
    expect((await f.customer.send(new RotateKeyOnDemandCommand({ KeyId: m.KeyId }))).KeyId).toBe(m.Arn)
    const after = await f.customer.send(new GenerateDataKeyCommand({ KeyId: m.KeyId, KeySpec: 'AES_256' }))
    expect(after.KeyMaterialId).not.toBe(before.KeyMaterialId)
    const d = (await f.customer.send(new DescribeKeyCommand({ KeyId: m.KeyId }))).KeyMetadata!
    expect(d.CurrentKeyMaterialId).toBe(after.KeyMaterialId)
    const old = await f.customer.send(new DecryptCommand({ CiphertextBlob: before.CiphertextBlob }))
    expect(old.Plaintext).toEqual(before.Plaintext)
    expect(old.KeyMaterialId).toBe(before.KeyMaterialId)
    const rotations = (await f.customer.send(new ListKeyRotationsCommand({ KeyId: m.KeyId }))).Rotations!
    expect(rotations).toHaveLength(1)
    expect(rotations[0]).toMatchObject({
      KeyMaterialId: after.KeyMaterialId,
      KeyMaterialState: 'CURRENT',
      RotationType: 'ON_DEMAND',
    })
    const all = (
      await f.customer.send(new ListKeyRotationsCommand({ KeyId: m.KeyId, IncludeKeyMaterial: 'ALL_KEY_MATERIAL' }))
    ).Rotations!
    expect(all.map((r) => [r.KeyMaterialId, r.KeyMaterialState])).toEqual([
      [before.KeyMaterialId, 'NON_CURRENT'],
      [after.KeyMaterialId, 'CURRENT'],
    ])
    for (let i = 1; i < 10; i++) await f.customer.send(new RotateKeyOnDemandCommand({ KeyId: m.KeyId }))
    expect((await awsError(f.customer.send(new RotateKeyOnDemandCommand({ KeyId: m.KeyId })))).name).toBe(
      'LimitExceededException',
    )
    expect((await f.customer.send(new DecryptCommand({ CiphertextBlob: before.CiphertextBlob }))).Plaintext).toEqual(
      before.Plaintext,
    )
  })

  test('ScheduleKeyDeletion: 7-30 days, KMSInvalidStateException while pending, CancelKeyDeletion leaves it Disabled', async () => {
    const m = await newKey()
    const e = await f.customer.send(new EncryptCommand({ KeyId: m.KeyId, Plaintext: new Uint8Array(32) }))
    for (const PendingWindowInDays of [6, 31]) {
      expect(
        await awsError(f.customer.send(new ScheduleKeyDeletionCommand({ KeyId: m.KeyId, PendingWindowInDays }))),
      ).toMatchObject({
        name: 'ValidationException',
        status: 400,
      })
    }
    const s = await f.customer.send(new ScheduleKeyDeletionCommand({ KeyId: m.KeyId, PendingWindowInDays: 7 }))
    expect(s).toMatchObject({ KeyId: m.Arn, KeyState: 'PendingDeletion', PendingWindowInDays: 7 })
    expect(s.DeletionDate).toBeInstanceOf(Date)
    const d = (await f.customer.send(new DescribeKeyCommand({ KeyId: m.KeyId }))).KeyMetadata!
    expect(d).toMatchObject({
      KeyState: 'PendingDeletion',
      PendingDeletionWindowInDays: 7,
      DeletionDate: s.DeletionDate,
    })
    const pending = { name: 'KMSInvalidStateException', status: 409, message: `${m.Arn} is pending deletion.` }
    expect(await awsError(f.customer.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob })))).toEqual(pending)
    expect(await awsError(f.customer.send(new EnableKeyCommand({ KeyId: m.KeyId })))).toEqual(pending)
    expect(await awsError(f.customer.send(new ScheduleKeyDeletionCommand({ KeyId: m.KeyId })))).toEqual(pending)
    await f.customer.send(new CancelKeyDeletionCommand({ KeyId: m.KeyId }))
    expect((await f.customer.send(new DescribeKeyCommand({ KeyId: m.KeyId }))).KeyMetadata).toMatchObject({
      KeyState: 'Disabled',
    })
    expect((await awsError(f.customer.send(new CancelKeyDeletionCommand({ KeyId: m.KeyId })))).name).toBe(
      'KMSInvalidStateException',
    )
  })

  test('at the end of the waiting period the key and its material are gone: NotFoundException', async () => {
    const m = await newKey()
    const keep = await newKey()
    await f.customer.send(new CreateAliasCommand({ AliasName: 'alias/doomed', TargetKeyId: m.KeyId }))
    const e = await f.customer.send(new EncryptCommand({ KeyId: m.KeyId, Plaintext: new Uint8Array(32) }))
    await f.customer.send(new ScheduleKeyDeletionCommand({ KeyId: m.KeyId, PendingWindowInDays: 7 }))
    f.endpoint.advanceClock(7 * DAY - 60_000)
    expect((await f.customer.send(new DescribeKeyCommand({ KeyId: m.KeyId }))).KeyMetadata!.KeyState).toBe(
      'PendingDeletion',
    )
    f.endpoint.advanceClock(60_000)
    expect((await awsError(f.customer.send(new DescribeKeyCommand({ KeyId: m.KeyId })))).name).toBe('NotFoundException')
    expect((await awsError(f.customer.send(new DecryptCommand({ CiphertextBlob: e.CiphertextBlob })))).name).toBe(
      'NotFoundException',
    )
    expect((await awsError(f.customer.send(new DescribeKeyCommand({ KeyId: 'alias/doomed' })))).name).toBe(
      'NotFoundException',
    )
    expect(readFileSync(join(f.dataDir, 'aws-kms-keys.json'), 'utf8')).not.toContain(m.KeyId!)
    expect((await f.customer.send(new DescribeKeyCommand({ KeyId: keep.KeyId }))).KeyMetadata!.KeyState).toBe('Enabled')
  })
})

describe('persistence', () => {
  test('keys survive a restart on the same data folder; the key file holds only sealed material', async () => {
    const g = await startEndpoint()
    const m = (await g.customer.send(new CreateKeyCommand({}))).KeyMetadata!
    await g.customer.send(new RotateKeyOnDemandCommand({ KeyId: m.KeyId }))
    const dk = await g.customer.send(
      new GenerateDataKeyCommand({ KeyId: m.KeyId, KeySpec: 'AES_256', EncryptionContext: { a: 'b' } }),
    )
    await g.close()
    const file = JSON.parse(readFileSync(join(g.dataDir, 'aws-kms-keys.json'), 'utf8'))
    const materials = file.keys[m.KeyId!].materials as Array<{ sealed: string }>
    expect(materials).toHaveLength(2)
    for (const mat of materials) expect(Buffer.from(mat.sealed, 'base64url')).toHaveLength(12 + 32 + 16)
    const again = await startEndpoint({ dataDir: g.dataDir })
    try {
      const d = await again.customer.send(
        new DecryptCommand({ CiphertextBlob: dk.CiphertextBlob, EncryptionContext: { a: 'b' } }),
      )
      expect(d.Plaintext).toEqual(dk.Plaintext)
    } finally {
      await again.close()
    }
  })
})

describe('hostile input', () => {
  test('malformed bodies and members: SerializationException or ValidationException, never a crash', async () => {
    const { keyId } = f.endpoint.createKey()
    const cases: Array<[string, string]> = [
      ['{', 'SerializationException'],
      ['[1,2]', 'SerializationException'],
      ['"text"', 'SerializationException'],
      [JSON.stringify({ KeyId: 5, Plaintext: 'AAAA' }), 'SerializationException'],
      [JSON.stringify({ KeyId: keyId, Plaintext: 'not base64!' }), 'SerializationException'],
      [JSON.stringify({ KeyId: keyId, Plaintext: '' }), 'ValidationException'],
      [JSON.stringify({ KeyId: keyId }), 'ValidationException'],
      [JSON.stringify({ KeyId: keyId, Plaintext: 'AAAA', EncryptionContext: { a: 1 } }), 'SerializationException'],
      [JSON.stringify({ KeyId: keyId, Plaintext: 'AAAA', EncryptionContext: ['a'] }), 'SerializationException'],
      [
        JSON.stringify({ KeyId: keyId, Plaintext: 'AAAA', EncryptionContext: { k: 'v'.repeat(9000) } }),
        'ValidationException',
      ],
      [JSON.stringify({ KeyId: 'x'.repeat(3000), Plaintext: 'AAAA' }), 'ValidationException'],
      [JSON.stringify({ KeyId: '\u0000\u202e', Plaintext: 'AAAA' }), 'NotFoundException'],
      [
        JSON.stringify({ KeyId: keyId, Plaintext: 'AAAA', EncryptionAlgorithm: 'RSAES_OAEP_SHA_256' }),
        'InvalidKeyUsageException',
      ],
    ]
    for (const [body, type] of cases) {
      const r = await signedFetch(f.endpoint, 'TrentService.Encrypt', body)
      expect([body.slice(0, 60), r.type]).toEqual([body.slice(0, 60), type])
      expect(r.message!.length).toBeLessThan(600)
    }
  })

  test('unknown targets, a body over 64 KiB, other paths and methods', async () => {
    expect(await signedFetch(f.endpoint, 'TrentService.Nope', '{}')).toMatchObject({
      type: 'UnsupportedOperationException',
    })
    expect(await signedFetch(f.endpoint, 'DynamoDB_20120810.ListTables', '{}')).toMatchObject({
      type: 'UnknownOperationException',
    })
    expect(await signedFetch(f.endpoint, 'TrentService.ListKeys', 'x'.repeat(70_000))).toMatchObject({ status: 413 })
    const get = await fetch(f.endpoint.url)
    expect([get.status, ((await get.json()) as { __type: string }).__type]).toEqual([400, 'UnknownOperationException'])
    expect((await fetch(`${f.endpoint.url}/other`, { method: 'POST', body: '{}' })).status).toBe(400)
    // still serving
    expect((await f.customer.send(new ListKeysCommand({}))).Keys!.length).toBeGreaterThan(0)
  })
})
