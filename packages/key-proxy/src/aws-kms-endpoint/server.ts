/**
 * An AWS-KMS-compatible endpoint on a local port: keys kept in a data folder, served over AWS KMS's JSON
 * protocol (`POST /`, `X-Amz-Target: TrentService.<Op>`, `application/x-amz-json-1.1`) with SigV4 checked,
 * plus STS AssumeRole, so `@aws-sdk/client-kms`, `fromTemporaryCredentials` and the AWS CLI talk to it as to AWS.
 * An offline KMS for development, and the KMS the AWS backend's tests and benchmarks run against.
 *
 * Data folder: `aws-kms-root.key` (the root key sealing key material), `aws-kms-keys.json` (keys and aliases),
 * `aws-kms-endpoint.json` (URL, region, account, access keys, control token) and `aws-kms-credentials` (the
 * first access key as an AWS shared credentials file), all 0600.
 *
 * Control route (not part of AWS's API), loopback callers with `Authorization: Bearer <controlToken>` only:
 * `GET /_envelope/control` → `{faults, stats, clockOffsetMs}`; `POST /_envelope/control` with
 * `{faults?, advanceClockMs?, resetStats?}` (faults replace the current ones; see {@link AwsKmsFaults}).
 * @module
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { KmsApiError } from './api-error.ts'
import { type AwsKmsCallStats, type AwsKmsFaults, FaultInjector, validateFaults } from './faults.ts'
import { KeyStore, writeFileAtomic } from './key-store.ts'
import { KMS_OPERATIONS, runKmsOperation } from './operations.ts'
import {
  type AccessKey,
  newAccessKeyId,
  newSecretAccessKey,
  type Principal,
  Principals,
  type RoleConfig,
} from './principals.ts'
import { checkSigV4, readSigV4, type SignedRequest } from './sigv4.ts'
import { runStsAction, stsError } from './sts.ts'

export const CONTROL_PATH = '/_envelope/control'
export const DEFAULT_REGION = 'us-east-1'
/** AWS's documentation account id. */
export const DEFAULT_ACCOUNT_ID = '111122223333'
const MAX_BODY_BYTES = 64 * 1024

export interface AwsKmsEndpointOptions {
  /** Folder of the keys, root key and credentials files (made 0700 when missing). */
  readonly dataDir: string
  /** Default 127.0.0.1. */
  readonly host?: string
  /** Default 0: a free port. */
  readonly port?: number
  /** The region requests must be signed for (default us-east-1). */
  readonly region?: string
  /** 12 digits (default 111122223333). */
  readonly accountId?: string
  /** Accepted access keys. Default: those of the data folder's `aws-kms-endpoint.json`, or one made on first start. */
  readonly accessKeys?: readonly AccessKey[]
  /** Roles STS AssumeRole hands out. Default: any role ARN of the account, to any access key. */
  readonly roles?: readonly RoleConfig[]
  /** Faults from the start (default none). */
  readonly faults?: AwsKmsFaults
  /** Clock of the key lifecycle (deletion dates), epoch ms; {@link AwsKmsEndpoint.advanceClock} adds to it. */
  readonly now?: () => number
  /** Clock that SigV4 skew and STS session expiry are judged by (default the system clock). */
  readonly signatureNow?: () => number
}

/** What `aws-kms-endpoint.json` holds: everything a client needs to call the endpoint. */
export interface AwsKmsEndpointInfo {
  readonly format: 'envelope-aws-kms-endpoint/1'
  readonly url: string
  readonly region: string
  readonly accountId: string
  readonly accessKeys: readonly AccessKey[]
  readonly controlToken: string
}

