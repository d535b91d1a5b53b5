// A bounded, ordered queue of pending frame operations: results come out in submission order while up to
// `depth` WebCrypto calls run at once (one awaited call at a time leaves most of the throughput unused).
const noop = () => {}

export class InFlight<T> {
  private readonly queue: Promise<T>[] = []
  private readonly depth: number
  constructor(depth: number) {
    this.depth = depth
  }

  get size(): number {
    return this.queue.length
  }

  /**
   * Adds an operation; when the queue is full, waits for the oldest and returns its result. A result that is
   * already there (a sync cipher's) passes straight through when nothing is queued before it.
   */
  push(op: T | Promise<T>): T | Promise<T> | undefined {
    if (!(op instanceof Promise)) {
      if (this.queue.length === 0) return op
      op = Promise.resolve(op)
    }
    op.catch(noop) // a failure surfaces when it is awaited, in order; never as an unhandled rejection
    this.queue.push(op)
    return this.queue.length >= this.depth ? this.queue.shift() : undefined
  }

  /** Waits until every queued operation has finished, ignoring their outcomes, and empties the queue. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.queue.splice(0))
  }

  /** Waits for the oldest operation. */
  shift(): Promise<T> | undefined {
    return this.queue.shift()
  }
}
