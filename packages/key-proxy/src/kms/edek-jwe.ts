/**
 * The local KMS's EDEK: a compact JWE (RFC 7516) with `alg: A256GCMKW`, `enc: A256GCM` under one version of a
 * tenant's CMK, so a DEK can be recovered with the CMK and any JOSE library (docs/key-proxy-api.md, "EDEK
 * format"). The protected header names the key (`kid: "<tenant>/<key>#<version>"`) and carries `ctx`, the
 * base64url SHA-256 of the canonical encryption context: being in the protected header, it is authenticated,
 * so the EDEK only opens for the context it was made for.
 * @module
 */
import { type EncryptionContext, encodeContext } from '@envelope/core'
import { toBase64url } from '@envelope/fetch-client/protocol'
import { CompactEncrypt, decodeProtectedHeader } from 'jose'
import { isName } from '../names.ts'

export interface EdekHeader {
  readonly tenant: string
  readonly keyName: string
  readonly version: number
  readonly ctx: string
}

// The same context is hashed for the EDEK check and for the audit line of one request, and hot documents
// repeat: a small memo saves a WebCrypto round trip each time. Bounded by bytes, whatever the requests: only
// encodings up to MEMO_ENTRY_BYTES are kept, and the memo is cleared when its keys reach MEMO_BYTES.
const MEMO_ENTRY_BYTES = 1024
const MEMO_BYTES = 1 << 20
const hashes = new Map<string, Promise<string>>()
let memoBytes = 0

/** base64url SHA-256 of the canonical encoding of `context` (docs/format.md §4). */
export function contextHash(context: EncryptionContext): Promise<string> {
  const encoded = encodeContext(context)
  const digest = () => crypto.subtle.digest('SHA-256', encoded).then((d) => toBase64url(new Uint8Array(d)))
  if (encoded.length > MEMO_ENTRY_BYTES) return digest()
  const key = toBase64url(encoded)
  let hash = hashes.get(key)
  if (!hash) {
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
    const h = decodeProtectedHeader(jwe)
    const m = typeof h.kid === 'string' ? /^([^/#]+)\/([^/#]+)#(\d{1,9})$/.exec(h.kid) : null
    if (!m || h.alg !== 'A256GCMKW' || h.enc !== 'A256GCM' || typeof h.ctx !== 'string') return undefined
    if (!isName(m[1]) || !isName(m[2])) return undefined
    return { tenant: m[1]!, keyName: m[2]!, version: Number(m[3]), ctx: h.ctx }
  } catch {
    return undefined
  }
}
