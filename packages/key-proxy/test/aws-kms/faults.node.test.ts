// The AWS KMS CMK client under the endpoint's faults: KMS down, slow (the deadline), throttled (bounded retries,
// then ERR_KMS_THROTTLED), and the customer revoking the proxy (its access key or its role denied). Also the
// endpoint's loopback-only control route that sets those faults.
import { DescribeKeyCommand } from '@aws-sdk/client-kms'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { CONTROL_PATH, isLoopback } from '../../src/aws-kms-endpoint/server.ts'
import { type AwsKmsCmkOptions, createAwsKmsCmk } from '../../src/kms/aws-kms/index.ts'
import { codeOf, type EndpointFixture, PROXY, PROXY_ROLE, startEndpoint } from './endpoint-fixture.ts'

const ctx = { tenant: 'acme', purpose: 'lease' }
let f: EndpointFixture
let arn: string
const cmks: Array<{ close(): Promise<void> }> = []
beforeAll(async () => {
  f = await startEndpoint()
  arn = f.endpoint.createKey().arn
})
afterAll(async () => {
  for (const c of cmks) await c.close()
  await f?.close()
})

const cmkFor = (options: Partial<AwsKmsCmkOptions> = {}, fixture = f, keyId = arn) => {
  const c = createAwsKmsCmk({
    keyId,
    endpoint: fixture.endpoint.url,
    credentials: { source: 'static', accessKeyId: PROXY.accessKeyId, secretAccessKeyEnv: 'S' },
    env: { S: PROXY.secretAccessKey },
    retryBaseMs: 1,
    ...options,
  })
  cmks.push(c)
  return c
}

describe('faults', () => {
  test('KMS down (connection refused): ERR_KMS_UNAVAILABLE after the bounded retries', async () => {
    const g = await startEndpoint()
    const cmk = cmkFor({}, g, g.endpoint.createKey().arn)
    const wrapped = await cmk.wrap(new Uint8Array(32).fill(1), ctx)
    await g.close()
    for (const call of [
      () => cmk.wrap(new Uint8Array(32), ctx),
      () => cmk.unwrap(wrapped, ctx),
      () => cmk.describe(),
    ]) {
      const err = await call().catch((e) => e)
      expect(err.code).toBe('ERR_KMS_UNAVAILABLE')
      expect(err.message).toMatch(/ECONNREFUSED/)
    }
  })

  test('KMS slower than the deadline: ERR_KMS_TIMEOUT; a cancelled call too', async () => {
    const g = await startEndpoint({ faults: { latencyMs: 30_000 } })
    try {
      const cmk = cmkFor({ timeoutMs: 200 }, g, g.endpoint.createKey().arn)
      const err = await cmk.generate(ctx).catch((e) => e)
      expect(err.code).toBe('ERR_KMS_TIMEOUT')
      expect(err.message).toMatch(/no answer within 200 ms/)
      const cancel = new AbortController()
      const call = cmk.wrap(new Uint8Array(32), ctx, { signal: cancel.signal })
      cancel.abort()
      expect(await codeOf(call)).toBe('ERR_KMS_TIMEOUT')
    } finally {
      await g.close()
    }
  })

  test('throttled on every call: exactly maxAttempts calls reach the KMS, then ERR_KMS_THROTTLED', async () => {
    f.endpoint.setFaults({ throttleEveryNth: 1 })
    try {
      for (const maxAttempts of [1, 3]) {
        f.endpoint.resetStats()
        const err = await cmkFor({ maxAttempts })
          .unwrap({ ciphertext: new Uint8Array(100), version: '' }, ctx)
          .catch((e) => e)
        expect(err.code).toBe('ERR_KMS_THROTTLED')
        expect(err.message).toMatch(/ThrottlingException/)
        expect(f.endpoint.stats).toMatchObject({ calls: maxAttempts, throttled: maxAttempts })
      }
    } finally {
      f.endpoint.setFaults({})
    }
  })

  test('throttled now and then: the retry succeeds', async () => {
    const cmk = cmkFor({ maxAttempts: 3 })
    const wrapped = await cmk.wrap(new Uint8Array(32).fill(9), ctx)
    f.endpoint.setFaults({ throttleEveryNth: 2 })
    f.endpoint.resetStats()
    try {
      for (let i = 0; i < 4; i++) expect(await cmk.unwrap(wrapped, ctx)).toEqual(new Uint8Array(32).fill(9))
      expect(f.endpoint.stats.throttled).toBeGreaterThan(0)
      expect(f.endpoint.stats.byOperation.Decrypt).toBe(4 + f.endpoint.stats.throttled)
    } finally {
      f.endpoint.setFaults({})
    }
  })

  test('throttled above a rate', async () => {
    f.endpoint.setFaults({ throttlePerSecond: 0.001 }) // one call, then one per 1000 s
    try {
      const cmk = cmkFor({ maxAttempts: 1 })
      await cmk.describe()
      expect(await codeOf(cmk.describe())).toBe('ERR_KMS_THROTTLED')
    } finally {
      f.endpoint.setFaults({})
    }
  })

  test("the customer denies the proxy's access key: ERR_KMS_ACCESS_DENIED at once; allowed again, it works", async () => {
    const cmk = cmkFor()
    const wrapped = await cmk.wrap(new Uint8Array(32).fill(2), ctx)
    f.endpoint.setFaults({ deny: [PROXY.accessKeyId] })
    try {
      for (const call of [
        cmk.wrap(new Uint8Array(32), ctx),
        cmk.unwrap(wrapped, ctx),
        cmk.generate(ctx),
        cmk.describe(),
      ]) {
        const err = await call.catch((e) => e)
        expect(err.code).toBe('ERR_KMS_ACCESS_DENIED')
        expect(err.message).toMatch(/AccessDeniedException: User: arn:aws:iam::111122223333:user\/AKIAPROXY/)
        expect(err.message).not.toContain(PROXY.secretAccessKey)
      }
      // the customer's own administrator still reaches its key
      expect((await f.customer.send(new DescribeKeyCommand({ KeyId: arn }))).KeyMetadata!.KeyState).toBe('Enabled')
    } finally {
      f.endpoint.setFaults({})
    }
    expect(await cmk.unwrap(wrapped, ctx)).toEqual(new Uint8Array(32).fill(2))
  })

  test("the customer revokes the proxy's role: live sessions and new AssumeRole both refused", async () => {
    const role = { roleArn: PROXY_ROLE, externalId: 'tenant-acme', endpoint: f.endpoint.url }
    const cmk = cmkFor({ assumeRole: role })
    const wrapped = await cmk.wrap(new Uint8Array(32).fill(3), ctx)
    f.endpoint.setFaults({ deny: [PROXY_ROLE] })
    try {
      const live = await cmk.unwrap(wrapped, ctx).catch((e) => e)
      expect(live.code).toBe('ERR_KMS_ACCESS_DENIED')
      expect(live.message).toMatch(/assumed-role\/envelope-proxy\/envelope-key-proxy is not authorized/)
      const fresh = await cmkFor({ assumeRole: role })
        .unwrap(wrapped, ctx)
        .catch((e) => e)
      expect(fresh.code).toBe('ERR_KMS_ACCESS_DENIED')
      expect(fresh.message).toMatch(/sts:AssumeRole/)
    } finally {
      f.endpoint.setFaults({})
    }
    expect(await cmk.unwrap(wrapped, ctx)).toEqual(new Uint8Array(32).fill(3))
  })

  test('AssumeRole with the wrong external id, or a wrong secret: ERR_KMS_ACCESS_DENIED without the secret', async () => {
    const badExternal = cmkFor({
      assumeRole: { roleArn: PROXY_ROLE, externalId: 'tenant-globex', endpoint: f.endpoint.url },
    })
    expect(await codeOf(badExternal.describe())).toBe('ERR_KMS_ACCESS_DENIED')
    const badSecret = cmkFor({ env: { S: 'wrong-secret-of-the-proxy' } })
    const err = await badSecret.describe().catch((e) => e)
    expect(err.code).toBe('ERR_KMS_ACCESS_DENIED')
    expect(err.message).toMatch(/InvalidSignatureException/)
    expect(err.message).not.toContain('wrong-secret-of-the-proxy')
  })
})

