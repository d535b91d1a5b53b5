/**
 * A portable test kit: suites are plain data (name + async functions) so the same suite runs under Vitest,
 * Deno.test, bun:test, workerd's test() handler and in browser pages. Assertions throw plain Errors and use
 * nothing but the language, so they behave the same everywhere.
 */
export interface TestCase {
  readonly name: string
  readonly fn: () => Promise<void> | void
}

export interface Suite {
  readonly name: string
  readonly tests: readonly TestCase[]
}

/** Declares a suite: `suite('core: vectors', (test) => { test('opens v1-1', async () => {...}) })`. */
export function suite(name: string, define: (test: (name: string, fn: TestCase['fn']) => void) => void): Suite {
  const tests: TestCase[] = []
  define((testName, fn) => {
    tests.push({ name: testName, fn })
  })
  return { name, tests }
}

export function assert(condition: unknown, message = 'assertion failed'): asserts condition {
  if (!condition) throw new Error(message)
}

export function assertEqual<T>(actual: T, expected: T, message?: string): void {
  if (!Object.is(actual, expected)) {
    throw new Error(`${message ?? 'values differ'}: expected ${String(expected)}, got ${String(actual)}`)
  }
}

export function assertJsonEqual(actual: unknown, expected: unknown, message?: string): void {
  const a = JSON.stringify(actual)
  const e = JSON.stringify(expected)
  if (a !== e) throw new Error(`${message ?? 'values differ'}: expected ${e}, got ${a}`)
}

export function assertBytesEqual(actual: Uint8Array, expected: Uint8Array, message?: string): void {
  if (actual.length !== expected.length) {
    throw new Error(`${message ?? 'bytes differ'}: expected length ${expected.length}, got ${actual.length}`)
  }
  for (let i = 0; i < actual.length; i++) {
    if (actual[i] !== expected[i]) throw new Error(`${message ?? 'bytes differ'}: first difference at offset ${i}`)
  }
}

/**
 * Awaits `work` and asserts it rejects with an error carrying `code` (envelope errors carry a stable `code`).
 * Returns the error for further checks.
 */
export async function assertRejectsCode(
  work: Promise<unknown> | (() => Promise<unknown>),
  code: string,
  message?: string,
): Promise<Error & { code?: string }> {
  let outcome: unknown
  try {
    outcome = await (typeof work === 'function' ? work() : work)
  } catch (err) {
    const got = (err as { code?: unknown })?.code
    if (got !== code) {
      throw new Error(`${message ?? 'wrong error'}: expected code ${code}, got ${String(got)} (${String(err)})`)
    }
    return err as Error & { code?: string }
  }
  throw new Error(`${message ?? 'expected a rejection'}: expected code ${code}, but it resolved to ${String(outcome)}`)
}

export function hex(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += b.toString(16).padStart(2, '0')
  return s
}

export function fromHex(text: string): Uint8Array<ArrayBuffer> {
  if (text.length % 2 !== 0 || /[^0-9a-f]/i.test(text)) throw new Error(`bad hex: ${text.slice(0, 20)}`)
  const out = new Uint8Array(text.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(text.slice(i * 2, i * 2 + 2), 16)
  return out
}
