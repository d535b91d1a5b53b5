// The v1 test vectors (docs/vectors/v1.json), checked in every runtime: exact bytes for the positive vectors,
// exact error codes for the negative ones, one-shot and streaming alike.
import vectorJson from '../../../../docs/vectors/v1.json' with { type: 'json' }
import { assertBytesEqual, assertJsonEqual, assertRejectsCode, fromHex, hex, suite } from '../../../../tests/harness.ts'
import { createLocalKeyProvider, decrypt, decryptStream, type KeyProvider } from '../../src/index.ts'
import { buildVectors, sealVector, type VectorFile } from '../vectors/build.ts'
import { chunked, pipeCollect } from './util.ts'

const vectors = vectorJson as VectorFile

const provider = (): Promise<KeyProvider> =>
  createLocalKeyProvider({ kek: fromHex(vectors.kek), keyId: vectors.keyId, keyVersion: vectors.keyVersion })

export default suite('core: test vectors', (test) => {
  test('docs/vectors/v1.json is what the vector builder produces', async () => {
    assertJsonEqual(await buildVectors(), vectors)
  })

  for (const [i, v] of vectors.positive.entries()) {
    test(`positive ${i + 1}: ${v.title}: encrypt gives the exact bytes`, async () => {
      assertBytesEqual(await sealVector(v), fromHex(v.message))
    })
    test(`positive ${i + 1}: ${v.title}: decrypts one-shot and streaming`, async () => {
      const p = await provider()
      const message = fromHex(v.message)
      assertBytesEqual(await decrypt(message, { provider: p, expectedContext: v.context }), fromHex(v.plaintext))
      const { released, error } = await pipeCollect(chunked(message, 7), decryptStream({ provider: p }))
      if (error) throw error
      assertBytesEqual(released, fromHex(v.plaintext))
    })
  }

  for (const [i, v] of vectors.negative.entries()) {
    test(`negative ${i + 1}: ${v.title} → ${v.code}`, async () => {
      const p = await provider()
      const message = fromHex(v.message)
      const options = { provider: p, expectedContext: v.expectedContext }
      await assertRejectsCode(decrypt(message, options), v.code, 'one-shot')
      const { released, error } = await pipeCollect(chunked(message, 64), decryptStream(options))
      const code = (error as { code?: string } | undefined)?.code
      if (code !== v.code) throw new Error(`streaming: expected ${v.code}, got ${String(code)} (${String(error)})`)
      // Streaming may release frames that verified before the damage; never anything else.
      if (!vectors.positive.some((pv) => pv.plaintext.startsWith(hex(released)))) {
        throw new Error('streaming released bytes that are not a verified prefix of the original plaintext')
      }
    })
  }
})
