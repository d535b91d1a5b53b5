/**
 * Decryption: one-shot ({@link decrypt}) and streaming ({@link decryptStream}). Order of checks
 * (docs/format.md §7): header bounds, expected context, EDEK unwrap, key commitment, then each frame's tag.
 * No plaintext is returned or released before the frame holding it has been authenticated, and the one-shot
 * functions return nothing unless the whole message authenticated.
 * @module
 */

import { nextFrameLength, openBodyFrame } from './body-reader.ts'
import { fromUtf8 } from './bytes.ts'
import { ChunkQueue } from './chunk-queue.ts'
import { MAX_CONTEXT_BYTES } from './context.ts'
import { InvalidArgumentError, MalformedError, TruncatedError } from './errors.ts'
import type { FrameKey } from './frames.ts'
import {
  COMMITMENT_BYTES,
  MESSAGE_ID_BYTES,
  type MessageHeader,
  PREAMBLE_BYTES,
  parseHeader,
  TAG_BYTES,
} from './header.ts'
import { InFlight } from './in-flight.ts'
import type { Bytes } from './key-provider.ts'
import {
  checkDecryptOptions,
  type DecryptOptions,
  FRAMES_IN_FLIGHT,
  OUTPUT_QUEUE,
  openMessage,
  throwIfAborted,
} from './options.ts'

/** Largest possible v1 header: preamble, a full EDEK section, fixed fields and a full context. */
const MAX_HEADER_BYTES = PREAMBLE_BYTES + 2 + 0xffff + MESSAGE_ID_BYTES + 2 + MAX_CONTEXT_BYTES + COMMITMENT_BYTES

/**
 * Decrypts a whole message and returns its plaintext, only after every frame authenticated.
 *
 * @example
 * ```ts
 * const bytes = await decrypt(message, { provider, expectedContext: { tenant: 'acme' } })
 * ```
 * @throws {MalformedError | UnsupportedVersionError | UnsupportedSuiteError | LimitExceededError | TruncatedError}
 * the bytes are not a complete, well-formed v1 message within the limits.
 * @throws {ContextMismatchError} `expectedContext` differs from the message's.
 * @throws {KeyUnavailableError} no EDEK could be unwrapped (or the provider's own typed error).
 * @throws {CommitmentMismatchError} the unwrapped key is not the message's key.
 * @throws {AuthenticationFailedError} the message was altered (`ERR_AUTHENTICATION_FAILED`).
 * @throws {AbortedError} `signal` was aborted.
 */
export async function decrypt(message: Uint8Array, options: DecryptOptions): Promise<Bytes> {
  if (!(message instanceof Uint8Array)) throw new InvalidArgumentError('"message" expected a Uint8Array')
  const checked = checkDecryptOptions(options)
  const parsed = parseHeader(message, options)
  const { frameSize, headerLength } = parsed.header
  // The same steps in the same order as the stream (§7): the key first, then the frames one after another, so
  // a message that is both cut short and, say, under another key gets the code a stream would give it.
  const frameKey = await openMessage(parsed, options, checked)
  const body = message.subarray(headerLength)
  const full = frameSize + TAG_BYTES
  const nonFinal = body.length > full ? Math.ceil(body.length / full) - 1 : 0
  const out = new Uint8Array(nonFinal * frameSize + Math.max(0, body.length - nonFinal * full - TAG_BYTES))
  const inFlight = new InFlight<void>(FRAMES_IN_FLIGHT)
  try {
    let at = 0
    for (let i = 0; ; i++) {
      throwIfAborted(options.signal)
      let length: number
      try {
        length = nextFrameLength(body.length - at, true, frameSize, i)!
      } catch (err) {
        // A split error is known only after the frames before it, which a stream would have opened first.
        for (let op = inFlight.shift(); op; op = inFlight.shift()) await op
        throw err
      }
      const final = at + length === body.length
      const write = (parts: Bytes[]) => {
        let offset = i * frameSize
        for (const p of parts) {
          out.set(p, offset)
          offset += p.length
        }
      }
      const opened = openBodyFrame(frameKey, i, final, [body.subarray(at, at + length)])
      await inFlight.push(opened instanceof Promise ? opened.then(write) : write(opened))
      at += length
      if (final) break
    }
    for (let op = inFlight.shift(); op; op = inFlight.shift()) await op
  } catch (err) {
    // Let the frames still in flight finish, then wipe: a rejected message leaves no plaintext behind.
    await inFlight.settle()
    out.fill(0)
    throw err
  }
  return out
}

/**
 * Decrypts a whole message whose plaintext is UTF-8 text.
 *
 * @example
 * ```ts
 * const text = await decryptToString(message, { provider })
 * ```
 * @throws everything {@link decrypt} throws; {@link MalformedError} when the plaintext is not valid UTF-8.
 */
