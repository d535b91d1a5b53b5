// Round trips and API behaviour of the core, in every runtime.
import {
  assert,
  assertBytesEqual,
  assertEqual,
  assertJsonEqual,
  assertRejectsCode,
  suite,
} from '../../../../tests/harness.ts'
import {
  createLocalKeyProvider,
  type DataKey,
  decrypt,
  decryptStream,
  decryptToString,
  encrypt,
  encryptStream,
  type KeyProvider,
  readHeader,
} from '../../src/index.ts'
import { chunked, localProvider, pattern, pipeCollect, readAll } from './util.ts'

export default suite('core: round trip and API', (test) => {
  for (const [size, frameSize] of [
    [0, 64],
    [1, 64],
    [64, 64],
    [65, 64],
    [1000, 100],
    [3 * 65536 + 5, undefined],
  ] as const) {
    test(`${size} bytes, frame size ${frameSize ?? 'default'}: one-shot and streaming agree`, async () => {
      const provider = await localProvider()
      const plaintext = pattern(size)
      const context = { tenant: 'acme', size: String(size) }
      const m1 = await encrypt(plaintext, { provider, context, frameSize })
      const m2 = await readAll(chunked(plaintext, 777).pipeThrough(encryptStream({ provider, context, frameSize })))
      assertEqual(m2.length, m1.length, 'streaming and one-shot messages have the same length')
      for (const m of [m1, m2]) {
        assertBytesEqual(await decrypt(m, { provider, expectedContext: context }), plaintext)
        for (const chunk of [1, 13, 4096]) {
          if (chunk === 1 && size > 5000) continue // byte-by-byte streaming of a large message is slow, not different
          const { released, error } = await pipeCollect(chunked(m, chunk), decryptStream({ provider }))
          if (error) throw error
          assertBytesEqual(released, plaintext, `streamed in chunks of ${chunk}`)
        }
      }
    })
  }

  test('strings round trip as UTF-8', async () => {
    const provider = await localProvider()
    const text = 'héllo 🌍, envelope'
    assertEqual(await decryptToString(await encrypt(text, { provider }), { provider }), text)
  })

  test('decryptToString rejects plaintext that is not UTF-8 with ERR_MALFORMED', async () => {
    const provider = await localProvider()
    await assertRejectsCode(
      decryptToString(await encrypt(Uint8Array.of(0xff, 0xfe), { provider }), { provider }),
      'ERR_MALFORMED',
    )
  })

  test('expectedContext must match exactly: missing, extra or different pairs fail before unwrapping', async () => {
    let unwraps = 0
    const inner = await localProvider()
    const provider: KeyProvider = {
      ...inner,
      unwrapDataKey: (...args) => {
        unwraps++
        return inner.unwrapDataKey(...args)
      },
    }
    const m = await encrypt('x', { provider, context: { tenant: 'acme', doc: '1' } })
    const wrong: Record<string, string>[] = [
      { tenant: 'acme' },
      { tenant: 'acme', doc: '1', x: '' },
      { tenant: 'acme', doc: '2' },
      {},
    ]
    for (const expectedContext of wrong) {
      await assertRejectsCode(decrypt(m, { provider, expectedContext }), 'ERR_CONTEXT_MISMATCH')
    }
    assertEqual(unwraps, 0, 'no key was unwrapped for a mismatching context')
    assertEqual(await decryptToString(m, { provider, expectedContext: { doc: '1', tenant: 'acme' } }), 'x')
  })

  test('readHeader and decryptStream.header expose the context, EDEKs and frame size', async () => {
    const provider = await localProvider(7, 'kek-a', '3')
    const m = await encrypt(pattern(10), { provider, context: { b: '2', a: '1' }, frameSize: 128 })
    const h = readHeader(m)
    assertJsonEqual(h.context, { a: '1', b: '2' })
    assertEqual(h.frameSize, 128)
    assertEqual(h.edeks.length, 1)
    assertJsonEqual([h.edeks[0]!.providerId, h.edeks[0]!.keyId, h.edeks[0]!.keyVersion], ['local', 'kek-a', '3'])
    const ds = decryptStream({ provider })
    const done = readAll(chunked(m, 5).pipeThrough(ds))
    assertJsonEqual((await ds.header).context, { a: '1', b: '2' })
    assertBytesEqual(await done, pattern(10))
  })

  test('data keys are non-extractable CryptoKeys', async () => {
    const provider = await localProvider()
    const { dek } = await provider.generateDataKey({})
    assertEqual(dek.extractable, false)
    assertEqual(dek.algorithm.name, 'HKDF')
    let exported = false
    try {
      await crypto.subtle.exportKey('raw', dek)
      exported = true
    } catch {}
    assert(!exported, 'exportKey of a DEK must fail')
    const m = await encrypt('x', { provider })
    const unwrapped = await provider.unwrapDataKey(readHeader(m).edeks, {})
    assertEqual(unwrapped.extractable, false)
  })

  test('a KEK given as bytes or as a CryptoKey wraps and unwraps the same EDEKs, and the bytes are not kept', async () => {
    // KEK bytes are a node:crypto key in Node and Bun, a CryptoKey elsewhere; a CryptoKey stays one everywhere.
    const raw = new Uint8Array(32).fill(0x2b)
    const given = raw.slice()
    const keys = [
      given,
      await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'unwrapKey']),
      await crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt', 'unwrapKey']),
    ]
    const providers = await Promise.all(keys.map((kek) => createLocalKeyProvider({ kek, keyId: 'k' })))
    given.fill(0) // the provider copied the bytes: changing the caller's array changes nothing
    const context = { tenant: 'acme' }
    for (const writer of providers) {
      const m = await encrypt(pattern(100), { provider: writer, context })
      for (const reader of providers) {
        assertBytesEqual(await decrypt(m, { provider: reader, expectedContext: context }), pattern(100))
        const [edek] = readHeader(m).edeks
        const tampered = { ...edek!, ciphertext: edek!.ciphertext.slice() }
        tampered.ciphertext[20]! ^= 1
        await assertRejectsCode(reader.unwrapDataKey([tampered], context), 'ERR_KEY_UNAVAILABLE')
        await assertRejectsCode(reader.unwrapDataKey([edek!], { tenant: 'other' }), 'ERR_KEY_UNAVAILABLE')
      }
    }
  })

  test('one data key can seal many messages: each gets its own message id and key', async () => {
    const inner = await localProvider()
    const dataKey: DataKey = await inner.generateDataKey({ tenant: 't' })
    const provider: KeyProvider = { ...inner, generateDataKey: async () => dataKey }
    const messages = await Promise.all(
      Array.from({ length: 20 }, () => encrypt('same', { provider, context: { tenant: 't' } })),
    )
    const ids = new Set(messages.map((m) => readHeader(m).messageId.join(',')))
    assertEqual(ids.size, 20, 'distinct message ids')
    for (const m of messages) assertEqual(await decryptToString(m, { provider }), 'same')
  })

  test('a KEK that did not wrap the DEK gives ERR_KEY_UNAVAILABLE', async () => {
    const m = await encrypt('x', { provider: await localProvider(1) })
    await assertRejectsCode(decrypt(m, { provider: await localProvider(2) }), 'ERR_KEY_UNAVAILABLE')
    await assertRejectsCode(decrypt(m, { provider: await localProvider(1, 'other-id') }), 'ERR_KEY_UNAVAILABLE')
  })

  test('a provider returning another DEK is caught by the key commitment', async () => {
    const real = await localProvider()
    const m = await encrypt('secret', { provider: real })
    const { dek: otherDek } = await real.generateDataKey({})
    const lying: KeyProvider = { ...real, unwrapDataKey: async () => otherDek }
    await assertRejectsCode(decrypt(m, { provider: lying }), 'ERR_COMMITMENT_MISMATCH')
    const { released, error } = await pipeCollect(chunked(m, 3), decryptStream({ provider: lying }))
    assertEqual((error as { code?: string }).code, 'ERR_COMMITMENT_MISMATCH')
    assertEqual(released.length, 0)
  })

  test('a context edit is caught by the header AAD even when the provider ignores the context', async () => {
    const real = await localProvider()
    const m = await encrypt(pattern(200), { provider: real, context: { tenant: 'acme' }, frameSize: 64 })
    const careless: KeyProvider = { ...real, unwrapDataKey: (edeks) => real.unwrapDataKey(edeks, { tenant: 'acme' }) }
    const altered = m.slice()
    const at = readHeader(m).headerLength - 32 - 1 // last byte of the context value
    altered[at] = 'b'.charCodeAt(0) // acme → acmb
    await assertRejectsCode(decrypt(altered, { provider: careless }), 'ERR_AUTHENTICATION_FAILED')
    const { released, error } = await pipeCollect(chunked(altered, 10), decryptStream({ provider: careless }))
    assertEqual((error as { code?: string }).code, 'ERR_AUTHENTICATION_FAILED')
    assertEqual(released.length, 0, 'nothing released: frame 0 carries the header AAD')
  })

  test('a provider returning an extractable or non-HKDF key is refused', async () => {
    const real = await localProvider()
    const missingUsage = await crypto.subtle.importKey('raw', new Uint8Array(32), 'HKDF', false, ['deriveKey'])
    const extractableAes = await crypto.subtle.importKey('raw', new Uint8Array(32), 'AES-GCM', true, ['encrypt'])
    const lookalike = {
      type: 'secret',
      algorithm: { name: 'HKDF' },
      extractable: false,
      usages: ['deriveKey', 'deriveBits'],
    }
    const noUsages = { type: 'secret', algorithm: { name: 'HKDF' }, extractable: false }
    for (const bad of [missingUsage, extractableAes, 'not a key', lookalike, noUsages]) {
      const p: KeyProvider = { ...real, generateDataKey: async () => ({ dek: bad as CryptoKey, edeks: [] }) }
      await assertRejectsCode(encrypt('x', { provider: p }), 'ERR_KEY_UNAVAILABLE')
    }
  })

  test('a provider that throws a plain error surfaces as ERR_KEY_UNAVAILABLE with the cause kept', async () => {
    const real = await localProvider()
    const boom = new Error('network down')
    const p: KeyProvider = { ...real, generateDataKey: async () => Promise.reject(boom) }
    const err = await assertRejectsCode(encrypt('x', { provider: p }), 'ERR_KEY_UNAVAILABLE')
    assert((err as Error & { cause?: unknown }).cause === boom, 'cause kept')
    const s = await pipeCollect(chunked(pattern(10), 4), encryptStream({ provider: p }))
    assertEqual((s.error as { code?: string }).code, 'ERR_KEY_UNAVAILABLE')
  })

  test('an aborted signal gives ERR_ABORTED', async () => {
    const provider = await localProvider()
    const signal = AbortSignal.abort()
    await assertRejectsCode(encrypt('x', { provider, signal }), 'ERR_ABORTED')
    const m = await encrypt('x', { provider })
    await assertRejectsCode(decrypt(m, { provider, signal }), 'ERR_ABORTED')
  })

  test('misuse gives ERR_INVALID_ARGUMENT, synchronously for stream constructors', async () => {
    const provider = await localProvider()
    await assertRejectsCode(encrypt('x', {} as never), 'ERR_INVALID_ARGUMENT')
    await assertRejectsCode(encrypt(42 as never, { provider }), 'ERR_INVALID_ARGUMENT')
    await assertRejectsCode(encrypt('x', { provider, frameSize: 10 }), 'ERR_INVALID_ARGUMENT')
    await assertRejectsCode(encrypt('x', { provider, frameSize: 2 ** 24 + 1 }), 'ERR_INVALID_ARGUMENT')
    await assertRejectsCode(encrypt('x', { provider, context: { a: 1 } as never }), 'ERR_INVALID_ARGUMENT')
    await assertRejectsCode(encrypt('x', { provider, context: { '': 'v' } }), 'ERR_INVALID_ARGUMENT')
    await assertRejectsCode(encrypt('x', { provider, context: { k: '\ud800' } }), 'ERR_INVALID_ARGUMENT')
    await assertRejectsCode(decrypt('x' as never, { provider }), 'ERR_INVALID_ARGUMENT')
    await assertRejectsCode(async () => encryptStream({ provider, frameSize: 1 }), 'ERR_INVALID_ARGUMENT')
    const m = await encrypt('x', { provider })
    for (const limits of [
      { maxEdeks: Number.NaN },
      { maxEdeks: 0 },
      { maxEdeks: 256 },
      { maxFrameSize: Number.NaN },
      { maxFrameSize: 10 },
    ]) {
      await assertRejectsCode(decrypt(m, { provider, ...limits }), 'ERR_INVALID_ARGUMENT', JSON.stringify(limits))
      await assertRejectsCode(async () => decryptStream({ provider, ...limits }), 'ERR_INVALID_ARGUMENT')
      await assertRejectsCode(async () => readHeader(m, limits), 'ERR_INVALID_ARGUMENT')
    }
    await assertRejectsCode(async () => decryptStream({} as never), 'ERR_INVALID_ARGUMENT')
    const s = await pipeCollect(
      new ReadableStream({
        start(c) {
          c.enqueue('text' as never)
          c.close()
        },
      }),
      encryptStream({ provider }),
    )
    assertEqual((s.error as { code?: string }).code, 'ERR_INVALID_ARGUMENT')
  })

  test('the provider is told the plaintext length when it is known, and a stream must keep its word', async () => {
    const inner = await localProvider()
    const seen: (number | undefined)[] = []
    const provider: KeyProvider = {
      ...inner,
      generateDataKey: (context, options) => {
        seen.push(options?.plaintextLength)
        return inner.generateDataKey(context, options)
      },
    }
    await encrypt(pattern(10), { provider })
    await readAll(chunked(pattern(10), 3).pipeThrough(encryptStream({ provider })))
    await readAll(chunked(pattern(10), 3).pipeThrough(encryptStream({ provider, plaintextLength: 10 })))
    assertJsonEqual(seen, [10, null, 10]) // JSON shows undefined as null
    for (const declared of [9, 11]) {
      const { error } = await pipeCollect(
        chunked(pattern(10), 3),
        encryptStream({ provider, plaintextLength: declared }),
      )
      assertEqual((error as { code?: string }).code, 'ERR_INVALID_ARGUMENT', `declared ${declared}`)
    }
    await assertRejectsCode(async () => encryptStream({ provider, plaintextLength: -1 }), 'ERR_INVALID_ARGUMENT')
  })

  test('a context over 65535 encoded bytes gives ERR_LIMIT_EXCEEDED', async () => {
    const provider = await localProvider()
    await assertRejectsCode(encrypt('x', { provider, context: { big: 'v'.repeat(70000) } }), 'ERR_LIMIT_EXCEEDED')
  })

  test('a declared frame size over the reader limit is refused before the key is unwrapped', async () => {
    const provider = await localProvider()
    const m = await encrypt(pattern(100), { provider, frameSize: 4096 })
    await assertRejectsCode(decrypt(m, { provider, maxFrameSize: 1024 }), 'ERR_LIMIT_EXCEEDED')
    const { error } = await pipeCollect(chunked(m.subarray(0, 11), 11), decryptStream({ provider, maxFrameSize: 1024 }))
    assertEqual((error as { code?: string }).code, 'ERR_LIMIT_EXCEEDED')
  })
})
