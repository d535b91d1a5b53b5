// Helpers shared by the core's portable suites.
import { createLocalKeyProvider, type KeyProvider } from '../../src/index.ts'

export async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  const reader = stream.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    parts.push(value)
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

/** A stream that yields `bytes` in chunks of `size` (the last may be shorter). */
export function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let at = 0
  return new ReadableStream({
    pull(controller) {
      if (at >= bytes.length) return controller.close()
      controller.enqueue(bytes.slice(at, at + size))
      at += size
    },
  })
}

/** Runs a stream through `transform`, returning what came out before an error, and the error. */
export async function pipeCollect(
  input: ReadableStream<Uint8Array>,
  transform: TransformStream<Uint8Array, Uint8Array>,
): Promise<{ released: Uint8Array; error?: unknown }> {
  const parts: Uint8Array[] = []
  const reader = input.pipeThrough(transform).getReader()
  let error: unknown
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      parts.push(value)
    }
  } catch (err) {
    error = err ?? new Error('stream errored with no reason')
  }
  const released = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    released.set(p, at)
    at += p.length
  }
  return { released, error }
}

export function pattern(length: number, seed = 1): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(length)
  let x = seed
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    out[i] = x >>> 24
  }
  return out
}

export function localProvider(fill = 7, keyId = 'test-kek', keyVersion = ''): Promise<KeyProvider> {
  return createLocalKeyProvider({ kek: new Uint8Array(32).fill(fill), keyId, keyVersion })
}
