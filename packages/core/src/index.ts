/**
 * envelope core: envelope encryption on WebCrypto and Web Streams (and `node:crypto` for frames where it is
 * faster: Node, Bun). The same code runs in browsers, Node, Deno, Bun and workerd. The wire format is specified
 * in docs/format.md.
 *
 * @example
 * ```ts
 * import { createLocalKeyProvider, decryptToString, encrypt } from '@envelope/core'
 *
 * const provider = await createLocalKeyProvider({ kek, keyId: 'app-kek' })
 * const message = await encrypt('hello', { provider, context: { tenant: 'acme' } })
 * const text = await decryptToString(message, { provider, expectedContext: { tenant: 'acme' } })
 * ```
 * @module @envelope/core
 */
export { decodeContext, encodeContext, MAX_CONTEXT_BYTES } from './context.ts'
export { type DecryptStream, decrypt, decryptStream, decryptToString } from './decrypt.ts'
export { encrypt, encryptStream } from './encrypt.ts'
export {
  AbortedError,
  AuthenticationFailedError,
  CommitmentMismatchError,
  ContextMismatchError,
  type CoreErrorCode,
  EnvelopeError,
  InvalidArgumentError,
  isEnvelopeError,
  KeyUnavailableError,
  LimitExceededError,
  MalformedError,
  TruncatedError,
  UnsupportedSuiteError,
  UnsupportedVersionError,
} from './errors.ts'
export {
  DEFAULT_MAX_EDEKS,
  type HeaderLimits,
  MAX_EDEKS,
  MAX_FRAME_SIZE,
  type MessageHeader,
  MIN_FRAME_SIZE,
  readHeader,
  replaceEdeks,
} from './header.ts'
export type {
  Bytes,
  DataKey,
  Edek,
  EncryptionContext,
  GenerateOptions,
  KeyProvider,
  ProviderCallOptions,
  UnwrapRequest,
  UnwrapResult,
} from './key-provider.ts'
export { createLocalKeyProvider, type LocalKeyProviderOptions } from './local-provider.ts'
export { DEFAULT_FRAME_SIZE, type DecryptOptions, type EncryptOptions } from './options.ts'
export { type DataKeyReuseOptions, type ReusingKeyProvider, withDataKeyReuse } from './reuse-data-key.ts'
