/**
 * Who may call the endpoint: long-term access keys (IAM users) and the temporary credentials STS AssumeRole
 * hands out for a role. Temporary credentials are stateless: the session token is an HMAC-authenticated record
 * of (access key id, role, session, expiry), and the secret access key is derived from the access key id, both
 * under a session key derived from the root key, so they survive a restart of the endpoint and expire on time.
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { KmsApiError } from './api-error.ts'

export interface AccessKey {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  /** The IAM identity it stands for, in messages (default `arn:aws:iam::<account>:user/<accessKeyId>`). */
  readonly arn?: string
}

/** A role that STS AssumeRole may hand out. */
export interface RoleConfig {
  /** `arn:aws:iam::<account>:role/<name>`. */
  readonly arn: string
  /** When set, AssumeRole must present it (AWS's confused-deputy guard). */
  readonly externalId?: string
  /** Access key ids allowed to assume it (default: every access key of the endpoint). */
  readonly trustedAccessKeyIds?: readonly string[]
}

/** The caller of one request. */
export interface Principal {
  readonly accessKeyId: string
  /** The IAM user, or `arn:aws:sts::<account>:assumed-role/<role>/<session>`. */
  readonly arn: string
  readonly roleArn?: string
  /** For temporary credentials: the long-term access key that assumed the role. */
  readonly sourceAccessKeyId?: string
}

export interface TemporaryCredentials {
  readonly accessKeyId: string
  readonly secretAccessKey: string
  readonly sessionToken: string
  readonly expiration: number
  readonly assumedRoleArn: string
  readonly assumedRoleId: string
}

interface SessionRecord {
  readonly v: 1
  /** access key id */
  readonly k: string
  /** role ARN */
  readonly r: string
  /** session name */
  readonly s: string
  /** source access key id */
  readonly a: string
  /** expiry, epoch ms */
  readonly x: number
}

const ROLE_ARN = /^arn:aws:iam::(\d{12}):role\/((?:[\w+=,.@-]+\/)*)([\w+=,.@-]{1,64})$/
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** A random access key id: `AKIA…` (long-term) or `ASIA…` (temporary), 20 characters as AWS's. */
export function newAccessKeyId(prefix: 'AKIA' | 'ASIA'): string {
  return prefix + [...randomBytes(16)].map((b) => BASE32[b & 31]).join('')
}

