// Small byte helpers shared by the format code. Internal: not exported from the package.
import type { Bytes } from './key-provider.ts'

const encoder = new TextEncoder()
// fatal: invalid UTF-8 in a header is an error, never silently replaced. ignoreBOM: a leading U+FEFF is text
// like any other; by default TextDecoder drops it, and two different byte strings would decode alike.
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

export function utf8(text: string): Bytes {
  return encoder.encode(text) as Bytes
}

/** Decodes UTF-8; throws a TypeError on invalid bytes (callers map it to their own error). */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes)
}

/** True when the string has no lone surrogates, so its UTF-8 encoding is lossless. */
export function isWellFormed(text: string): boolean {
  return !/\p{Cs}/u.test(text)
}

export function concat(parts: readonly Uint8Array[]): Bytes {
  let length = 0
  for (const p of parts) length += p.length
  const out = new Uint8Array(length)
  let offset = 0
  for (const p of parts) {
    out.set(p, offset)
    offset += p.length
  }
  return out
}

export function randomBytes(length: number): Bytes {
  return crypto.getRandomValues(new Uint8Array(length))
}

/** Compares without an early exit, so the time taken does not tell where two secrets differ. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!
  return diff === 0
}

/** Byte-wise lexicographic order (the canonical order of context keys, docs/format.md §4). */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

/** Appends big-endian integers and length-prefixed byte strings to a growing list of parts. */
export class Writer {
  readonly parts: Uint8Array[] = []
  u8(value: number): this {
    this.parts.push(Uint8Array.of(value))
    return this
  }
  u16(value: number): this {
    this.parts.push(Uint8Array.of(value >>> 8, value & 0xff))
    return this
  }
  u32(value: number): this {
    this.parts.push(Uint8Array.of(value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff))
    return this
  }
  bytes(value: Uint8Array): this {
    this.parts.push(value)
    return this
  }
  finish(): Bytes {
    return concat(this.parts)
  }
}

/**
 * Reads big-endian fields from a byte array. Running past the end calls `onShort`, which throws: the caller
 * decides whether that means truncated input or a malformed length field.
 */
export class Reader {
  offset = 0
  readonly bytes: Uint8Array
  private readonly onShort: () => never
  constructor(bytes: Uint8Array, onShort: () => never) {
    this.bytes = bytes
    this.onShort = onShort
  }
  get remaining(): number {
    return this.bytes.length - this.offset
  }
  private need(n: number): void {
    if (this.bytes.length - this.offset < n) this.onShort()
  }
  u8(): number {
    this.need(1)
    return this.bytes[this.offset++]!
  }
  u16(): number {
    this.need(2)
    const b = this.bytes
    const v = (b[this.offset]! << 8) | b[this.offset + 1]!
    this.offset += 2
    return v
  }
  u32(): number {
    this.need(4)
    const b = this.bytes
    const v =
      ((b[this.offset]! << 24) | (b[this.offset + 1]! << 16) | (b[this.offset + 2]! << 8) | b[this.offset + 3]!) >>> 0
    this.offset += 4
    return v
  }
  /** A view (no copy) of the next `n` bytes. */
  take(n: number): Uint8Array {
    this.need(n)
    const v = this.bytes.subarray(this.offset, this.offset + n)
    this.offset += n
    return v
  }
}
