/**
 * Builds the v1 test vectors (docs/vectors/v1.json) deterministically from fixed inputs, through the same
 * internal functions encrypt() uses, with the message id and the local EDEK's iv injected. The vectors test
 * checks that the committed JSON equals this output, in every runtime.
 */

import { fromHex, hex } from '../../../../tests/harness.ts'
import { concat, utf8 } from '../../src/bytes.ts'
import { encodeContext } from '../../src/context.ts'
import { sealAll } from '../../src/encrypt.ts'
import { sealFrame } from '../../src/frames.ts'
import { PREAMBLE_BYTES } from '../../src/header.ts'
import type { Bytes, Edek, EncryptionContext } from '../../src/key-provider.ts'
import { wrapAad } from '../../src/local-provider.ts'
import { startWithDataKey } from '../../src/options.ts'

export interface PositiveVector {
  title: string
  dek: string
  edekIv: string
  messageId: string
  frameSize: number
  context: Record<string, string>
  /** Extra EDEKs placed after the local one (opaque to the local provider). */
  extraEdeks?: { providerId: string; keyId: string; keyVersion: string; ciphertext: string }[]
  plaintext: string
  message: string
}

/** What a reader does with a message: refuse it with a code, or open it to this plaintext (hex). */
export type Outcome = { code: string } | { plaintext: string }

export interface NegativeVector {
  title: string
  message: string
  expectedContext?: Record<string, string>
  code: string
  dek: string
  withDek: Outcome
}

export interface VectorFile {
  description: Record<string, string>
  format: string
  kek: string
  keyId: string
  keyVersion: string
  providerId: string
  positive: PositiveVector[]
  negative: NegativeVector[]
}

const KEK = fromHex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f')
const KEY_ID = 'vectors-kek'
const KEY_VERSION = '1'

const fill = (n: number, start: number): string => hex(Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff))

type Input = Omit<PositiveVector, 'message'>

const inputs: Input[] = [
  {
    title: 'empty plaintext, empty context',
    dek: fill(32, 0x40),
    edekIv: fill(12, 0xa0),
    messageId: fill(32, 0x80),
    frameSize: 64,
    context: {},
    plaintext: '',
  },
  {
    title: 'short text, one frame, two context pairs',
    dek: fill(32, 0x41),
    edekIv: fill(12, 0xa1),
    messageId: fill(32, 0x81),
    frameSize: 65536,
    context: { tenant: 'acme', purpose: 'vector' },
    plaintext: hex(utf8('hello, envelope')),
  },
  {
    title: 'four frames: 64, 64, 64 and a final 8',
    dek: fill(32, 0x42),
    edekIv: fill(12, 0xa2),
    messageId: fill(32, 0x82),
    frameSize: 64,
    context: { doc: '42' },
    plaintext: fill(200, 0),
  },
  {
    title: 'plaintext an exact multiple of the frame size: the last full frame is final',
    dek: fill(32, 0x43),
    edekIv: fill(12, 0xa3),
    messageId: fill(32, 0x83),
    frameSize: 64,
    context: {},
    plaintext: fill(128, 7),
  },
  {
    title: 'non-ASCII context, keys sorted by UTF-8 bytes',
    dek: fill(32, 0x44),
    edekIv: fill(12, 0xa4),
    messageId: fill(32, 0x84),
    frameSize: 1024,
    context: { z: '2', é: '1', a: 'ü', Z: '' },
    plaintext: hex(utf8('grüße')),
  },
  {
    title: 'two EDEKs: an offline backup EDEK first is skipped, the local one opens',
    dek: fill(32, 0x45),
    edekIv: fill(12, 0xa5),
    messageId: fill(32, 0x85),
    frameSize: 64,
    context: { tenant: 'acme' },
    extraEdeks: [{ providerId: 'offline-backup', keyId: 'vault-7', keyVersion: '', ciphertext: fill(40, 0xee) }],
    plaintext: fill(70, 0x30),
  },
  {
    title:
      'U+FEFF (a byte-order mark) leading a context key, a context value, a key id and a key version: kept as text',
    dek: fill(32, 0x46),
    edekIv: fill(12, 0xa6),
    messageId: fill(32, 0x86),
    frameSize: 64,
    context: { '\uFEFFtenant': '\uFEFFacme' },
    extraEdeks: [
      { providerId: 'offline-backup', keyId: '\uFEFFvault-7', keyVersion: '\uFEFF1', ciphertext: fill(40, 0xee) },
    ],
    plaintext: hex(utf8('\uFEFFtext')),
  },
]

