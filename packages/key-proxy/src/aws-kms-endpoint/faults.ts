/**
 * Fault injection for tests and benchmarks, off by default: added latency on every AWS API answer, throttling
 * (every Nth KMS call, or above a rate), and a deny list (access keys, roles or principal ARNs refused with
 * AccessDeniedException, as when a customer revokes the proxy's role). Also counts the KMS calls, so a
 * benchmark can report how many calls reached "the customer's KMS".
 * @module
 */
import type { Principal } from './principals.ts'

export interface AwsKmsFaults {
  /** Milliseconds added before every AWS API answer (KMS and STS). */
  readonly latencyMs?: number
  /** ThrottlingException on every Nth KMS call (1: every call). */
  readonly throttleEveryNth?: number
  /** ThrottlingException for KMS calls above this many per second (a token bucket holding one second's worth, at least one call). */
  readonly throttlePerSecond?: number
  /** Access key ids, role ARNs or principal ARNs refused with AccessDeniedException (and refused AssumeRole). */
  readonly deny?: readonly string[]
}

export interface AwsKmsCallStats {
  /** Authenticated KMS calls, refused ones included. */
  readonly calls: number
  readonly byOperation: Readonly<Record<string, number>>
  readonly throttled: number
  readonly denied: number
}

const MAX_DENY = 1000

/** Checks and normalises faults from a control request or the command line. @throws TypeError */
export function validateFaults(input: unknown): AwsKmsFaults {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new TypeError('faults must be an object')
  const f = input as Record<string, unknown>
  for (const k of Object.keys(f)) {
    if (!['latencyMs', 'throttleEveryNth', 'throttlePerSecond', 'deny'].includes(k)) {
      throw new TypeError(`unknown fault "${k.slice(0, 64)}"`)
    }
  }
  const num = (k: string, min: number, max: number) => {
    const v = f[k]
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new TypeError(`${k} must be a number from ${min} to ${max}`)
    }
    return v
  }
  const deny = f.deny
  if (
    deny !== undefined &&
    (!Array.isArray(deny) ||
      deny.length > MAX_DENY ||
      !deny.every((d) => typeof d === 'string' && d.length > 0 && d.length <= 2048))
  ) {
    throw new TypeError(`deny must be a list of at most ${MAX_DENY} access key ids or ARNs`)
  }
  const latencyMs = num('latencyMs', 0, 600_000)
  const throttleEveryNth = num('throttleEveryNth', 1, 1e9)
  const throttlePerSecond = num('throttlePerSecond', 0.001, 1e9)
  return {
    ...(latencyMs ? { latencyMs } : {}),
    ...(throttleEveryNth ? { throttleEveryNth: Math.floor(throttleEveryNth) } : {}),
    ...(throttlePerSecond ? { throttlePerSecond } : {}),
    ...(deny?.length ? { deny: [...(deny as string[])] } : {}),
  }
}

export class FaultInjector {
  private current: AwsKmsFaults = {}
  private deny = new Set<string>()
  private tokens = 0
  private refilledAt = 0
  private seen = 0
  private counts = { calls: 0, throttled: 0, denied: 0, byOperation: {} as Record<string, number> }

  constructor(faults: AwsKmsFaults = {}) {
    this.set(faults)
  }

  /** Replaces every fault (and restarts the Nth-call count and the rate bucket). */
  set(faults: AwsKmsFaults): AwsKmsFaults {
    this.current = validateFaults(faults)
    this.deny = new Set(this.current.deny)
    this.seen = 0
    this.tokens = Math.max(this.current.throttlePerSecond ?? 0, 1)
    this.refilledAt = Date.now()
    return this.current
  }

  get faults(): AwsKmsFaults {
    return this.current
  }

  get latencyMs(): number {
    return this.current.latencyMs ?? 0
  }

  isDenied(p: Principal): boolean {
    if (!this.deny.size) return false
    return [p.accessKeyId, p.arn, p.roleArn, p.sourceAccessKeyId].some((id) => id !== undefined && this.deny.has(id))
  }

  /** Counts one KMS call; true when it is to be throttled. */
  countCall(operation: string): boolean {
    const c = this.counts
    c.calls++
    // bounded: only TrentService operation names reach here, and only the ones the endpoint knows
    c.byOperation[operation] = (c.byOperation[operation] ?? 0) + 1
    this.seen++
    const { throttleEveryNth: nth, throttlePerSecond: rate } = this.current
    let throttle = nth !== undefined && this.seen % nth === 0
    if (!throttle && rate !== undefined) {
      const now = Date.now()
      this.tokens = Math.min(Math.max(rate, 1), this.tokens + ((now - this.refilledAt) / 1000) * rate)
      this.refilledAt = now
      if (this.tokens >= 1) this.tokens -= 1
      else throttle = true
    }
    if (throttle) c.throttled++
    return throttle
  }

  countDenied(): void {
    this.counts.denied++
  }

  get stats(): AwsKmsCallStats {
    return { ...this.counts, byOperation: { ...this.counts.byOperation } }
  }

  resetStats(): void {
    this.counts = { calls: 0, throttled: 0, denied: 0, byOperation: {} }
  }
}
