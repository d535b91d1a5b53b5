// The tenant's KMS failing behind a real proxy: AWS KMS (the endpoint on loopback, the real SDK in the proxy)
// throttling, slow and down. Each gives the client a typed error after bounded retries (counted at the KMS);
// leases already unwrapped keep serving inside their TTL while the KMS is down; a cold start makes one KMS call per
// lease however many requests arrive at once; once the KMS is back, everything made before opens (nothing lost).
import { decryptToString, encrypt, readHeader } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { type EndpointFixture, PROXY, startEndpoint } from '../aws-kms/endpoint-fixture.ts'
import { codeOf, type RunningProxy } from '../proxy-process.ts'
import { API_KEY, startKmsProxy } from './kms-fixtures.ts'

let aws: EndpointFixture
let proxy: RunningProxy
let port: number
const client = (tenant: string) => createKeyProxyClient({ baseUrl: proxy.url, apiKey: API_KEY, tenant, retries: 0 })

beforeAll(async () => {
  aws = await startEndpoint()
  port = Number(new URL(aws.endpoint.url).port)
  const { arn } = aws.endpoint.createKey()
  const settings = {
    keyId: arn,
    endpoint: aws.endpoint.url,
    timeoutMs: 1500,
    maxAttempts: 3,
    retryBaseMs: 1,
  }
  // A long leaseTtl: a lease unwrapped once serves through the outages below. One serving process: each
  // `--workers` worker keeps leases of its own (docs/kms-backends.md), and the cold start below counts one's calls.
  ;({ proxy } = await startKmsProxy(
    {
      workers: 1,
      leaseTtlMs: 600_000,
      tenants: [
        { id: 'direct', kms: [{ id: 'aws', provider: 'aws-kms', mode: 'direct', settings }] },
        { id: 'leased', kms: [{ id: 'aws', provider: 'aws-kms', mode: 'leased', settings }] },
      ],
    },
    { AWS_ACCESS_KEY_ID: PROXY.accessKeyId, AWS_SECRET_ACCESS_KEY: PROXY.secretAccessKey },
  ))
})
afterAll(async () => {
  await proxy?.stop()
  await aws?.close()
})

const calls = () => aws.endpoint.stats.calls

describe('AWS KMS faults behind the proxy', () => {
  const made: Array<{ tenant: string; message: Uint8Array; text: string }> = []
  const seal = async (tenant: string, text: string) => {
    const message = await encrypt(text, { provider: client(tenant), context: { doc: text } })
    made.push({ tenant, message, text })
    return message
  }

  test('throttling: retried a bounded number of times, then ERR_KMS_THROTTLED; a throttle that passes is retried through', async () => {
    await seal('direct', 'before the faults')
    await seal('leased', 'leased before the faults')
    aws.endpoint.setFaults({ throttleEveryNth: 1 })
    aws.endpoint.resetStats()
    expect(await codeOf(client('direct').generateDataKey({ doc: 'x' }))).toBe('ERR_KMS_THROTTLED')
    expect(aws.endpoint.stats).toMatchObject({ calls: 3, throttled: 3 }) // maxAttempts, not more
    aws.endpoint.setFaults({ throttleEveryNth: 2 }) // every other call: the retry gets through
    await seal('direct', 'through a throttle')
    // the leased tenant's lease is in memory: no KMS call at all
    aws.endpoint.resetStats()
    aws.endpoint.setFaults({ throttleEveryNth: 1 })
    await seal('leased', 'leased while throttled')
    expect(calls()).toBe(0)
    aws.endpoint.setFaults({})
  })

  test('slow: past the deadline it is ERR_KMS_TIMEOUT; leases keep serving', async () => {
    aws.endpoint.setFaults({ latencyMs: 5000 })
    expect(await codeOf(client('direct').generateDataKey({ doc: 'x' }))).toBe('ERR_KMS_TIMEOUT')
    await seal('leased', 'leased while slow')
    aws.endpoint.setFaults({})
  })

  test('down: ERR_KMS_UNAVAILABLE for direct use; cached leases serve; back up, everything made before opens', async () => {
    const dataDir = aws.dataDir
    await aws.close()
    expect(await codeOf(client('direct').generateDataKey({ doc: 'x' }))).toBe('ERR_KMS_UNAVAILABLE')
    const direct = made.find((m) => m.tenant === 'direct')!
    expect(await codeOf(client('direct').unwrapDataKey(readHeader(direct.message).edeks, { doc: direct.text }))).toBe(
      'ERR_KMS_UNAVAILABLE',
    )
    await seal('leased', 'leased while down')
    for (const m of made.filter((x) => x.tenant === 'leased')) {
      expect(await decryptToString(m.message, { provider: client('leased') })).toBe(m.text)
    }
    // The KMS back on its address: nothing stored was lost.
    aws = await startEndpoint({ dataDir, port })
    for (const m of made) expect(await decryptToString(m.message, { provider: client(m.tenant) })).toBe(m.text)
  })

  test('a cold start: 200 unwraps at once of one lease make one KMS call', async () => {
    const leased = made.filter((m) => m.tenant === 'leased')
    await proxy.stop()
    await proxy.restart()
    aws.endpoint.resetStats()
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => {
        const m = leased[i % leased.length]!
        return createKeyProxyClient({ baseUrl: proxy.url, apiKey: API_KEY, tenant: 'leased', retries: 0 })
          .unwrapDataKey(readHeader(m.message).edeks, { doc: m.text })
          .then(() => 'ok')
      }),
    )
    expect(new Set(results)).toEqual(new Set(['ok']))
    expect(aws.endpoint.stats.byOperation).toEqual({ Decrypt: 1 })
    expect(port).toBe(Number(new URL(aws.endpoint.url).port))
  })
})
