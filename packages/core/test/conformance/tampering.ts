// Property tests (fast-check): any change to a message — bit flips, truncation, extension, frame swaps, header
// edits — gives a typed error and no plaintext from one-shot decrypt; streaming releases only frames that
// verified (a prefix of the original plaintext) and then errors.
import fc from 'fast-check'
import { assert, suite } from '../../../../tests/harness.ts'
import { decrypt, decryptStream, encrypt, type KeyProvider, readHeader } from '../../src/index.ts'
import { chunked, localProvider, pattern, pipeCollect } from './util.ts'

const CODES = new Set([
  'ERR_MALFORMED',
  'ERR_UNSUPPORTED_VERSION',
  'ERR_UNSUPPORTED_SUITE',
  'ERR_LIMIT_EXCEEDED',
  'ERR_TRUNCATED',
  'ERR_AUTHENTICATION_FAILED',
  'ERR_COMMITMENT_MISMATCH',
  'ERR_KEY_UNAVAILABLE',
])
const RUNS = 40
const FRAME = 64

function startsWith(whole: Uint8Array, prefix: Uint8Array): boolean {
  return prefix.length <= whole.length && prefix.every((b, i) => b === whole[i])
}

/** Asserts that `altered` is refused with a typed code by both decrypt paths, releasing nothing unverified. */
async function refused(provider: KeyProvider, altered: Uint8Array, plaintext: Uint8Array, what: string): Promise<void> {
  let result: unknown
  try {
    result = await decrypt(altered, { provider })
  } catch (err) {
    const code = (err as { code?: string }).code
    assert(code !== undefined && CODES.has(code), `${what}: one-shot gave an untyped error: ${String(err)}`)
    const { released, error } = await pipeCollect(chunked(altered, 50), decryptStream({ provider }))
    const streamCode = (error as { code?: string } | undefined)?.code
    assert(streamCode !== undefined && CODES.has(streamCode), `${what}: stream ended with ${String(error)}`)
    assert(startsWith(plaintext, released), `${what}: stream released bytes that are not a verified prefix`)
    return
  }
  throw new Error(`${what}: altered message decrypted (${String(result).slice(0, 40)})`)
}

const message = fc.record({ size: fc.integer({ min: 0, max: 400 }), seed: fc.integer({ min: 1, max: 1 << 30 }) })

async function make(provider: KeyProvider, m: { size: number; seed: number }) {
  const plaintext = pattern(m.size, m.seed)
  const bytes = await encrypt(plaintext, { provider, context: { seed: String(m.seed) }, frameSize: FRAME })
  return { plaintext, bytes, headerLength: readHeader(bytes).headerLength }
}

export default suite('core: tamper properties', (test) => {
  test('any single bit flip is refused', async () => {
    const provider = await localProvider()
    await fc.assert(
      fc.asyncProperty(message, fc.nat(), fc.integer({ min: 0, max: 7 }), async (m, at, bit) => {
        const { plaintext, bytes } = await make(provider, m)
        const altered = bytes.slice()
        altered[at % bytes.length]! ^= 1 << bit
        await refused(provider, altered, plaintext, `flip bit ${bit} at ${at % bytes.length}`)
      }),
      { numRuns: RUNS },
    )
  })

  test('any truncation is refused', async () => {
    const provider = await localProvider()
    await fc.assert(
      fc.asyncProperty(message, fc.nat(), async (m, cut) => {
        const { plaintext, bytes } = await make(provider, m)
        await refused(provider, bytes.subarray(0, cut % bytes.length), plaintext, `cut at ${cut % bytes.length}`)
      }),
      { numRuns: RUNS },
    )
  })

  test('any extension is refused', async () => {
    const provider = await localProvider()
    await fc.assert(
      fc.asyncProperty(message, fc.uint8Array({ minLength: 1, maxLength: 120 }), async (m, extra) => {
        const { plaintext, bytes } = await make(provider, m)
        const altered = new Uint8Array(bytes.length + extra.length)
        altered.set(bytes)
        altered.set(extra, bytes.length)
        await refused(provider, altered, plaintext, `append ${extra.length} bytes`)
      }),
      { numRuns: RUNS },
    )
  })

  test('swapping two different frames is refused', async () => {
    const provider = await localProvider()
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 2 * FRAME + 1, max: 600 }), fc.nat(), fc.nat(), async (size, i, j) => {
        const { plaintext, bytes, headerLength } = await make(provider, { size, seed: size })
        const frames = Math.ceil(size / FRAME)
        const a = i % (frames - 1) // full-size frames only, so the swap keeps the layout
        const b = (a + 1 + (j % (frames - 2 || 1))) % (frames - 1)
        fc.pre(a !== b)
        const f = FRAME + 16
        const altered = bytes.slice()
        altered.set(bytes.subarray(headerLength + a * f, headerLength + (a + 1) * f), headerLength + b * f)
        altered.set(bytes.subarray(headerLength + b * f, headerLength + (b + 1) * f), headerLength + a * f)
        await refused(provider, altered, plaintext, `swap frames ${a} and ${b}`)
      }),
      { numRuns: RUNS },
    )
  })

  test('any header byte replaced by another value is refused', async () => {
    const provider = await localProvider()
    await fc.assert(
      fc.asyncProperty(message, fc.nat(), fc.integer({ min: 1, max: 255 }), async (m, at, delta) => {
        const { plaintext, bytes, headerLength } = await make(provider, m)
        const altered = bytes.slice()
        const i = at % headerLength
        altered[i] = (altered[i]! + delta) & 0xff
        await refused(provider, altered, plaintext, `header byte ${i} += ${delta}`)
      }),
      { numRuns: RUNS },
    )
  })

  test('random bytes are refused', async () => {
    const provider = await localProvider()
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (junk) => {
        await refused(provider, junk, new Uint8Array(0), 'random input')
      }),
      { numRuns: RUNS },
    )
  })
})
