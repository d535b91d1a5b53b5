/**
 * Options of the encrypt and decrypt functions, their defaults, and the setup both directions share:
 * getting the data key from the provider and turning it into the per-message frame key.
 * @module
 */
import { constantTimeEqual, randomBytes } from './bytes.ts'
import { encodeContext } from './context.ts'
import {
  AbortedError,
  ContextMismatchError,
  EnvelopeError,
  InvalidArgumentError,
  KeyUnavailableError,
} from './errors.ts'
import type { FrameKey } from './frames.ts'
import {
  checkFrameSize,
  encodeHeader,
  type HeaderLimits,
  MAX_EDEKS,
  MESSAGE_ID_BYTES,
  MIN_FRAME_SIZE,
  type ParsedHeader,
} from './header.ts'
import type { Bytes, DataKey, EncryptionContext, KeyProvider } from './key-provider.ts'
import { checkDek, deriveCheckedMessageKey, deriveMessageKey } from './message-key.ts'

/**
 * Plaintext bytes per frame unless the caller picks another size. 128 KiB is the sweet spot of one WebCrypto
 * AES-GCM call in Chromium (larger calls run at half the speed there) and, with several frames in flight,
 * close to one-shot 1 MiB calls in Node, where each call has a fixed cost (docs/benchmarks.md).
 *
 * @example
 * ```ts
 * await encrypt(data, { provider, frameSize: DEFAULT_FRAME_SIZE * 4 }) // 512 KiB frames
 * ```
 */
export const DEFAULT_FRAME_SIZE = 128 * 1024
/** Frames handed to WebCrypto at once by the streaming and one-shot paths (output stays in order). */
export const FRAMES_IN_FLIGHT = 8
/**
 * Frames a stream may hold for its reader. With the default of 0, one large input chunk (many frames) makes the
 * stream stop taking input until the reader drains it, and WebCrypto idles meanwhile; a few frames of slack keep
 * it busy. Memory stays bounded: at most this many frames wait.
 */
export const OUTPUT_QUEUE: QueuingStrategy<Uint8Array> = { highWaterMark: FRAMES_IN_FLIGHT }

/**
 * Options of {@link encrypt} and {@link encryptStream}.
 *
 * @example
 * ```ts
 * const options: EncryptOptions = { provider, context: { tenant: 'acme' }, frameSize: 64 * 1024, signal }
 * ```
 */
export interface EncryptOptions {
  /** Makes the data key (a local KEK, the key proxy client, a cache in front of either). */
  readonly provider: KeyProvider
  /** Non-secret pairs bound to the message; decrypt can require them. Default `{}`. */
  readonly context?: EncryptionContext
  /** Plaintext bytes per frame, 64 B to 16 MiB. Default 128 KiB. */
  readonly frameSize?: number
  /** Cancels the operation with `ERR_ABORTED`. */
  readonly signal?: AbortSignal
  /**
   * For `encryptStream`: the number of plaintext bytes that will be written, if known. It is passed to the
   * provider (a data-key cache needs it to enforce byte limits) and the stream errors if the count differs.
   */
  readonly plaintextLength?: number
}

/**
 * Options of {@link decrypt}, {@link decryptToString} and {@link decryptStream}.
 *
 * @example
 * ```ts
 * const options: DecryptOptions = { provider, expectedContext: { tenant: 'acme' }, maxEdeks: 2, signal }
 * ```
 */
export interface DecryptOptions extends HeaderLimits {
  /** Unwraps the message's EDEK. */
  readonly provider: KeyProvider
  /**
   * When set, the message's context must equal it exactly (same keys, same values), or decryption fails with
   * `ERR_CONTEXT_MISMATCH` before any key is unwrapped.
   */
  readonly expectedContext?: EncryptionContext
  /** Cancels the operation with `ERR_ABORTED`. */
  readonly signal?: AbortSignal
}

export function checkProvider(options: { provider?: unknown } | undefined): KeyProvider {
  const p = options?.provider as KeyProvider | undefined
  if (!p || typeof p.generateDataKey !== 'function' || typeof p.unwrapDataKey !== 'function') {
    throw new InvalidArgumentError('"provider" expected a KeyProvider')
  }
  return p
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError({ cause: signal.reason })
}

/** Provider failures reach the caller as envelope errors; anything else becomes ERR_KEY_UNAVAILABLE. */
function providerError(err: unknown, signal: AbortSignal | undefined): EnvelopeError {
  if (err instanceof EnvelopeError) return err
  if (signal?.aborted) return new AbortedError({ cause: err })
  return new KeyUnavailableError('key provider failed', { cause: err })
}

