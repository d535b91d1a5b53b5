/**
 * Where the AWS KMS client's credentials come from: the SDK's default chain (environment, shared files, SSO,
 * web identity, ECS, EC2 metadata), a named profile of a shared credentials file, or an access key whose secret
 * is read from a file or an environment variable; optionally a role assumed on top (STS AssumeRole: the customer
 * grants the proxy's role access to its key, and revokes it to cut the proxy off). Secrets are read once at
 * start, never logged, never part of an error message.
 * @module
 */
import { readFileSync } from 'node:fs'
import type { KMSClientConfig } from '@aws-sdk/client-kms'
import { fromIni, fromTemporaryCredentials } from '@aws-sdk/credential-providers'
import { ConfigError } from '../../errors.ts'

export type AwsCredentialsConfig =
  /** The SDK's default chain. */
  | { readonly source: 'default' }
  /** A profile of a shared credentials file (default `~/.aws/credentials`, or $AWS_SHARED_CREDENTIALS_FILE). */
  | { readonly source: 'profile'; readonly profile: string; readonly file?: string }
  /** An access key; its secret (and session token, if any) from a file or an environment variable. */
  | {
      readonly source: 'static'
      readonly accessKeyId: string
      readonly secretAccessKeyFile?: string
      readonly secretAccessKeyEnv?: string
      readonly sessionTokenFile?: string
      readonly sessionTokenEnv?: string
    }

/** A role assumed with the credentials above (per tenant: the role the customer trusts). */
export interface AwsAssumeRoleConfig {
  readonly roleArn: string
  /** The external id the customer's trust policy asks for (confused-deputy guard). */
  readonly externalId?: string
  /** Shown in the customer's CloudTrail (default `envelope-key-proxy`). */
  readonly sessionName?: string
  /** 900 to 43200 (default 3600); the SDK renews the credentials before they expire. */
  readonly durationSeconds?: number
  /** STS endpoint URL (default AWS's regional STS endpoint). */
  readonly endpoint?: string
  /** STS region (default the KMS client's). */
  readonly region?: string
}

export type AwsCredentialProvider = NonNullable<KMSClientConfig['credentials']>

function secretFrom(label: string, file: string | undefined, envName: string | undefined, env: NodeJS.ProcessEnv) {
  if (file !== undefined) {
    try {
      return readFileSync(file, 'utf8').trim()
    } catch (err) {
      throw new ConfigError(`cannot read the ${label} file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
    }
  }
  if (envName !== undefined) {
    const v = env[envName]
    if (!v) throw new ConfigError(`environment variable ${envName} (${label}) is not set`)
    return v
  }
  return undefined
}

/**
 * The SDK credential provider for a configuration; `undefined` means the SDK's own default chain.
 * @example
 * awsCredentials({ source: 'profile', profile: 'acme' }, { roleArn: 'arn:aws:iam::111122223333:role/envelope' })
 * @throws ConfigError when a secret file or variable is missing or a setting is malformed
 */
export function awsCredentials(
  config: AwsCredentialsConfig = { source: 'default' },
  assumeRole?: AwsAssumeRoleConfig,
  options: { readonly region?: string; readonly env?: NodeJS.ProcessEnv } = {},
): AwsCredentialProvider | undefined {
  const env = options.env ?? process.env
  let base: AwsCredentialProvider | undefined
  if (config.source === 'profile') {
    if (!config.profile) throw new ConfigError('AWS credentials: profile is empty')
    base = fromIni({ profile: config.profile, ...(config.file ? { filepath: config.file } : {}) })
  } else if (config.source === 'static') {
    if (!/^[A-Z0-9]{16,128}$/.test(config.accessKeyId)) {
      throw new ConfigError('AWS credentials: accessKeyId is not an access key id')
    }
    const secretAccessKey = secretFrom('secret access key', config.secretAccessKeyFile, config.secretAccessKeyEnv, env)
    if (!secretAccessKey) {
      throw new ConfigError('AWS credentials: give secretAccessKeyFile or secretAccessKeyEnv (never the secret itself)')
    }
    const sessionToken = secretFrom('session token', config.sessionTokenFile, config.sessionTokenEnv, env)
    base = { accessKeyId: config.accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }
  } else if (config.source !== 'default') {
    throw new ConfigError('AWS credentials: source is default, profile or static')
  }
  if (!assumeRole) return base
  if (!/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/.test(assumeRole.roleArn)) {
    throw new ConfigError(`AWS assume role: "${assumeRole.roleArn.slice(0, 200)}" is not a role ARN`)
  }
  const region = assumeRole.region ?? options.region
  return fromTemporaryCredentials({
    params: {
      RoleArn: assumeRole.roleArn,
      RoleSessionName: assumeRole.sessionName ?? 'envelope-key-proxy',
      ...(assumeRole.externalId ? { ExternalId: assumeRole.externalId } : {}),
      ...(assumeRole.durationSeconds ? { DurationSeconds: assumeRole.durationSeconds } : {}),
    },
    ...(base ? { masterCredentials: base } : {}),
    clientConfig: {
      ...(region ? { region } : {}),
      ...(assumeRole.endpoint ? { endpoint: assumeRole.endpoint } : {}),
    },
  })
}
