/**
 * Per-message key and key commitment (docs/format.md §5). Both come from the DEK by one HKDF-SHA-256 call with
 * the random message id as salt, so one DEK can seal any number of messages without GCM nonce limits: every
 * message has its own AES key. One call, not a deriveKey plus a deriveBits, because each WebCrypto call has a
 * fixed cost (about 30 µs in Node) that dominates small messages; the derived bytes become the frame cipher's
 * key at once (a non-extractable CryptoKey, or a node:crypto KeyObject, frame-cipher.ts) and are zeroed. The DEK
 * itself never leaves WebCrypto: it is a non-extractable CryptoKey, and node:crypto never sees it.
 * @module
 */
import { concat, constantTimeEqual, utf8 } from './bytes.ts'
import { CommitmentMismatchError, KeyUnavailableError } from './errors.ts'
import { type FrameCipher, frameCipher } from './frame-cipher.ts'
import { COMMITMENT_BYTES, SUITE_AES256GCM_HKDFSHA256_COMMIT } from './header.ts'
import type { Bytes } from './key-provider.ts'

const suiteId = Uint8Array.of(SUITE_AES256GCM_HKDFSHA256_COMMIT >>> 8, SUITE_AES256GCM_HKDFSHA256_COMMIT & 0xff)
export const KEY_INFO = concat([utf8('envelope v1 message key and commitment'), suiteId])

/** Rejects anything but a non-extractable HKDF key: a provider must not hand out exportable DEKs. */
export function checkDek(dek: unknown): CryptoKey {
  const key = dek as CryptoKey
  if (
    typeof key !== 'object' ||
    key === null ||
    key.type !== 'secret' ||
    key.algorithm?.name !== 'HKDF' ||
    key.extractable !== false ||
    !Array.isArray(key.usages) ||
    !key.usages.includes('deriveKey') ||
    !key.usages.includes('deriveBits')
  ) {
    throw new KeyUnavailableError('key provider returned an unusable data key (need a non-extractable HKDF key)')
  }
  return key
}

export interface MessageKey {
  /** The frame key, made by `cipher` (frame-cipher.ts). */
  readonly key: unknown
  readonly cipher: FrameCipher
  readonly commitment: Bytes
}

/** Derives the AES-256-GCM message key and the 32-byte commitment, both in parallel. */
export async function deriveMessageKey(dek: CryptoKey, messageId: Bytes): Promise<MessageKey> {
  let okm: Uint8Array<ArrayBuffer> | undefined
  try {
    // okm = message key (32) ‖ commitment (32)
    const params = { name: 'HKDF', hash: 'SHA-256', salt: messageId, info: KEY_INFO }
    okm = new Uint8Array(await crypto.subtle.deriveBits(params, dek, (32 + COMMITMENT_BYTES) * 8))
    const cipher = frameCipher()
    return { key: await cipher.importKey(okm.subarray(0, 32)), cipher, commitment: okm.slice(32) }
  } catch (err) {
    // Only a key that looked like a DEK but is not one gets here (a foreign object passing checkDek). Node
    // throws synchronously for it, other runtimes reject: try/await catches both.
    throw new KeyUnavailableError('data key cannot derive a message key', { cause: err })
  } finally {
    okm?.fill(0)
  }
}

/** Derives the message key and checks the header's commitment first (before any frame is decrypted). */
export async function deriveCheckedMessageKey(
  dek: CryptoKey,
  messageId: Bytes,
  expected: Uint8Array,
): Promise<MessageKey> {
  const messageKey = await deriveMessageKey(dek, messageId)
  if (!constantTimeEqual(messageKey.commitment, expected)) throw new CommitmentMismatchError()
  return messageKey
}
