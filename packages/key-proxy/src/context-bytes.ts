/**
 * The canonical encoding of a request's encryption context (docs/format.md §4), made once per request: the proxy
 * needs it for the context check, the audit lines' hash and the delivery's additional data. Only a frozen context
 * is remembered (by identity, in a WeakMap: gone with the request); the routes freeze what they validated, so
 * what was encoded cannot change afterwards.
 * @module
 */
import { type Bytes, type EncryptionContext, encodeContext } from '@envelope/core'

const encoded = new WeakMap<EncryptionContext, Bytes>()

/**
 * A context checked (it encodes) and frozen, so that {@link contextBytes} encodes it only once.
 * @throws {InvalidArgumentError} (from `encodeContext`) a context that is not one.
 */
export function checkedContext(value: EncryptionContext): EncryptionContext {
  const bytes = encodeContext(value)
  if (typeof value !== 'object' || value === null) return value // no context given: encodes as the empty one
  Object.freeze(value)
  encoded.set(value, bytes)
  return value
}

/** The canonical bytes of `context`: remembered for a context of {@link checkedContext}, encoded otherwise. */
export function contextBytes(context: EncryptionContext): Bytes {
  return encoded.get(context) ?? encodeContext(context)
}
