/**
 * The message header (docs/format.md §2–§4): encoding, bounded parsing and EDEK-section replacement.
 * Every declared length and count is checked against a limit before anything is allocated for it.
 * @module
 */
import { concat, fromUtf8, Reader, utf8, Writer } from './bytes.ts'
import { decodeContext } from './context.ts'
import {
  InvalidArgumentError,
  LimitExceededError,
  MalformedError,
  TruncatedError,
  UnsupportedSuiteError,
  UnsupportedVersionError,
} from './errors.ts'
import type { Bytes, Edek, EncryptionContext } from './key-provider.ts'

// --- constants (docs/format.md §2) ---
export const MAGIC = Uint8Array.of(0x89, 0x45, 0x4e, 0x56) // 0x89 "ENV": the high bit catches 7-bit mangling
export const VERSION = 1
/** AES-256-GCM, HKDF-SHA-256 per-message key, 256-bit key commitment, framed body. */
export const SUITE_AES256GCM_HKDFSHA256_COMMIT = 0x0001
export const MESSAGE_ID_BYTES = 32
export const COMMITMENT_BYTES = 32
export const TAG_BYTES = 16
/**
 * Smallest frame size a message may declare, in bytes.
 *
 * @example
 * ```ts
 * await encrypt(data, { provider, frameSize: MIN_FRAME_SIZE }) // the smallest frames (many tags)
 * ```
 */
export const MIN_FRAME_SIZE = 64
/**
 * Largest frame size a message may declare (16 MiB); also the default `maxFrameSize` of readers.
 *
 * @example
 * ```ts
 * await encrypt(data, { provider, frameSize: MAX_FRAME_SIZE })
 * ```
 */
export const MAX_FRAME_SIZE = 1 << 24 // 16 MiB
/**
 * Most EDEKs the format allows in one message (255).
 *
 * @example
 * ```ts
 * await decrypt(message, { provider, maxEdeks: MAX_EDEKS }) // accept anything the format allows
 * ```
 */
export const MAX_EDEKS = 255
/**
 * Most EDEKs a reader accepts unless told otherwise (8): a bound on work for untrusted input.
 *
 * @example
 * ```ts
 * readHeader(message, { maxEdeks: DEFAULT_MAX_EDEKS })
 * ```
 */
export const DEFAULT_MAX_EDEKS = 8
export const MAX_EDEK_BYTES = 8192
export const MAX_KEY_ID_BYTES = 1024
/** magic 4, version 1, suite 2, frame size 4: the authenticated, fixed-size start of every header. */
export const PREAMBLE_BYTES = 11

/**
 * A parsed header. The body (frames) starts at `headerLength`.
 *
 * @example
 * ```ts
 * const { context, edeks, frameSize, headerLength } = readHeader(message)
 * ```
 */
export interface MessageHeader {
  readonly version: number
  readonly suite: number
  readonly edeks: readonly Edek[]
  readonly messageId: Bytes
  /** Plaintext bytes in every frame but the last. */
  readonly frameSize: number
  readonly context: EncryptionContext
  readonly commitment: Bytes
  /** Length of the header in bytes. */
  readonly headerLength: number
}

/**
 * Limits a reader enforces on untrusted headers.
 *
 * @example
 * ```ts
 * await decrypt(message, { provider, maxEdeks: 2, maxFrameSize: 1 << 20 })
 * ```
 */
export interface HeaderLimits {
  /** Most EDEKs accepted in one message (default 8, at most 255). */
  readonly maxEdeks?: number
  /** Largest frame size accepted (default and at most 16 MiB). */
  readonly maxFrameSize?: number
}

// --- EDEK section (docs/format.md §3) ---
function encodeEdekSection(edeks: readonly Edek[]): Bytes {
  if (!Array.isArray(edeks) || edeks.length === 0) throw new InvalidArgumentError('"edeks" expected at least one EDEK')
  if (edeks.length > MAX_EDEKS) throw new LimitExceededError(`at most ${MAX_EDEKS} EDEKs fit in a message`)
  const w = new Writer().u8(edeks.length)
  for (const e of edeks) {
    if (typeof e?.providerId !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(e.providerId)) {
      throw new InvalidArgumentError('EDEK providerId expected 1-255 printable ASCII characters')
    }
    if (typeof e.keyId !== 'string' || typeof e.keyVersion !== 'string') {
      throw new InvalidArgumentError('EDEK keyId and keyVersion expected strings')
    }
    if (!(e.ciphertext instanceof Uint8Array)) throw new InvalidArgumentError('EDEK ciphertext expected a Uint8Array')
    const keyId = utf8(e.keyId)
    const keyVersion = utf8(e.keyVersion)
    if (keyId.length > MAX_KEY_ID_BYTES || keyVersion.length > 255) {
      throw new LimitExceededError('EDEK keyId (1024 bytes) or keyVersion (255 bytes) too long')
    }
    if (e.ciphertext.length < 1 || e.ciphertext.length > MAX_EDEK_BYTES) {
      throw new LimitExceededError(`EDEK ciphertext must be 1-${MAX_EDEK_BYTES} bytes`)
    }
    w.u8(e.providerId.length).bytes(utf8(e.providerId))
    w.u16(keyId.length).bytes(keyId)
    w.u8(keyVersion.length).bytes(keyVersion)
    w.u16(e.ciphertext.length).bytes(e.ciphertext)
  }
  const section = w.finish()
  if (section.length > 0xffff) throw new LimitExceededError('EDEK section exceeds 65535 bytes')
  return section
}

