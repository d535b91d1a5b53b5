/**
 * The endpoint's ciphertext blobs: self-describing, as AWS KMS's are, so Decrypt needs no KeyId. A blob names
 * the key and the key material that made it; the EncryptionContext is bound as AES-GCM additional data, so a
 * Decrypt must present exactly the same pairs.
 *
 *     "EKM1" (4) | key id: UUID (16) | key material id (32) | IV (12) | AES-256-GCM ciphertext | tag (16)
 *     additional data = the 64-byte header ‖ canonical(EncryptionContext)
 *
 * canonical(EC) = u16 count, then per pair sorted by key: u16 len ‖ UTF-8 key ‖ u16 len ‖ UTF-8 value (all BE).
 * @module
 */
import { createCipheriv, createDecipheriv, type KeyObject, randomBytes } from 'node:crypto'

const MAGIC = Buffer.from('EKM1', 'latin1')
const HEADER = 4 + 16 + 32 + 12
const TAG = 16
/** Header and tag: a blob is this much longer than its plaintext. */
export const BLOB_OVERHEAD = HEADER + TAG
/** AWS's limit for an EncryptionContext; ours counts the canonical encoding. */
export const MAX_CONTEXT_BYTES = 8192

export type EncryptionContext = Readonly<Record<string, string>>

export interface BlobParts {
  readonly keyId: string
  readonly materialId: string
}

const uuidBytes = (id: string) => Buffer.from(id.replace(/-/g, ''), 'hex')
const uuidOf = (b: Buffer) => {
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
}

/** The canonical encoding of an EncryptionContext, or undefined when it is longer than {@link MAX_CONTEXT_BYTES}. */
export function canonicalContext(context: EncryptionContext): Buffer | undefined {
  const keys = Object.keys(context).sort()
  const parts: Buffer[] = [Buffer.from([keys.length >> 8, keys.length & 255])]
  let size = 2
  for (const k of keys) {
    for (const s of [k, context[k]!]) {
      const b = Buffer.from(s, 'utf8')
      size += 2 + b.length
      if (size > MAX_CONTEXT_BYTES) return undefined
      parts.push(Buffer.from([b.length >> 8, b.length & 255]), b)
    }
  }
  return Buffer.concat(parts)
}

export function sealBlob(
  material: KeyObject,
  parts: BlobParts,
  plaintext: Uint8Array,
  context: EncryptionContext,
): Uint8Array {
  const header = Buffer.concat([MAGIC, uuidBytes(parts.keyId), Buffer.from(parts.materialId, 'hex'), randomBytes(12)])
  const cipher = createCipheriv('aes-256-gcm', material, header.subarray(52, 64))
  cipher.setAAD(Buffer.concat([header, canonicalContext(context)!]))
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return Buffer.concat([header, ct, cipher.getAuthTag()])
}

/** Which key and material a blob names, or undefined when it is not one of our blobs. */
export function readBlob(blob: Uint8Array): BlobParts | undefined {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength)
  if (b.length < BLOB_OVERHEAD + 1 || !b.subarray(0, 4).equals(MAGIC)) return undefined
  return { keyId: uuidOf(b.subarray(4, 20)), materialId: b.subarray(20, 52).toString('hex') }
}

/** The plaintext, or undefined when the blob does not authenticate (altered, another material or context). */
export function openBlob(material: KeyObject, blob: Uint8Array, context: EncryptionContext): Buffer | undefined {
  const b = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength)
  const aad = canonicalContext(context)
  if (!aad) return undefined
  const decipher = createDecipheriv('aes-256-gcm', material, b.subarray(52, 64))
  decipher.setAAD(Buffer.concat([b.subarray(0, HEADER), aad]))
  decipher.setAuthTag(b.subarray(b.length - TAG))
  const plaintext = decipher.update(b.subarray(HEADER, b.length - TAG))
  try {
    decipher.final() // GCM adds nothing here: it checks the tag
    return plaintext
  } catch {
    plaintext.fill(0) // unauthenticated: never released
    return undefined
  }
}
