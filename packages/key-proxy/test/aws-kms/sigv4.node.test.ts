// SigV4 as the endpoint checks it: AWS's documented example signature, then every refusal as the real SDK (or a
// replay of a request the SDK signed) meets it: wrong secret, unknown key, clock skew beyond 5 minutes, an
// altered body or signed header, a missing or malformed Authorization, the wrong region, and temporary
// credentials with a forged or expired session token.
import { DescribeKeyCommand, type KMSClient, ListKeysCommand } from '@aws-sdk/client-kms'
import { fromTemporaryCredentials } from '@aws-sdk/credential-providers'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { readSigV4, sigV4Signature } from '../../src/aws-kms-endpoint/sigv4.ts'
import { ADMIN, awsError, type EndpointFixture, PROXY, PROXY_ROLE, startEndpoint } from './endpoint-fixture.ts'

interface Captured {
  headers: Record<string, string>
  body: string
}

/** The request the SDK signed for `command`, captured after signing and not sent. */
async function signedBy(client: KMSClient, command: ListKeysCommand | DescribeKeyCommand): Promise<Captured> {
  let captured: Captured | undefined
  client.middlewareStack.addRelativeTo(
    () => async (args: { request: unknown }) => {
      const request = args.request as { headers: Record<string, string>; body: Uint8Array }
      captured = { headers: { ...request.headers }, body: new TextDecoder().decode(request.body) }
      throw new Error('captured')
    },
    { relation: 'after', toMiddleware: 'httpSigningMiddleware', name: 'capture' },
  )
  await client.send(command as ListKeysCommand).catch(() => {})
  client.middlewareStack.remove('capture')
  if (!captured) throw new Error('nothing captured')
  return captured
}

async function replay(f: EndpointFixture, r: Captured, change: Partial<Captured> = {}) {
  const headers = { ...r.headers, ...change.headers }
  for (const [k, v] of Object.entries(headers)) if (v === '') delete headers[k]
  delete headers['content-length']
  const res = await fetch(f.endpoint.url, { method: 'POST', headers, body: change.body ?? r.body })
  const json = (await res.json()) as { __type: string; message: string }
  return {
    status: res.status,
    type: json.__type,
    message: json.message,
    errorHeader: res.headers.get('x-amzn-errortype'),
  }
}

let f: EndpointFixture
beforeAll(async () => {
  f = await startEndpoint()
})
afterAll(() => f?.close())