/** A random 40-character secret access key. */
export function newSecretAccessKey(): string {
  return randomBytes(30).toString('base64').replace(/\+/g, 'A').replace(/\//g, 'B')
}

export class Principals {
  private readonly keys: ReadonlyMap<string, AccessKey>
  private readonly roles: ReadonlyMap<string, RoleConfig> | undefined
  private readonly sessionKey: Buffer
  readonly accountId: string

  constructor(options: {
    readonly accessKeys: readonly AccessKey[]
    /** undefined: any role ARN of the account may be assumed by any access key. */
    readonly roles?: readonly RoleConfig[]
    readonly sessionKey: Uint8Array
    readonly accountId: string
  }) {
    this.keys = new Map(options.accessKeys.map((k) => [k.accessKeyId, k]))
    this.roles = options.roles && new Map(options.roles.map((r) => [r.arn, r]))
    this.sessionKey = Buffer.from(options.sessionKey)
    this.accountId = options.accountId
  }

  private mac(label: string, data: string): Buffer {
    return createHmac('sha256', this.sessionKey).update(`${label}\n${data}`).digest()
  }

  /**
   * The secret to check a signature with, and who signs, for an access key id (and session token).
   * @throws KmsApiError UnrecognizedClientException (unknown key, bad token), ExpiredTokenException
   */
  resolve(
    accessKeyId: string,
    sessionToken: string | undefined,
    nowMs: number,
  ): { secret: string; principal: Principal } {
    const longTerm = this.keys.get(accessKeyId)
    if (longTerm && sessionToken === undefined) {
      const arn = longTerm.arn ?? `arn:aws:iam::${this.accountId}:user/${accessKeyId}`
      return { secret: longTerm.secretAccessKey, principal: { accessKeyId, arn } }
    }
    const invalid = new KmsApiError(
      'UnrecognizedClientException',
      'The security token included in the request is invalid.',
    )
    if (!sessionToken || sessionToken.length > 2048) throw invalid
    const dot = sessionToken.indexOf('.')
    if (dot < 0) throw invalid
    const body = sessionToken.slice(0, dot)
    const tag = Buffer.from(sessionToken.slice(dot + 1), 'base64url')
    const want = this.mac('session', body)
    if (tag.length !== want.length || !timingSafeEqual(tag, want)) throw invalid
    const rec = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as SessionRecord
    if (rec.v !== 1 || rec.k !== accessKeyId) throw invalid
    if (rec.x <= nowMs) {
      throw new KmsApiError('ExpiredTokenException', 'The security token included in the request is expired')
    }
    const roleName = ROLE_ARN.exec(rec.r)?.[3] ?? 'role'
    return {
      secret: this.secretOf(accessKeyId),
      principal: {
        accessKeyId,
        arn: `arn:aws:sts::${this.accountId}:assumed-role/${roleName}/${rec.s}`,
        roleArn: rec.r,
        sourceAccessKeyId: rec.a,
      },
    }
  }

  private secretOf(temporaryAccessKeyId: string): string {
    return this.mac('secret', temporaryAccessKeyId).toString('base64').slice(0, 40)
  }

  /**
   * STS AssumeRole: temporary credentials for `roleArn`, if `caller` may assume it.
   * @throws KmsApiError ValidationException (malformed input), AccessDeniedException (not trusted, wrong external id)
   */
  assumeRole(
    caller: Principal,
    input: { roleArn: string; sessionName: string; durationSeconds: number; externalId?: string },
    nowMs: number,
  ): TemporaryCredentials {
    const m = ROLE_ARN.exec(input.roleArn)
    if (!m) throw new KmsApiError('ValidationException', `${input.roleArn.slice(0, 256)} is not a valid role ARN`)
    if (!SESSION_NAME.test(input.sessionName)) {
      throw new KmsApiError('ValidationException', 'RoleSessionName must be 2-64 of [\\w+=,.@-]')
    }
    if (!Number.isInteger(input.durationSeconds) || input.durationSeconds < 900 || input.durationSeconds > 43_200) {
      throw new KmsApiError('ValidationException', 'DurationSeconds must be 900 to 43200')
    }
    const denied = new KmsApiError(
      'AccessDeniedException',
      `User: ${caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${input.roleArn}`,
    )
    if (caller.roleArn) throw denied // role chaining is not modelled
    const role = this.roles ? this.roles.get(input.roleArn) : { arn: input.roleArn }
    if (!role || m[1] !== this.accountId) throw denied
    if (role.trustedAccessKeyIds && !role.trustedAccessKeyIds.includes(caller.accessKeyId)) throw denied
    if (role.externalId !== undefined && role.externalId !== input.externalId) throw denied
    const accessKeyId = newAccessKeyId('ASIA')
    const expiration = nowMs + input.durationSeconds * 1000
    const rec: SessionRecord = {
      v: 1,
      k: accessKeyId,
      r: input.roleArn,
      s: input.sessionName,
      a: caller.accessKeyId,
      x: expiration,
    }
    const body = Buffer.from(JSON.stringify(rec)).toString('base64url')
    const roleId = `AROA${this.mac('role', input.roleArn).toString('hex').slice(0, 17).toUpperCase()}`
    return {
      accessKeyId,
      secretAccessKey: this.secretOf(accessKeyId),
      sessionToken: `${body}.${this.mac('session', body).toString('base64url')}`,
      expiration,
      assumedRoleArn: `arn:aws:sts::${this.accountId}:assumed-role/${m[3]}/${input.sessionName}`,
      assumedRoleId: `${roleId}:${input.sessionName}`,
    }
  }
}
