// Which AES-GCM primitive seals and opens frames (src/frame-cipher.ts): node:crypto in Node and Bun, WebCrypto in
// Deno, workerd and browsers; the runners of Node and Bun run every suite on both (tests/cipher-passes.ts).
import { assert, assertBytesEqual, assertEqual, suite } from '../../../../tests/harness.ts'
import {
  defaultFrameCipher,
  type FrameCipher,
  frameCipher,
  nodeFrameCipher,
  useFrameCipherForTests,
  webCryptoFrameCipher,
} from '../../src/frame-cipher.ts'
import { decrypt, decryptStream, encrypt, encryptStream } from '../../src/index.ts'
import { chunked, localProvider, pattern, pipeCollect, readAll } from './util.ts'

/** The runtime as this test sees it, independently of how frame-cipher.ts detects it. */
function expectedDefault(): FrameCipher['name'] {
  const g = globalThis as { Deno?: unknown; Bun?: unknown; process?: { versions?: { node?: string } } }
  if (g.Deno !== undefined) return 'webcrypto'
  if (g.Bun !== undefined || g.process?.versions?.node !== undefined) return 'node:crypto'
  return 'webcrypto'
}

export default suite('core: frame cipher', (test) => {
  test('the default path is node:crypto in Node and Bun, WebCrypto in Deno, workerd and browsers', () => {
    assertEqual(defaultFrameCipher.name, expectedDefault())
    assertEqual(nodeFrameCipher === undefined, expectedDefault() === 'webcrypto')
  })

  test('frames are sealed and opened by the active path, and by no other', async () => {
    const provider = await localProvider()
    const active = frameCipher()
    const other = active === webCryptoFrameCipher ? nodeFrameCipher : webCryptoFrameCipher
    const before = [active.uses, other?.uses]
    const m = await encrypt(pattern(200), { provider, frameSize: 64 }) // 4 frames
    assertEqual(active.uses - before[0]!, 4, `${active.name} sealed the 4 frames`)
    assertBytesEqual(await decrypt(m, { provider }), pattern(200))
    const { released, error } = await pipeCollect(chunked(m, 50), decryptStream({ provider }))
    if (error) throw error
    assertBytesEqual(released, pattern(200))
    assertEqual(active.uses - before[0]!, 12, `${active.name} opened them, one-shot and streaming`)
    assertEqual(other?.uses, before[1], 'the other path did nothing')
  })

  test('a message sealed on one path opens on the other, byte for byte the same', async () => {
    if (!nodeFrameCipher) return // one path here: the vectors test it
    const provider = await localProvider()
    const previous = frameCipher()
    try {
      for (const [writer, reader] of [
        [nodeFrameCipher, webCryptoFrameCipher],
        [webCryptoFrameCipher, nodeFrameCipher],
      ] as const) {
        useFrameCipherForTests(writer)
        const m = await encrypt(pattern(1000, 3), { provider, frameSize: 64, context: { a: 'b' } })
        useFrameCipherForTests(reader)
        const uses = reader.uses
        assertBytesEqual(await decrypt(m, { provider }), pattern(1000, 3))
        assert(reader.uses > uses, `${reader.name} opened what ${writer.name} sealed`)
      }
    } finally {
      useFrameCipherForTests(previous)
    }
  })

  test('the active cipher is done with its input when a call returns: callers may reuse the buffer at once', async () => {
    const cipher = frameCipher()
    const key = await cipher.importKey(new Uint8Array(32).fill(4))
    const nonce = new Uint8Array(12)
    const aad = Uint8Array.of(1, 2, 3)
    const plaintext = pattern(1000, 5)
    const sealing = cipher.seal(key, nonce, aad, plaintext)
    plaintext.fill(0xee) // the encrypt stream reuses its frame buffer like this
    const sealed = new Uint8Array((await sealing).flatMap((p) => [...p]))
    const opening = cipher.open(key, nonce, aad, [sealed.subarray(0, 333), sealed.subarray(333)])
    sealed.fill(0)
    const opened = new Uint8Array((await opening).flatMap((p) => [...p]))
    assertBytesEqual(opened, pattern(1000, 5))
  })

  test('encryptStream seals the frames inside an input chunk from the chunk, copying only its last one', async () => {
    // The last whole frame of a chunk may be the final frame, so it waits in the stream's frame buffer (a copy: the
    // chunk is the caller's); every frame with more bytes after it in the same chunk is sealed from the chunk.
    const active = frameCipher()
    const sealed: Uint8Array[] = []
    const recording: FrameCipher = {
      name: active.name,
      sync: active.sync,
      uses: 0,
      importKey: (raw) => active.importKey(raw),
      seal(key, nonce, aad, plaintext) {
        sealed.push(plaintext)
        return active.seal(key, nonce, aad, plaintext)
      },
      open: (key, nonce, aad, ciphertext) => active.open(key, nonce, aad, ciphertext),
    }
    const provider = await localProvider()
    const plaintext = pattern(3 * 256, 9)
    const chunks = [0, 1, 2].map((i) => plaintext.slice(i * 256, (i + 1) * 256)) // 4 frames of 64 bytes each
    const previous = useFrameCipherForTests(recording)
    let message: Uint8Array
    try {
      const source = new ReadableStream<Uint8Array>({
        start(c) {
          for (const chunk of chunks) c.enqueue(chunk)
          c.close()
        },
      })
      message = await readAll(source.pipeThrough(encryptStream({ provider, frameSize: 64 })))
    } finally {
      useFrameCipherForTests(previous)
    }
    assertEqual(sealed.length, 12, 'one frame per 64 bytes, the last one final')
    const fromChunks = sealed.filter((p) => chunks.some((c) => c.buffer === p.buffer)).length
    assertEqual(fromChunks, 9, 'three frames of each chunk sealed from the chunk itself')
    assertBytesEqual(await decrypt(message, { provider }), plaintext)
  })

  test('the tag may sit anywhere in the parts, and a bad tag returns nothing', async () => {
    const cipher = frameCipher()
    const key = await cipher.importKey(new Uint8Array(32).fill(4))
    const nonce = new Uint8Array(12)
    const sealed = new Uint8Array(
      (await cipher.seal(key, nonce, new Uint8Array(0), pattern(100))).flatMap((p) => [...p]),
    )
    for (const cut of [[0], [50], [100], [105], [115], [1, 99, 100, 101, 115]]) {
      const parts = [...cut, sealed.length].map((end, i, ends) => sealed.subarray(i === 0 ? 0 : ends[i - 1], end))
      const opened = new Uint8Array((await cipher.open(key, nonce, new Uint8Array(0), parts)).flatMap((p) => [...p]))
      assertBytesEqual(opened, pattern(100), `parts ending at ${cut}`)
    }
    sealed[sealed.length - 1]! ^= 1
    let refused = false
    try {
      await cipher.open(key, nonce, new Uint8Array(0), [sealed])
    } catch {
      refused = true
    }
    assert(refused, 'a bad tag is refused')
  })
})
