/**
 * Encryption: one-shot ({@link encrypt}) and streaming ({@link encryptStream}). Both write the same bytes
 * for the same inputs (docs/format.md §6: a frame is final only when no more plaintext follows it).
 * @module
 */
import { utf8 } from './bytes.ts'
import { InvalidArgumentError } from './errors.ts'
import { sealFrame } from './frames.ts'
import { TAG_BYTES } from './header.ts'
import { InFlight } from './in-flight.ts'
import type { Bytes } from './key-provider.ts'
import {
  checkEncryptOptions,
  type EncryptOptions,
  FRAMES_IN_FLIGHT,
  OUTPUT_QUEUE,
  type StartedMessage,
  startMessage,
  throwIfAborted,
} from './options.ts'

function toBytes(data: Uint8Array | string): Uint8Array {
  if (typeof data === 'string') return utf8(data)
  if (data instanceof Uint8Array) return data
  throw new InvalidArgumentError('"plaintext" expected a Uint8Array or a string')
}

/** Seals `plaintext` into an already started message (shared with the test-vector generator). */
export async function sealAll(started: StartedMessage, plaintext: Uint8Array, signal?: AbortSignal): Promise<Bytes> {
  const { header, frameKey, frameSize } = started
  const frames = Math.max(1, Math.ceil(plaintext.length / frameSize))
  const out = new Uint8Array(header.length + plaintext.length + frames * TAG_BYTES)
  out.set(header, 0)
  const inFlight = new InFlight<void>(FRAMES_IN_FLIGHT)
  for (let i = 0; i < frames; i++) {
    throwIfAborted(signal)
    const start = i * frameSize
    const chunk = plaintext.subarray(start, Math.min(start + frameSize, plaintext.length))
    const write = (parts: Bytes[]) => {
      let at = header.length + start + i * TAG_BYTES
      for (const p of parts) {
        out.set(p, at)
        at += p.length
      }
    }
    const sealed = sealFrame(frameKey, i, i === frames - 1, chunk)
    await inFlight.push(sealed instanceof Promise ? sealed.then(write) : write(sealed))
  }
  for (let op = inFlight.shift(); op; op = inFlight.shift()) await op
  return out
}

/**
 * Encrypts bytes or a string (as UTF-8) under a fresh data key from `provider`, in one call.
 *
 * @example
 * ```ts
 * const provider = await createLocalKeyProvider({ kek, keyId: 'app-kek' })
 * const message = await encrypt('hello', { provider, context: { tenant: 'acme' } })
 * ```
 * @throws {InvalidArgumentError} bad options or plaintext type.
 * @throws {KeyUnavailableError} the provider could not make a data key (or its own typed error).
 * @throws {AbortedError} `signal` was aborted.
 */
export async function encrypt(plaintext: Uint8Array | string, options: EncryptOptions): Promise<Bytes> {
  const bytes = toBytes(plaintext)
  return sealAll(await startMessage(checkEncryptOptions(options), bytes.length), bytes, options.signal)
}

/**
 * A `TransformStream` that encrypts a byte stream. It writes the header first, then one frame per
 * `frameSize` plaintext bytes; memory stays bounded by a few frames whatever the stream's length.
 *
 * @example
 * ```ts
 * const encrypted = file.stream().pipeThrough(encryptStream({ provider, context: { tenant: 'acme' } }))
 * await fetch('/upload', { method: 'PUT', body: encrypted, duplex: 'half' })
 * ```
 * @throws {InvalidArgumentError} synchronously, for bad options; the stream errors with it for a non-byte chunk.
 * @throws {KeyUnavailableError | AbortedError} as the stream's error.
 */
export function encryptStream(options: EncryptOptions): TransformStream<Uint8Array, Bytes> {
  let started: StartedMessage
  let pending: Uint8Array // one frame of plaintext gathered from chunks that do not hold a whole one; reused
  let fill = 0
  let index = 0
  let written = 0
  const inFlight = new InFlight<Bytes[]>(FRAMES_IN_FLIGHT)
  const checked = checkEncryptOptions(options)
  const declared = options.plaintextLength
  const startup = startMessage(checked, declared)
  startup.catch(() => {}) // reported through the stream

  return new TransformStream<Uint8Array, Bytes>(
    {
      async start(controller) {
        started = await startup
        pending = new Uint8Array(started.frameSize)
        controller.enqueue(started.header)
      },
      async transform(chunk, controller) {
        if (!(chunk instanceof Uint8Array)) throw new InvalidArgumentError('encryptStream expected Uint8Array chunks')
        throwIfAborted(options.signal)
        written += chunk.length
        if (declared !== undefined && written > declared) {
          throw new InvalidArgumentError(`encryptStream got more than the declared ${declared} plaintext bytes`)
        }
        const size = started.frameSize
        let offset = 0
        while (offset < chunk.length) {
          if (fill === 0 && chunk.length - offset > size) {
            // A whole frame inside the chunk with more bytes after it: non-final, and sealed straight from the
            // chunk (both frame ciphers are done with their input when the call returns: no copy needed).
            const done = inFlight.push(
              sealFrame(started.frameKey, index++, false, chunk.subarray(offset, offset + size)),
            )
            if (done) for (const p of done instanceof Promise ? await done : done) controller.enqueue(p)
            offset += size
            continue
          }
          if (fill === size) {
            // A full frame with more plaintext after it: it cannot be the final frame. The cipher is done with
            // `pending` when sealFrame returns, so it can be filled again at once; the frames after it are
            // sealed from the chunk again (the loop starts over with `pending` empty).
            const done = inFlight.push(sealFrame(started.frameKey, index++, false, pending))
            if (done) for (const p of done instanceof Promise ? await done : done) controller.enqueue(p)
            fill = 0
            continue
          }
          const n = Math.min(size - fill, chunk.length - offset)
          pending.set(chunk.subarray(offset, offset + n), fill)
          fill += n
          offset += n
        }
      },
      async flush(controller) {
        if (declared !== undefined && written !== declared) {
          throw new InvalidArgumentError(`encryptStream got ${written} plaintext bytes, ${declared} were declared`)
        }
        for (let op = inFlight.shift(); op; op = inFlight.shift()) for (const p of await op) controller.enqueue(p)
        for (const p of await sealFrame(started.frameKey, index, true, pending.subarray(0, fill))) controller.enqueue(p)
      },
    },
    undefined,
    OUTPUT_QUEUE,
  )
}
