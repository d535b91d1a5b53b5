/**
 * Opens the local KMS's EDEK JWEs with node:crypto: synchronous AES-GCM, ~2 µs a call, where WebCrypto costs a
 * thread-pool round trip per call (jose makes three per JWE). Only the shape edek-jwe.ts seals is accepted:
 * compact JWE, `alg: A256GCMKW` (RFC 7518 §4.7: the CEK is AES-GCM-encrypted under the CMK with the header's
 * `iv` and `tag`), `enc: A256GCM` (§5.3: AAD = the ASCII of the encoded protected header). Sealing stays with jose.
 * @module
 */
import { createDecipheriv, type KeyObject } from 'node:crypto'

function b64(text: string | undefined): Buffer | undefined {
  return typeof text === 'string' && /^[A-Za-z0-9_-]*$/.test(text) ? Buffer.from(text, 'base64url') : undefined
}

// Exact text: invalid UTF-8 is an error (not U+FFFD), a leading U+FEFF is kept.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function gcmOpen(key: KeyObject | Buffer, iv: Buffer, tag: Buffer, ct: Buffer, aad?: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
  if (aad) d.setAAD(aad)
  d.setAuthTag(tag)
  return Buffer.concat([d.update(ct), d.final()])
}

/** The payload of a JWE sealed by edek-jwe.ts under `cmk`; undefined when it does not authenticate. */
export function openEdekNode(jwe: string, cmk: KeyObject): Uint8Array | undefined {
  const parts = jwe.split('.')
  if (parts.length !== 5) return undefined
  try {
    const protectedHeader = b64(parts[0])
    const header = JSON.parse(protectedHeader ? utf8.decode(protectedHeader) : 'null')
    if (header?.alg !== 'A256GCMKW' || header.enc !== 'A256GCM') return undefined
    const [wrapIv, wrapTag, encryptedKey, iv, ct, tag] = [
      header.iv,
      header.tag,
      parts[1],
      parts[2],
      parts[3],
      parts[4],
    ].map(b64)
    if (wrapIv?.length !== 12 || wrapTag?.length !== 16 || encryptedKey?.length !== 32) return undefined
    if (iv?.length !== 12 || tag?.length !== 16 || !ct) return undefined
    const cek = gcmOpen(cmk, wrapIv, wrapTag, encryptedKey)
    try {
      return gcmOpen(cek, iv, tag, ct, Buffer.from(parts[0]!, 'ascii'))
    } finally {
      cek.fill(0)
    }
  } catch {
    return undefined
  }
}
