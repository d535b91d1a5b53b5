/**
 * A KeyProvider wrapper that answers unwraps from a {@link DekCache}: a hit never calls the inner provider, and
 * concurrent misses for the same EDEK make one inner call.
 * @module @envelope/idb-cache/with-dek-cache
 */
import {
  type Edek,
  type EncryptionContext,
  EnvelopeError,
  InvalidArgumentError,
  type KeyProvider,
  KeyUnavailableError,
  type ProviderCallOptions,
  type UnwrapRequest,
  type UnwrapResult,
} from '@envelope/core'
import { dekCacheKey } from './cache-key.ts'
import { type DekCache, MAX_ID_LENGTH } from './dek-cache.ts'
import { SingleFlight } from './single-flight.ts'

/**
 * Options of {@link withDekCache}.
 *
 * @example
 * ```ts
 * // One partition per tenant and user, when users of one tenant share a browser profile:
 * const provider = withDekCache(client, cache, { partition: (context) => `${context.tenant}/${userId}`, ttlMs: 60_000 })
 * ```
 */
export interface WithDekCacheOptions {
  /**
   * The cache partition: a tenant id, or a function of the message's context. A cache hit skips the proxy's
   * authorization check, so the partition must be at least as narrow as what the proxy authorizes (tenant, or
   * tenant + user when users of one tenant may not read each other's data and share a browser profile).
   */
  readonly partition: string | ((context: EncryptionContext) => string)
  /** Lifetime of entries stored by this wrapper, if shorter than the cache's `ttlMs`. */
  readonly ttlMs?: number
}

/**
 * Wraps a KeyProvider with a DEK cache. `unwrapDataKey` and `unwrapDataKeys` look in the cache first (the key is
 * {@link dekCacheKey} of the EDEKs and context) and store what the inner provider unwraps; `generateDataKey` is
 * passed through. Cache failures never fail an unwrap: a failing cache is treated as a miss.
 *
 * Revocation: once a DEK is cached, disabling its key at the proxy does not stop this browser from opening data
 * with it until the entry expires (`ttlMs`). Choose the TTL as the longest acceptable delay, and clear a tenant's
 * entries on logout (`cache.clearPartition(tenant)`). See docs/caching.md.
 *
 * @example
 * ```ts
 * const cache = await openDekCache({ maxEntries: 1000, ttlMs: 10 * 60_000 })
 * const provider = withDekCache(createKeyProxyClient({ baseUrl, token }), cache, { partition: tenantId })
 * const text = await decryptToString(message, { provider }) // a second open of `message` makes no request
 * ```
 * @throws {InvalidArgumentError} (from the returned provider) `partition` is not a string or gives a non-string,
 * or the EDEKs or context are malformed. Everything else is the inner provider's error, unchanged.
 */
