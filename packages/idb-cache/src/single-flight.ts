// Single-flight: concurrent callers asking for the same thing share one call. Each caller can give up through its
// own AbortSignal without cancelling the others; the shared call is cancelled when every caller has given up.
import { AbortedError } from '@envelope/core'

interface Flight<T> {
  readonly promise: Promise<T>
  readonly controller: AbortController | undefined
  waiters: number
}

export class SingleFlight<T> {
  private readonly flights = new Map<string, Flight<T>>()

  has(id: string): boolean {
    return this.flights.has(id)
  }

  get size(): number {
    return this.flights.size
  }

  /** Joins the call for `id`, starting it with `start(signal)` if none is running. */
  run(id: string, start: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(new AbortedError({ cause: signal.reason }))
    let flight = this.flights.get(id)
    if (!flight) {
      const controller = new AbortController()
      flight = this.add(id, start(controller.signal), controller)
    }
    return this.wait(id, flight, signal)
  }

  /** Registers a call already started elsewhere (one item of a batch), so that later callers join it. */
  adopt(id: string, promise: Promise<T>): void {
    this.add(id, promise, undefined)
  }

  private add(id: string, promise: Promise<T>, controller: AbortController | undefined): Flight<T> {
    const flight: Flight<T> = {
      controller,
      waiters: 0,
      promise: promise.finally(() => {
        if (this.flights.get(id) === flight) this.flights.delete(id)
      }),
    }
    flight.promise.catch(() => {}) // every waiter sees the failure; an abandoned flight must not be unhandled
    this.flights.set(id, flight)
    return flight
  }

  private wait(id: string, flight: Flight<T>, signal: AbortSignal | undefined): Promise<T> {
    flight.waiters++
    if (!signal) return flight.promise
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => {
        flight.waiters--
        if (flight.waiters === 0 && flight.controller) {
          if (this.flights.get(id) === flight) this.flights.delete(id)
          flight.controller.abort(signal.reason)
        }
        reject(new AbortedError({ cause: signal.reason }))
      }
      signal.addEventListener('abort', onAbort, { once: true })
      flight.promise.then(
        (value) => {
          signal.removeEventListener('abort', onAbort)
          resolve(value)
        },
        (err) => {
          signal.removeEventListener('abort', onAbort)
          reject(err)
        },
      )
    })
  }
}
