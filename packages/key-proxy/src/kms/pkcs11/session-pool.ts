/**
 * A bounded pool of PKCS#11 sessions. A session runs one operation at a time, so each call borrows one; at most
 * `max` are open (HSMs limit sessions), at most `maxWaiting` calls wait for one (then ERR_KMS_THROTTLED), and a
 * waiting call gives up when its signal aborts. After a lost connection {@link discardAll} retires every session
 * at once: idle ones are closed, busy ones when they come back.
 * @module
 */
import { ProxyError } from '../../errors.ts'

export interface PoolEntry<S> {
  readonly session: S
  readonly generation: number
}

interface Waiter<S> {
  resolve(entry: PoolEntry<S>): void
  reject(e: unknown): void
}

export interface SessionPoolOptions<S> {
  /** Opens (and logs in) a session; throws a ProxyError when it cannot. */
  readonly open: () => S
  /** Closes a session; must not throw. */
  readonly close: (session: S) => void
  readonly max: number
  readonly maxWaiting: number
}

export class SessionPool<S> {
  readonly #o: SessionPoolOptions<S>
  readonly #idle: PoolEntry<S>[] = []
  readonly #waiting: Waiter<S>[] = []
  #open = 0
  #generation = 0
  #closed = false

  constructor(options: SessionPoolOptions<S>) {
    this.#o = options
  }

  /** Sessions open now (busy and idle). */
  get size(): number {
    return this.#open
  }

  get generation(): number {
    return this.#generation
  }

  async acquire(signal?: AbortSignal): Promise<PoolEntry<S>> {
    if (this.#closed) throw new ProxyError('ERR_KMS_UNAVAILABLE', 'PKCS#11 client closed')
    if (signal?.aborted) throw timeout()
    const idle = this.#idle.pop()
    if (idle) return idle
    if (this.#open < this.#o.max) return this.#openOne()
    if (this.#waiting.length >= this.#o.maxWaiting) {
      throw new ProxyError('ERR_KMS_THROTTLED', 'every PKCS#11 session is busy and the wait queue is full')
    }
    return new Promise<PoolEntry<S>>((resolve, reject) => {
      const onAbort = () => {
        const i = this.#waiting.indexOf(waiter)
        if (i >= 0) this.#waiting.splice(i, 1)
        reject(timeout())
      }
      const waiter: Waiter<S> = {
        resolve: (entry) => {
          signal?.removeEventListener('abort', onAbort)
          resolve(entry)
        },
        reject: (e) => {
          signal?.removeEventListener('abort', onAbort)
          reject(e)
        },
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.#waiting.push(waiter)
    })
  }

  /** Returns a session; `broken` (or from before {@link discardAll}) closes it instead of reusing it. */
  release(entry: PoolEntry<S>, broken = false): void {
    if (broken || this.#closed || entry.generation !== this.#generation) {
      this.#retire(entry)
      return
    }
    const next = this.#waiting.shift()
    if (next) next.resolve(entry)
    else this.#idle.push(entry)
  }

  /** Every session is gone (connection lost): close the idle ones now, the busy ones when released. */
  discardAll(): void {
    this.#generation++
    for (const entry of this.#idle.splice(0)) this.#retire(entry)
  }

  /** Closes idle sessions and refuses waiting and future calls; busy sessions close when released. */
  close(): void {
    this.#closed = true
    for (const entry of this.#idle.splice(0)) this.#retire(entry)
    for (const w of this.#waiting.splice(0)) w.reject(new ProxyError('ERR_KMS_UNAVAILABLE', 'PKCS#11 client closed'))
  }

  #openOne(): PoolEntry<S> {
    this.#open++
    try {
      return { session: this.#o.open(), generation: this.#generation }
    } catch (e) {
      this.#open--
      throw e
    }
  }

  #retire(entry: PoolEntry<S>): void {
    this.#o.close(entry.session)
    this.#open--
    // A place is free: the first waiter opens a session of its own (each one that cannot gets the error).
    while (!this.#closed && this.#waiting.length > 0 && this.#open < this.#o.max) {
      const w = this.#waiting.shift()!
      try {
        w.resolve(this.#openOne())
        return
      } catch (e) {
        w.reject(e)
      }
    }
  }
}

const timeout = () => new ProxyError('ERR_KMS_TIMEOUT', 'PKCS#11 call cancelled (timeout) while waiting for a session')
