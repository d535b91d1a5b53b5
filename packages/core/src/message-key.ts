/**
 * Per-message key and key commitment (docs/format.md §5). Both come from the DEK by HKDF-SHA-256 with the
 * random message id as salt, so one DEK can seal any number of messages without GCM nonce limits: every
 * message has its own AES key. The message key never leaves WebCrypto (deriveKey, non-extractable).
 * @module
 */
import { concat, constantTimeEqual, utf8 } from './bytes.ts'
import { CommitmentMismatchError, KeyUnavailableError } from './errors.ts'
import { COMMITMENT_BYTES, SUITE_AES256GCM_HKDFSHA256_COMMIT } from './header.ts'
import type { Bytes } from './key-provider.ts'

const suiteId = Uint8Array.of(SUITE_AES256GCM_HKDFSHA256_COMMIT >>> 8, SUITE_AES256GCM_HKDFSHA256_COMMIT & 0xff)
export const KEY_INFO = concat([utf8('envelope v1 message key'), suiteId])
export const COMMIT_INFO = concat([utf8('envelope v1 key commitment'), suiteId])

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
  readonly key: CryptoKey
  readonly commitment: Bytes
}

/** Derives the AES-256-GCM message key and the 32-byte commitment, both in parallel. */
export async function deriveMessageKey(dek: CryptoKey, messageId: Bytes): Promise<MessageKey> {
  try {
    const [key, commitment] = await Promise.all([
      crypto.subtle.deriveKey(
        { name: 'HKDF', hash: 'SHA-256', salt: messageId, info: KEY_INFO },
        dek,
        { name: 'AES-GCM', length: 256 },
        false,
        ['encrypt', 'decrypt'],
      ),
      crypto.subtle.deriveBits(
        { name: 'HKDF', hash: 'SHA-256', salt: messageId, info: COMMIT_INFO },
        dek,
        COMMITMENT_BYTES * 8,
      ),
    ])
    return { key, commitment: new Uint8Array(commitment) }
  } catch (err) {
    // Only a key that looked like a DEK but is not one gets here (a foreign object passing checkDek). Node
    // throws synchronously for it, other runtimes reject: try/await catches both.
    throw new KeyUnavailableError('data key cannot derive a message key', { cause: err })
  }
}

/** Derives the message key and checks the header's commitment first (before any frame is decrypted). */
export async function deriveCheckedMessageKey(
  dek: CryptoKey,
  messageId: Bytes,
  expected: Uint8Array,
): Promise<CryptoKey> {
  const { key, commitment } = await deriveMessageKey(dek, messageId)
  if (!constantTimeEqual(commitment, expected)) throw new CommitmentMismatchError()
  return key
}
