/**
 * The AWS-KMS-compatible endpoint: an offline AWS KMS (and STS AssumeRole) on a local port, for development,
 * tests and benchmarks (docs/kms-backends.md). Node entry: serve-node.ts.
 * @module
 */
export { KMS_ERROR_STATUS, KmsApiError, type KmsErrorType } from './api-error.ts'
export { type EndpointArgs, parseEndpointArgs, runAwsKmsEndpointCli, USAGE } from './cli.ts'
export { type AwsKmsCallStats, type AwsKmsFaults, validateFaults } from './faults.ts'
export type { AccessKey, RoleConfig } from './principals.ts'
export {
  type AwsKmsEndpoint,
  type AwsKmsEndpointInfo,
  type AwsKmsEndpointOptions,
  CONTROL_PATH,
  DEFAULT_ACCOUNT_ID,
  DEFAULT_REGION,
  startAwsKmsEndpoint,
} from './server.ts'