async function localEdek(dek: Bytes, iv: Bytes, context: EncryptionContext): Promise<Edek> {
  const kek = await crypto.subtle.importKey('raw', KEK, 'AES-GCM', false, ['encrypt'])
  const params = { name: 'AES-GCM', iv, additionalData: wrapAad(KEY_ID, KEY_VERSION, context) }
  const wrapped = new Uint8Array(await crypto.subtle.encrypt(params, kek, dek))
  return { providerId: 'local', keyId: KEY_ID, keyVersion: KEY_VERSION, ciphertext: concat([iv, wrapped]) }
}

/** Starts a message from one vector's inputs; the local EDEK is bound to `edekContext` (normally the context). */
async function startVector(v: Input, edekContext: EncryptionContext = v.context) {
  const dekBytes = fromHex(v.dek)
  const dek = await crypto.subtle.importKey('raw', dekBytes, 'HKDF', false, ['deriveKey', 'deriveBits'])
  const extra = (v.extraEdeks ?? []).map((e) => ({ ...e, ciphertext: fromHex(e.ciphertext) }))
  const edeks = [...extra, await localEdek(dekBytes, fromHex(v.edekIv), edekContext)]
  return startWithDataKey({ dek, edeks }, encodeContext(v.context), v.frameSize, fromHex(v.messageId))
}

/** Encrypts one vector's inputs exactly as encrypt() would with those random values. */
export async function sealVector(v: Input, edekContext?: EncryptionContext): Promise<Bytes> {
  return sealAll(await startVector(v, edekContext), fromHex(v.plaintext))
}

// --- negative vectors: edits of positive messages ---
function edit(bytes: Uint8Array, at: number, value: number): Uint8Array {
  const copy = bytes.slice()
  copy[at] = value
  return copy
}

function headerOffsets(m: Uint8Array) {
  const sectionLength = (m[PREAMBLE_BYTES]! << 8) | m[PREAMBLE_BYTES + 1]!
  const messageId = PREAMBLE_BYTES + 2 + sectionLength
  const contextLength = messageId + 32
  const c = (m[contextLength]! << 8) | m[contextLength + 1]!
  const context = contextLength + 2
  const commitment = context + c
  return { sectionLength, edeks: PREAMBLE_BYTES + 2, messageId, context, commitment, body: commitment + 32 }
}

/** An EDEK entry from raw parts (any lengths, any bytes), for malformed sections. */
function rawEdek(providerId: Uint8Array, keyId: Uint8Array, keyVersion: Uint8Array, ct: Uint8Array): Uint8Array {
  const u16 = (n: number) => Uint8Array.of(n >> 8, n & 0xff)
  return concat([
    Uint8Array.of(providerId.length),
    providerId,
    u16(keyId.length),
    keyId,
    Uint8Array.of(keyVersion.length),
    keyVersion,
    u16(ct.length),
    ct,
  ])
}

/** `m` with its EDEK section replaced by `section` (and the section length set to `length`, default its size). */
function withSection(m: Uint8Array, section: Uint8Array, length = section.length): Uint8Array {
  const o = headerOffsets(m)
  return concat([
    m.subarray(0, PREAMBLE_BYTES),
    Uint8Array.of(length >> 8, length & 0xff),
    section,
    m.subarray(o.messageId),
  ])
}