test("AWS's documented example (IAM ListUsers, 20150830T123600Z) gets its documented signature", () => {
  const request = {
    method: 'GET',
    path: '/',
    query: 'Action=ListUsers&Version=2010-05-08',
    headers: {
      'content-type': 'application/x-www-form-urlencoded; charset=utf-8',
      host: 'iam.amazonaws.com',
      'x-amz-date': '20150830T123600Z',
      authorization:
        'AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
    },
    body: new Uint8Array(),
  }
  const claim = readSigV4(request, { region: 'us-east-1', service: 'iam' }, Date.UTC(2015, 7, 30, 12, 36))
  expect(sigV4Signature(request, claim, 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY')).toBe(
    '5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7',
  )
})

describe('refusals the SDK meets', () => {
  test('wrong secret: InvalidSignatureException; unknown access key: UnrecognizedClientException', async () => {
    const wrong = f.client({ credentials: { ...ADMIN, secretAccessKey: 'not-the-secret' }, maxAttempts: 1 })
    expect(await awsError(wrong.send(new ListKeysCommand({})))).toEqual({
      name: 'InvalidSignatureException',
      status: 400,
      message:
        'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    })
    const unknown = f.client({
      credentials: { accessKeyId: 'AKIAUNKNOWN000000000', secretAccessKey: 'x' },
      maxAttempts: 1,
    })
    expect(await awsError(unknown.send(new ListKeysCommand({})))).toEqual({
      name: 'UnrecognizedClientException',
      status: 400,
      message: 'The security token included in the request is invalid.',
    })
  })

  test('a clock more than 5 minutes off either way is refused; within 5 minutes it is accepted', async () => {
    const late = f.client({ systemClockOffset: -6 * 60_000, maxAttempts: 1 })
    const e = await awsError(late.send(new ListKeysCommand({})))
    expect(e.name).toBe('InvalidSignatureException')
    expect(e.message).toMatch(
      /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 5 min\.\)$/,
    )
    const early = f.client({ systemClockOffset: 6 * 60_000, maxAttempts: 1 })
    expect((await awsError(early.send(new ListKeysCommand({})))).message).toMatch(/^Signature not yet current: /)
    const close = f.client({ systemClockOffset: -4 * 60_000, maxAttempts: 1 })
    expect((await close.send(new ListKeysCommand({}))).Keys).toBeDefined()
  })

  test("with retries, the SDK corrects its clock from the endpoint's Date header, as against AWS", async () => {
    const skewed = f.client({ systemClockOffset: -20 * 60_000 })
    const out = await skewed.send(new ListKeysCommand({}))
    expect(out.$metadata.attempts).toBe(2)
  })

  test('credentials scoped to another region: InvalidSignatureException', async () => {
    const other = f.client({ region: 'eu-west-1', maxAttempts: 1 })
    expect(await awsError(other.send(new ListKeysCommand({})))).toMatchObject({
      name: 'InvalidSignatureException',
      message: 'Credential should be scoped to a valid region.',
    })
  })
})

describe('refusals of altered requests', () => {
  test('the request as signed is accepted (within the 5 minutes, as AWS)', async () => {
    const r = await signedBy(f.client(), new ListKeysCommand({}))
    expect((await replay(f, r)).status).toBe(200)
  })

  test('an altered body or signed header: InvalidSignatureException', async () => {
    const r = await signedBy(f.client(), new DescribeKeyCommand({ KeyId: 'alias/a' }))
    const body = await replay(f, r, { body: r.body.replace('alias/a', 'alias/b') })
    expect(body).toMatchObject({
      status: 400,
      type: 'InvalidSignatureException',
      errorHeader: 'InvalidSignatureException',
    })
    const target = await replay(f, r, { headers: { 'x-amz-target': 'TrentService.ListKeys' } })
    expect(target.type).toBe('InvalidSignatureException')
  })

  test('no Authorization: MissingAuthenticationTokenException; a malformed one: IncompleteSignatureException', async () => {
    const r = await signedBy(f.client(), new ListKeysCommand({}))
    expect(await replay(f, r, { headers: { authorization: '' } })).toMatchObject({
      status: 400,
      type: 'MissingAuthenticationTokenException',
    })
    expect((await replay(f, r, { headers: { authorization: 'AWS4-HMAC-SHA256 Credential=x' } })).type).toBe(
      'IncompleteSignatureException',
    )
    expect((await replay(f, r, { headers: { authorization: 'Basic eDp5' } })).type).toBe('IncompleteSignatureException')
    const unsignedTarget = r.headers.authorization!.replace(/SignedHeaders=[^,]*/, 'SignedHeaders=host;x-amz-date')
    expect((await replay(f, r, { headers: { authorization: unsignedTarget } })).type).toBe(
      'IncompleteSignatureException',
    )
  })
})

describe('temporary credentials (STS AssumeRole)', () => {
  const assume = (endpointUrl: string, region: string, durationSeconds = 3600) =>
    fromTemporaryCredentials({
      masterCredentials: PROXY,
      params: {
        RoleArn: PROXY_ROLE,
        RoleSessionName: 'acme',
        ExternalId: 'tenant-acme',
        DurationSeconds: durationSeconds,
      },
      clientConfig: { endpoint: endpointUrl, region },
    })()

  test('a forged session token: UnrecognizedClientException', async () => {
    const creds = await assume(f.endpoint.url, f.endpoint.region)
    const forged = `${creds.sessionToken!.slice(0, -4)}AAAA`
    const client = f.client({ credentials: { ...creds, sessionToken: forged }, maxAttempts: 1 })
    expect((await awsError(client.send(new ListKeysCommand({})))).name).toBe('UnrecognizedClientException')
    const ok = f.client({ credentials: creds, maxAttempts: 1 })
    expect((await ok.send(new ListKeysCommand({}))).Keys).toBeDefined()
  })

  test('an expired session token: ExpiredTokenException', async () => {
    let shift = 0
    const g = await startEndpoint({ signatureNow: () => Date.now() + shift })
    try {
      const creds = await assume(g.endpoint.url, g.endpoint.region, 900)
      shift = 16 * 60_000 // the endpoint's clock past the session's 15 minutes; the client signs in step with it
      const client = g.client({ credentials: creds, systemClockOffset: shift, maxAttempts: 1 })
      expect(await awsError(client.send(new ListKeysCommand({})))).toMatchObject({
        name: 'ExpiredTokenException',
        status: 400,
      })
    } finally {
      await g.close()
    }
  })
})