export interface StartedMessage {
  readonly header: Bytes
  readonly frameKey: FrameKey
  readonly frameSize: number
}

/** Seals a message header around a data key. `messageId` is injectable for test vectors only. */
export async function startWithDataKey(
  dataKey: DataKey,
  contextBytes: Bytes,
  frameSize: number,
  messageId: Bytes = randomBytes(MESSAGE_ID_BYTES),
): Promise<StartedMessage> {
  const dek = checkDek(dataKey?.dek)
  const { key, cipher, commitment } = await deriveMessageKey(dek, messageId)
  const { bytes, aad } = encodeHeader({ edeks: dataKey.edeks, messageId, frameSize, contextBytes, commitment })
  return { header: bytes, frameKey: { cipher, key, headerAad: aad }, frameSize }
}

/** Encrypt options once checked, with the context's canonical bytes (encoded once per message). */
export interface CheckedEncryptOptions {
  readonly provider: KeyProvider
  readonly context: EncryptionContext
  readonly contextBytes: Bytes
  readonly frameSize: number
  readonly signal?: AbortSignal
}

/** Validates encrypt options synchronously, so misuse fails before anything starts. */
export function checkEncryptOptions(options: EncryptOptions): CheckedEncryptOptions {
  const provider = checkProvider(options)
  const context = options.context ?? {}
  const contextBytes = encodeContext(context)
  const n = options.plaintextLength
  if (n !== undefined && !(Number.isSafeInteger(n) && n >= 0)) {
    throw new InvalidArgumentError('"plaintextLength" expected a non-negative integer')
  }
  const frameSize = checkFrameSize(options.frameSize ?? DEFAULT_FRAME_SIZE)
  return { provider, context, contextBytes, frameSize, signal: options.signal }
}

/** Gets a fresh data key from the provider and builds the header. */
export async function startMessage(checked: CheckedEncryptOptions, plaintextLength?: number): Promise<StartedMessage> {
  const { provider, context, contextBytes, frameSize, signal } = checked
  const options = { signal }
  throwIfAborted(options.signal)
  let dataKey: DataKey
  try {
    dataKey = await provider.generateDataKey(context, { signal: options.signal, plaintextLength })
  } catch (err) {
    throw providerError(err, options.signal)
  }
  throwIfAborted(options.signal)
  return startWithDataKey(dataKey, contextBytes, frameSize)
}

/** Checks the expected context, unwraps the DEK, checks the key commitment; returns the frame key. */
export async function openMessage(
  parsed: ParsedHeader,
  options: DecryptOptions,
  expected: CheckedDecryptOptions,
): Promise<FrameKey> {
  const { header, aad, contextBytes } = parsed
  const provider = options.provider
  // The expected context's canonical bytes against the header's own bytes, never against a re-encoding of what
  // was decoded from them: equality of bytes is the rule (docs/format.md §4), whatever a decoder does.
  if (expected.contextBytes !== undefined && !constantTimeEqual(expected.contextBytes, contextBytes)) {
    throw new ContextMismatchError()
  }
  throwIfAborted(options.signal)
  let dek: CryptoKey
  try {
    dek = checkDek(await provider.unwrapDataKey(header.edeks, header.context, { signal: options.signal }))
  } catch (err) {
    throw providerError(err, options.signal)
  }
  throwIfAborted(options.signal)
  const { key, cipher } = await deriveCheckedMessageKey(dek, header.messageId, header.commitment)
  return { cipher, key, headerAad: aad }
}

/** What checking decrypt options found: the expected context's canonical bytes, when one is expected. */
export interface CheckedDecryptOptions {
  readonly contextBytes?: Bytes
}

/** Validates decrypt options up front so misuse fails before any input is read. */
export function checkDecryptOptions(options: DecryptOptions): CheckedDecryptOptions {
  checkProvider(options)
  const contextBytes = options.expectedContext === undefined ? undefined : encodeContext(options.expectedContext)
  const { maxEdeks, maxFrameSize } = options
  // A limit that is not a number would compare false with everything, and so silently turn the check off.
  if (maxEdeks !== undefined && !(Number.isInteger(maxEdeks) && maxEdeks >= 1 && maxEdeks <= MAX_EDEKS)) {
    throw new InvalidArgumentError(`"maxEdeks" expected an integer from 1 to ${MAX_EDEKS}`)
  }
  if (maxFrameSize !== undefined && !(Number.isInteger(maxFrameSize) && maxFrameSize >= MIN_FRAME_SIZE)) {
    throw new InvalidArgumentError(`"maxFrameSize" expected an integer of at least ${MIN_FRAME_SIZE}`)
  }
  return { contextBytes }
}
