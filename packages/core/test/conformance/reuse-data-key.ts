// withDataKeyReuse in every runtime: one DEK for many messages of one (partition, context), never past the age,
// message or byte limit; unknown lengths get fresh keys; cold concurrent encrypts share one inner call.
import { assert, assertEqual, assertRejectsCode, hex, suite } from '../../../../tests/harness.ts'
import {
  type DataKey,
  decryptToString,
  type EncryptionContext,
  encrypt,
  encryptStream,
  type GenerateOptions,
  type KeyProvider,
  readHeader,
  withDataKeyReuse,
} from '../../src/index.ts'
import { chunked, localProvider, readAll } from './util.ts'

interface Counting extends KeyProvider {
  generated: number
  hold(): void
  release(): void
  failNext?: Error
  lengths: (number | undefined)[]
}

/** The local provider, counting generateDataKey calls; `hold()` keeps them pending until `release()`. */
async function counting(): Promise<Counting> {
  const inner = await localProvider()
  let gate: Promise<void> | undefined
  let open = () => {}
  const p: Counting = {
    generated: 0,
    lengths: [],
    hold() {
      gate = new Promise((resolve) => {
        open = resolve
      })
    },
    release() {
      open()
      gate = undefined
    },
    async generateDataKey(context: EncryptionContext, options?: GenerateOptions): Promise<DataKey> {
      p.generated++
      p.lengths.push(options?.plaintextLength)
      const failure = p.failNext
      p.failNext = undefined
      await gate
      if (failure) throw failure
      return inner.generateDataKey(context, options)
    },
    unwrapDataKey: (edeks, context, options) => inner.unwrapDataKey(edeks, context, options),
    unwrapDataKeys: (requests, options) => inner.unwrapDataKeys(requests, options),
  }
  return p
}

function clock(start = 5_000_000) {
  let t = start
  return {
    now: () => t,
    advance(ms: number) {
      t += ms
    },
  }
}

const edekOf = (message: Uint8Array) => hex(readHeader(message).edeks[0]!.ciphertext)