function decodeEdekSection(section: Uint8Array, maxEdeks: number): Edek[] {
  const r = new Reader(section, () => {
    throw new MalformedError('EDEK section is malformed')
  })
  const count = r.u8()
  if (count === 0) throw new MalformedError('message has no EDEK')
  if (count > maxEdeks) throw new LimitExceededError(`message has ${count} EDEKs, more than the limit of ${maxEdeks}`)
  const edeks: Edek[] = []
  try {
    for (let i = 0; i < count; i++) {
      const providerId = fromUtf8(r.take(r.u8()))
      if (!/^[\x21-\x7e]{1,255}$/.test(providerId)) throw new MalformedError('EDEK providerId is not printable ASCII')
      const keyIdLength = r.u16()
      if (keyIdLength > MAX_KEY_ID_BYTES) throw new MalformedError('EDEK keyId is too long')
      const keyId = fromUtf8(r.take(keyIdLength))
      const keyVersion = fromUtf8(r.take(r.u8()))
      const ctLength = r.u16()
      if (ctLength < 1 || ctLength > MAX_EDEK_BYTES) throw new MalformedError('EDEK ciphertext length out of range')
      edeks.push(Object.freeze({ providerId, keyId, keyVersion, ciphertext: r.take(ctLength).slice() }))
    }
  } catch (err) {
    if (err instanceof MalformedError || err instanceof LimitExceededError) throw err
    throw new MalformedError('EDEK section is not valid UTF-8', { cause: err })
  }
  if (r.remaining !== 0) throw new MalformedError('EDEK section has trailing bytes')
  return edeks
}

// --- whole header ---
export interface HeaderFields {
  readonly edeks: readonly Edek[]
  readonly messageId: Bytes
  readonly frameSize: number
  /** The context's canonical encoding (context.ts). */
  readonly contextBytes: Bytes
  readonly commitment: Bytes
}

/** Checks a frame size chosen by a caller. */
export function checkFrameSize(frameSize: number): number {
  if (!Number.isInteger(frameSize) || frameSize < MIN_FRAME_SIZE || frameSize > MAX_FRAME_SIZE) {
    throw new InvalidArgumentError(`"frameSize" expected an integer from ${MIN_FRAME_SIZE} to ${MAX_FRAME_SIZE}`)
  }
  return frameSize
}

/** Encodes a header; returns its bytes and the AAD that frame 0 authenticates (everything but the EDEKs). */
export function encodeHeader(fields: HeaderFields): { bytes: Bytes; aad: Bytes } {
  const section = encodeEdekSection(fields.edeks)
  const context = fields.contextBytes
  const preamble = new Writer()
    .bytes(MAGIC)
    .u8(VERSION)
    .u16(SUITE_AES256GCM_HKDFSHA256_COMMIT)
    .u32(checkFrameSize(fields.frameSize))
    .finish()
  const tail = new Writer().bytes(fields.messageId).u16(context.length).bytes(context).bytes(fields.commitment).finish()
  const sectionLength = Uint8Array.of(section.length >>> 8, section.length & 0xff)
  return { bytes: concat([preamble, sectionLength, section, tail]), aad: concat([preamble, tail]) }
}

/**
 * Reads magic, version, suite and frame size (checked against the limit before anything else is read), then
 * the EDEK-section length. Shared by parsing and EDEK replacement.
 */
function readPreamble(r: Reader, maxFrameSize: number): { frameSize: number; sectionLength: number } {
  const magic = r.take(4)
  for (let i = 0; i < 4; i++) if (magic[i] !== MAGIC[i]) throw new MalformedError('not an envelope message')
  const version = r.u8()
  if (version !== VERSION) throw new UnsupportedVersionError(version)
  const suite = r.u16()
  if (suite !== SUITE_AES256GCM_HKDFSHA256_COMMIT) throw new UnsupportedSuiteError(suite)
  const frameSize = r.u32()
  if (frameSize > maxFrameSize)
    throw new LimitExceededError(`frame size ${frameSize} exceeds the limit ${maxFrameSize}`)
  if (frameSize < MIN_FRAME_SIZE) throw new MalformedError(`frame size ${frameSize} is below ${MIN_FRAME_SIZE}`)
  return { frameSize, sectionLength: r.u16() }
}

