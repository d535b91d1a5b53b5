/**
 * Typed errors. Every failure that envelope reports is an {@link EnvelopeError} with a stable `code`; the
 * message may change between versions, the code never does. Errors that come from a lower layer keep it as
 * `cause` (for logs), while the message stays deliberately generic where detail would help an attacker.
 *
 * @example
 * ```ts
 * try {
 *   await decrypt(bytes, { provider })
 * } catch (err) {
 *   if (err instanceof EnvelopeError && err.code === 'ERR_CONTEXT_MISMATCH') showWrongDocument()
 *   else throw err
 * }
 * ```
 * @module
 */

/**
 * The codes the core can produce. Other envelope packages add their own codes on the same base class.
 *
 * @example
 * ```ts
 * const code: CoreErrorCode = 'ERR_CONTEXT_MISMATCH'
 * if (isEnvelopeError(err, code)) showWrongDocument()
 * ```
 */
export type CoreErrorCode =
  | 'ERR_INVALID_ARGUMENT'
  | 'ERR_MALFORMED'
  | 'ERR_UNSUPPORTED_VERSION'
  | 'ERR_UNSUPPORTED_SUITE'
  | 'ERR_LIMIT_EXCEEDED'
  | 'ERR_TRUNCATED'
  | 'ERR_AUTHENTICATION_FAILED'
  | 'ERR_COMMITMENT_MISMATCH'
  | 'ERR_CONTEXT_MISMATCH'
  | 'ERR_KEY_UNAVAILABLE'
  | 'ERR_ABORTED'

/**
 * Base class of every envelope error. `code` is stable; `cause` is kept for logs.
 *
 * @example
 * ```ts
 * try {
 *   await decrypt(message, { provider })
 * } catch (err) {
 *   if (!(err instanceof EnvelopeError)) throw err
 *   log.warn({ code: err.code }) // stable; never log the message's bytes or keys
 * }
 * ```
 */
export class EnvelopeError extends Error {
  /** Stable, machine-readable error code, e.g. `ERR_AUTHENTICATION_FAILED`. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/**
 * An argument of the wrong type or range (API misuse, not bad data). Code `ERR_INVALID_ARGUMENT`.
 *
 * @example
 * ```ts
 * await encrypt('x', { provider, frameSize: 1 }) // rejects: InvalidArgumentError (frame size out of range)
 * ```
 */
export class InvalidArgumentError extends EnvelopeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_ARGUMENT', message, options)
  }
}

/**
 * The bytes are not a well-formed envelope message (bad magic, bad lengths, non-canonical encoding). Code
 * `ERR_MALFORMED`.
 *
 * @example
 * ```ts
 * await decrypt(new TextEncoder().encode('not a message'), { provider }) // rejects: MalformedError
 * ```
 */
export class MalformedError extends EnvelopeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_MALFORMED', message, options)
  }
}

/**
 * The message has a format version this library does not read. Code `ERR_UNSUPPORTED_VERSION`; `version` says
 * which.
 *
 * @example
 * ```ts
 * if (isEnvelopeError(err, 'ERR_UNSUPPORTED_VERSION')) askToUpgrade((err as UnsupportedVersionError).version)
 * ```
 */
export class UnsupportedVersionError extends EnvelopeError {
  readonly version: number
  constructor(version: number) {
    super('ERR_UNSUPPORTED_VERSION', `unsupported envelope format version ${version}`)
    this.version = version
  }
}

/**
 * The message names an algorithm suite this library does not implement. Code `ERR_UNSUPPORTED_SUITE`.
 *
 * @example
 * ```ts
 * if (isEnvelopeError(err, 'ERR_UNSUPPORTED_SUITE')) console.warn('suite', (err as UnsupportedSuiteError).suite)
 * ```
 */
export class UnsupportedSuiteError extends EnvelopeError {
  readonly suite: number
  constructor(suite: number) {
    super('ERR_UNSUPPORTED_SUITE', `unsupported algorithm suite 0x${suite.toString(16).padStart(4, '0')}`)
    this.suite = suite
  }
}

