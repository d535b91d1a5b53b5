/**
 * A {@link KeyProvider} that gets data keys from the envelope key proxy over `fetch`, in any runtime with
 * fetch and WebCrypto. DEKs arrive wrapped to an ephemeral key of this client and land in non-extractable
 * `CryptoKey`s (see protocol.ts).
 * @module
 */
import {
  AbortedError,
  type DataKey,
  type Edek,
  type EncryptionContext,
  EnvelopeError,
  encodeContext,
  type GenerateOptions,
  type KeyProvider,
  type ProviderCallOptions,
  type UnwrapRequest,
  type UnwrapResult,
} from '@envelope/core'
import type { DekCache } from '@envelope/idb-cache'
import { withDekCache } from '@envelope/idb-cache/with-dek-cache'
import { decodeJwt } from 'jose'
import { BaseUrls, checkBaseUrls } from './base-urls.ts'
import { KeyProxyError } from './errors.ts'
import {
  API_PREFIX,
  type BatchUnwrapResponseJson,
  type EdekJson,
  edekFromJson,
  edekToJson,
  type GenerateResponseJson,
  generateDeliveryKeyPair,
  newNonce,
  openDelivery,
  type RekeyResponseJson,
  readNonce,
  reasonProblem,
  toBase64url,
  unwrapDelivered,
} from './protocol.ts'

/**
 * Options of {@link createKeyProxyClient}: where the proxy is, how to authenticate, timeouts, retries, batching, a cache.
 *
 * @example
 * ```ts
 * const options: KeyProxyClientOptions = {
 *   baseUrl: 'https://keys.example.com',
 *   getToken: ({ refresh }) => session.token({ refresh }),
 *   timeoutMs: 3000,
 *   retries: 1,
 * }
 * ```
 */
export interface KeyProxyClientOptions {
  /**
   * The proxy's base URL, e.g. `https://keys.example.com`, or several instances' to fail over between (a
   * connection failure, timeout, 5xx or 429 moves to the next at once). Plain `http://` only to loopback
   * unless `allowInsecureHttp` (base-urls.ts).
   */
  readonly baseUrl: string | readonly string[]
  /** Allows plain `http://` base URLs beyond loopback (TLS ends in front of the proxy). Default false. */
  readonly allowInsecureHttp?: boolean
  /** The fetch to use (default `globalThis.fetch`). */
  readonly fetch?: typeof fetch
  /** An end user's JWT; called again with `{ refresh: true }` once after a 401. */
  readonly getToken?: (options: { refresh: boolean }) => string | Promise<string>
  /** A service API key (sent as `Authorization: ApiKey …`), for servers; never ship one to a browser. */
  readonly apiKey?: string
  /**
   * The tenant to act for: required with an API key; with `getToken`, by default the token's `tenantClaim`.
   * Every data key the client accepts is checked to be this tenant's (docs/key-proxy-api.md, "DEK delivery").
   */
  readonly tenant?: string
  /** With `getToken` and no `tenant`: the claim of the JWT that names its tenant. Default `tenant`. */
  readonly tenantClaim?: string
  /** Per attempt. Default 5000 ms. */
  readonly timeoutMs?: number
  /** Retries after the first attempt on network errors, 5xx and 429. Default 2, or one per other base URL. */
  readonly retries?: number
  /** Unwraps issued within this window go out as one batch request. Default 2 ms; 0 sends each at once. */
  readonly batchWindowMs?: number
  /** Most unwraps in one batch request. Default 100. */
  readonly maxBatch?: number
  /** Longest Retry-After the client waits for; a longer one fails at once. Default 10 000 ms. */
  readonly maxRetryAfterMs?: number
  /** How long one delivery key pair is used before a new one is made. Default 10 minutes. */
  readonly deliveryKeyTtlMs?: number
  /** Waits between retries (injectable for tests). Default: a timer. */
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>
  /**
   * Why this client's unwraps are made, sent with each and written in the audit lines (the operator's and the
   * tenant's), as Google Workspace CSE's key service takes one: 1 to 1024 UTF-8 bytes, no control characters
   * (else `ERR_BAD_REQUEST` at once). With `cache`, a hit never reaches the proxy, so it is in no audit line. Per
   * use: {@link KeyProxyClient.withReason}.
   */
  readonly reason?: string
  /**
   * An EDEK→DEK cache in front of the proxy (`@envelope/idb-cache`): a hit never calls the proxy, concurrent
   * misses for one EDEK make one request. `partition` must be at least as narrow as what the proxy authorizes
   * (the tenant; tenant and user when users of one tenant share a browser profile). Revocation: a key disabled at
   * the proxy still opens cached DEKs until their TTL ends (docs/caching.md).
   */
  readonly cache?: {
    readonly dekCache: DekCache
    readonly partition: string | ((context: EncryptionContext) => string)
    readonly ttlMs?: number
  }
}

