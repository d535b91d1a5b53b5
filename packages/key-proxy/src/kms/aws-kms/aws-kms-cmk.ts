/**
 * A CMK in the customer's own AWS KMS, through `@aws-sdk/client-kms`: wrap = Encrypt, generate =
 * GenerateDataKey (AES_256), unwrap = Decrypt, {@link AwsKmsCmk.rewrap} = ReEncrypt (the key never leaves KMS),
 * describe = DescribeKey. The wrap context is the KMS EncryptionContext, so it is bound by AWS, logged in the
 * customer's CloudTrail and usable in its key policy (`kms:EncryptionContext:tenant`). The customer runs the
 * key's lifecycle in its own account (`managedBy: 'customer'`); the proxy only reports the state.
 *
 * AWS does not say which key material an Encrypt used, so wraps carry no version (`''`) and describe lists none;
 * every ciphertext names its key and material itself, and Decrypt finds them (also after RotateKeyOnDemand).
 *
 * Calls: one deadline per call (`timeoutMs`, retries included); throttling, 5xx and connection failures retried
 * with exponential backoff and full jitter, at most `maxAttempts` attempts; every failure mapped by errors.ts.
 * @module
 */
import { setTimeout as sleep } from 'node:timers/promises'
import {
  DecryptCommand,
  DescribeKeyCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  type KeyState,
  KMSClient,
  ReEncryptCommand,
} from '@aws-sdk/client-kms'
import { ConfigError, ProxyError } from '../../errors.ts'
import type { CmkCallOptions, CmkClient, CmkState, CmkStatus, CmkWrapped, WrapContext } from '../cmk.ts'
import { type AwsAssumeRoleConfig, type AwsCredentialsConfig, awsCredentials } from './credentials.ts'
import { clockSkewCorrected, mapAwsKmsError } from './errors.ts'

export const AWS_KMS_PROVIDER = 'aws-kms'

export interface AwsKmsCmkOptions {
  /**
   * The CMK: its key ARN (recommended), key id, alias name or alias ARN. With a key ARN or id, unwrap pins the key
   * (Decrypt's KeyId); with an alias it does not, so EDEKs made before the alias moved still open.
   */
  readonly keyId: string
  /** Default: the key ARN's region, else $AWS_REGION. */
  readonly region?: string
  /** KMS endpoint URL (a VPC endpoint, or the offline endpoint `envelope-proxy --aws-kms-endpoint`). */
  readonly endpoint?: string
  /** Default: the SDK's default chain. */
  readonly credentials?: AwsCredentialsConfig
  /** A role to assume for this CMK (per tenant). */
  readonly assumeRole?: AwsAssumeRoleConfig
  /** Deadline of one call, retries included (default 5000 ms). */
  readonly timeoutMs?: number
  /** Attempts for a throttled or transient failure, first included (default 3). */
  readonly maxAttempts?: number
  /** First backoff (default 50 ms): doubled per retry, full jitter, capped at 1 s. */
  readonly retryBaseMs?: number
  /** Environment for secrets named by variable and for $AWS_REGION (default process.env). */
  readonly env?: NodeJS.ProcessEnv
}

const KEY_ARN = /^arn:aws[\w-]*:kms:([a-z0-9-]+):\d{12}:(key|alias)\/.+$/
const STATES: Readonly<Record<KeyState, CmkState>> = {
  Enabled: 'enabled',
  Disabled: 'disabled',
  PendingDeletion: 'pending_deletion',
  PendingReplicaDeletion: 'pending_deletion',
  PendingImport: 'pending_import',
  Unavailable: 'unavailable',
  Creating: 'unavailable',
  Updating: 'unavailable',
}
const MAX_CIPHERTEXT = 6144

export class AwsKmsCmk implements CmkClient {
  readonly provider = AWS_KMS_PROVIDER
  readonly keyId: string
  private readonly kms: KMSClient
  private readonly pin: string | undefined
  private readonly timeoutMs: number
  private readonly maxAttempts: number
  private readonly retryBaseMs: number

