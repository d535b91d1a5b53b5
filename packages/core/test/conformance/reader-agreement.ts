// One-shot and streaming readers give the same result for the same bytes (docs/format.md §7): for random
// mutations of real messages, both refuse with the same code (or both open to the same plaintext), whatever
// chunks the stream is fed in, and the stream releases nothing but a verified prefix of the plaintext.
import fc from 'fast-check'
import { assert, assertEqual, assertRejectsCode, suite } from '../../../../tests/harness.ts'
import { nextFrameLength } from '../../src/body-reader.ts'
import { decrypt, decryptStream, encrypt, type KeyProvider } from '../../src/index.ts'
import { chunked, localProvider, pattern, pipeCollect } from './util.ts'

const FRAME = 64
const RUNS = 200

type Outcome = { code: string } | { plaintext: string }

const show = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')

function codeOf(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? code : `untyped: ${String(err)}`
}

async function oneShot(bytes: Uint8Array, options: Parameters<typeof decrypt>[1]): Promise<Outcome> {
  try {
    return { plaintext: show(await decrypt(bytes, options)) }
  } catch (err) {
    return { code: codeOf(err) }
  }
}

async function streamed(
  bytes: Uint8Array,
  chunk: number,
  options: Parameters<typeof decrypt>[1],
): Promise<Outcome & { released: Uint8Array }> {
  const { released, error } = await pipeCollect(chunked(bytes, chunk), decryptStream(options))
  return error === undefined ? { plaintext: show(released), released } : { code: codeOf(error), released }
}

const u16 = (m: Uint8Array, at: number) => (m[at]! << 8) | m[at + 1]!

/** A mutation of a message: every kind the two readers could split or diagnose differently. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    extra: fc.uint8Array({ minLength: 1, maxLength: 20 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 100 }) }),
  fc.record({ kind: fc.constant('frameSize' as const), value: fc.oneof(fc.integer({ min: 0, max: 200 }), fc.nat()) }),
  fc.record({ kind: fc.constant('edekLength' as const), value: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ kind: fc.constant('contextLength' as const), value: fc.integer({ min: 0, max: 0xffff }) }),
)

function mutate(m: Uint8Array, x: typeof mutation extends fc.Arbitrary<infer T> ? T : never): Uint8Array {
  const out = m.slice()
  switch (x.kind) {
    case 'flip':
      out[x.at % m.length]! ^= 1 << x.bit
      return out
    case 'cut':
      return m.slice(0, x.at % m.length)
    case 'append': {
      const a = new Uint8Array(m.length + x.extra.length)
      a.set(m)
      a.set(x.extra, m.length)
      return a
    }
    case 'insert': {
      const at = x.at % (m.length + 1)
      const a = new Uint8Array(m.length + x.extra.length)
      a.set(m.subarray(0, at))
      a.set(x.extra, at)
      a.set(m.subarray(at), at + x.extra.length)
      return a
    }
    case 'delete': {
      const at = x.at % m.length
      const a = new Uint8Array(m.length - Math.min(x.n, m.length - at))
      a.set(m.subarray(0, at))
      a.set(m.subarray(at + x.n), at)
      return a
    }
    case 'frameSize':
      new DataView(out.buffer).setUint32(7, x.value)
      return out
    case 'edekLength':
      new DataView(out.buffer).setUint16(11, x.value)
      return out
    case 'contextLength': {
      const at = 13 + u16(m, 11) + 32
      new DataView(out.buffer).setUint16(at, x.value)
      return out
    }
  }
}

/** Sizes that end in a full-size final frame are the interesting ones for splitting; weight them. */
const size = fc.oneof(
  fc.integer({ min: 0, max: 400 }),
  fc.integer({ min: 1, max: 6 }).map((k) => k * FRAME),
)

export default suite('core: one-shot and streaming readers agree', (test) => {
  test('for random mutations of real messages both readers give the same code', async () => {
    const provider = await localProvider()
    const stranger = await localProvider(9)
    await fc.assert(
      fc.asyncProperty(
        size,
        fc.integer({ min: 1, max: 1 << 30 }),
        mutation,
        fc.integer({ min: 1, max: 200 }),
        fc.constantFrom('none', 'same', 'other', 'wrong key'),
        async (n, seed, x, chunk, expect) => {
          const plaintext = pattern(n, seed)
          const context = { seed: String(seed) }
          const m = await encrypt(plaintext, { provider, context, frameSize: FRAME })
          const altered = mutate(m, x)
          const options: { provider: KeyProvider; expectedContext?: Record<string, string> } = {
            provider: expect === 'wrong key' ? stranger : provider,
          }
          if (expect === 'same') options.expectedContext = context
          if (expect === 'other') options.expectedContext = { seed: 'other' }
          const one = await oneShot(altered, options)
          const { released, ...two } = await streamed(altered, chunk, options)
          const what = `${JSON.stringify(x)} on ${n} bytes, chunks of ${chunk}, context ${expect}`
          assert(
            JSON.stringify(one) === JSON.stringify(two),
            `${what}: one-shot ${JSON.stringify(one).slice(0, 80)}, stream ${JSON.stringify(two).slice(0, 80)}`,
          )
          if ('code' in one) {
            assert(!one.code.startsWith('untyped'), `${what}: ${one.code}`)
            assert(
              released.length <= plaintext.length && released.every((b, i) => b === plaintext[i]),
              `${what}: the stream released bytes that are not a verified prefix`,
            )
          }
        },
      ),
      { numRuns: RUNS },
    )
  })

  test('the body split (§7 step 5) both readers use: frame 2^32 − 1 must be final; a short remainder is truncation', async () => {
    const last = 2 ** 32 - 1
    assertEqual(nextFrameLength(FRAME + 16, true, FRAME, last), FRAME + 16, 'the last possible frame, final')
    await assertRejectsCode(async () => nextFrameLength(FRAME + 17, true, FRAME, last), 'ERR_MALFORMED')
    await assertRejectsCode(async () => nextFrameLength(FRAME + 17, false, FRAME, last), 'ERR_MALFORMED')
    assertEqual(nextFrameLength(FRAME + 17, false, FRAME, last - 1), FRAME + 16, 'a non-final frame')
    assertEqual(nextFrameLength(FRAME + 16, false, FRAME, 0), undefined, 'a stream waits: final or not is unknown')
    assertEqual(nextFrameLength(16, true, FRAME, 3), 16)
    await assertRejectsCode(async () => nextFrameLength(15, true, FRAME, 3), 'ERR_TRUNCATED')
  })
})
