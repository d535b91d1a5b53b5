/**
 * Frame sealing and opening (docs/format.md §6). Each frame is its own AES-GCM message under the per-message
 * key. The nonce carries the frame index and a final-frame flag (as in Tink's streaming AEAD), so reordering,
 * dropping, duplicating, truncating or extending frames all fail authentication. Frame 0 also authenticates
 * the header (everything but the EDEK section) as AAD.
 * @module
 */
import { AuthenticationFailedError, LimitExceededError } from './errors.ts'
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
  readonly key: CryptoKey
  /** AAD of frame 0. */
  readonly headerAad: Bytes
}

export async function sealFrame(fk: FrameKey, index: number, final: boolean, plaintext: Uint8Array): Promise<Bytes> {
  const params = { name: 'AES-GCM', iv: frameNonce(index, final), additionalData: index === 0 ? fk.headerAad : EMPTY }
  return new Uint8Array(await crypto.subtle.encrypt(params, fk.key, plaintext as Bytes))
}

/** Opens one frame; any failure is an authentication failure (the plaintext is never returned then). */
export async function openFrame(fk: FrameKey, index: number, final: boolean, ciphertext: Uint8Array): Promise<Bytes> {
  if (ciphertext.length < TAG_BYTES) throw new AuthenticationFailedError()
  const params = { name: 'AES-GCM', iv: frameNonce(index, final), additionalData: index === 0 ? fk.headerAad : EMPTY }
  try {
    return new Uint8Array(await crypto.subtle.decrypt(params, fk.key, ciphertext as Bytes))
  } catch (err) {
    throw new AuthenticationFailedError({ cause: err })
  }
}

/** True when `ciphertext` authenticates with the other value of the final flag (diagnoses truncation/extension). */
export async function opensWithFlag(
  fk: FrameKey,
  index: number,
  final: boolean,
  ciphertext: Uint8Array,
): Promise<boolean> {
  try {
    await openFrame(fk, index, final, ciphertext)
    return true
  } catch {
    return false
  }
}