  constructor(options: AwsKmsCmkOptions) {
    const env = options.env ?? process.env
    if (!options.keyId || options.keyId.length > 2048) throw new ConfigError('AWS KMS: keyId is required')
    const region = options.region ?? KEY_ARN.exec(options.keyId)?.[1] ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION
    if (!region) throw new ConfigError('AWS KMS: no region (give region, a key ARN, or set AWS_REGION)')
    this.keyId = options.keyId
    this.pin = /(^|:)alias\//.test(options.keyId) ? undefined : options.keyId
    this.timeoutMs = options.timeoutMs ?? 5000
    this.maxAttempts = Math.max(1, Math.floor(options.maxAttempts ?? 3))
    this.retryBaseMs = options.retryBaseMs ?? 50
    const credentials = awsCredentials(options.credentials, options.assumeRole, { region, env })
    this.kms = new KMSClient({
      region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      ...(credentials ? { credentials } : {}),
      // our own bounded retries under one deadline (call()); the SDK's logger stays the silent default, since
      // a logging middleware would see plaintexts
      maxAttempts: 1,
      customUserAgent: 'envelope-key-proxy',
    })
  }

  /** One KMS operation under the deadline, with bounded retries. */
  private async call<T>(operation: string, send: (abortSignal: AbortSignal) => Promise<T>, options?: CmkCallOptions) {
    const deadline = AbortSignal.timeout(this.timeoutMs)
    const signal = options?.signal ? AbortSignal.any([options.signal, deadline]) : deadline
    const timedOut = (cause?: unknown) =>
      new ProxyError(
        'ERR_KMS_TIMEOUT',
        options?.signal?.aborted
          ? `AWS KMS ${operation}: cancelled`
          : `AWS KMS ${operation}: no answer within ${this.timeoutMs} ms`,
        { cause },
      )
    let skewRetried = false
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) throw timedOut()
      try {
        return await send(signal)
      } catch (err) {
        if (signal.aborted) throw timedOut(err)
        if (!skewRetried && clockSkewCorrected(err)) {
          skewRetried = true // the SDK re-synced its clock from the KMS's Date header: sign again
          attempt--
          continue
        }
        const { error, retry } = mapAwsKmsError(err, operation)
        if (!retry || attempt >= this.maxAttempts) throw error
        const backoff = Math.random() * Math.min(1000, this.retryBaseMs * 2 ** (attempt - 1))
        await sleep(backoff, undefined, { signal }).catch(() => {})
      }
    }
  }

  async wrap(key: Uint8Array, context: WrapContext, options?: CmkCallOptions): Promise<CmkWrapped> {
    if (key.length !== 32) throw new ProxyError('ERR_BAD_REQUEST', 'only 32-byte keys are wrapped')
    const out = await this.call(
      'Encrypt',
      (abortSignal) =>
        this.kms.send(new EncryptCommand({ KeyId: this.keyId, Plaintext: key, EncryptionContext: { ...context } }), {
          abortSignal,
        }),
      options,
    )
    return { ciphertext: this.blob(out.CiphertextBlob, 'Encrypt'), version: '' }
  }

  async generate(context: WrapContext, options?: CmkCallOptions): Promise<{ key: Uint8Array } & CmkWrapped> {
    const out = await this.call(
      'GenerateDataKey',
      (abortSignal) =>
        this.kms.send(
          new GenerateDataKeyCommand({ KeyId: this.keyId, KeySpec: 'AES_256', EncryptionContext: { ...context } }),
          { abortSignal },
        ),
      options,
    )
    const ciphertext = this.blob(out.CiphertextBlob, 'GenerateDataKey')
    if (out.Plaintext?.length !== 32) {
      out.Plaintext?.fill(0)
      throw new ProxyError('ERR_KMS_UNAVAILABLE', 'AWS KMS GenerateDataKey: the answer holds no 32-byte key')
    }
    return { key: out.Plaintext, ciphertext, version: '' }
  }

  async unwrap(wrapped: CmkWrapped, context: WrapContext, options?: CmkCallOptions): Promise<Uint8Array> {
    const blob = wrapped.ciphertext
    if (blob.length < 1 || blob.length > MAX_CIPHERTEXT) {
      throw new ProxyError('ERR_EDEK_INVALID', `an AWS KMS ciphertext is 1 to ${MAX_CIPHERTEXT} bytes`)
    }
    const out = await this.call(
      'Decrypt',
      (abortSignal) =>
        this.kms.send(
          new DecryptCommand({
            CiphertextBlob: blob,
            EncryptionContext: { ...context },
            ...(this.pin ? { KeyId: this.pin } : {}),
          }),
          { abortSignal },
        ),
      options,
    )
    if (out.Plaintext?.length !== 32) {
      out.Plaintext?.fill(0)
      throw new ProxyError('ERR_EDEK_INVALID', 'AWS KMS Decrypt: the ciphertext does not hold a 32-byte key')
    }
    return out.Plaintext
  }

  /**
   * Re-encrypts a wrap inside AWS KMS (ReEncrypt): to the key's current material after a rotation, to another
   * context, or to another CMK (`to.keyId`, e.g. the customer moving keys), without the key leaving KMS. Needs
   * kms:ReEncryptFrom on this key and kms:ReEncryptTo on the destination.
   * @example
   * const fresh = await cmk.rewrap(old, { tenant: 'acme', purpose: 'lease' })
   * @throws ProxyError as {@link unwrap} and {@link wrap}
   */
  async rewrap(
    wrapped: CmkWrapped,
    context: WrapContext,
    to: { readonly keyId?: string; readonly context?: WrapContext } = {},
    options?: CmkCallOptions,
  ): Promise<CmkWrapped> {
    const blob = wrapped.ciphertext
    if (blob.length < 1 || blob.length > MAX_CIPHERTEXT) {
      throw new ProxyError('ERR_EDEK_INVALID', `an AWS KMS ciphertext is 1 to ${MAX_CIPHERTEXT} bytes`)
    }
    const out = await this.call(
      'ReEncrypt',
      (abortSignal) =>
        this.kms.send(
          new ReEncryptCommand({
            CiphertextBlob: blob,
            SourceEncryptionContext: { ...context },
            ...(this.pin ? { SourceKeyId: this.pin } : {}),
            DestinationKeyId: to.keyId ?? this.keyId,
            DestinationEncryptionContext: { ...(to.context ?? context) },
          }),
          { abortSignal },
        ),
      options,
    )
    return { ciphertext: this.blob(out.CiphertextBlob, 'ReEncrypt'), version: '' }
  }

  async describe(options?: CmkCallOptions): Promise<CmkStatus> {
    const out = await this.call(
      'DescribeKey',
      (abortSignal) => this.kms.send(new DescribeKeyCommand({ KeyId: this.keyId }), { abortSignal }),
      options,
    )
    const m = out.KeyMetadata
    if (!m?.KeyState) throw new ProxyError('ERR_KMS_UNAVAILABLE', 'AWS KMS DescribeKey: the answer has no key state')
    return {
      state: STATES[m.KeyState] ?? 'unavailable',
      managedBy: 'customer',
      keyRef: m.Arn ?? this.keyId,
      ...(m.DeletionDate ? { deletionDate: m.DeletionDate.toISOString() } : {}),
    }
  }

  async close(): Promise<void> {
    this.kms.destroy()
  }

  private blob(b: Uint8Array | undefined, operation: string): Uint8Array {
    if (!b?.length) throw new ProxyError('ERR_KMS_UNAVAILABLE', `AWS KMS ${operation}: the answer has no ciphertext`)
    return b
  }
}

/**
 * A CMK client for one key in the customer's AWS KMS.
 * @example
 * const cmk = createAwsKmsCmk({
 *   keyId: 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
 *   assumeRole: { roleArn: 'arn:aws:iam::111122223333:role/envelope-proxy', externalId: 'acme' },
 * })
 * const { key, ciphertext } = await cmk.generate({ tenant: 'acme', purpose: 'lease' })
 * @throws ConfigError on a missing region, malformed key id or role ARN, or an unreadable secret file
 */
export function createAwsKmsCmk(options: AwsKmsCmkOptions): AwsKmsCmk {
  return new AwsKmsCmk(options)
}
