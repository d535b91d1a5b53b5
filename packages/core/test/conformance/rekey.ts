// Rekeying: replacing a message's EDEK section (docs/format.md §3) without the DEK and without the body.
import { assertBytesEqual, assertEqual, assertRejectsCode, suite } from '../../../../tests/harness.ts'
import { concat, randomBytes } from '../../src/bytes.ts'
import { createLocalKeyProvider, decrypt, decryptStream, type Edek, readHeader, replaceEdeks } from '../../src/index.ts'
import { wrapAad } from '../../src/local-provider.ts'
import { sealVector } from '../vectors/build.ts'
import { chunked, pattern, pipeCollect } from './util.ts'

const DEK = 'aa'.repeat(32)
const KEK_A = new Uint8Array(32).fill(0xa)
const KEK_B = new Uint8Array(32).fill(0xb)

/** What a KMS rewrap does: the same DEK wrapped under another KEK (here with the DEK bytes known to the test). */
async function edekUnder(kek: Uint8Array<ArrayBuffer>, keyId: string, context: Record<string, string>): Promise<Edek> {
  const key = await crypto.subtle.importKey('raw', kek, 'AES-GCM', false, ['encrypt'])
  const iv = randomBytes(12)
  const dek = Uint8Array.from({ length: 32 }, () => 0xaa)
  const ct = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: wrapAad(keyId, '', context) }, key, dek)
  return { providerId: 'local', keyId, keyVersion: '', ciphertext: concat([iv, new Uint8Array(ct)]) }
}

async function message(context: Record<string, string>): Promise<Uint8Array> {
  const plaintext = Array.from(pattern(300), (b) => b.toString(16).padStart(2, '0')).join('')
  // sealVector wraps with the vectors KEK; replace that EDEK right away with one under KEK A.
  const m = await sealVector({
    title: '',
    dek: DEK,
    edekIv: '00'.repeat(12),
    messageId: 'cd'.repeat(32),
    frameSize: 64,
    context,
    plaintext,
  })
  return replaceEdeks(m, [await edekUnder(KEK_A, 'kek-a', context)])
}

export default suite('core: rekey', (test) => {
  test('a rekeyed message opens under the new key only, and its body is untouched', async () => {
    const context = { tenant: 'acme' }
    const original = await message(context)
    const a = await createLocalKeyProvider({ kek: KEK_A, keyId: 'kek-a' })
    const b = await createLocalKeyProvider({ kek: KEK_B, keyId: 'kek-b' })
    assertBytesEqual(await decrypt(original, { provider: a }), pattern(300))
    const rekeyed = replaceEdeks(original, [await edekUnder(KEK_B, 'kek-b', context)])
    const bodyStart = readHeader(original).headerLength
    const newBodyStart = readHeader(rekeyed).headerLength
    assertBytesEqual(rekeyed.subarray(newBodyStart), original.subarray(bodyStart), 'body bytes unchanged')
    assertBytesEqual(await decrypt(rekeyed, { provider: b }), pattern(300))
    await assertRejectsCode(decrypt(rekeyed, { provider: a }), 'ERR_KEY_UNAVAILABLE')
    // and again, back to A
    const again = replaceEdeks(rekeyed, [await edekUnder(KEK_A, 'kek-a', context)])
    assertBytesEqual(await decrypt(again, { provider: a }), pattern(300))
  })

  test('rekeying works on a header prefix: the rest of a large message follows unchanged', async () => {
    const context = { doc: '7' }
    const original = await message(context)
    const cut = readHeader(original).headerLength + 10
    const prefix = replaceEdeks(original.subarray(0, cut), [await edekUnder(KEK_B, 'kek-b', context)])
    const rekeyed = concat([prefix, original.subarray(cut)])
    const b = await createLocalKeyProvider({ kek: KEK_B, keyId: 'kek-b' })
    const { released, error } = await pipeCollect(chunked(rekeyed, 50), decryptStream({ provider: b }))
    if (error) throw error
    assertBytesEqual(released, pattern(300))
  })

  test('several EDEKs: either key opens the message', async () => {
    const context = {}
    const original = await message(context)
    const both = replaceEdeks(original, [
      await edekUnder(KEK_A, 'kek-a', context),
      await edekUnder(KEK_B, 'kek-b', context),
    ])
    assertEqual(readHeader(both).edeks.length, 2)
    for (const [kek, keyId] of [
      [KEK_A, 'kek-a'],
      [KEK_B, 'kek-b'],
    ] as const) {
      const p = await createLocalKeyProvider({ kek, keyId })
      assertBytesEqual(await decrypt(both, { provider: p }), pattern(300))
    }
  })

  test('replaceEdeks refuses bad input with typed errors', async () => {
    const original = await message({})
    const edek = await edekUnder(KEK_B, 'kek-b', {})
    await assertRejectsCode(async () => replaceEdeks(original.subarray(0, 14), [edek]), 'ERR_TRUNCATED')
    await assertRejectsCode(async () => replaceEdeks(Uint8Array.of(1, 2, 3, 4, 5), [edek]), 'ERR_MALFORMED')
    await assertRejectsCode(async () => replaceEdeks(original, []), 'ERR_INVALID_ARGUMENT')
    await assertRejectsCode(
      async () => replaceEdeks(original, [{ ...edek, providerId: 'has space' }]),
      'ERR_INVALID_ARGUMENT',
    )
    await assertRejectsCode(
      async () => replaceEdeks(original, [{ ...edek, ciphertext: new Uint8Array(9000) }]),
      'ERR_LIMIT_EXCEEDED',
    )
  })
})
