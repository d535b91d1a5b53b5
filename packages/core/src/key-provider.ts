/**
 * The seam between the core and whatever holds master keys (a local KEK, the key proxy, a KMS).
 * A provider makes data keys (DEKs) and unwraps encrypted data keys (EDEKs). DEKs only ever cross this
 * interface as non-extractable `CryptoKey`s (algorithm HKDF, usages `deriveKey` and `deriveBits`).
 * @module
 */
import type { EnvelopeError } from './errors.ts'

/**
 * Bytes backed by a plain `ArrayBuffer` (what WebCrypto accepts as a `BufferSource`).
 *
 * @example
 * ```ts
 * const iv: Bytes = crypto.getRandomValues(new Uint8Array(12)) // a Uint8Array over its own ArrayBuffer
 * ```
 */
export type Bytes = Uint8Array<ArrayBuffer>

/**
 * Encryption context: non-secret string pairs bound to the message as authenticated data (docs/format.md §4).
 * Stored in the clear in the header; use it for tenant, document id, purpose, never for secrets.
 *
 * @example
 * ```ts
 * const context: EncryptionContext = { tenant: 'acme', doc: '42', purpose: 'attachment' }
 * await encrypt(file, { provider, context })
 * ```
 */
export type EncryptionContext = Readonly<Record<string, string>>

/**
 * An encrypted data key as stored in a message header (docs/format.md §3). Self-describing, so a message can
 * be recovered offline by whoever holds the named master key.
 *
 * @example
 * ```ts
 * const { edeks } = readHeader(message)
 * console.log(edeks.map((e) => `${e.providerId}:${e.keyId}@${e.keyVersion}`)) // e.g. ['envelope-proxy:acme/default@3']
 * ```
 */
export interface Edek {
  /** Who can unwrap it, e.g. `local`, `envelope-proxy`, `aws-kms`. ASCII, 1–255 bytes. */
  readonly providerId: string
  /** The master key that wrapped it, e.g. a tenant key name or a KMS key ARN. UTF-8, 0–1024 bytes. */
  readonly keyId: string
  /** The version of that master key, empty when the KMS does not expose versions. UTF-8, 0–255 bytes. */
  readonly keyVersion: string
  /** The wrapped key bytes, opaque to the core. 1–8192 bytes. */
  readonly ciphertext: Bytes
}

/**
 * A fresh data key and its encrypted forms, as returned by {@link KeyProvider.generateDataKey}.
 *
 * @example
 * ```ts
 * const { dek, edeks } = await provider.generateDataKey({ tenant: 'acme' })
 * // dek: non-extractable CryptoKey (HKDF); edeks: what goes into the message header
 * ```
 */
export interface DataKey {
  /** Non-extractable HKDF key; usages `deriveKey`, `deriveBits`. */
  readonly dek: CryptoKey
  /** One or more EDEKs of the same DEK (several when more than one master key should be able to open it). */
  readonly edeks: readonly Edek[]
}

/**
 * One item of a batch unwrap: all EDEKs of one message and that message's context.
 *
 * @example
 * ```ts
 * const requests: UnwrapRequest[] = messages.map((m) => ({ edeks: readHeader(m).edeks, context: readHeader(m).context }))
 * const results = await provider.unwrapDataKeys(requests)
 * ```
 */
export interface UnwrapRequest {
  readonly edeks: readonly Edek[]
  readonly context: EncryptionContext
}

/**
 * Per-item outcome of {@link KeyProvider.unwrapDataKeys}: a batch never fails as a whole for one bad item.
 *
 * @example
 * ```ts
 * for (const r of await provider.unwrapDataKeys(requests)) {
 *   if (r.ok) use(r.dek)
 *   else console.warn(r.error.code) // e.g. ERR_KEY_UNAVAILABLE for this item only
 * }
 * ```
 */
export type UnwrapResult =
  | { readonly ok: true; readonly dek: CryptoKey }
  | { readonly ok: false; readonly error: EnvelopeError }

/**
 * Options every provider call takes.
 *
 * @example
 * ```ts
 * await provider.unwrapDataKey(edeks, context, { signal: AbortSignal.timeout(5000) })
 * ```
 */
export interface ProviderCallOptions {
  /** Cancels the call; the provider rejects with `ERR_ABORTED` (or its own timeout code). */
  readonly signal?: AbortSignal
}

/**
 * Options of {@link KeyProvider.generateDataKey}.
 *
 * @example
 * ```ts
 * await provider.generateDataKey({ tenant: 'acme' }, { plaintextLength: file.size, signal })
 * ```
 */
export interface GenerateOptions extends ProviderCallOptions {
  /**
   * Plaintext bytes the data key will encrypt, when known (always for one-shot `encrypt`, for streams only when
   * the caller says). A provider that reuses data keys counts it against its byte limit, and must not reuse a
   * key for a message of unknown length.
   */
  readonly plaintextLength?: number
}

/**
 * Makes and unwraps data keys. Implemented by {@link createLocalKeyProvider} (a KEK held in this process) and
 * by `@envelope/fetch-client` (the key proxy).
 *
 * Rules every implementation follows:
 * - DEKs are returned as non-extractable HKDF `CryptoKey`s; raw DEK bytes never reach the caller.
 * - The context is bound to the EDEK (as AAD of the wrap), so an EDEK unwraps only with the same context.
 * - Failures are {@link EnvelopeError}s with a stable code; an EDEK the provider cannot use yields
 *   `ERR_KEY_UNAVAILABLE`, never a crash.
 *
 * @example
 * ```ts
 * // Wrap a provider to count key requests (a KeyProvider is three methods):
 * const counting = (inner: KeyProvider, count: { n: number }): KeyProvider => ({
 *   generateDataKey: (context, options) => (count.n++, inner.generateDataKey(context, options)),
 *   unwrapDataKey: (edeks, context, options) => (count.n++, inner.unwrapDataKey(edeks, context, options)),
 *   unwrapDataKeys: (requests, options) => (count.n++, inner.unwrapDataKeys(requests, options)),
 * })
 * ```
 */
export interface KeyProvider {
  /** Makes a new DEK for a message with this context. */
  generateDataKey(context: EncryptionContext, options?: GenerateOptions): Promise<DataKey>
  /** Unwraps the DEK of one message from any of its EDEKs that this provider can open. */
  unwrapDataKey(edeks: readonly Edek[], context: EncryptionContext, options?: ProviderCallOptions): Promise<CryptoKey>
  /** Unwraps many at once; the result has one entry per request, in order. */
  unwrapDataKeys(requests: readonly UnwrapRequest[], options?: ProviderCallOptions): Promise<UnwrapResult[]>
}