export interface AwsKmsEndpoint {
  /** e.g. `http://127.0.0.1:40123`: the SDK's `endpoint`. */
  readonly url: string
  readonly region: string
  readonly accountId: string
  /** The first accepted access key. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string }
  /** `aws-kms-endpoint.json` ({@link AwsKmsEndpointInfo}). */
  readonly infoFile: string
  /** `aws-kms-credentials`: for `AWS_SHARED_CREDENTIALS_FILE` (profile `default`). */
  readonly sharedCredentialsFile: string
  readonly controlToken: string
  /** Replaces every fault; returns them as normalised. @throws TypeError on a bad fault */
  setFaults(faults: AwsKmsFaults): AwsKmsFaults
  readonly faults: AwsKmsFaults
  readonly stats: AwsKmsCallStats
  resetStats(): void
  /** Makes a key (as CreateKey, and CreateAlias when `alias` is given). @throws KmsApiError on a taken or bad alias */
  createKey(options?: { readonly description?: string; readonly alias?: string }): { keyId: string; arn: string }
  /** The key `alias` names, made (with the alias) when there is none. */
  ensureKey(alias: string): { keyId: string; arn: string }
  /** Moves the lifecycle clock forward (a deletion waiting period passing). */
  advanceClock(ms: number): void
  /** Stops listening and drops open connections. */
  close(): Promise<void>
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address
  return v4 === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(v4)
}

function readSecretFile(path: string, make: () => string): string {
  if (!existsSync(path)) writeFileSync(path, `${make()}\n`, { mode: 0o600, flag: 'wx' })
  chmodSync(path, 0o600)
  return readFileSync(path, 'utf8').trim()
}

/** Reads a request body, refusing more than `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolveBody, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > max) {
        resolveBody(undefined)
        req.pause()
      } else chunks.push(c)
    })
    req.on('end', () => resolveBody(Buffer.concat(chunks)))
    req.on('error', reject)
    req.on('close', () => reject(new Error('request closed before its end'))) // no-op after 'end'
  })
}

/**
 * Starts the endpoint.
 * @example
 * const kms = await startAwsKmsEndpoint({ dataDir: '/tmp/kms', faults: { latencyMs: 20 } })
 * const client = new KMSClient({ endpoint: kms.url, region: kms.region, credentials: kms.credentials })
 * @throws Error when the data folder's files cannot be read (a damaged key file is never overwritten), or the
 * port is taken
 */
