/**
 * The slice of AWS STS the endpoint serves, over STS's Query protocol (form-encoded POST, XML answers), so the
 * SDK's `fromTemporaryCredentials` can assume a role here as it would in a customer's account:
 * `AssumeRole` (RoleArn, RoleSessionName, DurationSeconds, ExternalId) and `GetCallerIdentity`.
 * @module
 */
import { KmsApiError, type KmsErrorType } from './api-error.ts'
import type { Principal, Principals } from './principals.ts'

const NS = 'https://sts.amazonaws.com/doc/2011-06-15/'

const xml = (s: string) =>
  s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!)

/** STS's names and statuses for the refusals the endpoint raises. */
const STS_ERRORS: Partial<Record<KmsErrorType, [code: string, status: number]>> = {
  AccessDeniedException: ['AccessDenied', 403],
  ExpiredTokenException: ['ExpiredToken', 400],
  IncompleteSignatureException: ['IncompleteSignature', 400],
  InvalidSignatureException: ['SignatureDoesNotMatch', 403],
  MissingAuthenticationTokenException: ['MissingAuthenticationToken', 403],
  UnrecognizedClientException: ['InvalidClientTokenId', 403],
  ValidationException: ['ValidationError', 400],
  UnsupportedOperationException: ['InvalidAction', 400],
}

export function stsError(err: KmsApiError, requestId: string): { status: number; body: string } {
  const [code, status] = STS_ERRORS[err.type] ?? ['InternalFailure', 500]
  const type = status >= 500 ? 'Receiver' : 'Sender'
  return {
    status,
    body: `<ErrorResponse xmlns="${NS}"><Error><Type>${type}</Type><Code>${code}</Code><Message>${xml(err.message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`,
  }
}

/**
 * Runs one STS action from its form parameters.
 * @throws KmsApiError (see {@link stsError} for how it is sent)
 */
export function runStsAction(
  params: URLSearchParams,
  caller: Principal,
  principals: Principals,
  nowMs: number,
  requestId: string,
): string {
  const action = params.get('Action') ?? ''
  if (params.get('Version') !== '2011-06-15') {
    throw new KmsApiError('ValidationException', 'Version must be 2011-06-15')
  }
  const meta = `<ResponseMetadata><RequestId>${requestId}</RequestId></ResponseMetadata>`
  if (action === 'GetCallerIdentity') {
    const userId = caller.roleArn ? caller.arn.split('/').slice(-1)[0]! : caller.accessKeyId
    return `<GetCallerIdentityResponse xmlns="${NS}"><GetCallerIdentityResult><Arn>${xml(caller.arn)}</Arn><UserId>${xml(userId)}</UserId><Account>${principals.accountId}</Account></GetCallerIdentityResult>${meta}</GetCallerIdentityResponse>`
  }
  if (action !== 'AssumeRole') {
    throw new KmsApiError(
      'UnsupportedOperationException',
      `Action ${action.slice(0, 64)} is not served by this endpoint.`,
    )
  }
  const roleArn = params.get('RoleArn')
  const sessionName = params.get('RoleSessionName')
  if (!roleArn || !sessionName) throw new KmsApiError('ValidationException', 'RoleArn and RoleSessionName are required')
  const duration = params.get('DurationSeconds')
  const externalId = params.get('ExternalId') ?? undefined
  const c = principals.assumeRole(
    caller,
    { roleArn, sessionName, durationSeconds: duration === null ? 3600 : Number(duration), externalId },
    nowMs,
  )
  return `<AssumeRoleResponse xmlns="${NS}"><AssumeRoleResult><AssumedRoleUser><Arn>${xml(c.assumedRoleArn)}</Arn><AssumedRoleId>${xml(c.assumedRoleId)}</AssumedRoleId></AssumedRoleUser><Credentials><AccessKeyId>${c.accessKeyId}</AccessKeyId><SecretAccessKey>${c.secretAccessKey}</SecretAccessKey><SessionToken>${c.sessionToken}</SessionToken><Expiration>${new Date(c.expiration).toISOString()}</Expiration></Credentials><PackedPolicySize>0</PackedPolicySize></AssumeRoleResult>${meta}</AssumeRoleResponse>`
}