describe('control route', () => {
  const control = (init: RequestInit = {}, token = f.endpoint.controlToken) =>
    fetch(`${f.endpoint.url}${CONTROL_PATH}`, {
      ...init,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    })

  test('sets faults, reports calls, moves the clock; refuses a wrong token and bad faults', async () => {
    expect((await control({}, 'wrong')).status).toBe(403)
    expect((await fetch(`${f.endpoint.url}${CONTROL_PATH}`)).status).toBe(403)
    const set = await control({
      method: 'POST',
      body: JSON.stringify({ faults: { deny: [PROXY.accessKeyId] }, resetStats: true }),
    })
    expect(set.status).toBe(200)
    expect((await set.json()).faults).toEqual({ deny: [PROXY.accessKeyId] })
    expect(await codeOf(cmkFor().describe())).toBe('ERR_KMS_ACCESS_DENIED')
    const state = await (await control()).json()
    expect(state.stats).toMatchObject({ calls: 1, denied: 1, byOperation: { DescribeKey: 1 } })
    expect((await control({ method: 'POST', body: JSON.stringify({ faults: {} }) })).status).toBe(200)
    expect((await cmkFor().describe()).state).toBe('enabled')
    for (const faults of [{ latencyMs: -1 }, { throttleEveryNth: 'x' }, { deny: 'x' }, { sleep: 1 }]) {
      expect((await control({ method: 'POST', body: JSON.stringify({ faults }) })).status).toBe(400)
    }
    const before = (await (await control()).json()).clockOffsetMs
    await control({ method: 'POST', body: JSON.stringify({ advanceClockMs: 1000 }) })
    expect((await (await control()).json()).clockOffsetMs).toBe(before + 1000)
  })

  test('only loopback callers', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) expect(isLoopback(a)).toBe(true)
    for (const a of ['10.0.0.1', '::ffff:192.168.1.2', 'fe80::1', '0.0.0.0', undefined])
      expect(isLoopback(a)).toBe(false)
  })
})
