/**
 * Reading a body (docs/format.md §7.5–§7.7): how the bytes after the header split into frames, and what a frame
 * that fails to open means. The one-shot and the streaming reader both go through these two functions, frame
 * by frame in order, so the same bytes give the same code whichever reader reads them and however a stream's
 * chunks fall.
 * @module
 */
import { MalformedError, TruncatedError } from './errors.ts'
import { type FrameKey, MAX_FRAMES, openFrame } from './frames.ts'
import { TAG_BYTES } from './header.ts'
import type { Bytes } from './key-provider.ts'

/**
 * The length of frame `index`, given the body bytes not yet split (`buffered`) and whether the input has ended;
 * `undefined` while a stream must wait for more. More than `F + 16` bytes left: a non-final frame of `F + 16`.
 * Otherwise, once the input has ended, the rest is the final frame, or `ERR_TRUNCATED` below 16 bytes.
 * @throws {MalformedError} frame 2^32 − 1 is not final: a message has at most 2^32 frames.
 * @throws {TruncatedError} the input ended with fewer than 16 bytes after the last complete frame.
 */
export function nextFrameLength(
  buffered: number,
  ended: boolean,
  frameSize: number,
  index: number,
): number | undefined {
  const full = frameSize + TAG_BYTES
  if (buffered > full) {
    if (index >= MAX_FRAMES - 1) throw new MalformedError('envelope message has more than 2^32 frames')
    return full
  }
  if (!ended) return undefined
  if (buffered < TAG_BYTES) throw new TruncatedError()
  return buffered
}

/** What a frame that failed to open means, from whether it opens with the other final flag (§7 step 6). */
function diagnosis(final: boolean, opensWithOtherFlag: boolean, err: unknown): unknown {
  if (!opensWithOtherFlag) return err
  return final
    ? new TruncatedError('envelope message is truncated: its final frame is missing')
    : new MalformedError('envelope message has data after its final frame')
}

/** A final frame after the first with no plaintext is a second encoding of the same plaintext (§6). */
function checked(index: number, final: boolean, plaintext: Bytes[]): Bytes[] {
  if (final && index > 0 && plaintext.every((p) => p.length === 0)) {
    throw new MalformedError('envelope message ends with an empty frame after a full one')
  }
  return plaintext
}

function opens(fk: FrameKey, index: number, final: boolean, ct: readonly Uint8Array[]): boolean {
  try {
    for (const p of openFrame(fk, index, final, ct) as Bytes[]) p.fill(0)
    return true
  } catch {
    return false
  }
}

/**
 * Opens frame `index`, given in parts. When its tag fails, the other value of the final flag tells truncation and
 * extension apart from tampering (§7 step 6, a reader MUST make these diagnoses): a final frame that authenticates
 * as non-final means the real final frame is missing; a non-final frame that authenticates as final means bytes
 * were appended. A final frame after the first with no plaintext is refused (§6). Nothing is returned in any of
 * these cases. With a sync cipher (node:crypto) all of it happens before this returns, so the parts may be views
 * of input the caller reuses afterwards; with WebCrypto the parts must stay as they are until the promise settles.
 */
export function openBodyFrame(
  fk: FrameKey,
  index: number,
  final: boolean,
  parts: readonly Uint8Array[],
): Bytes[] | Promise<Bytes[]> {
  if (fk.cipher.sync) {
    try {
      return checked(index, final, openFrame(fk, index, final, parts) as Bytes[])
    } catch (err) {
      if (err instanceof MalformedError) throw err
      throw diagnosis(final, opens(fk, index, !final, parts), err)
    }
  }
  return (async () => {
    try {
      return checked(index, final, await openFrame(fk, index, final, parts))
    } catch (err) {
      if (err instanceof MalformedError) throw err
      const other = await (async () => {
        try {
          for (const p of await openFrame(fk, index, !final, parts)) p.fill(0)
          return true
        } catch {
          return false
        }
      })()
      throw diagnosis(final, other, err)
    }
  })()
}
