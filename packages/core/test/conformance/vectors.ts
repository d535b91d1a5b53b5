// The v1 test vectors (docs/vectors/v1.json), checked in every runtime: exact bytes for the positive vectors,
// exact error codes for the negative ones, one-shot and streaming alike.
import vectorJson from '../../../../docs/vectors/v1.json' with { type: 'json' }
import { assertBytesEqual, assertJsonEqual, fromHex, hex, suite } from '../../../../tests/harness.ts'
import {
  createLocalKeyProvider,
  type DecryptOptions,
  decrypt,
  decryptStream,
  type KeyProvider,
  readHeader,
} from '../../src/index.ts'
import { buildVectors, type Outcome, sealVector, type VectorFile } from '../vectors/build.ts'
import { chunked, pipeCollect } from './util.ts'

const vectors = vectorJson as unknown as VectorFile

const provider = (): Promise<KeyProvider> =>
  createLocalKeyProvider({ kek: fromHex(vectors.kek), keyId: vectors.keyId, keyVersion: vectors.keyVersion })

/** A provider that hands out one known DEK whatever the EDEKs say: the vectors' `withDek` case. */
async function givenDek(dek: string): Promise<KeyProvider> {
  const key = await crypto.subtle.importKey('raw', fromHex(dek), 'HKDF', false, ['deriveKey', 'deriveBits'])
  return {
    generateDataKey: () => Promise.reject(new Error('not for writing')),
    unwrapDataKey: async () => key,
    unwrapDataKeys: async (requests) => requests.map(() => ({ ok: true as const, dek: key })),
  }
}

/** Both readers must give `expected`; the stream may release only frames that verified before the damage. */
async function expectOutcome(message: Uint8Array, options: DecryptOptions, expected: Outcome, what: string) {
  let oneShot: Outcome
  try {
    oneShot = { plaintext: hex(await decrypt(message, options)) }
  } catch (err) {
    oneShot = { code: String((err as { code?: string }).code) }
  }
  const { released, error } = await pipeCollect(chunked(message, 64), decryptStream(options))
  const streamed = error ? { code: String((error as { code?: string }).code) } : { plaintext: hex(released) }
  assertJsonEqual(oneShot, expected, `${what}, one-shot`)
  assertJsonEqual(streamed, expected, `${what}, streaming`)
  if (!vectors.positive.some((pv) => pv.plaintext.startsWith(hex(released)))) {
    throw new Error(`${what}: streaming released bytes that are not a verified prefix of the original plaintext`)
  }
}

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
      // The header reads back exactly what was written (names and context, a leading U+FEFF included).
      const h = readHeader(message)
      assertJsonEqual(Object.entries(h.context).sort(), Object.entries(v.context).sort())
      const names = h.edeks.map((e) => [e.providerId, e.keyId, e.keyVersion])
      const written = [
        ...(v.extraEdeks ?? []),
        { providerId: 'local', keyId: vectors.keyId, keyVersion: vectors.keyVersion },
      ]
      assertJsonEqual(
        names,
        written.map((e) => [e.providerId, e.keyId, e.keyVersion]),
      )
      const { released, error } = await pipeCollect(chunked(message, 7), decryptStream({ provider: p }))
      if (error) throw error
      assertBytesEqual(released, fromHex(v.plaintext))
    })
  }

  for (const [i, v] of vectors.negative.entries()) {
    test(`negative ${i + 1}: ${v.title} → ${v.code}`, async () => {
      const message = fromHex(v.message)
      const expectedContext = v.expectedContext
      await expectOutcome(message, { provider: await provider(), expectedContext }, { code: v.code }, 'local provider')
      await expectOutcome(message, { provider: await givenDek(v.dek), expectedContext }, v.withDek, 'dek given')
    })
  }
})
