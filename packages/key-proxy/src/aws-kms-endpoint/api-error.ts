/**
 * The AWS KMS JSON protocol's errors, as the endpoint sends them and `@aws-sdk/client-kms` parses them: the
 * type in `__type` (and the `x-amzn-ErrorType` header), the text in `message`, and the HTTP status. Statuses of
 * KMS's modelled errors follow the API reference (its Smithy model: NotFound 404, Disabled 409,
 * KMSInvalidState 409…); the common ones (authentication, throttling, validation) follow AWS's JSON services,
 * which answer them with 400.
 * @module
 */

export const KMS_ERROR_STATUS = {
  // modelled KMS errors (API reference)
  AlreadyExistsException: 409,
  DependencyTimeoutException: 503,
  DisabledException: 409,
  DryRunOperationException: 412,
  IncorrectKeyException: 400,
  InvalidAliasNameException: 400,
  InvalidArnException: 400,
  InvalidCiphertextException: 400,
  InvalidKeyUsageException: 400,
  InvalidMarkerException: 400,
  KMSInternalException: 500,
  KMSInvalidStateException: 409,
  LimitExceededException: 400,
  NotFoundException: 404,
  UnsupportedOperationException: 400,
  // common errors of AWS JSON services
  AccessDeniedException: 400,
  ExpiredTokenException: 400,
  IncompleteSignatureException: 400,
  InvalidSignatureException: 400,
  MissingAuthenticationTokenException: 400,
  SerializationException: 400,
  ThrottlingException: 400,
  UnknownOperationException: 400,
  UnrecognizedClientException: 400,
  ValidationException: 400,
} as const

export type KmsErrorType = keyof typeof KMS_ERROR_STATUS

/** A refusal in AWS's shape. Messages name keys and principals (as AWS does), never secrets or plaintext. */
export class KmsApiError extends Error {
  readonly type: KmsErrorType
  constructor(type: KmsErrorType, message: string) {
    super(message)
    this.type = type
  }
  get status(): number {
    return KMS_ERROR_STATUS[this.type]
  }
}