export async function startAwsKmsEndpoint(options: AwsKmsEndpointOptions): Promise<AwsKmsEndpoint> {
  const dataDir = resolve(options.dataDir)
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const region = options.region ?? DEFAULT_REGION
  const accountId = options.accountId ?? DEFAULT_ACCOUNT_ID
  if (!/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(region)) throw new TypeError(`region "${region}" is not an AWS region name`)
  if (!/^\d{12}$/.test(accountId)) throw new TypeError('accountId must be 12 digits')

  const rootKey = Buffer.from(
    readSecretFile(join(dataDir, 'aws-kms-root.key'), () => randomBytes(32).toString('base64url')),
    'base64url',
  )
  if (rootKey.length !== 32) throw new Error('aws-kms-root.key must hold 32 bytes in base64url')
  const infoFile = join(dataDir, 'aws-kms-endpoint.json')
  const previous = existsSync(infoFile) ? (JSON.parse(readFileSync(infoFile, 'utf8')) as AwsKmsEndpointInfo) : undefined
  const accessKeys = options.accessKeys ??
    previous?.accessKeys ?? [{ accessKeyId: newAccessKeyId('AKIA'), secretAccessKey: newSecretAccessKey() }]
  if (!accessKeys.length) throw new TypeError('at least one access key is needed')
  const controlToken = previous?.controlToken ?? randomBytes(24).toString('base64url')

  let clockOffset = 0
  const lifecycleNow = () => (options.now?.() ?? Date.now()) + clockOffset
  const signatureNow = options.signatureNow ?? Date.now
  const store = new KeyStore({ file: join(dataDir, 'aws-kms-keys.json'), rootKey, now: lifecycleNow })
  const principals = new Principals({
    accessKeys,
    roles: options.roles,
    sessionKey: createHmac('sha256', rootKey).update('envelope-aws-kms-endpoint/1 sts sessions').digest(),
    accountId,
  })
  const faults = new FaultInjector(options.faults)
  const scope = { region, accountId, store }
  const waits = new Set<AbortController>()

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
    res.end(text)
  }
  const kmsAnswer = (res: ServerResponse, requestId: string, status: number, body: unknown, type?: string) => {
    json(res, status, body, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-requestid': requestId,
      ...(type ? { 'x-amzn-errortype': type } : {}),
    })
  }

  function authenticate(request: SignedRequest, service: 'kms' | 'sts'): Principal {
    const now = signatureNow()
    const claim = readSigV4(request, { region, service, mustSign: service === 'kms' ? ['x-amz-target'] : [] }, now)
    const { secret, principal } = principals.resolve(claim.accessKeyId, request.headers['x-amz-security-token'], now)
    checkSigV4(request, claim, secret)
    return principal
  }

  function kms(request: SignedRequest, target: string): Record<string, unknown> {
    const principal = authenticate(request, 'kms')
    const op = target.startsWith('TrentService.') ? target.slice('TrentService.'.length) : undefined
    if (op === undefined) throw new KmsApiError('UnknownOperationException', 'The operation is not known.')
    const throttled = faults.countCall(KMS_OPERATIONS.includes(op) ? op : 'unsupported')
    let input: unknown
    try {
      input = request.body.length ? JSON.parse(new TextDecoder().decode(request.body)) : {}
    } catch {
      throw new KmsApiError('SerializationException', 'The request body is not JSON.')
    }
    if (faults.isDenied(principal)) {
      faults.countDenied()
      const keyId = (input as { KeyId?: unknown })?.KeyId
      const resource =
        typeof keyId === 'string' && keyId.startsWith('arn:')
          ? keyId.slice(0, 256)
          : `arn:aws:kms:${region}:${accountId}:key/${typeof keyId === 'string' ? keyId.slice(0, 64) : '*'}`
      throw new KmsApiError(
        'AccessDeniedException',
        `User: ${principal.arn} is not authorized to perform: kms:${op.slice(0, 64)} on resource: ${resource} because no resource-based policy allows the kms:${op.slice(0, 64)} action`,
      )
    }
    if (throttled) {
      throw new KmsApiError(
        'ThrottlingException',
        'You have exceeded the rate at which you may call KMS. Reduce the frequency of your calls.',
      )
    }
    return runKmsOperation(op, input, scope)
  }

  function sts(request: SignedRequest, requestId: string): string {
    const principal = authenticate(request, 'sts')
    const params = new URLSearchParams(new TextDecoder().decode(request.body))
    const roleArn = params.get('RoleArn')
    if (faults.isDenied(principal) || (roleArn && faults.isDenied({ accessKeyId: '', arn: roleArn, roleArn }))) {
      throw new KmsApiError(
        'AccessDeniedException',
        `User: ${principal.arn} is not authorized to perform: sts:${(params.get('Action') ?? '').slice(0, 64)} on resource: ${(roleArn ?? '*').slice(0, 256)}`,
      )
    }
    return runStsAction(params, principal, principals, signatureNow(), requestId)
  }

  async function control(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const given = Buffer.from((req.headers.authorization ?? '').replace(/^Bearer /, ''))
    const want = Buffer.from(controlToken)
    if (!isLoopback(req.socket.remoteAddress) || given.length !== want.length || !timingSafeEqual(given, want)) {
      return json(res, 403, { error: 'the control route takes loopback callers with the control token only' })
    }
    if (req.method === 'POST') {
      let input: { faults?: unknown; advanceClockMs?: unknown; resetStats?: unknown }
      try {
        input = JSON.parse(body.toString('utf8'))
        if (input.faults !== undefined) faults.set(validateFaults(input.faults))
        if (input.advanceClockMs !== undefined) {
          if (
            typeof input.advanceClockMs !== 'number' ||
            !Number.isFinite(input.advanceClockMs) ||
            input.advanceClockMs < 0
          ) {
            throw new TypeError('advanceClockMs must be a number ≥ 0')
          }
          clockOffset += input.advanceClockMs
        }
        if (input.resetStats === true) faults.resetStats()
      } catch (err) {
        return json(res, 400, { error: (err as Error).message.slice(0, 256) })
      }
    } else if (req.method !== 'GET') return json(res, 405, { error: 'GET or POST' })
    json(res, 200, { faults: faults.faults, stats: faults.stats, clockOffsetMs: clockOffset })
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID()
    const raw = req.url ?? '/'
    const q = raw.indexOf('?')
    const path = q < 0 ? raw : raw.slice(0, q)
    const query = q < 0 ? '' : raw.slice(q + 1)
    const body = await readBody(req, MAX_BODY_BYTES)
    if (!body) {
      res.setHeader('connection', 'close')
      return kmsAnswer(res, requestId, 413, { __type: 'ValidationException', message: 'Request body too large' })
    }
    if (path === CONTROL_PATH) return control(req, res, body)
    const headers: Record<string, string> = {}
    for (const [k, v] of Object.entries(req.headers))
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v
    const request: SignedRequest = { method: req.method ?? 'GET', path, query, headers, body }
    const target = headers['x-amz-target']
    const isSts = !target && (headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')
    if (faults.latencyMs) {
      const wait = new AbortController()
      waits.add(wait)
      await sleep(faults.latencyMs, undefined, { signal: wait.signal }).catch(() => {})
      waits.delete(wait)
      if (wait.signal.aborted) return void res.destroy()
    }
    try {
      if (path !== '/' || req.method !== 'POST') throw new KmsApiError('UnknownOperationException', 'POST / only.')
      if (isSts) {
        const text = sts(request, requestId)
        res.writeHead(200, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId })
        return void res.end(text)
      }
      if (!target) throw new KmsApiError('UnknownOperationException', 'X-Amz-Target is missing.')
      kmsAnswer(res, requestId, 200, kms(request, target))
    } catch (err) {
      const e =
        err instanceof KmsApiError
          ? err
          : new KmsApiError('KMSInternalException', `internal error (request ${requestId})`)
      if (!(err instanceof KmsApiError)) {
        console.error(`aws-kms-endpoint: internal error in request ${requestId}: ${(err as Error)?.message ?? err}`)
      }
      if (isSts) {
        const { status, body: text } = stsError(e, requestId)
        res.writeHead(status, { 'content-type': 'text/xml', 'x-amzn-requestid': requestId })
        return void res.end(text)
      }
      kmsAnswer(res, requestId, e.status, { __type: e.type, message: e.message }, e.type)
    }
  }

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy())
  })
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => ok())
  })
  const address = server.address() as AddressInfo
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `http://${host}:${address.port}`
  const info: AwsKmsEndpointInfo = {
    format: 'envelope-aws-kms-endpoint/1',
    url,
    region,
    accountId,
    accessKeys,
    controlToken,
  }
  writeFileAtomic(infoFile, JSON.stringify(info, null, 2))
  const sharedCredentialsFile = join(dataDir, 'aws-kms-credentials')
  writeFileAtomic(
    sharedCredentialsFile,
    `[default]\naws_access_key_id = ${accessKeys[0]!.accessKeyId}\naws_secret_access_key = ${accessKeys[0]!.secretAccessKey}\n`,
  )

  const endpoint: AwsKmsEndpoint = {
    url,
    region,
    accountId,
    credentials: { accessKeyId: accessKeys[0]!.accessKeyId, secretAccessKey: accessKeys[0]!.secretAccessKey },
    infoFile,
    sharedCredentialsFile,
    controlToken,
    setFaults: (f) => faults.set(f),
    get faults() {
      return faults.faults
    },
    get stats() {
      return faults.stats
    },
    resetStats: () => faults.resetStats(),
    createKey(o = {}) {
      if (
        o.alias !== undefined &&
        (!/^alias\/[a-zA-Z0-9/_-]{1,250}$/.test(o.alias) || o.alias.startsWith('alias/aws/'))
      ) {
        throw new KmsApiError('InvalidAliasNameException', `${o.alias.slice(0, 256)} is not an alias name`)
      }
      if (o.alias !== undefined && store.alias(o.alias)) {
        throw new KmsApiError('AlreadyExistsException', `An alias with the name ${o.alias} already exists`)
      }
      const k = store.create(o.description ?? '')
      if (o.alias !== undefined) store.setAlias(o.alias, k.keyId)
      return { keyId: k.keyId, arn: `arn:aws:kms:${region}:${accountId}:key/${k.keyId}` }
    },
    ensureKey(alias) {
      const target = store.alias(alias)?.target
      if (target) return { keyId: target, arn: `arn:aws:kms:${region}:${accountId}:key/${target}` }
      return endpoint.createKey({ alias })
    },
    advanceClock(ms) {
      if (!Number.isFinite(ms) || ms < 0) throw new TypeError('advanceClock takes a number of ms ≥ 0')
      clockOffset += ms
    },
    close: () =>
      new Promise<void>((done) => {
        for (const w of waits) w.abort()
        server.close(() => done())
        server.closeAllConnections()
      }),
  }
  return endpoint
}
