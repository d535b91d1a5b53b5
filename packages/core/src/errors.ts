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

/** The codes the core can produce. Other envelope packages add their own codes on the same base class. */
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

/** Base class of every envelope error. `code` is stable; `cause` is kept for logs. */
export class EnvelopeError extends Error {
  /** Stable, machine-readable error code, e.g. `ERR_AUTHENTICATION_FAILED`. */
  readonly code: string

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.code = code
    this.name = new.target.name
  }
}

/** An argument of the wrong type or range (API misuse, not bad data). Code `ERR_INVALID_ARGUMENT`. */
export class InvalidArgumentError extends EnvelopeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_INVALID_ARGUMENT', message, options)
  }
}

/** The bytes are not a well-formed envelope message (bad magic, bad lengths, non-canonical encoding). */
export class MalformedError extends EnvelopeError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_MALFORMED', message, options)
  }
}

/** The message has a format version this library does not read. */
export class UnsupportedVersionError extends EnvelopeError {
  readonly version: number
  constructor(version: number) {
    super('ERR_UNSUPPORTED_VERSION', `unsupported envelope format version ${version}`)
    this.version = version
  }
}

/** The message names an algorithm suite this library does not implement. */
export class UnsupportedSuiteError extends EnvelopeError {
  readonly suite: number
  constructor(suite: number) {
    super('ERR_UNSUPPORTED_SUITE', `unsupported algorithm suite 0x${suite.toString(16).padStart(4, '0')}`)
    this.suite = suite
  }
}

/** A declared length or count is over a limit; rejected before anything is allocated for it. */
export class LimitExceededError extends EnvelopeError {
  constructor(message: string) {
    super('ERR_LIMIT_EXCEEDED', message)
  }
}

/** The message ends early: the header or the final frame is missing. No partial plaintext is returned. */
export class TruncatedError extends EnvelopeError {
  constructor(message = 'envelope message is truncated') {
    super('ERR_TRUNCATED', message)
  }
}

/**
 * A frame failed authentication: the message was altered (or frames reordered, dropped or appended), or it was
 * made with a different header. The message is deliberately generic.
 */
export class AuthenticationFailedError extends EnvelopeError {
  constructor(options?: { cause?: unknown }) {
    super('ERR_AUTHENTICATION_FAILED', 'envelope message failed authentication', options)
  }
}

/** The data key does not match the key commitment in the header: wrong key, or a crafted message. */
export class CommitmentMismatchError extends EnvelopeError {
  constructor() {
    super('ERR_COMMITMENT_MISMATCH', 'data key does not match the message key commitment')
  }
}

/** The message's encryption context is not the one the caller required. */
export class ContextMismatchError extends EnvelopeError {
  constructor() {
    super('ERR_CONTEXT_MISMATCH', 'encryption context does not match the expected context')
  }
}

/** No key provider could produce or unwrap the data key for this message. */
export class KeyUnavailableError extends EnvelopeError {
  constructor(message = 'no data key is available for this message', options?: { cause?: unknown }) {
    super('ERR_KEY_UNAVAILABLE', message, options)
  }
}

/** The operation was cancelled through its `AbortSignal`. */
export class AbortedError extends EnvelopeError {
  constructor(options?: { cause?: unknown }) {
    super('ERR_ABORTED', 'operation aborted', options)
  }
}

/** True when `err` is an {@link EnvelopeError} with the given code. */
export function isEnvelopeError(err: unknown, code?: string): err is EnvelopeError {
  return err instanceof EnvelopeError && (code === undefined || err.code === code)
}