export function withDekCache(provider: KeyProvider, cache: DekCache, options: WithDekCacheOptions): KeyProvider {
  if (!provider || typeof provider.unwrapDataKey !== 'function' || typeof provider.unwrapDataKeys !== 'function') {
    throw new InvalidArgumentError('"provider" expected a KeyProvider')
  }
  if (!cache || typeof cache.get !== 'function' || typeof cache.set !== 'function') {
    throw new InvalidArgumentError('"cache" expected a DekCache')
  }
  const partitionOption = options?.partition
  if (typeof partitionOption !== 'string' && typeof partitionOption !== 'function') {
    throw new InvalidArgumentError('"partition" expected a string or a function of the context')
  }
  const ttlMs = options.ttlMs
  const flights = new SingleFlight<CryptoKey>()

  function partitionOf(context: EncryptionContext): string {
    const p = typeof partitionOption === 'function' ? partitionOption(context) : partitionOption
    if (typeof p !== 'string' || p.length > MAX_ID_LENGTH) {
      throw new InvalidArgumentError(`"partition" expected a string of at most ${MAX_ID_LENGTH} characters`)
    }
    return p
  }

  async function lookup(partition: string, key: string): Promise<CryptoKey | undefined> {
    try {
      return await cache.get(partition, key)
    } catch {
      return undefined // a broken cache is a miss, never a failed decrypt
    }
  }

  async function store(partition: string, key: string, dek: CryptoKey): Promise<void> {
    try {
      await cache.set(partition, key, dek, ttlMs === undefined ? undefined : { ttlMs })
    } catch {
      // not cached (storage failure, or an extractable key from a misbehaving provider): the unwrap still counts
    }
  }

  async function unwrapDataKey(
    edeks: readonly Edek[],
    context: EncryptionContext,
    callOptions?: ProviderCallOptions,
  ): Promise<CryptoKey> {
    const partition = partitionOf(context)
    const key = await dekCacheKey(edeks, context)
    const hit = await lookup(partition, key)
    if (hit) return hit
    const id = JSON.stringify([partition, key])
    const start = async (signal: AbortSignal) => {
      const dek = await provider.unwrapDataKey(edeks, context, { signal })
      await store(partition, key, dek)
      return dek
    }
    try {
      return await flights.run(id, start, callOptions?.signal)
    } catch (err) {
      // We joined a call that its own callers cancelled (e.g. a batch): ours is not cancelled, so ask again once.
      if (isAbort(err) && !callOptions?.signal?.aborted) return flights.run(id, start, callOptions?.signal)
      throw err
    }
  }

  async function unwrapDataKeys(
    requests: readonly UnwrapRequest[],
    callOptions?: ProviderCallOptions,
  ): Promise<UnwrapResult[]> {
    if (!Array.isArray(requests)) throw new InvalidArgumentError('"requests" expected an array')
    const results: UnwrapResult[] = new Array(requests.length)
    type Keyed = { partition: string; key: string } | { error: EnvelopeError }
    const keyed = await Promise.all(
      requests.map(async (request): Promise<Keyed> => {
        try {
          const partition = partitionOf(request?.context)
          return { partition, key: await dekCacheKey(request.edeks, request.context) }
        } catch (err) {
          return { error: asEnvelopeError(err) }
        }
      }),
    )
    const waits: Promise<void>[] = []
    const misses: { request: UnwrapRequest; id: string; partition: string; key: string; indexes: number[] }[] = []
    const missIndex = new Map<string, number>()
    const fill = (indexes: number[], work: Promise<CryptoKey>) =>
      work.then(
        (dek) => {
          for (const i of indexes) results[i] = { ok: true, dek }
        },
        (err) => {
          for (const i of indexes) results[i] = { ok: false, error: asEnvelopeError(err) }
        },
      )
    const hits = await Promise.all(keyed.map((k) => ('key' in k ? lookup(k.partition, k.key) : undefined)))
    for (let i = 0; i < requests.length; i++) {
      const k = keyed[i]!
      const hit = hits[i]
      if ('error' in k) results[i] = { ok: false, error: k.error }
      else if (hit) results[i] = { ok: true, dek: hit }
      else {
        const id = JSON.stringify([k.partition, k.key])
        const m = missIndex.get(id)
        if (m !== undefined) misses[m]!.indexes.push(i)
        else if (flights.has(id)) {
          waits.push(fill([i], unwrapDataKey(requests[i]!.edeks, requests[i]!.context, callOptions)))
        } else {
          missIndex.set(id, misses.length)
          misses.push({ request: requests[i]!, id, partition: k.partition, key: k.key, indexes: [i] })
        }
      }
    }
    if (misses.length === 0) {
      await Promise.all(waits)
      return results
    }
    // One inner batch for every miss; each item is registered so that concurrent single unwraps join it.
    const call = provider.unwrapDataKeys(
      misses.map((m) => m.request),
      callOptions,
    )
    call.catch(() => {}) // rethrown below
    misses.forEach((m, j) => {
      const item = call.then(async (batch) => {
        const r = batch[j]
        if (!r) throw new KeyUnavailableError('the key provider returned fewer results than requests')
        if (!r.ok) throw r.error
        await store(m.partition, m.key, r.dek)
        return r.dek
      })
      flights.adopt(m.id, item)
      waits.push(fill(m.indexes, item))
    })
    await Promise.all(waits)
    await call // a batch that failed as a whole (network down) fails as a whole, as the inner provider's does
    return results
  }

  return {
    generateDataKey: (context, generateOptions) => provider.generateDataKey(context, generateOptions),
    unwrapDataKey,
    unwrapDataKeys,
  }
}

function isAbort(err: unknown): boolean {
  return (err as { code?: unknown })?.code === 'ERR_ABORTED'
}

function asEnvelopeError(err: unknown): EnvelopeError {
  return err instanceof EnvelopeError ? err : new KeyUnavailableError('key provider failed', { cause: err })
}
