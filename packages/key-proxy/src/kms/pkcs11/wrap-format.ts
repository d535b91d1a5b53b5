/**
 * What a PKCS#11 wrap is, byte for byte, so that a customer can open it with its HSM alone (docs/kms-backends.md,
 * "Recovering a key with the HSM alone"):
 *
 *     ciphertext = iv (12 bytes, random) ‖ AES-256-GCM ciphertext (32 bytes) ‖ tag (16 bytes)
 *     aad        = UTF-8 of JSON.stringify(["envelope-pkcs11/1", <object label>, [k1, v1], [k2, v2], …])
 *
 * with the wrap context's pairs sorted by key, and the label of the version's key object
 * (`envelope/<key>/v<n>`), so the AAD binds the context and the version. JSON.stringify is compact and escapes
 * only `"`, `\` and control characters, as `json.dumps(…, separators=(",", ":"), ensure_ascii=False)` does.
 * @module
 */
import type { WrapContext } from '../cmk.ts'

export const AAD_FORMAT = 'envelope-pkcs11/1'
export const IV_BYTES = 12
export const TAG_BYTES = 16
export const KEY_BYTES = 32
export const WRAPPED_BYTES = IV_BYTES + KEY_BYTES + TAG_BYTES

/** Bounds of a wrap context (AWS KMS and XKS allow 8 KiB of additional data). */
export const MAX_CONTEXT_PAIRS = 64
export const MAX_AAD_BYTES = 8192

/** The additional data of one wrap, or undefined when the context is not a small map of strings. */
export function wrapAad(objectLabel: string, context: WrapContext): Buffer | undefined {
  if (typeof context !== 'object' || context === null) return undefined
  const keys = Object.keys(context)
  if (keys.length > MAX_CONTEXT_PAIRS) return undefined
  const pairs: [string, string][] = []
  for (const k of keys.sort()) {
    const v = context[k]
    if (typeof v !== 'string') return undefined
    pairs.push([k, v])
  }
  const aad = Buffer.from(JSON.stringify([AAD_FORMAT, objectLabel, ...pairs]), 'utf8')
  return aad.length <= MAX_AAD_BYTES ? aad : undefined
}
