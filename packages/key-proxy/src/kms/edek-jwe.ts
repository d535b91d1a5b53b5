/**
 * The local KMS's EDEK: a compact JWE (RFC 7516) with `alg: A256GCMKW`, `enc: A256GCM` under one version of a
 * tenant's CMK, so a DEK can be recovered with the CMK and any JOSE library (docs/key-proxy-api.md, "EDEK
 * format"). The protected header names the key (`kid: "<tenant>/<key>#<version>"`) and carries `ctx`, the
 * base64url SHA-256 of the canonical encryption context: being in the protected header, it is authenticated,
 * so the EDEK only opens for the context it was made for.
 * @module
 */
import { createHash } from 'node:crypto'
import type { EncryptionContext } from '@envelope/core'
import { CompactEncrypt } from 'jose'
import { contextBytes } from '../context-bytes.ts'
import { isName } from '../names.ts'
import { jweHeader } from './jwe-node.ts'

export interface EdekHeader {
  readonly tenant: string
  readonly keyName: string
  readonly version: number
  readonly ctx: string
}

// The same context is hashed for the EDEK check and for the audit line of one request: once per request context
// (a WeakMap, by identity, for a context of checkedContext, which is frozen), and hot documents repeat across
// requests: a small memo by encoding. Bounded by bytes, whatever the requests: only encodings up to
// MEMO_ENTRY_BYTES are kept, and the memo is cleared when its keys reach MEMO_BYTES. SHA-256 is node:crypto's,
// synchronous (~1 µs here, where a WebCrypto digest is a thread-pool round trip).
const MEMO_ENTRY_BYTES = 1024
const MEMO_BYTES = 1 << 20
const hashes = new Map<string, string>()
const ofContext = new WeakMap<EncryptionContext, Promise<string>>()
let memoBytes = 0

/** base64url SHA-256 of the canonical encoding of `context` (docs/format.md §4). */
export function contextHash(context: EncryptionContext): Promise<string> {
  let hash = ofContext.get(context)
  if (!hash) {
    hash = Promise.resolve(hashOf(contextBytes(context)))
    if (Object.isFrozen(context)) ofContext.set(context, hash)
  }
  return hash
}

function hashOf(encoded: Uint8Array): string {
  const digest = () => createHash('sha256').update(encoded).digest('base64url')
  if (encoded.length > MEMO_ENTRY_BYTES) return digest()
  const key = Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength).toString('latin1')
  let hash = hashes.get(key)
  if (hash === undefined) {
    if (memoBytes + key.length > MEMO_BYTES) {
      hashes.clear()
      memoBytes = 0
    }
    hash = digest()
    hashes.set(key, hash)
    memoBytes += key.length
  }
  return hash
}

export function kidOf(tenant: string, keyName: string, version: number): string {
  return `${tenant}/${keyName}#${version}`
}

export async function sealEdek(
  dek: Uint8Array,
  cmk: CryptoKey,
  tenant: string,
  keyName: string,
  version: number,
  context: EncryptionContext,
): Promise<string> {
  return new CompactEncrypt(dek)
    .setProtectedHeader({
      alg: 'A256GCMKW',
      enc: 'A256GCM',
      kid: kidOf(tenant, keyName, version),
      ctx: await contextHash(context),
    })
    .encrypt(cmk)
}

/** Reads the (not yet authenticated) header of a JWE EDEK; undefined when it is not one of ours. */
export function readEdekHeader(jwe: string): EdekHeader | undefined {
  try {
    const h = jweHeader(jwe)
    if (!h) return undefined
    const m = typeof h.kid === 'string' ? /^([^/#]+)\/([^/#]+)#(\d{1,9})$/.exec(h.kid) : null
    if (!m || h.alg !== 'A256GCMKW' || h.enc !== 'A256GCM' || typeof h.ctx !== 'string') return undefined
    if (!isName(m[1]) || !isName(m[2])) return undefined
    return { tenant: m[1]!, keyName: m[2]!, version: Number(m[3]), ctx: h.ctx }
  } catch {
    return undefined
  }
}
