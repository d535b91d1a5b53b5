/**
 * Smoke suite: proves every runner end to end (WebCrypto, Web Streams, JSON vector imports) independently of
 * the envelope packages, so a red run here points at the harness or the runtime, not at our code.
 */
import vectors from './fixtures/smoke-vectors.json' with { type: 'json' }
import { assert, assertBytesEqual, assertEqual, fromHex, hex, suite } from './harness.ts'

const text = new TextEncoder()

async function aesKey(): Promise<CryptoKey> {
  const raw = crypto.getRandomValues(new Uint8Array(32))
  return crypto.subtle.importKey('raw', raw, 'AES-GCM', false, ['encrypt', 'decrypt'])
}

export default suite('smoke: runtime primitives', (test) => {
  test('HKDF-SHA-256 matches RFC 5869 A.1 (vector read from JSON)', async () => {
    const { ikm, salt, info, okm } = vectors.hkdf
    const key = await crypto.subtle.importKey('raw', fromHex(ikm), 'HKDF', false, ['deriveBits'])
    const params = { name: 'HKDF', hash: 'SHA-256', salt: fromHex(salt), info: fromHex(info) }
    const bits = await crypto.subtle.deriveBits(params, key, okm.length * 4)
    assertEqual(hex(new Uint8Array(bits)), okm)
  })

  test('HKDF key derives a non-extractable AES-256-GCM key', async () => {
    const base = await crypto.subtle.importKey('raw', crypto.getRandomValues(new Uint8Array(32)), 'HKDF', false, [
      'deriveKey',
    ])
    const params = { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(16), info: text.encode('smoke') }
    const key = await crypto.subtle.deriveKey(params, base, { name: 'AES-GCM', length: 256 }, false, ['encrypt'])
    assertEqual(key.extractable, false)
    assertEqual((key.algorithm as AesKeyAlgorithm).length, 256)
  })

  test('AES-256-GCM round trip with AAD', async () => {
    const key = await aesKey()
    const iv = crypto.getRandomValues(new Uint8Array(12))
    const aad = text.encode('context')
    const plain = text.encode('hello, envelope')
    const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aad }, key, plain)
    assertEqual(sealed.byteLength, plain.length + 16, 'ciphertext carries a 16-byte tag')
    const opened = await crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: aad }, key, sealed)
    assertBytesEqual(new Uint8Array(opened), plain)
  })

  test('AES-256-GCM rejects a flipped tag bit and a wrong AAD', async () => {
    const key = await aesKey()
    const iv = crypto.getRandomValues(new Uint8Array(12))
    const sealed = new Uint8Array(
      await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: text.encode('a') }, key, text.encode('x')),
    )
    const tampered = sealed.slice()
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1
    // Both handled at once: awaiting one while the other rejects unobserved is an unhandled rejection.
    const outcomes = await Promise.all(
      [
        crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: text.encode('a') }, key, tampered),
        crypto.subtle.decrypt({ name: 'AES-GCM', iv, additionalData: text.encode('b') }, key, sealed),
      ].map((attempt) =>
        attempt.then(
          () => 'opened',
          () => 'rejected',
        ),
      ),
    )
    assertEqual(outcomes.join(), 'rejected,rejected')
  })

  test('TransformStream transforms chunks in order and closes', async () => {
    const upper = new TransformStream<string, string>({
      transform(chunk, controller) {
        controller.enqueue(chunk.toUpperCase())
      },
    })
    const source = ['a', 'b', 'c']
    const writer = upper.writable.getWriter()
    const pending = (async () => {
      for (const chunk of source) await writer.write(chunk)
      await writer.close()
    })()
    const seen: string[] = []
    const reader = upper.readable.getReader()
    for (let i = 0; i < 10; i++) {
      const { done, value } = await reader.read()
      if (done) break
      seen.push(value)
    }
    await pending
    assertEqual(seen.join(''), 'ABC')
  })

  test('getRandomValues fills distinct 16-byte ids', () => {
    const a = crypto.getRandomValues(new Uint8Array(16))
    const b = crypto.getRandomValues(new Uint8Array(16))
    assert(hex(a) !== hex(b), 'two random ids are equal')
  })
})
