/**
 * Compact JWEs (RFC 7516) with `alg: A256GCMKW`, `enc: A256GCM`, sealed and opened with node:crypto: synchronous
 * AES-GCM, ~2 µs a call, where WebCrypto costs a thread-pool round trip per call (jose makes three per JWE). The
 * output is an ordinary JWE: jose's `compactDecrypt` (or any RFC 7516 library) opens it with the same key, which
 * is what disaster recovery relies on. Only this shape is accepted: A256GCMKW (RFC 7518 §4.7: a random CEK is
 * AES-GCM-encrypted under the key, with the header's `iv` and `tag`), A256GCM content encryption (§5.3: AAD = the
 * ASCII of the encoded protected header).
 * @module
 */
import { createCipheriv, createDecipheriv, type KeyObject, randomBytes } from 'node:crypto'

type Key = KeyObject | Buffer

function b64(text: string | undefined): Buffer | undefined {
  return typeof text === 'string' && /^[A-Za-z0-9_-]*$/.test(text) ? Buffer.from(text, 'base64url') : undefined
}

// Exact text: invalid UTF-8 is an error (not U+FFFD), a leading U+FEFF is kept.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function gcmSeal(key: Key, iv: Buffer, plain: Uint8Array, aad?: Buffer): { ct: Buffer; tag: Buffer } {
  const c = createCipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
  if (aad) c.setAAD(aad)
  const ct = Buffer.concat([c.update(plain), c.final()])
  return { ct, tag: c.getAuthTag() }
}

function gcmOpen(key: Key, iv: Buffer, tag: Buffer, ct: Buffer, aad?: Buffer): Buffer {
  const d = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
  if (aad) d.setAAD(aad)
  d.setAuthTag(tag)
  return Buffer.concat([d.update(ct), d.final()])
}

/**
 * A compact JWE of `payload` under `key` (32 bytes), with `header` in its protected header (beside `alg`, `enc`,
 * `iv` and `tag`, which this sets).
 */
export function sealJweNode(header: Record<string, unknown>, payload: Uint8Array, key: Key): string {
  const cek = randomBytes(32)
  try {
    const wrapIv = randomBytes(12)
    const wrapped = gcmSeal(key, wrapIv, cek)
    const protectedHeader = Buffer.from(
      JSON.stringify({
        alg: 'A256GCMKW',
        enc: 'A256GCM',
        ...header,
        iv: wrapIv.toString('base64url'),
        tag: wrapped.tag.toString('base64url'),
      }),
    ).toString('base64url')
    const iv = randomBytes(12)
    const { ct, tag } = gcmSeal(cek, iv, payload, Buffer.from(protectedHeader, 'ascii'))
    return [protectedHeader, wrapped.ct, iv, ct, tag]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.')
  } finally {
    cek.fill(0)
  }
}

/** The protected header of a compact JWE (not yet authenticated); undefined when it is not one. */
export function jweHeader(jwe: string): Record<string, unknown> | undefined {
  const dot = jwe.indexOf('.')
  if (dot <= 0) return undefined
  try {
    const bytes = b64(jwe.slice(0, dot))
    const header = bytes ? JSON.parse(utf8.decode(bytes)) : undefined
    return typeof header === 'object' && header !== null && !Array.isArray(header) ? header : undefined
  } catch {
    return undefined
  }
}

/**
 * The payload of a JWE sealed as above (by this module or jose) under `key`; undefined when it does not
 * authenticate. `header`: its protected header when the caller already read it.
 */
export function openJweNode(jwe: string, key: Key, header = jweHeader(jwe)): Uint8Array | undefined {
  const parts = jwe.split('.')
  if (parts.length !== 5 || !header) return undefined
  try {
    if (header.alg !== 'A256GCMKW' || header.enc !== 'A256GCM') return undefined
    const [wrapIv, wrapTag, encryptedKey, iv, ct, tag] = [
      header.iv as string,
      header.tag as string,
      parts[1],
      parts[2],
      parts[3],
      parts[4],
    ].map(b64)
    if (wrapIv?.length !== 12 || wrapTag?.length !== 16 || encryptedKey?.length !== 32) return undefined
    if (iv?.length !== 12 || tag?.length !== 16 || !ct) return undefined
    const cek = gcmOpen(key, wrapIv, wrapTag, encryptedKey)
    try {
      const plain = gcmOpen(cek, iv, tag, ct, Buffer.from(parts[0]!, 'ascii'))
      const out = new Uint8Array(plain) // a plain Uint8Array of its own (a Buffer may share a pooled slab)
      plain.fill(0)
      return out
    } finally {
      cek.fill(0)
    }
  } catch {
    return undefined
  }
}