function setU16(m: Uint8Array, at: number, value: number): Uint8Array {
  const copy = m.slice()
  copy[at] = value >> 8
  copy[at + 1] = value & 0xff
  return copy
}

function setU32(m: Uint8Array, at: number, value: number): Uint8Array {
  const copy = m.slice()
  new DataView(copy.buffer).setUint32(at, value)
  return copy
}

type Case = Omit<NegativeVector, 'message' | 'dek' | 'withDek'> & { message: Uint8Array; withDek?: Outcome }

async function negatives(messages: Bytes[]): Promise<NegativeVector[]> {
  const short = messages[1]! // one frame, context {purpose, tenant}
  const multi = messages[2]! // frames of 64 + 16 bytes
  const exact = messages[3]! // 128 bytes in two full frames: the final frame is full-size
  const o = headerOffsets(multi)
  const os = headerOffsets(short)
  const frame = (i: number) => multi.subarray(o.body + i * 80, o.body + (i + 1) * 80)
  const head = multi.subarray(0, o.body)
  const lastFrame = multi.subarray(o.body + 3 * 80)
  const localEntry = short.subarray(os.edeks + 1, os.messageId) // the short message's one EDEK
  const opens = (i: number): Outcome => ({ plaintext: inputs[i]!.plaintext })
  const ascii = (text: string) => utf8(text)
  const ct60 = localEntry.subarray(localEntry.length - 60)
  const bad = (providerId: Uint8Array, keyId: Uint8Array, keyVersion: Uint8Array, ct: Uint8Array) =>
    withSection(short, concat([Uint8Array.of(1), rawEdek(providerId, keyId, keyVersion, ct)]))

  // The key-commitment cases: another message's EDEK (same KEK, same context) unwraps to another DEK.
  const other = await sealVector({ ...inputs[1]!, dek: fill(32, 0x99), edekIv: fill(12, 0x99) })
  const otherSection = other.subarray(os.edeks - 2, headerOffsets(other).messageId)
  const otherEntry = other.subarray(os.edeks + 1, headerOffsets(other).messageId)
  // A context whose first key starts with U+FEFF, its EDEK bound to the same context without it.
  const bomInput = { ...inputs[1]!, context: { '\uFEFFtenant': 'acme' } }
  const bom = await sealVector(bomInput, { tenant: 'acme' })
  // A writer that breaks §6: after two full frames, a third, final frame with no plaintext.
  const exactStart = await startVector(inputs[3]!)
  const exactPlain = fromHex(inputs[3]!.plaintext)
  const emptyFinal = concat([
    exactStart.header,
    ...(await sealFrame(exactStart.frameKey, 0, false, exactPlain.subarray(0, 64))),
    ...(await sealFrame(exactStart.frameKey, 1, false, exactPlain.subarray(64))),
    ...(await sealFrame(exactStart.frameKey, 2, true, new Uint8Array(0))),
  ])

  const cases: [number, Case][] = [
    [1, { title: 'wrong magic', message: edit(short, 0, 0x88), code: 'ERR_MALFORMED' }],
    [1, { title: 'version 2', message: edit(short, 4, 2), code: 'ERR_UNSUPPORTED_VERSION' }],
    [1, { title: 'unknown suite 0x0002', message: edit(short, 6, 2), code: 'ERR_UNSUPPORTED_SUITE' }],
    [
      1,
      {
        title: 'a 40-byte input declaring a 4 GiB frame size',
        message: concat([short.subarray(0, 7), Uint8Array.of(0xff, 0xff, 0xff, 0xff), new Uint8Array(29)]),
        code: 'ERR_LIMIT_EXCEEDED',
      },
    ],
    [1, { title: 'frame size below 64', message: edit(short, 8, 0), code: 'ERR_MALFORMED' }],
    [
      1,
      { title: 'input ends inside the header', message: short.subarray(0, os.commitment + 10), code: 'ERR_TRUNCATED' },
    ],
    [1, { title: 'header only, no frame', message: short.subarray(0, os.body), code: 'ERR_TRUNCATED' }],
    [
      2,
      {
        title: 'final frame dropped (cut at a frame boundary)',
        message: multi.subarray(0, o.body + 240),
        code: 'ERR_TRUNCATED',
      },
    ],
    [
      2,
      {
        title: 'cut inside the final frame',
        message: multi.subarray(0, multi.length - 1),
        code: 'ERR_AUTHENTICATION_FAILED',
      },
    ],
    [
      2,
      {
        title: 'last byte (tag) flipped',
        message: edit(multi, multi.length - 1, multi[multi.length - 1]! ^ 1),
        code: 'ERR_AUTHENTICATION_FAILED',
      },
    ],
    [
      2,
      {
        title: 'body byte flipped in frame 1',
        message: edit(multi, o.body + 90, multi[o.body + 90]! ^ 0x80),
        code: 'ERR_AUTHENTICATION_FAILED',
      },
    ],
    [
      2,
      {
        title: 'frames 1 and 2 swapped',
        message: concat([head, frame(0), frame(2), frame(1), lastFrame]),
        code: 'ERR_AUTHENTICATION_FAILED',
      },
    ],
    [
      2,
      {
        title: 'frame 1 duplicated',
        message: concat([head, frame(0), frame(1), frame(1), frame(2), lastFrame]),
        code: 'ERR_AUTHENTICATION_FAILED',
      },
    ],
    [
      2,
      { title: 'final frame appended twice', message: concat([multi, lastFrame]), code: 'ERR_AUTHENTICATION_FAILED' },
    ],
    [
      3,
      {
        title: '20 bytes appended after a full-size final frame',
        message: concat([exact, new Uint8Array(20)]),
        code: 'ERR_MALFORMED',
      },
    ],
    [
      1,
      {
        title: 'context value altered (same length): the local EDEK is bound to the context',
        message: edit(short, os.context + 14, short[os.context + 14]! ^ 0x01),
        code: 'ERR_KEY_UNAVAILABLE',
        withDek: { code: 'ERR_AUTHENTICATION_FAILED' },
      },
    ],
    [
      1,
      {
        title: 'message id altered',
        message: edit(short, os.messageId, short[os.messageId]! ^ 1),
        code: 'ERR_COMMITMENT_MISMATCH',
      },
    ],
    [
      1,
      {
        title: 'commitment altered',
        message: edit(short, os.commitment + 31, short[os.commitment + 31]! ^ 1),
        code: 'ERR_COMMITMENT_MISMATCH',
      },
    ],
    [
      1,
      {
        title: 'EDEK ciphertext altered',
        message: edit(short, os.messageId - 1, short[os.messageId - 1]! ^ 1),
        code: 'ERR_KEY_UNAVAILABLE',
        withDek: opens(1),
      },
    ],
    [
      1,
      {
        title: 'expected context differs from the message context',
        message: short,
        expectedContext: { tenant: 'acme' },
        code: 'ERR_CONTEXT_MISMATCH',
      },
    ],
    [1, { title: 'EDEK count 0', message: edit(short, o.edeks, 0), code: 'ERR_MALFORMED' }],
    [1, { title: 'non-canonical context order', message: reorderContext(short, os.context), code: 'ERR_MALFORMED' }],
    [
      1,
      {
        title: 'invalid UTF-8 in a context value',
        message: edit(short, os.context + 2 + 2 + 7 + 2, 0xff),
        code: 'ERR_MALFORMED',
      },
    ],
    [
      1,
      {
        title: 'EDEK section swapped in from another message (another DEK): key commitment catches it',
        message: concat([short.subarray(0, os.edeks - 2), otherSection, short.subarray(os.messageId)]),
        code: 'ERR_COMMITMENT_MISMATCH',
        withDek: opens(1),
      },
    ],
    [
      1,
      {
        title: 'nine EDEKs, over the default limit of 8',
        message: withEdekCount(short, 9),
        code: 'ERR_LIMIT_EXCEEDED',
      },
    ],
    // --- reader rules of §2.2, §3 and §7 ---
    [
      1,
      {
        title: 'frame size 16 MiB + 1: above the format maximum, so above every reader limit',
        message: setU32(short, 7, (1 << 24) + 1),
        code: 'ERR_LIMIT_EXCEEDED',
      },
    ],
    [
      1,
      {
        title: 'EDEK-section length runs past the end of the input',
        message: setU16(short, PREAMBLE_BYTES, 0xffff),
        code: 'ERR_TRUNCATED',
      },
    ],
    [
      1,
      {
        title:
          'EDEK-section length runs past the end of the input, and the bytes present say count 0: truncation is found first',
        message: edit(setU16(short, PREAMBLE_BYTES, 0xffff), os.edeks, 0),
        code: 'ERR_TRUNCATED',
      },
    ],
    [
      1,
      {
        title: 'context length runs past the end of the input',
        message: setU16(short, os.context - 2, 0xffff),
        code: 'ERR_TRUNCATED',
      },
    ],
    [
      1,
      {
        title: 'EDEK section one byte longer than its entries',
        message: withSection(short, concat([Uint8Array.of(1), localEntry, Uint8Array.of(0)])),
        code: 'ERR_MALFORMED',
      },
    ],
    [
      1,
      {
        title: 'provider id with a space (not printable ASCII)',
        message: bad(ascii('lo cal'), ascii(KEY_ID), ascii(KEY_VERSION), ct60),
        code: 'ERR_MALFORMED',
      },
    ],
    [
      1,
      {
        title: 'key id of 1025 bytes (at most 1024)',
        message: bad(ascii('local'), new Uint8Array(1025).fill(0x6b), ascii(KEY_VERSION), ct60),
        code: 'ERR_MALFORMED',
      },
    ],
    [
      1,
      {
        title: 'invalid UTF-8 in the key id',
        message: bad(ascii('local'), Uint8Array.of(0x6b, 0xc3, 0x28), ascii(KEY_VERSION), ct60),
        code: 'ERR_MALFORMED',
      },
    ],
    [
      1,
      {
        title: 'invalid UTF-8 in the key version (a lone surrogate, ED A0 80)',
        message: bad(ascii('local'), ascii(KEY_ID), Uint8Array.of(0xed, 0xa0, 0x80), ct60),
        code: 'ERR_MALFORMED',
      },
    ],
    [
      1,
      {
        title: 'EDEK ciphertext of 0 bytes',
        message: bad(ascii('local'), ascii(KEY_ID), ascii(KEY_VERSION), new Uint8Array(0)),
        code: 'ERR_MALFORMED',
      },
    ],
    [
      1,
      {
        title: 'EDEK ciphertext of 8193 bytes (at most 8192)',
        message: bad(ascii('local'), ascii(KEY_ID), ascii(KEY_VERSION), new Uint8Array(8193)),
        code: 'ERR_MALFORMED',
      },
    ],
    [
      1,
      {
        title: 'header only, and the expected context differs: the context is checked before the body',
        message: short.subarray(0, os.body),
        expectedContext: { tenant: 'acme' },
        code: 'ERR_CONTEXT_MISMATCH',
      },
    ],
    [
      1,
      {
        title: 'header only, and the EDEK altered: the key is unwrapped before the body is split',
        message: edit(short.subarray(0, os.body), os.messageId - 1, short[os.messageId - 1]! ^ 1),
        code: 'ERR_KEY_UNAVAILABLE',
        withDek: { code: 'ERR_TRUNCATED' },
      },
    ],
    [
      3,
      {
        title: '7 bytes appended after a full-size final frame: that frame is split as non-final, and opens as final',
        message: concat([exact, new Uint8Array(7)]),
        code: 'ERR_MALFORMED',
      },
    ],
    [
      2,
      {
        title: 'frame size changed to 67, so the split leaves 15 bytes: frame 0 fails first',
        message: setU32(multi, 7, 67),
        code: 'ERR_AUTHENTICATION_FAILED',
      },
    ],
    [
      2,
      {
        title: 'final frame cut to 10 bytes (fewer than 16 left after the last full frame)',
        message: multi.subarray(0, o.body + 250),
        code: 'ERR_TRUNCATED',
      },
    ],
    [
      2,
      {
        title: 'frame 1 altered and the final frame cut to 10 bytes: the first failure in frame order is reported',
        message: edit(multi.subarray(0, o.body + 250), o.body + 90, multi[o.body + 90]! ^ 0x80),
        code: 'ERR_AUTHENTICATION_FAILED',
      },
    ],
    [
      3,
      {
        title: 'two full frames, then an empty final frame (a second encoding of the same plaintext)',
        message: emptyFinal,
        code: 'ERR_MALFORMED',
      },
    ],
    [
      1,
      {
        title: 'context {"\\ufefftenant":"acme"}, its EDEK bound to {"tenant":"acme"}, and that expected',
        message: bom,
        expectedContext: { tenant: 'acme' },
        code: 'ERR_CONTEXT_MISMATCH',
      },
    ],
    [
      1,
      {
        title: 'context {"\\ufefftenant":"acme"}, its EDEK bound to {"tenant":"acme"}, no expected context',
        message: bom,
        code: 'ERR_KEY_UNAVAILABLE',
        withDek: opens(1),
      },
    ],
    [
      1,
      {
        title: 'two local EDEKs, the first unwrapping to another DEK: the reader does not try the second',
        message: withSection(short, concat([Uint8Array.of(2), otherEntry, localEntry])),
        code: 'ERR_COMMITMENT_MISMATCH',
        withDek: opens(1),
      },
    ],
  ]
  return cases.map(([source, { message, withDek, ...c }]) => ({
    ...c,
    message: hex(message),
    dek: inputs[source]!.dek,
    withDek: withDek ?? { code: c.code },
  }))
}

