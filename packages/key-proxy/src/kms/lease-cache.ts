/**
 * Unwrapped lease keys, in memory only, each for `ttlMs` counted from the last successful KMS call that gave it
 * (a lease made, or its wrap opened by the KMS): after that the KMS is asked again, so a customer's disable or
 * revocation in its own KMS takes effect within `ttlMs`, and its KMS log shows every lease's use.
 *
 * - **Single-flight**: concurrent requests for a lease that is not held make one KMS call; a cold start or an
 *   expiry costs one call per lease, not a storm.
 * - **Refresh-ahead**: a lease used within `refreshAheadMs` of its expiry is asked of the KMS again in the
 *   background (once), so a busy lease never stalls at its expiry. A refresh the KMS refuses for good (disabled,
 *   destroyed, access denied) drops the lease at once; a KMS that cannot answer (down, slow, throttling) leaves it
 *   serving until it expires.
 * - **Bounded** by count and bytes (least recently used dropped first), and swept, so an idle lease leaves
 *   memory at its expiry. Dropped material is zeroed.
 *
 * Material is only used inside {@link LeaseCache.use}'s synchronous callback, so nothing can zero it while in use.
 * @module
 */
import { ProxyError } from '../errors.ts'

export interface LeaseCacheOptions {
  /** How long an unwrapped lease key is used after the KMS last gave it. */
  readonly ttlMs: number
  /** Refresh a lease used this close to its expiry (in the background). */
  readonly refreshAheadMs: number
  /** Leases held at most. */
  readonly maxLeases: number
  /** Bytes held at most (each lease: its 32 bytes, its id, and a fixed overhead). */
  readonly maxBytes: number
  readonly now?: () => number
  /** Told of what happens (metrics). */
  readonly observe?: (event: 'hit' | 'miss' | 'refresh' | 'expired' | 'evicted' | 'revoked') => void
}

interface Held {
  readonly material: Buffer
  expiresAt: number
  readonly bytes: number
  refreshing: boolean
}

/** Codes after which a lease must not be used again (the customer's KMS refused it for good). */
const REVOKED = new Set([
  'ERR_KEY_DISABLED',
  'ERR_KEY_DESTROYED',
  'ERR_KEY_PENDING_DELETION',
  'ERR_KEY_NOT_FOUND',
  'ERR_KEY_STATE',
  'ERR_KMS_ACCESS_DENIED',
  'ERR_EDEK_INVALID',
])

const OVERHEAD = 96

export class LeaseCache {
  readonly #o: LeaseCacheOptions
  readonly #now: () => number
  readonly #held = new Map<string, Held>()
  readonly #pending = new Map<string, Promise<void>>()
  #bytes = 0
  readonly #sweep: ReturnType<typeof setInterval>

  constructor(options: LeaseCacheOptions) {
    this.#o = options
    this.#now = options.now ?? Date.now
    this.#sweep = setInterval(() => this.sweep(), Math.max(50, Math.min(10_000, options.ttlMs / 10)))
    this.#sweep.unref?.()
  }

  /** Leases held now. */
  get size(): number {
    return this.#held.size
  }

  /**
   * Runs `work` with the lease key `id`: held and fresh, or got with `fetch` (one call for every concurrent use).
   * `fetch` resolves with the 32 key bytes (which this zeroes once copied).
   */
  async use<T>(id: string, fetch: () => Promise<Uint8Array>, work: (key: Buffer) => T): Promise<T> {
    // A lease got and dropped again before this use ran (a revocation in between) is fetched again, a few times.
    for (let attempt = 0; attempt < 3; attempt++) {
      const h = this.#fresh(id)
      if (h) {
        this.#o.observe?.('hit')
        if (!h.refreshing && this.#now() >= h.expiresAt - this.#o.refreshAheadMs) this.#refresh(id, h, fetch)
        return work(h.material)
      }
      this.#o.observe?.('miss')
      await this.#fetch(id, fetch)
    }
    throw new ProxyError('ERR_KMS_UNAVAILABLE', 'the lease key could not be kept in memory')
  }

  /** Puts a lease key just got from the KMS (a new lease): held for `ttlMs` from now. Zeroes `key`. */
  put(id: string, key: Uint8Array): void {
    this.drop(id)
    const material = Buffer.allocUnsafeSlow(32) // not from the shared pool: zeroing it zeroes the only copy
    material.set(key)
    key.fill(0)
    const h: Held = {
      material,
      expiresAt: this.#now() + this.#o.ttlMs,
      bytes: 32 + 2 * id.length + OVERHEAD,
      refreshing: false,
    }
    this.#held.set(id, h)
    this.#bytes += h.bytes
    while (this.#held.size > this.#o.maxLeases || this.#bytes > this.#o.maxBytes) {
      const oldest = this.#held.keys().next().value!
      this.drop(oldest)
      this.#o.observe?.('evicted')
    }
  }

  /** Drops one lease (zeroed). */
  drop(id: string): void {
    const h = this.#held.get(id)
    if (!h) return
    this.#held.delete(id)
    this.#bytes -= h.bytes
    h.material.fill(0)
  }

  /** Drops every lease whose id starts with `prefix` (an entry's: `<tenant>/<entry>/`). */
  dropPrefix(prefix: string): void {
    for (const id of [...this.#held.keys()]) if (id.startsWith(prefix)) this.drop(id)
  }

  /** Drops expired leases. */
  sweep(): void {
    const now = this.#now()
    for (const [id, h] of [...this.#held]) {
      if (now >= h.expiresAt) {
        this.drop(id)
        this.#o.observe?.('expired')
      }
    }
  }

  /** Drops everything and stops the sweep. */
  close(): void {
    clearInterval(this.#sweep)
    for (const id of [...this.#held.keys()]) this.drop(id)
  }

  #fresh(id: string): Held | undefined {
    const h = this.#held.get(id)
    if (!h) return undefined
    if (this.#now() >= h.expiresAt) {
      this.drop(id)
      this.#o.observe?.('expired')
      return undefined
    }
    // least recently used last: move it to the end
    this.#held.delete(id)
    this.#held.set(id, h)
    return h
  }

  #fetch(id: string, fetch: () => Promise<Uint8Array>): Promise<void> {
    let p = this.#pending.get(id)
    if (!p) {
      p = fetch()
        .then((key) => this.put(id, key))
        .finally(() => this.#pending.delete(id))
      this.#pending.set(id, p)
    }
    return p
  }

  #refresh(id: string, h: Held, fetch: () => Promise<Uint8Array>): void {
    h.refreshing = true
    this.#o.observe?.('refresh')
    fetch().then(
      (key) => {
        if (this.#held.get(id) === h) {
          h.expiresAt = this.#now() + this.#o.ttlMs // the same key: its clock starts again
          h.refreshing = false
        }
        key.fill(0)
      },
      (err) => {
        if (this.#held.get(id) !== h) return
        h.refreshing = false
        if (err instanceof ProxyError && REVOKED.has(err.code)) {
          this.drop(id)
          this.#o.observe?.('revoked')
        }
      },
    )
  }
}