/**
 * The client: a KeyProvider plus the proxy's other operations.
 *
 * @example
 * ```ts
 * const client: KeyProxyClient = createKeyProxyClient({ baseUrl, apiKey })
 * await client.health() // { status: 'ok' }
 * const moved = await client.rekey(readHeader(message).edeks, context, { toTenant: 'globex' })
 * const rekeyed = replaceEdeks(message, [moved]) // same body, now opens for globex
 * ```
 */
export interface KeyProxyClient extends KeyProvider {
  /** Rewraps EDEKs under the tenant's current key version, or for `toTenant`, without the DEK leaving the proxy. */
  rekey(
    edeks: readonly Edek[],
    context: EncryptionContext,
    options?: { toTenant?: string; signal?: AbortSignal },
  ): Promise<Edek>
  /** The proxy's health (`GET /v1/health`). */
  health(options?: ProviderCallOptions): Promise<{ status: string }>
  /**
   * This client, with `reason` sent with each of its unwraps and logged in their audit lines (the same
   * connection, batching and coalescing; an unwrap coalesces only with others of the same reason). It skips the
   * client's DEK cache, so every use reaches the proxy and its log.
   *
   * @example
   * ```ts
   * const text = await decryptToString(message, { provider: client.withReason('support ticket 1234') })
   * ```
   * @throws {KeyProxyError} `ERR_BAD_REQUEST` at once for a reason the proxy would refuse (empty, over 1024
   * UTF-8 bytes, control characters).
   */
  withReason(reason: string): KeyProxyClient
}

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms)
    signal?.addEventListener('abort', () => {
      clearTimeout(t)
      reject(new AbortedError({ cause: signal.reason }))
    })
  })

/** Retry-After: delta-seconds or an HTTP date; undefined when absent or unreadable. */
function retryAfterMs(value: string | null): number | undefined {
  if (!value) return undefined
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}

function cacheKey(edeks: readonly Edek[], context: EncryptionContext, reason?: string): string {
  return JSON.stringify([edeks.map(edekToJson), toBase64url(encodeContext(context)), reason ?? null])
}

function checkedReason(reason: string | undefined): string | undefined {
  const problem = reason === undefined ? undefined : reasonProblem(reason)
  if (problem) throw new KeyProxyError('ERR_BAD_REQUEST', problem)
  return reason
}

/**
 * Creates a client of the key proxy.
 *
 * @example
 * ```ts
 * const provider = createKeyProxyClient({ baseUrl: 'https://keys.example.com', getToken: () => session.jwt })
 * const message = await encrypt(file, { provider, context: { tenant: 'acme' } })
 * ```
 * @throws {KeyProxyError} `ERR_PROXY_URL` at once for a base URL it refuses (plain HTTP beyond loopback); from
 * its methods: the proxy's code (e.g. `ERR_TENANT_FORBIDDEN`, `ERR_KEY_DISABLED`), or `ERR_PROXY_UNAVAILABLE`,
 * `ERR_PROXY_TIMEOUT`, `ERR_PROXY_PROTOCOL`.
 */
