/**
 * `aws-kms`: a CMK in the customer's own AWS KMS (src/kms/aws-kms/). Settings: `keyId` (the key ARN,
 * recommended), `region`, `endpoint` (through the admin API only one listed in the proxy's `awsKmsEndpoints`:
 * requests carry signed credentials), `credentials` (`{source: 'default'}`, the SDK's default chain, when
 * omitted; `{source: 'profile', profile, file?}`; `{source: 'static', accessKeyId, secretAccessKeyFile |
 * secretAccessKeyEnv, sessionTokenFile? | sessionTokenEnv?}`: where the secret is, never the secret),
 * `assumeRole` (`{roleArn, externalId?, sessionName?, durationSeconds?, endpoint?, region?}`: the role the customer
 * grants the proxy), `timeoutMs`, `maxAttempts`, `retryBaseMs`. The customer runs the key's lifecycle in its own
 * account (`managedBy: 'customer'`): the proxy reports its state and refuses to act on it.
 * @module
 */
import { ConfigError, ProxyError } from '../../errors.ts'
import type { KmsProvider, KmsSettings } from './provider.ts'
import { checkFields, compact } from './settings.ts'

const FIELDS = {
  keyId: 'string',
  region: 'string',
  endpoint: 'string',
  credentials: 'object',
  assumeRole: 'object',
  timeoutMs: 'integer',
  maxAttempts: 'integer',
  retryBaseMs: 'integer',
} as const
const CREDENTIALS = {
  source: 'string',
  profile: 'string',
  file: 'string',
  accessKeyId: 'string',
  secretAccessKeyFile: 'string',
  secretAccessKeyEnv: 'string',
  sessionTokenFile: 'string',
  sessionTokenEnv: 'string',
} as const
const ASSUME_ROLE = {
  roleArn: 'string',
  externalId: 'string',
  sessionName: 'string',
  durationSeconds: 'integer',
  endpoint: 'string',
  region: 'string',
} as const

const SECRETS_HINT = ' (secrets come from files or environment variables: secretAccessKeyFile, secretAccessKeyEnv)'

export const awsKmsProvider: KmsProvider = {
  name: 'aws-kms',
  providerId: 'envelope-aws-kms',
  managedBy: 'customer',
  defaultMode: 'leased',
  checkSettings(settings, _where, policy) {
    const s = checkFields(settings, FIELDS, 'settings', SECRETS_HINT) as Record<string, unknown>
    const bad = (message: string) => new ProxyError('ERR_BAD_REQUEST', `settings: ${message}`)
    if (typeof s.keyId !== 'string') throw bad('keyId (the key ARN) is required')
    const credentials = checkFields(s.credentials, CREDENTIALS, 'settings.credentials', SECRETS_HINT)
    if (s.credentials !== undefined) {
      const source = credentials.source
      if (source !== 'default' && source !== 'profile' && source !== 'static') {
        throw bad('credentials.source is default, profile or static')
      }
      if (source === 'static' && !credentials.accessKeyId) throw bad('credentials.accessKeyId is required')
      if (source === 'static' && !credentials.secretAccessKeyFile === !credentials.secretAccessKeyEnv) {
        throw bad('credentials: give exactly one of secretAccessKeyFile and secretAccessKeyEnv')
      }
      if (source === 'profile' && !credentials.profile) throw bad('credentials.profile is required')
    }
    const role = checkFields(s.assumeRole, ASSUME_ROLE, 'settings.assumeRole')
    if (s.assumeRole !== undefined && typeof role.roleArn !== 'string') throw bad('assumeRole.roleArn is required')
    for (const [name, url] of [
      ['endpoint', s.endpoint],
      ['assumeRole.endpoint', role.endpoint],
    ] as const) {
      if (url === undefined) continue
      if (!URL.canParse(url as string) || !/^https?:$/.test(new URL(url as string).protocol)) {
        throw bad(`${name} must be an http(s) URL`)
      }
      if (policy && !policy.awsKmsEndpoints.includes(url as string)) {
        throw bad(`${name} is not one of the endpoints the proxy allows (its awsKmsEndpoints setting)`)
      }
    }
    if (s.maxAttempts !== undefined && ((s.maxAttempts as number) < 1 || (s.maxAttempts as number) > 10)) {
      throw bad('maxAttempts is 1 to 10')
    }
    if (s.timeoutMs !== undefined && ((s.timeoutMs as number) < 1 || (s.timeoutMs as number) > 60_000)) {
      throw bad('timeoutMs is 1 to 60000')
    }
    return compact(s) as KmsSettings
  },
  async open(settings, { env }) {
    const { createAwsKmsCmk } = await import('../aws-kms/index.ts')
    try {
      const s = settings as unknown as Parameters<typeof createAwsKmsCmk>[0]
      const client = createAwsKmsCmk({ ...s, env: env as NodeJS.ProcessEnv })
      return { client, keyRef: client.keyId }
    } catch (err) {
      if (err instanceof ConfigError) throw new ProxyError('ERR_KMS_UNAVAILABLE', err.message, { cause: err })
      throw err
    }
  },
}
