/**
 * Builds the v1 test vectors (docs/vectors/v1.json) deterministically from fixed inputs, through the same
 * internal functions encrypt() uses, with the message id and the local EDEK's iv injected. The vectors test
 * checks that the committed JSON equals this output, in every runtime.
 */

import { fromHex, hex } from '../../../../tests/harness.ts'
import { concat, utf8 } from '../../src/bytes.ts'
import { sealAll } from '../../src/encrypt.ts'
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

export interface NegativeVector {
  title: string
  message: string
  expectedContext?: Record<string, string>
  code: string
}

export interface VectorFile {
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
]

async function localEdek(dek: Bytes, iv: Bytes, context: EncryptionContext): Promise<Edek> {
  const kek = await crypto.subtle.importKey('raw', KEK, 'AES-GCM', false, ['encrypt'])
  const params = { name: 'AES-GCM', iv, additionalData: wrapAad(KEY_ID, KEY_VERSION, context) }
  const wrapped = new Uint8Array(await crypto.subtle.encrypt(params, kek, dek))
  return { providerId: 'local', keyId: KEY_ID, keyVersion: KEY_VERSION, ciphertext: concat([iv, wrapped]) }
}

/** Encrypts one vector's inputs exactly as encrypt() would with those random values. */
export async function sealVector(v: Input): Promise<Bytes> {
  const dekBytes = fromHex(v.dek)
  const dek = await crypto.subtle.importKey('raw', dekBytes, 'HKDF', false, ['deriveKey', 'deriveBits'])
  const extra = (v.extraEdeks ?? []).map((e) => ({ ...e, ciphertext: fromHex(e.ciphertext) }))
  const edeks = [...extra, await localEdek(dekBytes, fromHex(v.edekIv), v.context)]
  const started = await startWithDataKey({ dek, edeks }, v.context, v.frameSize, fromHex(v.messageId))
  return sealAll(started, fromHex(v.plaintext))
}

