/**
 * The cache key of a message's DEK: SHA-256 over a canonical encoding of all its EDEKs and its encryption
 * context. The context is part of the key because providers bind it to the EDEK (as AAD of the wrap): an EDEK
 * unwraps only with its own context, and a cache hit must not let an EDEK open under another context.
 * @module
 */
import { type Bytes, type Edek, type EncryptionContext, encodeContext, InvalidArgumentError } from '@envelope/core'

const utf8 = new TextEncoder()
const DOMAIN = utf8.encode('envelope/dek-cache/v1')

function lengthPrefixed(parts: Uint8Array[], bytes: Uint8Array): void {
  const n = new Uint8Array(4)
  new DataView(n.buffer).setUint32(0, bytes.length)
  parts.push(n, bytes)
}

/**
 * The canonical bytes hashed by {@link dekCacheKey}: `u32 len ‖ "envelope/dek-cache/v1"`, `u32 edekCount`, then for
 * each EDEK in message order `u32 len ‖ providerId`, `u32 len ‖ keyId`, `u32 len ‖ keyVersion`,
 * `u32 len ‖ ciphertext`, and last `u32 len ‖ encodeContext(context)`. Every field is length-prefixed, so no two
 * different inputs share an encoding.
 *
 * @example
 * ```ts
 * const bytes = encodeCacheKeyInput(readHeader(message).edeks, { tenant: 'acme' }) // what dekCacheKey hashes
 * ```
 * @throws {InvalidArgumentError} `edeks` is empty or holds something that is not an EDEK; from
 * {@link encodeContext}, an invalid context.
 */
export function encodeCacheKeyInput(edeks: readonly Edek[], context: EncryptionContext): Bytes {
  if (!Array.isArray(edeks) || edeks.length === 0) throw new InvalidArgumentError('"edeks" expected a non-empty array')
  const parts: Uint8Array[] = []
  lengthPrefixed(parts, DOMAIN)
  const count = new Uint8Array(4)
  new DataView(count.buffer).setUint32(0, edeks.length)
  parts.push(count)
  for (const edek of edeks) {
    if (
      typeof edek?.providerId !== 'string' ||
      typeof edek.keyId !== 'string' ||
      typeof edek.keyVersion !== 'string' ||
      !(edek.ciphertext instanceof Uint8Array)
    ) {
      throw new InvalidArgumentError('"edeks" expected EDEKs {providerId, keyId, keyVersion, ciphertext}')
    }
    lengthPrefixed(parts, utf8.encode(edek.providerId))
    lengthPrefixed(parts, utf8.encode(edek.keyId))
    lengthPrefixed(parts, utf8.encode(edek.keyVersion))
    lengthPrefixed(parts, edek.ciphertext)
  }
  lengthPrefixed(parts, encodeContext(context))
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/**
 * The cache key (64 lowercase hex characters) of the DEK that `edeks` wrap under `context`. The same message
 * always gives the same key; another context, another EDEK set (after a rekey) or another order gives another key.
 *
 * @example
 * ```ts
 * const header = readHeader(message)
 * const key = await dekCacheKey(header.edeks, header.context)
 * const dek = await cache.get('acme', key)
 * ```
 * @throws {InvalidArgumentError} `edeks` is empty or malformed, or the context is invalid.
 */
export async function dekCacheKey(edeks: readonly Edek[], context: EncryptionContext): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', encodeCacheKeyInput(edeks, context)))
  let hex = ''
  for (const b of digest) hex += b.toString(16).padStart(2, '0')
  return hex
}
