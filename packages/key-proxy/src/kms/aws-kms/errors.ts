/**
 * Every failure of an AWS KMS call, as one of the CMK client's codes (src/kms/cmk.ts), and whether it is worth
 * another attempt. The message names the AWS error, AWS's own message (bounded; it names ARNs, never secrets)
 * and the request id, so an operator can find the call in the customer's CloudTrail.
 *
 * | AWS | code | retried |
 * |---|---|---|
 * | DisabledException | ERR_KEY_DISABLED | no |
 * | KMSInvalidStateException "… pending deletion" | ERR_KEY_PENDING_DELETION | no |
 * | KMSInvalidStateException (other states), InvalidKeyUsageException | ERR_KEY_STATE | no |
 * | NotFoundException | ERR_KEY_NOT_FOUND | no |
 * | InvalidCiphertextException, IncorrectKeyException | ERR_EDEK_INVALID | no |
 * | AccessDeniedException, UnrecognizedClientException, InvalidSignatureException, Expired/Incomplete/Missing token or signature, STS AccessDenied, no credentials | ERR_KMS_ACCESS_DENIED | no |
 * | ThrottlingException, HTTP 429 | ERR_KMS_THROTTLED | yes |
 * | DependencyTimeoutException, socket timeouts; our deadline | ERR_KMS_TIMEOUT | yes; no (it is over) |
 * | KMSInternalException, KeyUnavailableException, HTTP 5xx, connection refused/reset, DNS | ERR_KMS_UNAVAILABLE | yes |
 * | anything else | ERR_KMS_UNAVAILABLE | no |
 * @module
 */
import { ProxyError, type ProxyErrorCode } from '../../errors.ts'

const ACCESS_DENIED = new Set([
  'AccessDeniedException',
  'AccessDenied', // STS AssumeRole
  'UnrecognizedClientException',
  'InvalidClientTokenId',
  'InvalidSignatureException',
  'SignatureDoesNotMatch',
  'IncompleteSignatureException',
  'IncompleteSignature',
  'MissingAuthenticationTokenException',
  'MissingAuthenticationToken',
  'ExpiredTokenException',
  'ExpiredToken',
  'RegionDisabledException',
  'CredentialsProviderError', // no credentials found by the chain
])

const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
  'ERR_SOCKET_CONNECTION_TIMEOUT',
])

interface AwsLikeError {
  name?: string
  message?: string
  code?: string
  errors?: Array<{ code?: string }>
  $metadata?: { httpStatusCode?: number; requestId?: string; clockSkewCorrected?: boolean }
}

const bounded = (s: string) => (s.length > 300 ? `${s.slice(0, 300)}…` : s)

/** The AWS error `err` as a ProxyError, and whether another attempt may succeed. */
export function mapAwsKmsError(err: unknown, operation: string): { error: ProxyError; retry: boolean } {
  const e = (typeof err === 'object' && err !== null ? err : { message: String(err) }) as AwsLikeError
  const name = e.name ?? 'Error'
  const status = e.$metadata?.httpStatusCode
  const networkCode = e.code ?? e.errors?.find((x) => x.code)?.code
  const detail = [
    name === 'Error' && networkCode ? networkCode : name,
    e.message && e.message !== name ? bounded(e.message) : '',
  ]
    .filter(Boolean)
    .join(': ')
  const request = e.$metadata?.requestId ? ` (request ${e.$metadata.requestId})` : ''
  const make = (code: ProxyErrorCode, retry = false) => ({
    error: new ProxyError(code, `AWS KMS ${operation}: ${detail}${request}`, { cause: err }),
    retry,
  })

  if (name === 'DisabledException') return make('ERR_KEY_DISABLED')
  if (name === 'KMSInvalidStateException') {
    return make(/pending deletion/i.test(e.message ?? '') ? 'ERR_KEY_PENDING_DELETION' : 'ERR_KEY_STATE')
  }
  if (name === 'InvalidKeyUsageException') return make('ERR_KEY_STATE')
  if (name === 'NotFoundException') return make('ERR_KEY_NOT_FOUND')
  if (name === 'InvalidCiphertextException' || name === 'IncorrectKeyException') return make('ERR_EDEK_INVALID')
  if (ACCESS_DENIED.has(name)) return make('ERR_KMS_ACCESS_DENIED')
  if (name === 'ThrottlingException' || status === 429) return make('ERR_KMS_THROTTLED', true)
  if (name === 'DependencyTimeoutException') return make('ERR_KMS_TIMEOUT', true)
  // before the name: the SDK names a reset socket (a KMS restarting, a stale keep-alive) "TimeoutError"
  if (networkCode && NETWORK.has(networkCode)) return make('ERR_KMS_UNAVAILABLE', true)
  if (name === 'AbortError' || name === 'TimeoutError' || networkCode === 'ETIMEDOUT') {
    return make('ERR_KMS_TIMEOUT', true)
  }
  if (
    name === 'KMSInternalException' ||
    name === 'KeyUnavailableException' ||
    (status !== undefined && status >= 500)
  ) {
    return make('ERR_KMS_UNAVAILABLE', true)
  }
  return make('ERR_KMS_UNAVAILABLE')
}

/** The SDK corrected its clock from the KMS's Date header after a skew refusal: one more attempt will do. */
export function clockSkewCorrected(err: unknown): boolean {
  return (err as AwsLikeError)?.$metadata?.clockSkewCorrected === true
}