// --- negative vectors: edits of positive messages ---
function edit(bytes: Uint8Array, at: number, value: number): string {
  const copy = bytes.slice()
  copy[at] = value
  return hex(copy)
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

async function negatives(messages: Bytes[]): Promise<NegativeVector[]> {
  const short = messages[1]! // one frame, context {purpose, tenant}
  const multi = messages[2]! // frames of 64 + 16 bytes
  const o = headerOffsets(multi)
  const os = headerOffsets(short)
  const frame = (i: number) => multi.subarray(o.body + i * 80, o.body + (i + 1) * 80)
  const head = multi.subarray(0, o.body)
  const lastFrame = multi.subarray(o.body + 3 * 80)
  const out: NegativeVector[] = [
    { title: 'wrong magic', message: edit(short, 0, 0x88), code: 'ERR_MALFORMED' },
    { title: 'version 2', message: edit(short, 4, 2), code: 'ERR_UNSUPPORTED_VERSION' },
    { title: 'unknown suite 0x0002', message: edit(short, 6, 2), code: 'ERR_UNSUPPORTED_SUITE' },
    {
      title: 'a 40-byte input declaring a 4 GiB frame size',
      message: hex(concat([short.subarray(0, 7), Uint8Array.of(0xff, 0xff, 0xff, 0xff), new Uint8Array(29)])),
      code: 'ERR_LIMIT_EXCEEDED',
    },
    { title: 'frame size below 64', message: edit(short, 8, 0), code: 'ERR_MALFORMED' },
    {
      title: 'input ends inside the header',
      message: hex(short.subarray(0, os.commitment + 10)),
      code: 'ERR_TRUNCATED',
    },
    { title: 'header only, no frame', message: hex(short.subarray(0, os.body)), code: 'ERR_TRUNCATED' },
    {
      title: 'final frame dropped (cut at a frame boundary)',
      message: hex(multi.subarray(0, o.body + 240)),
      code: 'ERR_TRUNCATED',
    },
    {
      title: 'cut inside the final frame',
      message: hex(multi.subarray(0, multi.length - 1)),
      code: 'ERR_AUTHENTICATION_FAILED',
    },
    {
      title: 'last byte (tag) flipped',
      message: edit(multi, multi.length - 1, multi[multi.length - 1]! ^ 1),
      code: 'ERR_AUTHENTICATION_FAILED',
    },
    {
      title: 'body byte flipped in frame 1',
      message: edit(multi, o.body + 90, multi[o.body + 90]! ^ 0x80),
      code: 'ERR_AUTHENTICATION_FAILED',
    },
    {
      title: 'frames 1 and 2 swapped',
      message: hex(concat([head, frame(0), frame(2), frame(1), lastFrame])),
      code: 'ERR_AUTHENTICATION_FAILED',
    },
    {
      title: 'frame 1 duplicated',
      message: hex(concat([head, frame(0), frame(1), frame(1), frame(2), lastFrame])),
      code: 'ERR_AUTHENTICATION_FAILED',
    },
    {
      title: 'final frame appended twice',
      message: hex(concat([multi, lastFrame])),
      code: 'ERR_AUTHENTICATION_FAILED',
    },
    {
      title: 'bytes appended after a full-size final frame',
      message: hex(concat([messages[3]!, new Uint8Array(20)])),
      code: 'ERR_MALFORMED',
    },
    {
      title: 'context value altered (same length): the local EDEK is bound to the context',
      message: edit(short, os.context + 14, short[os.context + 14]! ^ 0x01),
      code: 'ERR_KEY_UNAVAILABLE',
    },
    {
      title: 'message id altered',
      message: edit(short, os.messageId, short[os.messageId]! ^ 1),
      code: 'ERR_COMMITMENT_MISMATCH',
    },
    {
      title: 'commitment altered',
      message: edit(short, os.commitment + 31, short[os.commitment + 31]! ^ 1),
      code: 'ERR_COMMITMENT_MISMATCH',
    },
    {
      title: 'EDEK ciphertext altered',
      message: edit(short, os.messageId - 1, short[os.messageId - 1]! ^ 1),
      code: 'ERR_KEY_UNAVAILABLE',
    },
    {
      title: 'expected context differs from the message context',
      message: hex(short),
      expectedContext: { tenant: 'acme' },
      code: 'ERR_CONTEXT_MISMATCH',
    },
    { title: 'EDEK count 0', message: edit(short, o.edeks, 0), code: 'ERR_MALFORMED' },
    {
      title: 'non-canonical context order',
      message: hex(reorderContext(short, os.context)),
      code: 'ERR_MALFORMED',
    },
    {
      title: 'invalid UTF-8 in a context value',
      message: edit(short, os.context + 2 + 2 + 7 + 2, 0xff),
      code: 'ERR_MALFORMED',
    },
  ]
  // The key-commitment case: another message's EDEK (same KEK, same context) unwraps to another DEK.
  const other = await sealVector({ ...inputs[1]!, dek: fill(32, 0x99), edekIv: fill(12, 0x99) })
  const otherSection = other.subarray(o.edeks - 2, headerOffsets(other).messageId)
  out.push({
    title: 'EDEK section swapped in from another message (another DEK): key commitment catches it',
    message: hex(concat([short.subarray(0, os.edeks - 2), otherSection, short.subarray(os.messageId)])),
    code: 'ERR_COMMITMENT_MISMATCH',
  })
  out.push({
    title: 'nine EDEKs, over the default limit of 8',
    message: hex(withEdekCount(short, 9)),
    code: 'ERR_LIMIT_EXCEEDED',
  })
  return out
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
  const section = concat([Uint8Array.of(n), ...Array.from({ length: n }, () => entry)])
  return concat([
    m.subarray(0, PREAMBLE_BYTES),
    Uint8Array.of(section.length >> 8, section.length & 0xff),
    section,
    m.subarray(o.messageId),
  ])
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
    format: 'envelope v1 (docs/format.md)',
    kek: hex(KEK),
    keyId: KEY_ID,
    keyVersion: KEY_VERSION,
    providerId: 'local',
    positive,
    negative: await negatives(messages),
  }
}

/** The vectors as the Markdown blocks of docs/format.md §11 (between the vectors:begin/end markers). */
export function vectorsMarkdown(file: VectorFile): string {
  const lines: string[] = []
  lines.push(`KEK \`${file.kek}\`, key id \`${file.keyId}\`, key version \`${file.keyVersion}\`.`, '')
  file.positive.forEach((v, i) => {
    lines.push(`### Positive ${i + 1}: ${v.title}`, '', '```')
    lines.push(
      `dek        ${v.dek}`,
      `edek iv    ${v.edekIv}`,
      `message id ${v.messageId}`,
      `frame size ${v.frameSize}`,
    )
    lines.push(`context    ${JSON.stringify(v.context)}`)
    for (const e of v.extraEdeks ?? [])
      lines.push(`extra edek ${e.providerId} ${e.keyId} "${e.keyVersion}" ${e.ciphertext}`)
    lines.push(`plaintext  ${v.plaintext}`, `message    ${v.message}`, '```', '')
  })
  lines.push('### Negative vectors', '', '| # | case | expected code |', '|---|---|---|')
  file.negative.forEach((v, i) => {
    lines.push(
      `| ${i + 1} | ${v.title}${v.expectedContext ? ` (expected context ${JSON.stringify(v.expectedContext)})` : ''} | \`${v.code}\` |`,
    )
  })
  lines.push('', 'The negative messages are in docs/vectors/v1.json.')
  return lines.join('\n')
}