/** A parsed header with the raw bytes a reader authenticates and compares. */
export interface ParsedHeader {
  readonly header: MessageHeader
  /** The AAD of frame 0 (docs/format.md §2). */
  readonly aad: Bytes
  /** The context exactly as stored: an expected context is compared with these bytes (docs/format.md §4). */
  readonly contextBytes: Bytes
}

/**
 * Parses a header from the start of `bytes` (which may hold more: the body). Throws {@link TruncatedError}
 * when `bytes` ends inside the header, so a stream reader can wait for more input.
 */
export function parseHeader(bytes: Uint8Array, limits: HeaderLimits = {}): ParsedHeader {
  const maxEdeks = Math.min(limits.maxEdeks ?? DEFAULT_MAX_EDEKS, MAX_EDEKS)
  const maxFrameSize = Math.min(limits.maxFrameSize ?? MAX_FRAME_SIZE, MAX_FRAME_SIZE)
  const r = new Reader(bytes, () => {
    throw new TruncatedError('envelope message ends inside its header')
  })
  const { frameSize, sectionLength } = readPreamble(r, maxFrameSize)
  const edeks = decodeEdekSection(r.take(sectionLength), maxEdeks)
  const tailStart = r.offset
  const messageId = r.take(MESSAGE_ID_BYTES).slice()
  const contextBytes = r.take(r.u16()).slice()
  const context = decodeContext(contextBytes)
  const commitment = r.take(COMMITMENT_BYTES).slice()
  const headerLength = r.offset
  const aad = concat([bytes.subarray(0, PREAMBLE_BYTES), bytes.subarray(tailStart, headerLength)])
  const header: MessageHeader = Object.freeze({
    version: VERSION,
    suite: SUITE_AES256GCM_HKDFSHA256_COMMIT,
    edeks: Object.freeze(edeks),
    messageId,
    frameSize,
    context,
    commitment,
    headerLength,
  })
  return { header, aad, contextBytes }
}

/**
 * Reads the header of a message (or of its first bytes) without decrypting anything: its EDEKs, context,
 * frame size and length. Nothing in it is authenticated until the message is decrypted.
 *
 * @example
 * ```ts
 * const { context, edeks, headerLength } = readHeader(await file.slice(0, 4096).bytes())
 * ```
 * @throws {TruncatedError} `bytes` ends inside the header.
 * @throws {MalformedError | UnsupportedVersionError | UnsupportedSuiteError | LimitExceededError} not a
 * readable v1 header.
 */
export function readHeader(bytes: Uint8Array, limits?: HeaderLimits): MessageHeader {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('"bytes" expected a Uint8Array')
  for (const [name, value, min, max] of [
    ['maxEdeks', limits?.maxEdeks, 1, MAX_EDEKS],
    ['maxFrameSize', limits?.maxFrameSize, MIN_FRAME_SIZE, Number.MAX_SAFE_INTEGER],
  ] as const) {
    if (value !== undefined && !(Number.isInteger(value) && value >= min && value <= max)) {
      throw new InvalidArgumentError(`"${name}" expected an integer from ${min} to ${max}`)
    }
  }
  return parseHeader(bytes, limits).header
}

/**
 * Replaces the EDEK section of a message, keeping every other byte as it is: this is how a message is rekeyed
 * (its DEK wrapped under a new master key version or another tenant's key) without re-encrypting the body.
 * The EDEK section is outside the authenticated data by design (docs/format.md §3); a wrong EDEK can only fail
 * to unwrap or fail the key commitment. `bytes` may be the whole message or any prefix that holds at least the
 * EDEK section; the rest of the message follows the returned bytes unchanged.
 *
 * @example
 * ```ts
 * const newEdeks = await proxy.rekey(readHeader(stored).edeks, context)
 * await save(replaceEdeks(stored, newEdeks))
 * ```
 * @throws {TruncatedError} `bytes` ends before the end of the EDEK section.
 * @throws {MalformedError | UnsupportedVersionError | UnsupportedSuiteError} not a v1 message.
 * @throws {InvalidArgumentError | LimitExceededError} the new EDEKs cannot be encoded.
 */
export function replaceEdeks(bytes: Uint8Array, edeks: readonly Edek[]): Bytes {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError('"bytes" expected a Uint8Array')
  const r = new Reader(bytes, () => {
    throw new TruncatedError('envelope message ends inside its EDEK section')
  })
  const { sectionLength } = readPreamble(r, MAX_FRAME_SIZE)
  decodeEdekSection(r.take(sectionLength), MAX_EDEKS) // the old section must be well formed
  const section = encodeEdekSection(edeks)
  return concat([
    bytes.subarray(0, PREAMBLE_BYTES),
    Uint8Array.of(section.length >>> 8, section.length & 0xff),
    section,
    bytes.subarray(PREAMBLE_BYTES + 2 + sectionLength),
  ])
}
