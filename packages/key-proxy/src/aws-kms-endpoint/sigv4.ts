/**
 * AWS Signature Version 4, checked on the server side: the Authorization header parsed, its credential scope
 * (date, region, service) and clock skew checked, then the signature recomputed from the request as received
 * (method, path, query, the signed headers, the SHA-256 of the body) and compared in constant time. The
 * refusals carry the types and messages AWS's JSON services answer with.
 * @module
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { KmsApiError } from './api-error.ts'

/** A request as received: lower-case header names, the raw path and query, the exact body bytes. */
export interface SignedRequest {
  readonly method: string
  readonly path: string
  /** Raw query string without `?` (`''` when none). */
  readonly query: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: Uint8Array
}

/** What the Authorization header claims, before the secret is known. */
export interface SigV4Claim {
  readonly accessKeyId: string
  /** YYYYMMDD of the credential scope. */
  readonly date: string
  readonly region: string
  readonly service: string
  readonly signedHeaders: readonly string[]
  readonly signature: string
  /** `X-Amz-Date`, e.g. `20260101T120000Z`. */
  readonly amzDate: string
}

export const ALGORITHM = 'AWS4-HMAC-SHA256'
/** AWS refuses a request signed more than 5 minutes before or after its own clock. */
export const MAX_SKEW_MS = 5 * 60_000

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/

export function parseAmzDate(value: string): number | undefined {
  const m = AMZ_DATE.exec(value)
  if (!m) return undefined
  const t = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)
  return Number.isNaN(t) ? undefined : t
}

export function formatAmzDate(ms: number): string {
  return new Date(ms)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '')
}

/**
 * Parses and checks everything but the signature itself: the header's form, the scope (`region`, `service`,
 * `aws4_request`, the date of `X-Amz-Date`), the headers that must be signed, and the clock skew.
 * @throws KmsApiError MissingAuthenticationTokenException, IncompleteSignatureException, InvalidSignatureException
 */
export function readSigV4(
  request: SignedRequest,
  expected: { readonly region: string; readonly service: string; readonly mustSign?: readonly string[] },
  nowMs: number,
): SigV4Claim {
  const auth = request.headers.authorization
  if (!auth) throw new KmsApiError('MissingAuthenticationTokenException', 'Missing Authentication Token')
  if (auth.length > 4096 || !auth.startsWith(`${ALGORITHM} `)) {
    throw new KmsApiError('IncompleteSignatureException', `Authorization header requires the ${ALGORITHM} algorithm.`)
  }
  const parts = new Map<string, string>()
  for (const part of auth.slice(ALGORITHM.length + 1).split(',')) {
    const eq = part.indexOf('=')
    if (eq > 0) parts.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim())
  }
  const missing = ['Credential', 'SignedHeaders', 'Signature'].filter((k) => !parts.get(k))
  if (missing.length) {
    throw new KmsApiError(
      'IncompleteSignatureException',
      missing.map((k) => `Authorization header requires '${k}' parameter.`).join(' '),
    )
  }
  const scope = parts.get('Credential')!.split('/')
  if (scope.length !== 5 || !scope[0]) {
    throw new KmsApiError('IncompleteSignatureException', 'Credential must have exactly 5 slash-delimited elements.')
  }
  const [accessKeyId, date, region, service, terminator] = scope as [string, string, string, string, string]
  const amzDate = request.headers['x-amz-date'] ?? ''
  const signedAt = parseAmzDate(amzDate)
  if (signedAt === undefined) {
    throw new KmsApiError(
      'IncompleteSignatureException',
      "Authorization header requires existence of a valid 'X-Amz-Date' header.",
    )
  }
  if (terminator !== 'aws4_request') {
    throw new KmsApiError(
      'InvalidSignatureException',
      `Credential should be scoped with a valid terminator: 'aws4_request', not '${terminator.slice(0, 64)}'.`,
    )
  }
  if (date !== amzDate.slice(0, 8)) {
    throw new KmsApiError(
      'InvalidSignatureException',
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${date.slice(0, 16)}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
    )
  }
  if (region !== expected.region) {
    throw new KmsApiError('InvalidSignatureException', 'Credential should be scoped to a valid region.')
  }
  if (service !== expected.service) {
    throw new KmsApiError(
      'InvalidSignatureException',
      `Credential should be scoped to correct service: '${expected.service}'.`,
    )
  }
  const signedHeaders = parts.get('SignedHeaders')!.split(';')
  for (const name of ['host', 'x-amz-date', ...(expected.mustSign ?? [])]) {
    if (!signedHeaders.includes(name)) {
      throw new KmsApiError(
        'IncompleteSignatureException',
        `'${name}' must be a 'SignedHeader' in the AWS Authorization.`,
      )
    }
  }
  for (const name of signedHeaders) {
    if (request.headers[name] === undefined) {
      throw new KmsApiError('IncompleteSignatureException', `Signed header '${name.slice(0, 64)}' is missing.`)
    }
  }
  if (signedAt < nowMs - MAX_SKEW_MS) {
    throw new KmsApiError(
      'InvalidSignatureException',
      `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(nowMs - MAX_SKEW_MS)} (${formatAmzDate(nowMs)} - 5 min.)`,
    )
  }
  if (signedAt > nowMs + MAX_SKEW_MS) {
    throw new KmsApiError(
      'InvalidSignatureException',
      `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(nowMs + MAX_SKEW_MS)} (${formatAmzDate(nowMs)} + 5 min.)`,
    )
  }
  const signature = parts.get('Signature')!
  return { accessKeyId, date, region, service, signedHeaders, signature, amzDate }
}

