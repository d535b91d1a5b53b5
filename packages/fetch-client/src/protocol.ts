/**
 * The key proxy's wire protocol, shared by the proxy (which implements it) and this client: JSON shapes of
 * /v1 requests and responses, the JSON form of an EDEK, and DEK delivery (docs/key-proxy-api.md).
 *
 * DEK delivery: the client sends a P-256 public key (JWK) with every request that returns DEKs. For each
 * response the proxy makes an ephemeral P-256 key pair (`epk`) and derives `kek = HKDF-SHA-256(ECDH(epk, client),
 * salt = 32 zero bytes, info = "envelope dek delivery v1")`, an AES-256-GCM key; each DEK in the response is
 * `wrappedDek = iv (12 random bytes) ‖ AES-GCM(kek, iv, DEK)`. The client repeats the derivation inside WebCrypto
 * and unwraps with `unwrapKey` straight into a non-extractable HKDF key, so the DEK is never a byte array in the
 * client; the GCM tag rejects a wrapped key that was altered.
 * @module
 */
import type { Bytes, Edek } from '@envelope/core'

export const API_PREFIX = '/v1'
const DELIVERY_INFO = new TextEncoder().encode('envelope dek delivery v1')
const DELIVERY_SALT = new Uint8Array(32)
export const DEK_USAGES: KeyUsage[] = ['deriveKey', 'deriveBits']

/** An EDEK as JSON: the core's Edek with the ciphertext in base64url. */
export interface EdekJson {
  providerId: string
  keyId: string
  keyVersion: string
  ciphertext: string
}

/** One DEK wrapped to the client's delivery key: base64url(iv ‖ AES-GCM(kek, DEK)), 60 bytes. */
export interface WrappedDek {
  wrappedDek: string
}

/** The proxy's ephemeral public key for one response; every `wrappedDek` in that response is under it. */
export interface Delivery {
  epk: JsonWebKey
}

export interface ErrorJson {
  code: string
  message: string
  requestId?: string
}

// --- requests and responses ---
export interface GenerateRequestJson {
  context: Record<string, string>
  clientKey: JsonWebKey
  /** Only for API keys allowed several tenants; a JWT names its tenant itself. */
  tenant?: string
}
export interface GenerateResponseJson extends WrappedDek, Delivery {
  edek: EdekJson
}
export interface UnwrapItemJson {
  edeks: EdekJson[]
  context: Record<string, string>
}
export interface BatchUnwrapRequestJson {
  items: UnwrapItemJson[]
  clientKey: JsonWebKey
  tenant?: string
}
export type UnwrapResultJson = ({ ok: true } & WrappedDek) | { ok: false; error: ErrorJson }
export interface UnwrapResponseJson extends WrappedDek, Delivery {}
export interface BatchUnwrapResponseJson extends Delivery {
  results: UnwrapResultJson[]
}
export type GenerateResultJson = ({ ok: true; edek: EdekJson } & WrappedDek) | { ok: false; error: ErrorJson }
export interface BatchGenerateResponseJson extends Delivery {
  results: GenerateResultJson[]
}
export interface RekeyRequestJson {
  edeks: EdekJson[]
  context: Record<string, string>
  /** Rewrap for another tenant (the caller must be allowed both); default: the same tenant's primary version. */
  toTenant?: string
  tenant?: string
}
export interface RekeyResponseJson {
  edek: EdekJson
}