export default suite('core: data key reuse', (test) => {
  test('messages of one context share one DEK, each with its own message id, and all open', async () => {
    const inner = await counting()
    const provider = withDataKeyReuse(inner, { maxAgeMs: 60_000 })
    const context = { tenant: 'acme' }
    const messages = []
    for (let i = 0; i < 5; i++) messages.push(await encrypt(`note ${i}`, { provider, context }))
    assertEqual(inner.generated, 1)
    assertEqual(new Set(messages.map(edekOf)).size, 1, 'one EDEK')
    assertEqual(new Set(messages.map((m) => hex(readHeader(m).messageId))).size, 5, 'five message ids')
    assertEqual(new Set(messages.map((m) => hex(readHeader(m).commitment))).size, 5, 'five derived keys')
    for (let i = 0; i < 5; i++) assertEqual(await decryptToString(messages[i]!, { provider: inner }), `note ${i}`)
  })

  test('another context or another partition gets another DEK', async () => {
    const inner = await counting()
    let tenant = 'acme'
    const provider = withDataKeyReuse(inner, { maxAgeMs: 60_000, partition: () => tenant })
    const a = await encrypt('a', { provider, context: { doc: '1' } })
    const b = await encrypt('b', { provider, context: { doc: '2' } })
    tenant = 'globex'
    const c = await encrypt('c', { provider, context: { doc: '1' } })
    assertEqual(inner.generated, 3)
    assertEqual(new Set([a, b, c].map(edekOf)).size, 3)
  })

  test('never past maxMessages', async () => {
    const inner = await counting()
    const provider = withDataKeyReuse(inner, { maxAgeMs: 60_000, maxMessages: 3 })
    const messages = []
    for (let i = 0; i < 7; i++) messages.push(await encrypt('m', { provider }))
    assertEqual(inner.generated, 3)
    const perKey = new Map<string, number>()
    for (const m of messages) perKey.set(edekOf(m), (perKey.get(edekOf(m)) ?? 0) + 1)
    assertEqual([...perKey.values()].join(), '3,3,1')
  })

  test('never past maxBytes; a message larger than the limit gets a fresh key that is not kept', async () => {
    const inner = await counting()
    const provider = withDataKeyReuse(inner, { maxAgeMs: 60_000, maxBytes: 100 })
    const a = await encrypt(new Uint8Array(60), { provider })
    const b = await encrypt(new Uint8Array(40), { provider }) // 100 in total: still within
    assertEqual(inner.generated, 1)
    assertEqual(edekOf(a), edekOf(b))
    const c = await encrypt(new Uint8Array(1), { provider }) // 101: a new key
    assertEqual(inner.generated, 2)
    const big = await encrypt(new Uint8Array(101), { provider })
    const d = await encrypt(new Uint8Array(1), { provider })
    assertEqual(inner.generated, 3, 'the big one had its own key; d reuses c')
    assert(edekOf(big) !== edekOf(c))
    assertEqual(edekOf(d), edekOf(c))
  })

  test('never past maxAgeMs (controllable clock)', async () => {
    const time = clock()
    const inner = await counting()
    const provider = withDataKeyReuse(inner, { maxAgeMs: 1000, now: time.now })
    await encrypt('1', { provider })
    time.advance(999)
    await encrypt('2', { provider })
    assertEqual(inner.generated, 1)
    time.advance(1)
    await encrypt('3', { provider })
    assertEqual(inner.generated, 2)
    time.advance(-5000) // a clock that goes back does not extend a key's life
    await encrypt('4', { provider })
    assertEqual(inner.generated, 3)
  })

  test('a message of unknown length (a stream without plaintextLength) always gets a fresh key', async () => {
    const inner = await counting()
    const provider = withDataKeyReuse(inner, { maxAgeMs: 60_000 })
    const data = new Uint8Array(1000)
    for (let i = 0; i < 2; i++) await readAll(chunked(data, 300).pipeThrough(encryptStream({ provider })))
    assertEqual(inner.generated, 2)
    assertEqual(inner.lengths.join(), ',', 'the inner provider was told the length is unknown')
    for (let i = 0; i < 2; i++) {
      await readAll(chunked(data, 300).pipeThrough(encryptStream({ provider, plaintextLength: data.length })))
    }
    assertEqual(inner.generated, 3, 'with a declared length the stream shares a key')
  })

  test('cold concurrent encrypts make one inner call', async () => {
    const inner = await counting()
    const provider = withDataKeyReuse(inner, { maxAgeMs: 60_000 })
    inner.hold()
    const pending = Array.from({ length: 10 }, (_, i) => encrypt(`c${i}`, { provider, context: { t: 'x' } }))
    await Promise.resolve()
    inner.release()
    const messages = await Promise.all(pending)
    assertEqual(inner.generated, 1)
    assertEqual(new Set(messages.map(edekOf)).size, 1)
  })

  test('concurrent encrypts over maxMessages: no DEK seals more than its limit', async () => {
    const inner = await counting()
    const provider = withDataKeyReuse(inner, { maxAgeMs: 60_000, maxMessages: 2 })
    inner.hold()
    const pending = Array.from({ length: 10 }, () => encrypt('x', { provider }))
    await Promise.resolve()
    inner.release()
    const messages = await Promise.all(pending)
    const perKey = new Map<string, number>()
    for (const m of messages) perKey.set(edekOf(m), (perKey.get(edekOf(m)) ?? 0) + 1)
    assert(
      [...perKey.values()].every((n) => n <= 2),
      `per key: ${[...perKey.values()]}`,
    )
    assert(inner.generated >= 5 && inner.generated <= 10, `calls: ${inner.generated}`)
  })

  test('a failed shared call fails its waiters and is not kept; the next encrypt tries again', async () => {
    const inner = await counting()
    const provider = withDataKeyReuse(inner, { maxAgeMs: 60_000 })
    inner.failNext = Object.assign(new Error('proxy down'), { code: 'ERR_KEY_UNAVAILABLE' })
    inner.hold()
    const pending = Array.from({ length: 3 }, () => encrypt('x', { provider }))
    await Promise.resolve()
    inner.release()
    for (const p of pending) await assertRejectsCode(p, 'ERR_KEY_UNAVAILABLE')
    assertEqual(inner.generated, 1)
    await encrypt('y', { provider })
    assertEqual(inner.generated, 2)
  })

  test('a waiter that aborts gets ERR_ABORTED; the maker and the others still get the key', async () => {
    const inner = await counting()
    const provider = withDataKeyReuse(inner, { maxAgeMs: 60_000 })
    inner.hold()
    const maker = encrypt('maker', { provider })
    const controller = new AbortController()
    const quitter = encrypt('quitter', { provider, signal: controller.signal })
    const other = encrypt('other', { provider })
    await Promise.resolve()
    controller.abort()
    await assertRejectsCode(quitter, 'ERR_ABORTED')
    inner.release()
    assertEqual(edekOf(await maker), edekOf(await other))
    assertEqual(inner.generated, 1)
  })

  test('when the maker aborts, the waiters make their own key', async () => {
    const inner = await counting()
    const provider = withDataKeyReuse(inner, { maxAgeMs: 60_000 })
    inner.hold()
    inner.failNext = Object.assign(new Error('cancelled'), { code: 'ERR_ABORTED' })
    const controller = new AbortController()
    const maker = encrypt('maker', { provider, signal: controller.signal })
    const waiter = encrypt('waiter', { provider })
    await Promise.resolve()
    controller.abort()
    inner.release()
    await assertRejectsCode(maker, 'ERR_ABORTED')
    assertEqual(await decryptToString(await waiter, { provider: inner }), 'waiter')
    assertEqual(inner.generated, 2)
  })

  test('entries are bounded (least recently used dropped) and clear() forgets them all', async () => {
    const inner = await counting()
    const provider = withDataKeyReuse(inner, { maxAgeMs: 60_000, maxEntries: 2 })
    for (const doc of ['1', '2', '1', '3']) await encrypt('x', { provider, context: { doc } })
    assertEqual(inner.generated, 3) // 1, 2, (1 reused), 3 evicts 2
    await encrypt('x', { provider, context: { doc: '1' } })
    assertEqual(inner.generated, 3, '1 was kept: used more recently than 2')
    await encrypt('x', { provider, context: { doc: '2' } })
    assertEqual(inner.generated, 4)
    provider.clear()
    await encrypt('x', { provider, context: { doc: '2' } })
    assertEqual(inner.generated, 5)
  })

  test('bad options are refused with ERR_INVALID_ARGUMENT', async () => {
    const inner = await counting()
    for (const bad of [
      {},
      { maxAgeMs: 0 },
      { maxAgeMs: 1.5 },
      { maxAgeMs: 1000, maxMessages: 2 ** 32 + 1 },
      { maxAgeMs: 1000, maxBytes: -1 },
      { maxAgeMs: 1000, maxEntries: 0 },
      { maxAgeMs: 1000, partition: 42 },
    ]) {
      await assertRejectsCode(
        async () => withDataKeyReuse(inner, bad as never),
        'ERR_INVALID_ARGUMENT',
        JSON.stringify(bad),
      )
    }
    const provider = withDataKeyReuse(inner, { maxAgeMs: 1000, partition: () => 7 as unknown as string })
    await assertRejectsCode(encrypt('x', { provider }), 'ERR_INVALID_ARGUMENT')
  })
})
