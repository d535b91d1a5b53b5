// The lease cache on a clock the test moves: single-flight, a TTL counted from the last successful KMS call,
// refresh-ahead in the background, a refusal for good dropping the lease at once, a KMS that cannot answer
// leaving it serving until it expires, bounds by count and bytes, and material zeroed when dropped.
import { expect, test } from 'vitest'
import { ProxyError } from '../../src/errors.ts'
import { LeaseCache } from '../../src/kms/lease-cache.ts'
import { codeOf } from '../proxy-process.ts'

function setup(options: Partial<ConstructorParameters<typeof LeaseCache>[0]> = {}) {
  let now = 1_000_000
  const events: string[] = []
  const cache = new LeaseCache({
    ttlMs: 1000,
    refreshAheadMs: 200,
    maxLeases: 100,
    maxBytes: 1 << 20,
    now: () => now,
    observe: (e) => events.push(e),
    ...options,
  })
  let calls = 0
  let answer: () => Promise<Uint8Array> = async () => new Uint8Array(32).fill(7)
  const fetch = () => {
    calls++
    return answer()
  }
  return {
    cache,
    events,
    fetch,
    calls: () => calls,
    advance: (ms: number) => {
      now += ms
    },
    answer: (f: () => Promise<Uint8Array>) => {
      answer = f
    },
  }
}
const first = (key: Buffer) => key[0]

test('single-flight: 100 concurrent uses of a cold lease make one KMS call', async () => {
  const s = setup()
  const results = await Promise.all(Array.from({ length: 100 }, () => s.cache.use('t/e/l', s.fetch, first)))
  expect(new Set(results)).toEqual(new Set([7]))
  expect(s.calls()).toBe(1)
  s.cache.close()
})

test('a lease expires ttlMs after the KMS gave it; the next use asks again', async () => {
  const s = setup()
  await s.cache.use('l', s.fetch, first)
  s.advance(700)
  await s.cache.use('l', s.fetch, first)
  expect(s.calls()).toBe(1) // not yet in the refresh window (the last 200 ms)
  s.advance(300)
  await s.cache.use('l', s.fetch, first)
  expect(s.calls()).toBe(2)
  expect(s.events).toContain('expired')
  s.cache.close()
})

test('refresh-ahead: a use in the last refreshAheadMs refreshes once in the background and restarts the clock', async () => {
  const s = setup()
  await s.cache.use('l', s.fetch, first)
  s.advance(850)
  let release!: () => void
  s.answer(() => new Promise((r) => (release = () => r(new Uint8Array(32).fill(7)))))
  expect(await s.cache.use('l', s.fetch, first)).toBe(7) // served at once
  await s.cache.use('l', s.fetch, first)
  expect(s.calls()).toBe(2) // one refresh, whatever the uses
  release()
  await new Promise((r) => setImmediate(r))
  s.advance(700) // 1550 ms after the first call: past its first expiry, 700 ms after the refresh
  await s.cache.use('l', s.fetch, first)
  expect(s.calls()).toBe(2)
  s.cache.close()
})

test('a refresh the KMS refuses for good drops the lease at once; one it cannot answer leaves it serving', async () => {
  const s = setup()
  await s.cache.use('l', s.fetch, first)
  s.advance(850)
  s.answer(() => Promise.reject(new ProxyError('ERR_KMS_UNAVAILABLE', 'down')))
  await s.cache.use('l', s.fetch, first)
  await new Promise((r) => setImmediate(r))
  expect(s.cache.size).toBe(1) // still serving
  expect(await s.cache.use('l', s.fetch, first)).toBe(7)
  s.answer(() => Promise.reject(new ProxyError('ERR_KEY_DISABLED', 'disabled')))
  await s.cache.use('l', s.fetch, first) // a second background refresh: refused for good
  await new Promise((r) => setImmediate(r))
  expect(s.cache.size).toBe(0)
  expect(s.events).toContain('revoked')
  expect(await codeOf(s.cache.use('l', s.fetch, first))).toBe('ERR_KEY_DISABLED')
  s.cache.close()
})

test('bounded by count and by bytes, least recently used first; dropped material is zeroed', async () => {
  const s = setup({ maxLeases: 3 })
  const held: Buffer[] = []
  for (const id of ['a', 'b', 'c']) await s.cache.use(id, s.fetch, (k) => held.push(k))
  await s.cache.use('a', s.fetch, first) // a is now the most recently used
  await s.cache.use('d', s.fetch, first)
  expect(s.cache.size).toBe(3)
  expect(held[1]!.every((b) => b === 0)).toBe(true) // b was dropped, and zeroed
  expect(held[0]![0]).toBe(7)
  const small = setup({ maxBytes: 2 * (32 + 2 + 96) })
  for (const id of ['x', 'y', 'z']) await small.cache.use(id, small.fetch, first)
  expect(small.cache.size).toBe(2)
  s.cache.close()
  expect(held.every((k) => k.every((b) => b === 0))).toBe(true)
  small.cache.close()
})

test('the key a KMS call gave is copied and the caller’s bytes zeroed', async () => {
  const s = setup()
  const given = new Uint8Array(32).fill(9)
  s.answer(async () => given)
  expect(await s.cache.use('l', s.fetch, first)).toBe(9)
  expect(given.every((b) => b === 0)).toBe(true)
  s.cache.close()
})
