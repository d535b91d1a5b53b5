/**
 * The AWS KMS backend: a CmkClient (src/kms/cmk.ts) for one key in the customer's own AWS KMS (docs/kms-backends.md).
 * @module
 */
export { AWS_KMS_PROVIDER, AwsKmsCmk, type AwsKmsCmkOptions, createAwsKmsCmk } from './aws-kms-cmk.ts'
export {
  type AwsAssumeRoleConfig,
  type AwsCredentialProvider,
  type AwsCredentialsConfig,
  awsCredentials,
} from './credentials.ts'
export { mapAwsKmsError } from './errors.ts'