/** RFC 3986 percent-encoding, as SigV4 canonicalises names and values. */
function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
}

function canonicalUri(path: string): string {
  // As the AWS SDKs for every service but S3: dot segments removed, each segment encoded once more.
  const segments: string[] = []
  for (const s of path.split('/')) {
    if (s === '' || s === '.') continue
    if (s === '..') segments.pop()
    else segments.push(s)
  }
  const joined = `/${segments.join('/')}${segments.length && path.endsWith('/') ? '/' : ''}`
  return joined
    .split('/')
    .map((s) => rfc3986(s))
    .join('/')
}

function canonicalQuery(query: string): string {
  if (!query) return ''
  const pairs: Array<[string, string]> = []
  for (const p of query.split('&')) {
    if (!p) continue
    const eq = p.indexOf('=')
    const [k, v] = eq < 0 ? [p, ''] : [p.slice(0, eq), p.slice(eq + 1)]
    let key: string
    let value: string
    try {
      key = decodeURIComponent(k)
      value = decodeURIComponent(v)
    } catch {
      throw new KmsApiError('IncompleteSignatureException', 'The query string is not well-formed.')
    }
    pairs.push([rfc3986(key), rfc3986(value)])
  }
  pairs.sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
  return pairs.map(([k, v]) => `${k}=${v}`).join('&')
}

const sha256Hex = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex')
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data).digest()

/** The hex signature of `request` under `secret` for the claimed scope and signed headers. */
export function sigV4Signature(request: SignedRequest, claim: SigV4Claim, secret: string): string {
  const headers = [...claim.signedHeaders].sort()
  const canonicalRequest = [
    request.method.toUpperCase(),
    canonicalUri(request.path),
    canonicalQuery(request.query),
    ...headers.map((h) => `${h}:${(request.headers[h] ?? '').trim().replace(/\s+/g, ' ')}`),
    '',
    headers.join(';'),
    sha256Hex(request.body),
  ].join('\n')
  const scope = `${claim.date}/${claim.region}/${claim.service}/aws4_request`
  const toSign = `${ALGORITHM}\n${claim.amzDate}\n${scope}\n${sha256Hex(canonicalRequest)}`
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, claim.date), claim.region), claim.service), 'aws4_request')
  return createHmac('sha256', key).update(toSign).digest('hex')
}

/**
 * Recomputes the signature and compares it in constant time.
 * @throws KmsApiError InvalidSignatureException when it differs (wrong secret, altered request or body)
 */
export function checkSigV4(request: SignedRequest, claim: SigV4Claim, secret: string): void {
  const expected = Buffer.from(sigV4Signature(request, claim, secret), 'hex')
  const wellFormed = /^[0-9a-f]{64}$/.test(claim.signature)
  if (!wellFormed || !timingSafeEqual(expected, Buffer.from(claim.signature, 'hex'))) {
    throw new KmsApiError(
      'InvalidSignatureException',
      'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.',
    )
  }
}
