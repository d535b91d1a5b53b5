/**
 * Frame sealing and opening (docs/format.md §6), on the frame cipher of the message's key (frame-cipher.ts). Each frame is its own AES-GCM message under the per-message
 * key. The nonce carries the frame index and a final-frame flag (as in Tink's streaming AEAD), so reordering,
 * dropping, duplicating, truncating or extending frames all fail authentication. Frame 0 also authenticates
 * the header (everything but the EDEK section) as AAD.
 * @module
 */
import { AuthenticationFailedError, LimitExceededError } from './errors.ts'
import type { FrameCipher } from './frame-cipher.ts'
import { TAG_BYTES } from './header.ts'
import type { Bytes } from './key-provider.ts'

/** Frame indexes are 32-bit: a message has at most 2^32 frames. */
export const MAX_FRAMES = 2 ** 32
const EMPTY = new Uint8Array(0)

/** 12-byte nonce: 7 zero bytes ‖ u32 index ‖ final flag (0x01 on the last frame only). */
export function frameNonce(index: number, final: boolean): Bytes {
  if (index >= MAX_FRAMES) throw new LimitExceededError('message exceeds 2^32 frames')
  const nonce = new Uint8Array(12)
  nonce[7] = index >>> 24
  nonce[8] = (index >>> 16) & 0xff
  nonce[9] = (index >>> 8) & 0xff
  nonce[10] = index & 0xff
  nonce[11] = final ? 1 : 0
  return nonce
}

export interface FrameKey {
  /** The primitive this message's key was made for (frame-cipher.ts). */
  readonly cipher: FrameCipher
  readonly key: unknown
  /** AAD of frame 0. */
  readonly headerAad: Bytes
}

/** Seals one frame: `ciphertext ‖ tag` in parts. `plaintext` may be reused as soon as this returns. */
export function sealFrame(
  fk: FrameKey,
  index: number,
  final: boolean,
  plaintext: Uint8Array,
): Bytes[] | Promise<Bytes[]> {
  return fk.cipher.seal(fk.key, frameNonce(index, final), index === 0 ? fk.headerAad : EMPTY, plaintext)
}

/**
 * Opens one frame given in parts; any failure is an authentication failure (and no plaintext is returned).
 * A sync cipher answers (or throws) before this returns; an async one through the promise.
 */
export function openFrame(
  fk: FrameKey,
  index: number,
  final: boolean,
  ciphertext: readonly Uint8Array[],
): Bytes[] | Promise<Bytes[]> {
  let length = 0
  for (const p of ciphertext) length += p.length
  if (length < TAG_BYTES) throw new AuthenticationFailedError()
  const aad = index === 0 ? fk.headerAad : EMPTY
  let result: Bytes[] | Promise<Bytes[]>
  try {
    result = fk.cipher.open(fk.key, frameNonce(index, final), aad, ciphertext)
  } catch (err) {
    throw new AuthenticationFailedError({ cause: err })
  }
  if (!(result instanceof Promise)) return result
  return result.catch((err: unknown) => {
    throw new AuthenticationFailedError({ cause: err })
  })
}