/**
 * A declared length or count is over a limit; rejected before anything is allocated for it. Code
 * `ERR_LIMIT_EXCEEDED`.
 *
 * @example
 * ```ts
 * await decrypt(message, { provider, maxEdeks: 1 }) // rejects with LimitExceededError when the message has 2 EDEKs
 * ```
 */
export class LimitExceededError extends EnvelopeError {
  constructor(message: string) {
    super('ERR_LIMIT_EXCEEDED', message)
  }
}

/**
 * The message ends early: the header or the final frame is missing. No partial plaintext is returned. Code
 * `ERR_TRUNCATED`.
 *
 * @example
 * ```ts
 * await decrypt(message.subarray(0, message.length - 1), { provider }) // rejects: TruncatedError
 * ```
 */
export class TruncatedError extends EnvelopeError {
  constructor(message = 'envelope message is truncated') {
    super('ERR_TRUNCATED', message)
  }
}

/**
 * A frame failed authentication: the message was altered (or frames reordered, dropped or appended), or it was
 * made with a different header. The message is deliberately generic. Code `ERR_AUTHENTICATION_FAILED`.
 *
 * @example
 * ```ts
 * message[message.length - 1] ^= 1
 * await decrypt(message, { provider }) // rejects: AuthenticationFailedError, and returns no plaintext
 * ```
 */
export class AuthenticationFailedError extends EnvelopeError {
  constructor(options?: { cause?: unknown }) {
    super('ERR_AUTHENTICATION_FAILED', 'envelope message failed authentication', options)
  }
}

/**
 * The data key does not match the key commitment in the header: wrong key, or a crafted message. Code
 * `ERR_COMMITMENT_MISMATCH`.
 *
 * @example
 * ```ts
 * if (isEnvelopeError(err, 'ERR_COMMITMENT_MISMATCH')) reportTampering(messageId)
 * ```
 */
export class CommitmentMismatchError extends EnvelopeError {
  constructor() {
    super('ERR_COMMITMENT_MISMATCH', 'data key does not match the message key commitment')
  }
}

/**
 * The message's encryption context is not the one the caller required. Code `ERR_CONTEXT_MISMATCH`; checked
 * before any key is unwrapped.
 *
 * @example
 * ```ts
 * await decrypt(message, { provider, expectedContext: { tenant: 'globex' } }) // sealed for acme: ContextMismatchError
 * ```
 */
export class ContextMismatchError extends EnvelopeError {
  constructor() {
    super('ERR_CONTEXT_MISMATCH', 'encryption context does not match the expected context')
  }
}

/**
 * No key provider could produce or unwrap the data key for this message. Code `ERR_KEY_UNAVAILABLE`; the
 * provider's own error is the `cause`.
 *
 * @example
 * ```ts
 * if (isEnvelopeError(err, 'ERR_KEY_UNAVAILABLE')) console.error('no key', { cause: err.cause })
 * ```
 */
export class KeyUnavailableError extends EnvelopeError {
  constructor(message = 'no data key is available for this message', options?: { cause?: unknown }) {
    super('ERR_KEY_UNAVAILABLE', message, options)
  }
}

/**
 * The operation was cancelled through its `AbortSignal`. Code `ERR_ABORTED`.
 *
 * @example
 * ```ts
 * await encrypt(data, { provider, signal: AbortSignal.abort() }) // rejects: AbortedError
 * ```
 */
export class AbortedError extends EnvelopeError {
  constructor(options?: { cause?: unknown }) {
    super('ERR_ABORTED', 'operation aborted', options)
  }
}

/**
 * True when `err` is an {@link EnvelopeError}, and when `code` is given, one with that code.
 *
 * @example
 * ```ts
 * try {
 *   await decrypt(message, { provider, expectedContext })
 * } catch (err) {
 *   if (isEnvelopeError(err, 'ERR_CONTEXT_MISMATCH')) return showWrongDocument()
 *   throw err
 * }
 * ```
 * @throws Never.
 */
export function isEnvelopeError(err: unknown, code?: string): err is EnvelopeError {
  return err instanceof EnvelopeError && (code === undefined || err.code === code)
}
