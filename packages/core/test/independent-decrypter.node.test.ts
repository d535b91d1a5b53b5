// An independent reader of docs/format.md, written from the document alone with node:crypto (no WebCrypto, no
// code from src/): it must open every positive vector, and refuse every negative one, with the same codes.
import { createDecipheriv, hkdfSync, timingSafeEqual } from 'node:crypto'
import { expect, test } from 'vitest'
import vectorJson from '../../../docs/vectors/v1.json' with { type: 'json' }
import type { VectorFile } from './vectors/build.ts' // the file's shape only

const vectors = vectorJson as unknown as VectorFile

const refuse = (code: string): never => {
  throw Object.assign(new Error(code), { code })
}

/** Big-endian reads; running short is `short` (truncated input, or a field overrunning its section). */
class Cursor {
  at = 0
  readonly b: Buffer
  readonly short: string
  constructor(b: Buffer, short: string) {
    this.b = b
    this.short = short
  }
  take(n: number): Buffer {
    if (this.b.length - this.at < n) refuse(this.short)
    this.at += n
    return this.b.subarray(this.at - n, this.at)
  }
  u8(): number {
    return this.take(1)[0]!
  }
  u16(): number {
    return this.take(2).readUInt16BE(0)
  }
  u32(): number {
    return this.take(4).readUInt32BE(0)
  }
}

function gcmOpen(key: Buffer, nonce: Buffer, aad: Buffer, ct: Buffer): Buffer | undefined {
  if (ct.length < 16) return undefined
  const d = createDecipheriv('aes-256-gcm', key, nonce)
  d.setAAD(aad)
  d.setAuthTag(ct.subarray(ct.length - 16))
  try {
    return Buffer.concat([d.update(ct.subarray(0, ct.length - 16)), d.final()])
  } catch {
    return undefined
  }
}

// §1: well-formed UTF-8 only, and U+FEFF is text (ignoreBOM keeps a leading one).
function utf8(b: Buffer): string {
  const s = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })
  try {
    return s.decode(b)
  } catch {
    return refuse('ERR_MALFORMED')
  }
}