export async function decryptToString(message: Uint8Array, options: DecryptOptions): Promise<string> {
  const bytes = await decrypt(message, options)
  try {
    return fromUtf8(bytes)
  } catch (err) {
    throw new MalformedError('plaintext is not valid UTF-8', { cause: err })
  }
}

/**
 * A decrypting `TransformStream` that also tells the message's header once it has been read and checked.
 *
 * @example
 * ```ts
 * const stream = decryptStream({ provider })
 * const done = response.body!.pipeThrough(stream).pipeTo(fileWritable)
 * const { context } = await stream.header // checked before any plaintext is released
 * await done
 * ```
 */
export interface DecryptStream extends TransformStream<Uint8Array, Bytes> {
  /** Resolves after the header was parsed, the context checked and the key commitment verified. */
  readonly header: Promise<MessageHeader>
}

/**
 * A `TransformStream` that decrypts a message as it arrives. Each frame is released only after its tag
 * verified; a stream that ends without its final frame errors (it never ends cleanly), so a consumer must treat
 * the output as complete only when the stream closes without error. Chunks written to the stream are read until
 * their frames have verified (a frame that fails is read once more to tell truncation from tampering), so a
 * chunk's buffer must not be reused for new data once written.
 *
 * @example
 * ```ts
 * const plain = response.body!.pipeThrough(decryptStream({ provider, expectedContext: { tenant: 'acme' } }))
 * await plain.pipeTo(fileWritable)
 * ```
 * @throws {InvalidArgumentError} synchronously, for bad options; every error of {@link decrypt} as the stream's
 * error.
 */
export function decryptStream(options: DecryptOptions): DecryptStream {
  const checked = checkDecryptOptions(options)
  const queue = new ChunkQueue()
  const inFlight = new InFlight<Bytes[]>(FRAMES_IN_FLIGHT)
  let frameKey: FrameKey | undefined
  let frameSize = 0
  let index = 0
  let resolveHeader!: (h: MessageHeader) => void
  let rejectHeader!: (e: unknown) => void
  const header = new Promise<MessageHeader>((resolve, reject) => {
    resolveHeader = resolve
    rejectHeader = reject
  })
  header.catch(() => {}) // also reported through the stream

  /**
   * The next frame's bytes: views of the input chunks for a sync cipher, which is done with them on return; one
   * array for WebCrypto, a copy when the frame spans chunks, kept until its promise settles (a diagnosis reads it
   * again). Input chunks themselves must not be changed after they were written to the stream.
   */
  const take = (n: number): Uint8Array[] => (frameKey!.cipher.sync ? queue.takeParts(n) : [queue.take(n)])

  /** Parses the header once enough bytes are buffered; returns false while more are needed. */
  async function tryHeader(): Promise<boolean> {
    let parsed: ReturnType<typeof parseHeader>
    try {
      parsed = parseHeader(queue.peek(Math.min(queue.length, MAX_HEADER_BYTES)), options)
    } catch (err) {
      if (err instanceof TruncatedError) return false
      throw err
    }
    queue.skip(parsed.header.headerLength)
    frameKey = await openMessage(parsed, options, checked)
    frameSize = parsed.header.frameSize
    resolveHeader(parsed.header)
    return true
  }

  const stream = new TransformStream<Uint8Array, Bytes>(
    {
      async transform(chunk, controller) {
        try {
          if (!(chunk instanceof Uint8Array)) throw new InvalidArgumentError('decryptStream expected Uint8Array chunks')
          throwIfAborted(options.signal)
          queue.push(chunk)
          if (!frameKey && !(await tryHeader())) return
          // A frame is known not to be final only when at least one byte follows it.
          for (let n = nextFrameLength(queue.length, false, frameSize, index); n; ) {
            const done = inFlight.push(openBodyFrame(frameKey!, index++, false, take(n)))
            if (done) for (const p of done instanceof Promise ? await done : done) controller.enqueue(p)
            n = nextFrameLength(queue.length, false, frameSize, index)
          }
        } catch (err) {
          rejectHeader(err)
          throw err
        }
      },
      async flush(controller) {
        try {
          if (!frameKey && !(await tryHeader())) throw new TruncatedError('envelope message ends inside its header')
          for (let op = inFlight.shift(); op; op = inFlight.shift()) for (const p of await op) controller.enqueue(p)
          // transform() left at most F + 16 bytes: what remains is the final frame, or too short to be one.
          const n = nextFrameLength(queue.length, true, frameSize, index)!
          for (const p of await openBodyFrame(frameKey!, index, true, take(n))) controller.enqueue(p)
        } catch (err) {
          rejectHeader(err)
          throw err
        }
      },
    },
    undefined,
    OUTPUT_QUEUE,
  )
  return Object.assign(stream, { header })
}
