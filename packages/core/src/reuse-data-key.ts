/**
 * Data key reuse when encrypting (off by default): one DEK, and so one EDEK and one provider call, for many
 * messages of the same partition and context, within limits on age, messages and bytes, as the AWS Encryption
 * SDK's caching CMM does (`maxAge`, `maxMessagesEncrypted`, `maxBytesEncrypted`, `partition`).
 * @module
 */

import { encodeContext } from './context.ts'
import { AbortedError, InvalidArgumentError } from './errors.ts'
import type { DataKey, EncryptionContext, GenerateOptions, KeyProvider } from './key-provider.ts'

/**
 * Options of {@link withDataKeyReuse}.
 *
 * @example
 * ```ts
 * const provider = withDataKeyReuse(proxyClient, { maxAgeMs: 60_000, maxMessages: 1000, maxBytes: 2 ** 30 })
 * ```
 */
export interface DataKeyReuseOptions {
  /** How long one DEK is handed out after it was made, in ms. Required: a positive integer. */
  readonly maxAgeMs: number
  /** Messages per DEK (default and maximum 2^32). */
  readonly maxMessages?: number
  /** Plaintext bytes per DEK, summed over its messages (default `Number.MAX_SAFE_INTEGER`). */
  readonly maxBytes?: number
  /**
   * Separates reuse beyond the context: a string (e.g. the tenant when it is not in the context) or a function of
   * the context. Default `''`: entries are per wrapper instance anyway, so two wrappers never share a DEK.
   */
  readonly partition?: string | ((context: EncryptionContext) => string)
  /** Most (partition, context) pairs kept, least recently used dropped first (default 100). */
  readonly maxEntries?: number
  /** The clock, in ms (default `Date.now`); tests pass a controllable one. */
  readonly now?: () => number
}

/**
 * A provider returned by {@link withDataKeyReuse}.
 *
 * @example
 * ```ts
 * const provider: ReusingKeyProvider = withDataKeyReuse(proxyClient, { maxAgeMs: 60_000, maxMessages: 100 })
 * await encrypt('a', { provider, context }) // one request to the proxy
 * await encrypt('b', { provider, context }) // the same data key, no request
 * ```
 */
export interface ReusingKeyProvider extends KeyProvider {
  /** Forgets every reusable DEK (on logout, or when a key is rotated): the next encrypt makes a fresh one. */
  clear(): void
}

const MAX_MESSAGES = 2 ** 32
const DEFAULT_MAX_ENTRIES = 100
// A waiter whose shared call was cancelled or used up by others starts over; after this many rounds it gets a
// fresh, unshared key, so no caller can loop.
const MAX_ROUNDS = 4

interface Entry {
  /** Resolves once the DEK is made and the caller that made it has counted its own message. */
  ready: Promise<DataKey> | undefined
  dataKey: DataKey | undefined
  createdAt: number
  messages: number
  bytes: number
}

function positiveInteger(value: unknown, name: string, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0 || value > max) {
    throw new InvalidArgumentError(`"${name}" expected an integer from 1 to ${max}, got ${String(value)}`)
  }
  return value
}

/**
 * Wraps a KeyProvider so that `generateDataKey` hands out the same data key again for the same partition and
 * context, until the key is `maxAgeMs` old, has sealed `maxMessages` messages or `maxBytes` plaintext bytes. It
 * is never handed out past a limit. Concurrent cold encrypts for one (partition, context) make one inner
 * `generateDataKey` call, not N. A message of unknown length (a stream without `plaintextLength`) always gets a
 * fresh DEK, as in the ESDK caching CMM: its bytes could not be counted. Unwraps are passed through.
 *
 * Why reuse is safe in this format: no message is encrypted with the DEK itself. Each message draws a random
 * 256-bit message id and derives its own AES-256-GCM key and key commitment from the DEK by HKDF-SHA-256 with that
 * id as salt (docs/format.md §5), so messages sharing a DEK never share an AES key, and GCM's nonce and
 * data-volume limits apply per message, not per DEK. What reuse does change: every message sealed under one DEK
 * has the same EDEK, so revoking or rekeying happens per DEK, and whoever unwraps that EDEK opens all of them.
 * The limits bound that blast radius.
 *
 * @example
 * ```ts
 * const provider = withDataKeyReuse(createKeyProxyClient({ baseUrl, token }), {
 *   maxAgeMs: 5 * 60_000,
 *   maxMessages: 1000,
 *   maxBytes: 64 * 1024 * 1024,
 * })
 * for (const note of notes) sealed.push(await encrypt(note, { provider, context: { tenant: 'acme' } }))
 * // one generateDataKey call at the proxy for all of them (within 5 minutes, 1000 notes, 64 MiB)
 * ```
 * @throws {InvalidArgumentError} bad options (here); from `generateDataKey`, an invalid context or a partition
 * function that does not return a string.
 * @throws {AbortedError} (from `generateDataKey`) the caller's signal aborted while waiting for a shared key.
 */