/** §2–§8, with the `local` provider's KEK, or with a DEK given in place of §7 step 3. */
function open(m: Buffer, keys: { kek: Buffer } | { dek: Buffer }, expectedContext?: Record<string, string>): Buffer {
  const r = new Cursor(m, 'ERR_TRUNCATED')
  // §2.2
  if (!r.take(4).equals(Buffer.from([0x89, 0x45, 0x4e, 0x56]))) refuse('ERR_MALFORMED')
  if (r.u8() !== 1) refuse('ERR_UNSUPPORTED_VERSION')
  if (r.u16() !== 1) refuse('ERR_UNSUPPORTED_SUITE')
  const F = r.u32()
  if (F > 16777216) refuse('ERR_LIMIT_EXCEEDED')
  if (F < 64) refuse('ERR_MALFORMED')
  const section = new Cursor(r.take(r.u16()), 'ERR_MALFORMED')
  const count = section.u8()
  if (count === 0) refuse('ERR_MALFORMED')
  if (count > 8) refuse('ERR_LIMIT_EXCEEDED')
  const edeks: { providerId: string; keyId: string; keyVersion: string; ct: Buffer }[] = []
  for (let i = 0; i < count; i++) {
    const providerId = utf8(section.take(section.u8()))
    if (!/^[\x21-\x7e]+$/.test(providerId)) refuse('ERR_MALFORMED')
    const keyIdLength = section.u16()
    if (keyIdLength > 1024) refuse('ERR_MALFORMED')
    const keyId = utf8(section.take(keyIdLength))
    const keyVersion = utf8(section.take(section.u8()))
    const ctLength = section.u16()
    if (ctLength < 1 || ctLength > 8192) refuse('ERR_MALFORMED')
    edeks.push({ providerId, keyId, keyVersion, ct: section.take(ctLength) })
  }
  if (section.at !== section.b.length) refuse('ERR_MALFORMED')
  const tailStart = r.at
  const messageId = r.take(32)
  const context = r.take(r.u16())
  // §4: canonical order, unique non-empty keys, valid UTF-8, exact length
  const pairsOf = new Cursor(context, 'ERR_MALFORMED')
  let previous: Buffer | undefined
  const pairs = pairsOf.u16()
  for (let i = 0; i < pairs; i++) {
    const key = pairsOf.take(pairsOf.u16())
    utf8(key)
    utf8(pairsOf.take(pairsOf.u16()))
    if (key.length === 0 || (previous && Buffer.compare(previous, key) >= 0)) refuse('ERR_MALFORMED')
    previous = key
  }
  if (pairsOf.at !== context.length) refuse('ERR_MALFORMED')
  const commitment = r.take(32)
  const headerAad = Buffer.concat([m.subarray(0, 11), m.subarray(tailStart, r.at)])
  // §4: expected context, compared as canonical bytes
  if (expectedContext) {
    const entries = Object.entries(expectedContext).sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    const enc = Buffer.concat([
      Buffer.from([entries.length >> 8, entries.length & 255]),
      ...entries
        .flatMap(([k, v]) => [k, v].map((x) => Buffer.concat([Buffer.alloc(2, 0), Buffer.from(x)])))
        .map((b) => {
          b.writeUInt16BE(b.length - 2, 0)
          return b
        }),
    ])
    if (!enc.equals(context)) refuse('ERR_CONTEXT_MISMATCH')
  }
  // §8: the local EDEK, AAD = canonical({keyId, keyVersion}) ‖ canonical(context)
  // §7 step 4: the first EDEK that unwraps decides; no other is tried after a commitment failure.
  let dek = 'dek' in keys ? keys.dek : undefined
  for (const e of 'kek' in keys ? edeks : []) {
    if (e.providerId !== 'local' || e.keyId !== vectors.keyId || e.keyVersion !== vectors.keyVersion) continue
    const naming = [Buffer.from([0, 2])]
    for (const [k, v] of [
      ['keyId', e.keyId],
      ['keyVersion', e.keyVersion],
    ]) {
      for (const x of [k!, v!])
        naming.push(Buffer.from([Buffer.byteLength(x) >> 8, Buffer.byteLength(x) & 255]), Buffer.from(x))
    }
    if (e.ct.length !== 60) continue
    dek = gcmOpen(
      (keys as { kek: Buffer }).kek,
      e.ct.subarray(0, 12),
      Buffer.concat([...naming, context]),
      e.ct.subarray(12),
    )
    if (dek) break
  }
  if (!dek) refuse('ERR_KEY_UNAVAILABLE')
  // §5
  const okm = Buffer.from(
    hkdfSync(
      'sha256',
      dek!,
      messageId,
      Buffer.concat([Buffer.from('envelope v1 message key and commitment'), Buffer.from([0, 1])]),
      64,
    ),
  )
  if (!timingSafeEqual(okm.subarray(32), commitment)) refuse('ERR_COMMITMENT_MISMATCH')
  const key = okm.subarray(0, 32)
  // §6, §7 steps 5 and 6: split and open frame by frame, the first failure in frame order decides
  const body = m.subarray(r.at)
  const out: Buffer[] = []
  let off = 0
  for (let i = 0; ; i++) {
    const final = body.length - off <= F + 16
    if (!final && i === 2 ** 32 - 1) refuse('ERR_MALFORMED')
    const ct = body.subarray(off, final ? body.length : off + F + 16)
    if (final && ct.length < 16) refuse('ERR_TRUNCATED')
    const nonce = (last: boolean) =>
      Buffer.concat([
        Buffer.alloc(7),
        Buffer.from([i >>> 24, (i >> 16) & 255, (i >> 8) & 255, i & 255]),
        Buffer.from([last ? 1 : 0]),
      ])
    const aad = i === 0 ? headerAad : Buffer.alloc(0)
    const pt = gcmOpen(key, nonce(final), aad, ct)
    if (!pt) {
      if (gcmOpen(key, nonce(!final), aad, ct)) refuse(final ? 'ERR_TRUNCATED' : 'ERR_MALFORMED')
      refuse('ERR_AUTHENTICATION_FAILED')
    }
    if (final && i > 0 && pt!.length === 0) refuse('ERR_MALFORMED') // §6: an empty final frame after a full one
    out.push(pt!)
    if (final) return Buffer.concat(out)
    off += F + 16
  }
}

const kek = Buffer.from(vectors.kek, 'hex')

/** `{code}` or `{plaintext}`, the shape of the vectors' `withDek`. */
function outcome(run: () => Buffer): { code: string } | { plaintext: string } {
  try {
    return { plaintext: run().toString('hex') }
  } catch (err) {
    return { code: (err as { code: string }).code }
  }
}

for (const v of vectors.positive) {
  test(`independent reader opens: ${v.title}`, () => {
    const message = Buffer.from(v.message, 'hex')
    expect(open(message, { kek }, v.context).toString('hex')).toBe(v.plaintext)
    expect(open(message, { dek: Buffer.from(v.dek, 'hex') }).toString('hex')).toBe(v.plaintext)
  })
}

for (const v of vectors.negative) {
  test(`independent reader refuses: ${v.title} → ${v.code}`, () => {
    const message = Buffer.from(v.message, 'hex')
    expect(outcome(() => open(message, { kek }, v.expectedContext))).toEqual({ code: v.code })
    expect(outcome(() => open(message, { dek: Buffer.from(v.dek, 'hex') }, v.expectedContext))).toEqual(v.withDek)
  })
}