export function createKeyProxyClient(options: KeyProxyClientOptions): KeyProxyClient {
  if (options.tenant === undefined && !options.getToken) {
    throw new TypeError(
      '"tenant" is required with an API key: the client checks that every data key it gets is for that tenant',
    )
  }
  const urls = new BaseUrls(checkBaseUrls(options.baseUrl, options.allowInsecureHttp))
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis)
  const timeoutMs = options.timeoutMs ?? 5000
  const retries = options.retries ?? Math.max(2, urls.size - 1)
  const batchWindowMs = options.batchWindowMs ?? 2
  const maxBatch = options.maxBatch ?? 100
  const maxRetryAfterMs = options.maxRetryAfterMs ?? 10_000
  const deliveryTtl = options.deliveryKeyTtlMs ?? 10 * 60_000
  const sleep = options.sleep ?? defaultSleep
  const defaultReason = checkedReason(options.reason)

  let delivery: { made: number; pair: Promise<Awaited<ReturnType<typeof generateDeliveryKeyPair>>> } | undefined
  function deliveryKey() {
    if (!delivery || Date.now() - delivery.made > deliveryTtl) {
      delivery = { made: Date.now(), pair: generateDeliveryKeyPair() }
    }
    return delivery.pair
  }

  /** The Authorization header, and the tenant it acts for (`options.tenant`, or the JWT's tenant claim). */
  async function authorization(refresh: boolean): Promise<{ header?: string; tenant: string }> {
    if (options.getToken) {
      const token = await options.getToken({ refresh })
      let tenant = options.tenant
      if (tenant === undefined) {
        const claimName = options.tenantClaim ?? 'tenant'
        let claim: unknown
        try {
          const payload = decodeJwt(token)
          claim = Object.hasOwn(payload, claimName) ? payload[claimName] : undefined
        } catch {}
        if (typeof claim !== 'string') {
          throw new KeyProxyError('ERR_TOKEN_NO_TENANT', `the token names no tenant in its "${claimName}" claim`)
        }
        tenant = claim
      }
      return { header: `Bearer ${token}`, tenant }
    }
    return { header: options.apiKey ? `ApiKey ${options.apiKey}` : undefined, tenant: options.tenant! }
  }

  /**
   * One JSON request with timeout, retries and a single token refresh. Returns the answer and the tenant the
   * request acted for (the answer must be for it).
   */
  async function call<T>(
    method: 'GET' | 'POST',
    path: string,
    body: unknown,
    signal?: AbortSignal,
  ): Promise<{ json: T; tenant: string }> {
    let refreshed = false
    let at = urls.start()
    const tried = new Set<number>()
    /** The next attempt goes to the next URL; it waits only once every URL was tried for this request. */
    const moveOn = async (wait: number) => {
      at = urls.failed(at)
      if (tried.has(at)) await sleep(wait, signal)
    }
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new AbortedError({ cause: signal.reason })
      const auth = await authorization(refreshed)
      const headers: Record<string, string> = { accept: 'application/json' }
      if (auth.header) headers.authorization = auth.header
      if (body !== undefined) headers['content-type'] = 'application/json'
      const timeout = AbortSignal.timeout(timeoutMs)
      let response: Response
      tried.add(at)
      try {
        response = await doFetch(`${urls.at(at)}${API_PREFIX}${path}`, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
          redirect: 'manual', // a key service has no business redirecting key material elsewhere
        })
      } catch (err) {
        if (signal?.aborted) throw new AbortedError({ cause: err })
        const timedOut = timeout.aborted
        if (attempt < retries) {
          await moveOn(backoff(attempt))
          continue
        }
        throw timedOut
          ? new KeyProxyError('ERR_PROXY_TIMEOUT', `key proxy did not answer within ${timeoutMs} ms`, { cause: err })
          : new KeyProxyError('ERR_PROXY_UNAVAILABLE', 'key proxy is unreachable', { cause: err })
      }
      if (response.ok) {
        urls.answered(at)
        try {
          return { json: (await response.json()) as T, tenant: auth.tenant }
        } catch (err) {
          throw new KeyProxyError('ERR_PROXY_PROTOCOL', 'key proxy sent an unreadable response', {
            cause: err,
            status: response.status,
          })
        }
      }
      const error = await readError(response)
      if (response.status === 401 && !refreshed && options.getToken) {
        refreshed = true
        attempt--
        continue
      }
      const retryable = response.status >= 500 || response.status === 429
      if (retryable && attempt < retries) {
        const wait = retryAfterMs(response.headers.get('retry-after')) ?? backoff(attempt)
        if (wait <= maxRetryAfterMs) {
          await moveOn(wait)
          continue
        }
      }
      if (retryable && !error.proxyCode) {
        throw new KeyProxyError('ERR_PROXY_UNAVAILABLE', `key proxy answered ${response.status}`, {
          status: response.status,
        })
      }
      throw new KeyProxyError(error.proxyCode ?? 'ERR_PROXY_PROTOCOL', error.message, {
        status: response.status,
        requestId: error.requestId,
      })
    }
  }

  /** Exponential backoff with full jitter: 0 to 100 ms × 2^attempt, at most 2 s. */
  function backoff(attempt: number): number {
    return Math.random() * Math.min(2000, 100 * 2 ** attempt)
  }

  async function readError(response: Response): Promise<{ proxyCode?: string; message: string; requestId?: string }> {
    try {
      const j = (await response.json()) as { error?: { code?: unknown; message?: unknown; requestId?: unknown } }
      if (typeof j?.error?.code === 'string') {
        return {
          proxyCode: j.error.code,
          message: String(j.error.message ?? j.error.code),
          requestId: typeof j.error.requestId === 'string' ? j.error.requestId : undefined,
        }
      }
    } catch {}
    return { message: `key proxy answered ${response.status}` }
  }

  // --- unwrap: single-flight per (EDEKs, context), batched within a short window ---
  type Pending = { request: UnwrapRequest; reason?: string; resolve: (r: UnwrapResult) => void }
  const inFlight = new Map<string, Promise<UnwrapResult>>()
  let queue: Pending[] = []
  let timer: ReturnType<typeof setTimeout> | undefined

  function flush(): void {
    timer = undefined
    const batch = queue
    queue = []
    for (let i = 0; i < batch.length; i += maxBatch) void sendBatch(batch.slice(i, i + maxBatch))
  }

  async function sendBatch(batch: Pending[], signal?: AbortSignal): Promise<void> {
    try {
      const { privateKey, publicJwk } = await deliveryKey()
      const nonce = newNonce()
      const body = {
        items: batch.map((p) => ({
          edeks: p.request.edeks.map(edekToJson),
          context: p.request.context,
          ...(p.reason === undefined ? {} : { reason: p.reason }),
        })),
        clientKey: publicJwk,
        nonce,
        tenant: options.tenant,
      }
      const { json: res, tenant } = await call<BatchUnwrapResponseJson>('POST', '/keys/batch-unwrap', body, signal)
      if (!Array.isArray(res?.results) || res.results.length !== batch.length) {
        throw new KeyProxyError('ERR_PROXY_PROTOCOL', 'key proxy sent a batch of the wrong length')
      }
      // Only needed when an item succeeded: an all-refused batch carries no delivery key.
      const ok = res.results.some((r) => r?.ok)
      if (ok && res.tenant !== tenant)
        throw new KeyProxyError('ERR_PROXY_PROTOCOL', 'key proxy answered for another tenant')
      const kek = ok ? await openDelivery(res, privateKey) : undefined
      await Promise.all(
        batch.map(async (p, i) => {
          const r = res.results[i]!
          if (!r.ok) {
            const code = typeof r.error?.code === 'string' ? r.error.code : 'ERR_PROXY_PROTOCOL'
            return p.resolve({ ok: false, error: new KeyProxyError(code, String(r.error?.message ?? code)) })
          }
          try {
            // The EDEK the proxy used: one of those this item sent, of this tenant; the DEK is bound to it.
            const edek = Number.isInteger(r.edekIndex) ? p.request.edeks[r.edekIndex] : undefined
            if (!edek?.keyId.startsWith(`${tenant}/`)) throw new Error('the EDEK used is not one of this tenant’s')
            const binding = { nonce: readNonce(nonce)!, tenant, edek, context: p.request.context }
            p.resolve({ ok: true, dek: await unwrapDelivered(r, kek!, binding) })
          } catch (err) {
            p.resolve({
              ok: false,
              error: new KeyProxyError('ERR_PROXY_PROTOCOL', 'key proxy sent a DEK that is not for this request', {
                cause: err,
              }),
            })
          }
        }),
      )
    } catch (err) {
      const error =
        err instanceof EnvelopeError
          ? err
          : new KeyProxyError('ERR_PROXY_PROTOCOL', 'batch unwrap failed', { cause: err })
      for (const p of batch) p.resolve({ ok: false, error })
    }
  }

  function unwrapOne(request: UnwrapRequest, reason: string | undefined): Promise<UnwrapResult> {
    const key = cacheKey(request.edeks, request.context, reason)
    const existing = inFlight.get(key)
    if (existing) return existing
    const result = new Promise<UnwrapResult>((resolve) => {
      queue.push({ request, reason, resolve })
      if (queue.length >= maxBatch) flush()
      else if (batchWindowMs <= 0) flush()
      else if (timer === undefined) timer = setTimeout(flush, batchWindowMs)
    }).finally(() => inFlight.delete(key))
    inFlight.set(key, result)
    return result
  }

  /** The KeyProvider's unwraps, each sent with `reason` (none: undefined). */
  function unwrapsWith(reason: string | undefined): Pick<KeyProxyClient, 'unwrapDataKey' | 'unwrapDataKeys'> {
    return {
      async unwrapDataKey(edeks, context, opts) {
        if (opts?.signal?.aborted) throw new AbortedError({ cause: opts.signal.reason })
        const r = await unwrapOne({ edeks, context }, reason)
        if (!r.ok) throw r.error
        return r.dek
      },
      async unwrapDataKeys(requests) {
        return Promise.all(requests.map((r) => unwrapOne(r, reason)))
      },
    }
  }

  const client: KeyProxyClient = {
    async generateDataKey(context: EncryptionContext, opts?: GenerateOptions): Promise<DataKey> {
      const { privateKey, publicJwk } = await deliveryKey()
      const nonce = newNonce()
      const { json: res, tenant } = await call<GenerateResponseJson>(
        'POST',
        '/keys/generate',
        { context, clientKey: publicJwk, nonce, tenant: options.tenant },
        opts?.signal,
      )
      const edek = edekFromJson(res?.edek)
      if (!edek) throw new KeyProxyError('ERR_PROXY_PROTOCOL', 'key proxy sent no usable EDEK')
      // The EDEK must be of one of the tenant's keys (`<tenant>/<key>`: the primary one, whichever KMS it is in),
      // and the DEK bound to this request, this tenant, EDEK and context.
      if (res.tenant !== tenant || !edek.keyId.startsWith(`${tenant}/`)) {
        throw new KeyProxyError('ERR_PROXY_PROTOCOL', 'key proxy sent an EDEK that is not one of this tenant’s keys')
      }
      try {
        const binding = { nonce: readNonce(nonce)!, tenant, edek, context }
        return { dek: await unwrapDelivered(res, await openDelivery(res, privateKey), binding), edeks: [edek] }
      } catch (err) {
        throw new KeyProxyError('ERR_PROXY_PROTOCOL', 'key proxy sent a DEK that is not for this request', {
          cause: err,
        })
      }
    },

    ...unwrapsWith(defaultReason),

    async rekey(edeks, context, opts) {
      const body = {
        edeks: edeks.map(edekToJson) as EdekJson[],
        context,
        toTenant: opts?.toTenant,
        tenant: options.tenant,
      }
      const { json: res, tenant } = await call<RekeyResponseJson>('POST', '/keys/rekey', body, opts?.signal)
      const edek = edekFromJson(res?.edek)
      if (!edek) throw new KeyProxyError('ERR_PROXY_PROTOCOL', 'key proxy sent no usable EDEK')
      const to = opts?.toTenant ?? tenant
      if (res.tenant !== to || !edek.keyId.startsWith(`${to}/`)) {
        throw new KeyProxyError('ERR_PROXY_PROTOCOL', `key proxy sent an EDEK that is not for tenant "${to}"`)
      }
      return edek
    },

    async health(opts) {
      return (await call<{ status: string }>('GET', '/health', undefined, opts?.signal)).json
    },

    withReason(reason) {
      return { ...client, ...unwrapsWith(checkedReason(reason)) }
    },
  }
  if (!options.cache) return client
  const { dekCache, partition, ttlMs } = options.cache
  const cached = withDekCache(client, dekCache, { partition, ttlMs })
  return { ...client, unwrapDataKey: cached.unwrapDataKey, unwrapDataKeys: cached.unwrapDataKeys }
}