/** Swaps the two context pairs of the `short` vector ({purpose, tenant} → {tenant, purpose}). */
function reorderContext(m: Uint8Array, at: number): Uint8Array {
  const r = (i: number) => (m[i]! << 8) | m[i + 1]!
  const p1 = at + 2
  const p1Len = 4 + r(p1) + r(p1 + 2 + r(p1))
  const p2 = p1 + p1Len
  const p2Len = 4 + r(p2) + r(p2 + 2 + r(p2))
  return concat([m.subarray(0, p1), m.subarray(p2, p2 + p2Len), m.subarray(p1, p2), m.subarray(p2 + p2Len)])
}

/** The short message with its EDEK repeated `n` times (a valid section, just too many entries). */
function withEdekCount(m: Uint8Array, n: number): Uint8Array {
  const o = headerOffsets(m)
  const entry = m.subarray(o.edeks + 1, o.messageId)
  return withSection(m, concat([Uint8Array.of(n), ...Array.from({ length: n }, () => entry)]))
}

/** What each field of docs/vectors/v1.json means; written into the file itself and into docs/format.md §11. */
const DESCRIPTION: Record<string, string> = {
  format: 'the format these vectors are for',
  kek: 'hex, 32 bytes: the KEK of the `local` provider (§8) that wrapped every local EDEK',
  'keyId, keyVersion, providerId':
    'the names of the local EDEKs; a local provider with these names and `kek` opens them',
  'positive[].title': 'what the vector shows',
  'positive[].dek': 'hex, 32 bytes: the data key',
  'positive[].edekIv': "hex, 12 bytes: the local EDEK's iv (§8)",
  'positive[].messageId': 'hex, 32 bytes',
  'positive[].frameSize': 'F, in bytes',
  'positive[].context': 'the encryption context, as an object of strings (its canonical bytes are in the message)',
  'positive[].extraEdeks':
    'optional: EDEKs placed before the local one, ciphertext in hex, opaque (a local provider skips them)',
  'positive[].plaintext': 'hex',
  'positive[].message': 'hex: the exact bytes a writer makes from these inputs; a reader opens it to `plaintext`',
  'negative[].title': 'what was done to a positive message',
  'negative[].message': 'hex',
  'negative[].expectedContext': 'optional: the expected context the reader is given (§4)',
  'negative[].code': 'the code a reader using the local provider with `kek` MUST fail with (§7)',
  'negative[].dek':
    'hex: the data key of the positive message this one was made from (the key its commitment and frames need)',
  'negative[].withDek':
    'what a reader handed `dek` in place of §7 step 3 (no EDEK unwrapped) does: `{code}`, or `{plaintext}` (hex) when the message opens that way, which it does when only the EDEK section was changed (§3: that section is not authenticated)',
}

