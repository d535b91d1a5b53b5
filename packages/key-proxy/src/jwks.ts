/**
 * The identity provider's JWKS, fetched from `jwt.jwksUrl`, for jose's `jwtVerify`. jose's own remote set fetches
 * again on every token while the provider is down and drops its keys after `cacheMaxAge`; this one follows a
 * policy (docs/key-proxy-api.md, "Authentication"):
 *
 * - a set is fresh for `maxAgeMs`; after that it is fetched again;
 * - the JWKS URL is fetched at most once per `retryMs`, whatever the tokens (negative caching: a provider that is
 *   down costs one fetch per `retryMs`, and so does a flood of tokens naming keys the set lacks);
 * - while fetches fail, the last good set keeps serving for `maxStaleMs` past its freshness; then, and while no
 *   set was ever fetched, tokens are refused with the retryable `ERR_JWKS_UNAVAILABLE` (503), never a 401.
 * @module
 */
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey, errors as joseErrors } from 'jose'
import { ProxyError } from './errors.ts'

export interface RemoteJwksOptions {
  readonly url: string
  /** How long a fetched set is fresh. */
  readonly maxAgeMs: number
  /** How long past its freshness the last good set serves while fetches fail. */
  readonly maxStaleMs: number
  /** Least time between two fetches. */
  readonly retryMs: number
  /** Per fetch. Default 5000 ms. */
  readonly timeoutMs?: number
  readonly now: () => number
}

const MAX_JWKS_BYTES = 256 << 10

async function fetchJwks(url: string, timeoutMs: number): Promise<JSONWebKeySet> {
  const response = await fetch(url, {
    signal: AbortSignal.timeout(timeoutMs),
    redirect: 'manual',
    headers: { accept: 'application/json, application/jwk-set+json' },
  })
  if (response.status !== 200 || !response.body) throw new Error(`the JWKS URL answered ${response.status}`)
  const reader = response.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.length
    if (size > MAX_JWKS_BYTES) {
      await reader.cancel()
      throw new Error(`the JWKS is larger than ${MAX_JWKS_BYTES} bytes`)
    }
    chunks.push(value)
  }
  return JSON.parse(new TextDecoder().decode(Buffer.concat(chunks)))
}

/** A key lookup for jose's `jwtVerify` over the JWKS at `options.url`. */
export function createRemoteJwks(options: RemoteJwksOptions): JWTVerifyGetKey {
  const { now, maxAgeMs, maxStaleMs, retryMs } = options
  let good: { keys: ReturnType<typeof createLocalJWKSet>; at: number } | undefined
  let lastTry = Number.NEGATIVE_INFINITY
  let failing = false
  let pending: Promise<void> | undefined

  /** Fetches the set unless a fetch was tried less than `retryMs` ago; never throws. */
  function refresh(): Promise<void> {
    if (pending) return pending
    if (now() - lastTry < retryMs) return Promise.resolve()
    lastTry = now()
    pending = fetchJwks(options.url, options.timeoutMs ?? 5000)
      .then((json) => {
        good = { keys: createLocalJWKSet(json), at: now() }
        failing = false
      })
      .catch((err) => {
        if (!failing) console.error(`[key-proxy] JWKS fetch from ${options.url} failed: ${(err as Error).message}`)
        failing = true
      })
      .finally(() => {
        pending = undefined
      })
    return pending
  }

  return async (header, token) => {
    if (!good || now() - good.at >= maxAgeMs) await refresh()
    if (!good || now() - good.at >= maxAgeMs + maxStaleMs) {
      throw new ProxyError('ERR_JWKS_UNAVAILABLE', 'the identity provider’s keys (JWKS) cannot be fetched')
    }
    try {
      return await good.keys(header, token)
    } catch (err) {
      // A key the set lacks: the provider may have added one. Fetched again within the same spacing.
      if (!(err instanceof joseErrors.JWKSNoMatchingKey)) throw err
      const before = good
      await refresh()
      if (good === before) throw err
      return good.keys(header, token)
    }
  }
}