// --- base64url ---
export function toBase64url(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

/** Decodes base64url; returns undefined for anything that is not canonical base64url. */
export function fromBase64url(text: unknown): Bytes | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined
  const bin = atob(text.replaceAll('-', '+').replaceAll('_', '/'))
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

export function edekToJson(e: Edek): EdekJson {
  return { providerId: e.providerId, keyId: e.keyId, keyVersion: e.keyVersion, ciphertext: toBase64url(e.ciphertext) }
}

/** Parses an EDEK from JSON; undefined when any field is missing or of the wrong type. */
export function edekFromJson(j: unknown): Edek | undefined {
  const e = j as Partial<EdekJson> | null
  if (!e || typeof e !== 'object') return undefined
  const ciphertext = fromBase64url(e.ciphertext)
  if (typeof e.providerId !== 'string' || typeof e.keyId !== 'string' || typeof e.keyVersion !== 'string')
    return undefined
  if (!ciphertext || ciphertext.length === 0) return undefined
  return { providerId: e.providerId, keyId: e.keyId, keyVersion: e.keyVersion, ciphertext }
}

// --- DEK delivery ---
async function deliveryKek(priv: CryptoKey, pub: CryptoKey, usage: KeyUsage): Promise<CryptoKey> {
  const s = crypto.subtle
  const z = await s.deriveKey({ name: 'ECDH', public: pub }, priv, { name: 'HKDF' }, false, ['deriveKey'])
  const params = { name: 'HKDF', hash: 'SHA-256', salt: DELIVERY_SALT, info: DELIVERY_INFO }
  return s.deriveKey(params, z, { name: 'AES-GCM', length: 256 }, false, [usage])
}

/** A delivery key pair for a client: the private key is non-extractable. */
export async function generateDeliveryKeyPair(): Promise<{ privateKey: CryptoKey; publicJwk: JsonWebKey }> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveKey'])
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey)
  return { privateKey: pair.privateKey, publicJwk: { kty, crv, x, y } }
}

/** Imports a P-256 public JWK; undefined when it is not one. */
export async function importDeliveryPublicKey(jwk: unknown): Promise<CryptoKey | undefined> {
  const j = jwk as JsonWebKey | null
  if (
    !j ||
    typeof j !== 'object' ||
    j.kty !== 'EC' ||
    j.crv !== 'P-256' ||
    typeof j.x !== 'string' ||
    typeof j.y !== 'string'
  ) {
    return undefined
  }
  try {
    return await crypto.subtle.importKey(
      'jwk',
      { kty: 'EC', crv: 'P-256', x: j.x, y: j.y },
      { name: 'ECDH', namedCurve: 'P-256' },
      true,
      [],
    )
  } catch {
    return undefined
  }
}

/** Proxy side: one delivery for one response (one ECDH), then each DEK wrapped with one AES-GCM call. */
export async function createDelivery(
  clientKey: CryptoKey,
): Promise<Delivery & { wrap(dek: Uint8Array): Promise<WrappedDek> }> {
  const s = crypto.subtle
  const eph = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveKey'])
  const kek = await deliveryKek(eph.privateKey, clientKey, 'encrypt')
  const { kty, crv, x, y } = await s.exportKey('jwk', eph.publicKey)
  return {
    epk: { kty, crv, x, y },
    async wrap(dek: Uint8Array): Promise<WrappedDek> {
      const iv = crypto.getRandomValues(new Uint8Array(12)) // random per DEK: at most a few thousand per key
      const ct = new Uint8Array(await s.encrypt({ name: 'AES-GCM', iv }, kek, dek as Bytes))
      const out = new Uint8Array(12 + ct.length)
      out.set(iv)
      out.set(ct, 12)
      return { wrappedDek: toBase64url(out) }
    },
  }
}

/** Client side: the unwrapping key of one response. Throws when `epk` is not a P-256 public key. */
export async function openDelivery(delivery: Delivery, privateKey: CryptoKey): Promise<CryptoKey> {
  const epk = await importDeliveryPublicKey(delivery?.epk)
  if (!epk) throw new TypeError('malformed DEK delivery key')
  return deliveryKek(privateKey, epk, 'unwrapKey')
}

/** Client side: unwraps a delivered DEK straight into a non-extractable HKDF key. Throws on any mismatch. */
export async function unwrapDelivered(w: WrappedDek, kek: CryptoKey): Promise<CryptoKey> {
  const bytes = fromBase64url(w?.wrappedDek)
  if (bytes?.length !== 60) throw new TypeError('malformed wrapped DEK')
  const params = { name: 'AES-GCM', iv: bytes.subarray(0, 12) }
  return crypto.subtle.unwrapKey('raw', bytes.subarray(12), kek, params, 'HKDF', false, DEK_USAGES)
}