export async function buildVectors(): Promise<VectorFile> {
  const positive: PositiveVector[] = []
  const messages: Bytes[] = []
  for (const v of inputs) {
    const m = await sealVector(v)
    messages.push(m)
    positive.push({ ...v, message: hex(m) })
  }
  return {
    description: DESCRIPTION,
    format: 'envelope v1 (docs/format.md)',
    kek: hex(KEK),
    keyId: KEY_ID,
    keyVersion: KEY_VERSION,
    providerId: 'local',
    positive,
    negative: await negatives(messages),
  }
}

/** JSON with invisible characters (format controls such as U+FEFF) written as \u escapes, for the Markdown. */
function visible(value: unknown): string {
  return JSON.stringify(value).replace(/[\p{Cf}\p{Cc}]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** The vectors as the Markdown blocks of docs/format.md §11 (between the vectors:begin/end markers). */
export function vectorsMarkdown(file: VectorFile): string {
  const lines: string[] = ['The fields of docs/vectors/v1.json:', '', '| field | meaning |', '|---|---|']
  for (const [field, meaning] of Object.entries(file.description)) lines.push(`| \`${field}\` | ${meaning} |`)
  lines.push('', `KEK \`${file.kek}\`, key id \`${file.keyId}\`, key version \`${file.keyVersion}\`.`, '')
  file.positive.forEach((v, i) => {
    lines.push(`### Positive ${i + 1}: ${v.title}`, '', '```')
    lines.push(
      `dek        ${v.dek}`,
      `edek iv    ${v.edekIv}`,
      `message id ${v.messageId}`,
      `frame size ${v.frameSize}`,
    )
    lines.push(`context    ${visible(v.context)}`)
    for (const e of v.extraEdeks ?? [])
      lines.push(`extra edek ${e.providerId} ${visible(e.keyId)} ${visible(e.keyVersion)} ${e.ciphertext}`)
    lines.push(`plaintext  ${v.plaintext}`, `message    ${v.message}`, '```', '')
  })
  lines.push('### Negative vectors', '', '| # | case | expected code | with `dek` given |', '|---|---|---|---|')
  file.negative.forEach((v, i) => {
    const expected = v.expectedContext ? ` (expected context ${visible(v.expectedContext)})` : ''
    const withDek = 'code' in v.withDek ? (v.withDek.code === v.code ? 'same' : `\`${v.withDek.code}\``) : 'opens'
    lines.push(`| ${i + 1} | ${v.title}${expected} | \`${v.code}\` | ${withDek} |`)
  })
  lines.push('', 'The negative messages, their DEKs and plaintexts are in docs/vectors/v1.json.')
  return lines.join('\n')
}
