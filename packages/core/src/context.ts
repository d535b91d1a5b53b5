/**
 * Encryption context: validation and the canonical encoding bound into every message (docs/format.md §4).
 * @module
 */
import { compareBytes, fromUtf8, isWellFormed, Reader, utf8, Writer } from './bytes.ts'
import { InvalidArgumentError, LimitExceededError, MalformedError } from './errors.ts'
import type { Bytes, EncryptionContext } from './key-provider.ts'

/**
 * Largest encoded context, in bytes (the header stores its length in 16 bits).
 *
 * @example
 * ```ts
 * const bytes = encodeContext(context) // at most MAX_CONTEXT_BYTES long, or it throws LimitExceededError
 * ```
 */
export const MAX_CONTEXT_BYTES = 0xffff

/**
 * The canonical bytes of an encryption context: a 16-bit pair count, then each pair as
 * `u16 keyLength ‖ key ‖ u16 valueLength ‖ value` (UTF-8), sorted by key bytes. Equal contexts always encode
 * to equal bytes, so the encoding can be compared, hashed, or used as AAD (the key proxy does).
 *
 * @example
 * ```ts
 * const aad = encodeContext({ tenant: 'acme', doc: '42' })
 * ```
 * @throws {InvalidArgumentError} a key is empty, or a key or value is not a string or has lone surrogates.
 * @throws {LimitExceededError} the encoding would exceed 65 535 bytes.
 */
export function encodeContext(context: EncryptionContext = {}): Bytes {
  if (context === null || typeof context !== 'object' || Array.isArray(context)) {
    throw new InvalidArgumentError('"context" expected an object of string values')
  }
  const pairs: [Bytes, Bytes][] = []
  for (const [key, value] of Object.entries(context)) {
    if (typeof value !== 'string') throw new InvalidArgumentError(`context value of "${key}" expected a string`)
    if (key.length === 0) throw new InvalidArgumentError('context keys must not be empty')
    if (!isWellFormed(key) || !isWellFormed(value)) {
      throw new InvalidArgumentError('context keys and values must be well-formed Unicode')
    }
    pairs.push([utf8(key), utf8(value)])
  }
  pairs.sort((a, b) => compareBytes(a[0], b[0]))
  const w = new Writer().u16(pairs.length)
  let size = 2
  for (const [k, v] of pairs) {
    size += 4 + k.length + v.length
    if (k.length > 0xffff || v.length > 0xffff || size > MAX_CONTEXT_BYTES) {
      throw new LimitExceededError(`encryption context exceeds ${MAX_CONTEXT_BYTES} bytes`)
    }
    w.u16(k.length).bytes(k).u16(v.length).bytes(v)
  }
  return w.finish()
}

/**
 * Parses a canonical context encoding; anything non-canonical is malformed (one context, one encoding).
 *
 * @example
 * ```ts
 * const context = decodeContext(encodeContext({ tenant: 'acme' })) // { tenant: 'acme' }
 * ```
 * @throws {MalformedError} the bytes are not a canonical context encoding (unsorted, duplicated, trailing bytes,
 * invalid UTF-8).
 */
export function decodeContext(bytes: Uint8Array): EncryptionContext {
  const r = new Reader(bytes, () => {
    throw new MalformedError('encryption context is malformed')
  })
  const count = r.u16()
  const entries: [string, string][] = []
  let previous: Uint8Array | undefined
  try {
    for (let i = 0; i < count; i++) {
      const key = r.take(r.u16())
      const value = r.take(r.u16())
      if (key.length === 0) throw new MalformedError('encryption context has an empty key')
      if (previous && compareBytes(previous, key) >= 0) {
        throw new MalformedError('encryption context keys are not in canonical order')
      }
      previous = key
      entries.push([fromUtf8(key), fromUtf8(value)])
    }
  } catch (err) {
    if (err instanceof MalformedError) throw err
    throw new MalformedError('encryption context is not valid UTF-8', { cause: err })
  }
  if (r.remaining !== 0) throw new MalformedError('encryption context has trailing bytes')
  return Object.freeze(Object.fromEntries(entries))
}