export function withDataKeyReuse(provider: KeyProvider, options: DataKeyReuseOptions): ReusingKeyProvider {
  if (!provider || typeof provider.generateDataKey !== 'function') {
    throw new InvalidArgumentError('"provider" expected a KeyProvider')
  }
  if (options === null || typeof options !== 'object') throw new InvalidArgumentError('"options" expected an object')
  const maxAgeMs = positiveInteger(options.maxAgeMs, 'maxAgeMs', Number.MAX_SAFE_INTEGER)
  const maxMessages = positiveInteger(options.maxMessages ?? MAX_MESSAGES, 'maxMessages', MAX_MESSAGES)
  const maxBytes = positiveInteger(options.maxBytes ?? Number.MAX_SAFE_INTEGER, 'maxBytes', Number.MAX_SAFE_INTEGER)
  const maxEntries = positiveInteger(options.maxEntries ?? DEFAULT_MAX_ENTRIES, 'maxEntries', 1_000_000)
  const now = options.now ?? Date.now
  if (typeof now !== 'function') throw new InvalidArgumentError('"now" expected a function')
  const partitionOption = options.partition ?? ''
  if (typeof partitionOption !== 'string' && typeof partitionOption !== 'function') {
    throw new InvalidArgumentError('"partition" expected a string or a function of the context')
  }
  const entries = new Map<string, Entry>()

  function idOf(context: EncryptionContext): string {
    const partition = typeof partitionOption === 'function' ? partitionOption(context) : partitionOption
    if (typeof partition !== 'string') throw new InvalidArgumentError('"partition" expected a string')
    let hex = ''
    for (const b of encodeContext(context)) hex += b.toString(16).padStart(2, '0')
    return `${partition.length}:${partition}:${hex}` // length-prefixed: no two (partition, context) pairs collide
  }

  /** Counts one message against the entry if that keeps it within every limit. */
  function reserve(entry: Entry, length: number): boolean {
    const age = now() - entry.createdAt
    if (!(age >= 0 && age < maxAgeMs)) return false // a clock that went back counts as expired
    if (entry.messages + 1 > maxMessages || entry.bytes + length > maxBytes) return false
    entry.messages++
    entry.bytes += length
    return true
  }

  function makeRoom(): void {
    if (entries.size < maxEntries) return
    const t = now()
    for (const [id, e] of entries) if (e.dataKey && !(t - e.createdAt < maxAgeMs)) entries.delete(id)
    for (const id of entries.keys()) {
      if (entries.size < maxEntries) break
      entries.delete(id) // least recently used first (Map order)
    }
  }

  async function waitFor(ready: Promise<DataKey>, signal: AbortSignal | undefined): Promise<void> {
    if (!signal) {
      await ready
      return
    }
    if (signal.aborted) throw new AbortedError({ cause: signal.reason })
    await new Promise<void>((resolve, reject) => {
      const onAbort = () => reject(new AbortedError({ cause: signal.reason }))
      signal.addEventListener('abort', onAbort, { once: true })
      ready.then(
        () => {
          signal.removeEventListener('abort', onAbort)
          resolve()
        },
        (err) => {
          signal.removeEventListener('abort', onAbort)
          reject(err)
        },
      )
    })
  }

  async function generateDataKey(context: EncryptionContext, generateOptions?: GenerateOptions): Promise<DataKey> {
    const length = generateOptions?.plaintextLength
    const signal = generateOptions?.signal
    // Unknown length: its bytes cannot be counted, so never a shared key. Over the byte limit alone: fresh too.
    if (length === undefined || !Number.isSafeInteger(length) || length < 0 || length > maxBytes) {
      return provider.generateDataKey(context, generateOptions)
    }
    const id = idOf(context)
    for (let round = 0; round < MAX_ROUNDS; round++) {
      if (signal?.aborted) throw new AbortedError({ cause: signal.reason })
      const entry = entries.get(id)
      if (entry?.ready) {
        try {
          await waitFor(entry.ready, signal)
        } catch (err) {
          if (signal?.aborted) throw err
          if ((err as { code?: unknown })?.code !== 'ERR_ABORTED') throw err // the shared call failed: so do we
        }
        continue // the key is made (or its maker gave up): try to take a message from it
      }
      if (entry?.dataKey) {
        if (reserve(entry, length)) {
          entries.delete(id) // most recently used goes last
          entries.set(id, entry)
          return entry.dataKey
        }
        entries.delete(id) // expired or used up: never handed out past a limit
      }
      return makeShared(id, context, length, generateOptions)
    }
    return provider.generateDataKey(context, generateOptions)
  }

  async function makeShared(
    id: string,
    context: EncryptionContext,
    length: number,
    generateOptions: GenerateOptions | undefined,
  ): Promise<DataKey> {
    const entry: Entry = { ready: undefined, dataKey: undefined, createdAt: 0, messages: 0, bytes: 0 }
    // The maker counts its own message before anyone waiting on `ready` runs, so its key is always its own.
    const ready = provider.generateDataKey(context, { ...generateOptions, plaintextLength: length }).then((dataKey) => {
      entry.dataKey = dataKey
      entry.createdAt = now()
      entry.messages = 1
      entry.bytes = length
      entry.ready = undefined
      return dataKey
    })
    entry.ready = ready
    makeRoom()
    entries.set(id, entry)
    try {
      return await ready
    } catch (err) {
      if (entries.get(id) === entry) entries.delete(id)
      throw err
    }
  }

  return {
    generateDataKey,
    unwrapDataKey: (edeks, context, callOptions) => provider.unwrapDataKey(edeks, context, callOptions),
    unwrapDataKeys: (requests, callOptions) => provider.unwrapDataKeys(requests, callOptions),
    clear: () => entries.clear(),
  }
}
