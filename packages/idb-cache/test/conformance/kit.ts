// Helpers shared by the idb-cache suites: a controllable clock, real DEKs from the core's local provider, a
// provider wrapper that counts (and can hold) inner calls, and a bounded wait.
import {
  createLocalKeyProvider,
  type DataKey,
  decryptToString,
  type Edek,
  type EncryptionContext,
  encrypt,
  type KeyProvider,
  readHeader,
} from '@envelope/core'

/** A clock tests move by hand. */
export interface TestClock {
  now: () => number
  advance(ms: number): void
  set(ms: number): void
}

export function testClock(start = 1_000_000): TestClock {
  let t = start
  return {
    now: () => t,
    advance(ms) {
      t += ms
    },
    set(ms) {
      t = ms
    },
  }
}

let counter = 0
/** A fresh, unique name (database names, partitions) so tests never see each other's data. */
export function uniqueName(prefix: string): string {
  counter++
  const random = crypto.getRandomValues(new Uint8Array(6))
  return `${prefix}-${counter}-${Array.from(random, (b) => b.toString(16).padStart(2, '0')).join('')}`
}

export function localProvider(keyId = 'cache-test'): Promise<KeyProvider> {
  return createLocalKeyProvider({ kek: crypto.getRandomValues(new Uint8Array(32)), keyId })
}

/** A non-extractable HKDF DEK, as providers return them. */
export function freshDek(): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', crypto.getRandomValues(new Uint8Array(32)), 'HKDF', false, [
    'deriveKey',
    'deriveBits',
  ])
}

/** 32 bytes derived from a DEK: equal outputs mean the same key (keys cannot be compared otherwise). */
export async function fingerprint(dek: CryptoKey): Promise<string> {
  const params = { name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(16), info: new TextEncoder().encode('fp') }
  const bits = new Uint8Array(await crypto.subtle.deriveBits(params, dek, 256))
  return Array.from(bits, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** A message made with the core, and its DEK unwrapped by the provider that made it. */
export async function sealedMessage(
  provider: KeyProvider,
  text = 'cached secret',
  context: EncryptionContext = { tenant: 'acme', doc: '1' },
): Promise<{ message: Uint8Array; edeks: readonly Edek[]; context: EncryptionContext; dek: CryptoKey }> {
  const message = await encrypt(text, { provider, context })
  const header = readHeader(message)
  const dek = await provider.unwrapDataKey(header.edeks, header.context)
  return { message, edeks: header.edeks, context: header.context, dek }
}

/** A provider that can only hand out one given DEK: decrypting with it proves that DEK opens the message. */
export function fixedDekProvider(dek: CryptoKey): KeyProvider {
  return {
    generateDataKey: (): Promise<DataKey> => Promise.reject(new Error('not used')),
    unwrapDataKey: async () => dek,
    unwrapDataKeys: async (requests) => requests.map(() => ({ ok: true as const, dek })),
  }
}

export async function opensWith(dek: CryptoKey, message: Uint8Array): Promise<string> {
  return decryptToString(message, { provider: fixedDekProvider(dek) })
}

/** A real provider wrapped to count calls; `hold()` makes inner calls wait until `release()`. */
export interface CountingProvider extends KeyProvider {
  readonly calls: { generate: number; unwrap: number; unwrapBatch: number; batchItems: number }
  hold(): void
  release(): void
  /** Signals the inner calls received. */
  readonly signals: (AbortSignal | undefined)[]
}

export function counting(inner: KeyProvider): CountingProvider {
  const calls = { generate: 0, unwrap: 0, unwrapBatch: 0, batchItems: 0 }
  const signals: (AbortSignal | undefined)[] = []
  let gate: Promise<void> | undefined
  let open: (() => void) | undefined
  const wait = () => gate ?? Promise.resolve()
  return {
    calls,
    signals,
    hold() {
      gate = new Promise((resolve) => {
        open = resolve
      })
    },
    release() {
      open?.()
      gate = undefined
    },
    async generateDataKey(context, options) {
      calls.generate++
      signals.push(options?.signal)
      await wait()
      return inner.generateDataKey(context, options)
    },
    async unwrapDataKey(edeks, context, options) {
      calls.unwrap++
      signals.push(options?.signal)
      await wait()
      return inner.unwrapDataKey(edeks, context, options)
    },
    async unwrapDataKeys(requests, options) {
      calls.unwrapBatch++
      calls.batchItems += requests.length
      signals.push(options?.signal)
      await wait()
      return inner.unwrapDataKeys(requests, options)
    },
  }
}

/** Yields to the event loop until `condition()` holds, at most `turns` times. Not a sleep: no time is assumed. */
export async function until(condition: () => boolean, what: string, turns = 2000): Promise<void> {
  for (let i = 0; i < turns; i++) {
    if (condition()) return
    await new Promise((resolve) => setTimeout(resolve, 0))
  }
  throw new Error(`gave up waiting for ${what}`)
}

/** Runs `work` with console.warn captured; returns what was warned. */
export async function captureWarnings<T>(work: () => Promise<T>): Promise<{ result: T; warnings: string[] }> {
  const warnings: string[] = []
  const original = console.warn
  console.warn = (...args: unknown[]) => {
    warnings.push(args.map(String).join(' '))
  }
  try {
    return { result: await work(), warnings }
  } finally {
    console.warn = original
  }
}
