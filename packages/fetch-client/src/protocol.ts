/**
 * The key proxy's wire protocol, shared by the proxy (which implements it) and this client: JSON shapes of
 * /v1 requests and responses, the JSON form of an EDEK, and DEK delivery (docs/key-proxy-api.md, "DEK delivery").
 *
 * DEK delivery: the client sends a P-256 public key (JWK) and a fresh 16-byte `nonce` with every request that
 * returns DEKs. The proxy derives, from an ephemeral P-256 key pair (`epk`),
 * `kek = HKDF-SHA-256(ECDH(epk, client), salt = 32 zero bytes, info = "envelope dek delivery v2")`, an AES-256-GCM
 * key; each DEK in the response is `wrappedDek = iv (12 bytes unique under kek) ‖ AES-GCM(kek, iv, DEK, aad)`, where `aad`
 * ({@link deliveryAad}) binds the DEK to the request it answers: the nonce, the acting tenant, the DEK's EDEK and
 * the encryption context. The client repeats the derivation inside WebCrypto and unwraps with `unwrapKey`
 * straight into a non-extractable HKDF key, with the `aad` it computes from its own request: an answer made for
 * another request, tenant, EDEK or context does not authenticate, and the DEK is never a byte array in the client.
 * @module
 */
import { type Bytes, type Edek, type EncryptionContext, encodeContext } from '@envelope/core'

/**
 * The path prefix of every route of this protocol version.
 *
 * @example
 * ```ts
 * await fetch(`${baseUrl}${API_PREFIX}/health`)
 * ```
 */
export const API_PREFIX = '/v1'
const DELIVERY_LABEL = 'envelope dek delivery v2'
const UTF8 = new TextEncoder()
const DELIVERY_INFO = UTF8.encode(DELIVERY_LABEL)
const DELIVERY_SALT = new Uint8Array(32)
/**
 * HKDF parameters of the delivery KEK: `kek = HKDF(ECDH(epk, clientKey), salt, info)`, 256 bits.
 *
 * @example
 * ```ts
 * const kek = await crypto.subtle.deriveKey(DELIVERY_HKDF, sharedSecret, { name: 'AES-GCM', length: 256 }, false, ['unwrapKey'])
 * ```
 */
export const DELIVERY_HKDF = { name: 'HKDF', hash: 'SHA-256', salt: DELIVERY_SALT, info: DELIVERY_INFO } as const
/**
 * The usages of every delivered DEK: a non-extractable HKDF key that only derives.
 *
 * @example
 * ```ts
 * const dek = await crypto.subtle.unwrapKey('raw', wrapped, kek, params, 'HKDF', false, DEK_USAGES)
 * ```
 */
export const DEK_USAGES: KeyUsage[] = ['deriveKey', 'deriveBits']
/**
 * The name of the tenant key data keys are made with, in this version of the API.
 *
 * @example
 * ```ts
 * await kms.createKey('acme', DATA_KEY)
 * ```
 */
export const DATA_KEY = 'default'
/**
 * Bytes of a request's `nonce`.
 *
 * @example
 * ```ts
 * readNonce(newNonce())?.length === NONCE_BYTES // true
 * ```
 */
export const NONCE_BYTES = 16

/**
 * An EDEK as JSON: the core's Edek with the ciphertext in base64url.
 *
 * @example
 * ```ts
 * const json: EdekJson = { providerId: 'envelope-proxy', keyId: 'acme/default', keyVersion: '1', ciphertext: 'eyJh…' }
 * ```
 */
export interface EdekJson {
  providerId: string
  keyId: string
  keyVersion: string
  ciphertext: string
}

/**
 * One DEK wrapped to the client's delivery key: base64url(iv ‖ AES-GCM(kek, DEK, aad)), 60 bytes.
 *
 * @example
 * ```ts
 * const binding = { nonce: readNonce(request.nonce)!, tenant: response.tenant, edek, context }
 * const dek = await unwrapDelivered(response, await openDelivery(response, privateKey), binding)
 * ```
 */
export interface WrappedDek {
  wrappedDek: string
}

/**
 * The proxy's ephemeral public key for one response (every `wrappedDek` in that response is under it) and the
 * tenant the proxy acted for (bound into each DEK's `aad`).
 *
 * @example
 * ```ts
 * const kek = await openDelivery({ epk: response.epk }, deliveryKeys.privateKey) // response.tenant goes in the binding
 * ```
 */
export interface Delivery {
  epk: JsonWebKey
  tenant: string
}

/**
 * The body of every refusal (and of each failed batch item): a stable `code`, a message for people.
 *
 * @example
 * ```ts
 * const { error } = (await response.json()) as { error: ErrorJson }
 * if (error.code === 'ERR_TENANT_FORBIDDEN') showNoAccess(error.requestId)
 * ```
 */
export interface ErrorJson {
  code: string
  message: string
  requestId?: string
}

// --- requests and responses ---
/**
 * `POST /v1/keys/generate`: a new DEK for a context, delivered to `clientKey` and bound to `nonce`.
 *
 * @example
 * ```ts
 * const body: GenerateRequestJson = { context: { tenant: 'acme' }, clientKey: deliveryKeys.publicJwk, nonce: newNonce() }
 * ```
 */
export interface GenerateRequestJson {
  context: Record<string, string>
  clientKey: JsonWebKey
  /** {@link NONCE_BYTES} random bytes, base64url, new for every request. */
  nonce: string
  /** Only for API keys allowed several tenants; a JWT names its tenant itself. */
  tenant?: string
}
/**
 * The answer to `POST /v1/keys/generate`: the new EDEK, and the DEK wrapped to the client.
 *
 * @example
 * ```ts
 * const { edek, wrappedDek, epk, tenant } = (await response.json()) as GenerateResponseJson
 * ```
 */
export interface GenerateResponseJson extends WrappedDek, Delivery {
  edek: EdekJson
}
/**
 * `POST /v1/keys/batch-generate`: new DEKs for several contexts in one request.
 *
 * @example
 * ```ts
 * const body: BatchGenerateRequestJson = { items: [{ context: a }, { context: b }], clientKey, nonce: newNonce() }
 * ```
 */
export interface BatchGenerateRequestJson {
  items: { context: Record<string, string> }[]
  clientKey: JsonWebKey
  nonce: string
  tenant?: string
}
/**
 * One item of a batch generate answer: a new DEK and its EDEK, or the error for this item alone.
 *
 * @example
 * ```ts
 * for (const r of batch.results) if (r.ok) store(edekFromJson(r.edek))
 * ```
 */
export type GenerateResultJson = ({ ok: true; edek: EdekJson } & WrappedDek) | { ok: false; error: ErrorJson }
/**
 * The answer to `POST /v1/keys/batch-generate`: one delivery key for all results.
 *
 * @example
 * ```ts
 * const kek = await openDelivery(batch, privateKey)
 * ```
 */
export interface BatchGenerateResponseJson extends Delivery {
  results: GenerateResultJson[]
}
/**
 * One message to unwrap: its EDEKs and its context.
 *
 * @example
 * ```ts
 * const item: UnwrapItemJson = { edeks: header.edeks.map(edekToJson), context: header.context }
 * ```
 */
export interface UnwrapItemJson {
  edeks: EdekJson[]
  context: Record<string, string>
}
/**
 * `POST /v1/keys/unwrap`: the DEK of one message, delivered to `clientKey` and bound to `nonce`.
 *
 * @example
 * ```ts
 * const body: UnwrapRequestJson = { ...item, clientKey: deliveryKeys.publicJwk, nonce: newNonce() }
 * ```
 */
export interface UnwrapRequestJson extends UnwrapItemJson {
  clientKey: JsonWebKey
  nonce: string
  tenant?: string
}
/**
 * `POST /v1/keys/batch-unwrap`: many messages at once; the answer has one result per item, in order.
 *
 * @example
 * ```ts
 * const body: BatchUnwrapRequestJson = { items, clientKey: deliveryKeys.publicJwk, nonce: newNonce() }
 * ```
 */
export interface BatchUnwrapRequestJson {
  items: UnwrapItemJson[]
  clientKey: JsonWebKey
  nonce: string
  tenant?: string
}
/**
 * `edekIndex`: which of the item's `edeks` the proxy used (the one the DEK's `aad` binds).
 *
 * @example
 * ```ts
 * for (const r of batch.results) if (!r.ok) console.warn(r.error.code)
 * ```
 */
export type UnwrapResultJson = ({ ok: true; edekIndex: number } & WrappedDek) | { ok: false; error: ErrorJson }
/**
 * The answer to `POST /v1/keys/unwrap`: the DEK, wrapped to the client, and which EDEK opened it.
 *
 * @example
 * ```ts
 * const { wrappedDek, epk, edekIndex } = (await response.json()) as UnwrapResponseJson
 * ```
 */
export interface UnwrapResponseJson extends WrappedDek, Delivery {
  edekIndex: number
}
/**
 * The answer to `POST /v1/keys/batch-unwrap`: one delivery key for all results.
 *
 * @example
 * ```ts
 * const kek = await openDelivery(batch, privateKey)
 * ```
 */
export interface BatchUnwrapResponseJson extends Delivery {
  results: UnwrapResultJson[]
}
/**
 * `POST /v1/keys/rekey`: rewrap EDEKs under the newest key version or for another tenant; the DEK never leaves the proxy.
 *
 * @example
 * ```ts
 * const body: RekeyRequestJson = { edeks: header.edeks.map(edekToJson), context: header.context, toTenant: 'globex' }
 * ```
 */
export interface RekeyRequestJson {
  edeks: EdekJson[]
  context: Record<string, string>
  /** Rewrap for another tenant (the caller must be allowed both); default: the same tenant's primary version. */
  toTenant?: string
  tenant?: string
}
/**
 * The answer to `POST /v1/keys/rekey`: the new EDEK and its tenant.
 *
 * @example
 * ```ts
 * const rekeyed = replaceEdeks(message, [edekFromJson(((await response.json()) as RekeyResponseJson).edek)!])
 * ```
 */
export interface RekeyResponseJson {
  /** The tenant the new EDEK is for. */
  tenant: string
  edek: EdekJson
}

// --- base64url ---
/**
 * Encodes bytes as base64url without padding (the protocol's byte encoding).
 *
 * @example
 * ```ts
 * toBase64url(new Uint8Array([251, 255])) // '-_8'
 * ```
 * @throws Never.
 */
export function toBase64url(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s).replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '')
}

/**
 * Decodes base64url; returns undefined for anything that is not canonical base64url.
 *
 * @example
 * ```ts
 * fromBase64url('-_8') // Uint8Array [251, 255]
 * fromBase64url('not base64!') // undefined
 * ```
 * @throws Never: bad input gives `undefined`.
 */
export function fromBase64url(text: unknown): Bytes | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) return undefined
  const bin = atob(text.replaceAll('-', '+').replaceAll('_', '/'))
  const out = new Uint8Array(bin.length)
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i)
  return out
}

/**
 * The JSON form of an EDEK (ciphertext in base64url).
 *
 * @example
 * ```ts
 * const json = readHeader(message).edeks.map(edekToJson)
 * ```
 * @throws Never, for an EDEK the core produced.
 */
export function edekToJson(e: Edek): EdekJson {
  return { providerId: e.providerId, keyId: e.keyId, keyVersion: e.keyVersion, ciphertext: toBase64url(e.ciphertext) }
}

/**
 * Parses an EDEK from JSON; undefined when any field is missing or of the wrong type.
 *
 * @example
 * ```ts
 * const edek = edekFromJson(body.edek)
 * if (!edek) throw new Error('malformed EDEK')
 * ```
 * @throws Never: bad input gives `undefined`.
 */
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

/**
 * What a delivered DEK is bound to: the request's nonce, the acting tenant, the DEK's EDEK, the context.
 *
 * @example
 * ```ts
 * const binding = { nonce: readNonce(request.nonce)!, tenant: response.tenant, edek, context }
 * ```
 */
export interface DeliveryBinding {
  readonly nonce: Uint8Array
  readonly tenant: string
  readonly edek: Edek
  readonly context: EncryptionContext
}

/** UTF-8 of a string; names and key ids are ASCII, and TextEncoder costs ~1 µs per short string. */
function utf8(text: string): Uint8Array {
  const out = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c > 0x7f) return UTF8.encode(text)
    out[i] = c
  }
  return out
}

/**
 * A fresh request nonce, base64url.
 *
 * @example
 * ```ts
 * const body = { context, clientKey, nonce: newNonce() }
 * ```
 * @throws Never.
 */
export function newNonce(): string {
  return toBase64url(crypto.getRandomValues(new Uint8Array(NONCE_BYTES)))
}

/**
 * The nonce of a request; undefined unless it is {@link NONCE_BYTES} bytes of base64url.
 *
 * @example
 * ```ts
 * const nonce = readNonce(body.nonce)
 * if (!nonce) return refuse('ERR_BAD_REQUEST')
 * ```
 * @throws Never: bad input gives `undefined`.
 */
export function readNonce(value: unknown): Bytes | undefined {
  const nonce = fromBase64url(value)
  return nonce?.length === NONCE_BYTES ? nonce : undefined
}

/**
 * Longest unwrap `reason`, in UTF-8 bytes (as Google Workspace CSE's key service allows).
 *
 * @example
 * ```ts
 * if (new TextEncoder().encode(reason).length > MAX_REASON_BYTES) reason = reason.slice(0, 200)
 * ```
 */
export const MAX_REASON_BYTES = 1024
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
// A reason is shown to people (audit views, exports): control characters (C0, DEL, C1), line and paragraph
// separators, bidirectional overrides and isolates would forge lines or reorder text there.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters refused
const UNSAFE_IN_REASON = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/

/**
 * Why the proxy would refuse `value` as an unwrap's `reason` (1 to {@link MAX_REASON_BYTES} UTF-8 bytes, none of
 * the characters above, no lone surrogate); undefined when it takes it. Both sides use this rule.
 *
 * @example
 * ```ts
 * const problem = reasonProblem('support ticket 1234') // undefined
 * ```
 * @throws Never.
 */
export function reasonProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0 || UTF8.encode(value).length > MAX_REASON_BYTES)
    return `"reason" must be a string of 1 to ${MAX_REASON_BYTES} bytes`
  if (UNSAFE_IN_REASON.test(value) || LONE_SURROGATE.test(value))
    return '"reason" must not hold control characters or lone surrogates'
  return undefined
}

/**
 * The additional data of one delivered DEK: the label, then each field as a 4-byte big-endian length and its
 * bytes: nonce, tenant (UTF-8), the EDEK's providerId, keyId, keyVersion (UTF-8) and ciphertext, and the
 * canonical encoding of the context (docs/format.md §4).
 *
 * @example
 * ```ts
 * const binding = { nonce: readNonce(request.nonce)!, tenant: response.tenant, edek, context }
 * const params = { name: 'AES-GCM', iv, additionalData: deliveryAad(binding) }
 * ```
 * `encodedContext`: `encodeContext(b.context)`, when the caller has it already (the proxy encodes each request's
 * context once).
 * @throws {InvalidArgumentError} (from `encodeContext`) an invalid context.
 */
export function deliveryAad(b: DeliveryBinding, encodedContext: Bytes = encodeContext(b.context)): Bytes {
  const fields = [
    DELIVERY_INFO,
    b.nonce,
    utf8(b.tenant),
    utf8(b.edek.providerId),
    utf8(b.edek.keyId),
    utf8(b.edek.keyVersion),
    b.edek.ciphertext,
    encodedContext,
  ]
  const out = new Uint8Array(fields.reduce((n, f) => n + 4 + f.length, 0))
  const view = new DataView(out.buffer)
  let at = 0
  for (const f of fields) {
    view.setUint32(at, f.length)
    out.set(f, at + 4)
    at += 4 + f.length
  }
  return out
}

async function deliveryKek(priv: CryptoKey, pub: CryptoKey, usage: KeyUsage): Promise<CryptoKey> {
  const s = crypto.subtle
  const z = await s.deriveKey({ name: 'ECDH', public: pub }, priv, { name: 'HKDF' }, false, ['deriveKey'])
  return s.deriveKey(DELIVERY_HKDF, z, { name: 'AES-GCM', length: 256 }, false, [usage])
}

/**
 * A delivery key pair for a client: the private key is non-extractable.
 *
 * @example
 * ```ts
 * const { privateKey, publicJwk } = await generateDeliveryKeyPair() // send publicJwk as `clientKey`
 * ```
 * @throws A WebCrypto error only when the runtime lacks ECDH P-256.
 */
export async function generateDeliveryKeyPair(): Promise<{ privateKey: CryptoKey; publicJwk: JsonWebKey }> {
  const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, false, ['deriveKey'])
  const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', pair.publicKey)
  return { privateKey: pair.privateKey, publicJwk: { kty, crv, x, y } }
}

/**
 * The public P-256 JWK in `value`, as `{ kty, crv, x, y }`; undefined unless `kty` is `EC`, `crv` is `P-256`, `x`
 * and `y` are 32 bytes of base64url each, and there is no private part (`d`). The point itself is checked by
 * {@link importDeliveryPublicKey}.
 *
 * @example
 * ```ts
 * const jwk = deliveryPublicJwk(body.clientKey) // { kty, crv, x, y } or undefined
 * ```
 * @throws Never: bad input gives `undefined`.
 */
export function deliveryPublicJwk(value: unknown): { kty: 'EC'; crv: 'P-256'; x: string; y: string } | undefined {
  const j = value as JsonWebKey | null
  if (!j || typeof j !== 'object' || Array.isArray(j) || j.kty !== 'EC' || j.crv !== 'P-256' || 'd' in j)
    return undefined
  if (fromBase64url(j.x)?.length !== 32 || fromBase64url(j.y)?.length !== 32) return undefined
  return { kty: 'EC', crv: 'P-256', x: j.x!, y: j.y! }
}

/**
 * Imports a P-256 public JWK; undefined when it is not one (shape, or a point not on the curve).
 *
 * @example
 * ```ts
 * const clientKey = await importDeliveryPublicKey(body.clientKey)
 * if (!clientKey) return refuse('ERR_BAD_REQUEST')
 * ```
 * @throws Never: bad input gives `undefined`.
 */
export async function importDeliveryPublicKey(jwk: unknown): Promise<CryptoKey | undefined> {
  const j = deliveryPublicJwk(jwk)
  if (!j) return undefined
  try {
    return await crypto.subtle.importKey('jwk', j, { name: 'ECDH', namedCurve: 'P-256' }, true, [])
  } catch {
    return undefined
  }
}

/**
 * Proxy side: one delivery for one response (one ECDH), then each DEK wrapped with one AES-GCM call.
 *
 * @example
 * ```ts
 * const delivery = await createDelivery(clientKey)
 * const { wrappedDek } = await delivery.wrap(dekBytes, { nonce, tenant, edek, context })
 * return { epk: delivery.epk, tenant, edek: edekToJson(edek), wrappedDek }
 * ```
 * @throws A WebCrypto error only when `clientKey` is not an ECDH P-256 public key.
 */
export async function createDelivery(clientKey: CryptoKey): Promise<{
  epk: JsonWebKey
  wrap(dek: Uint8Array, binding: DeliveryBinding): Promise<WrappedDek>
}> {
  const s = crypto.subtle
  const eph = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveKey'])
  const kek = await deliveryKek(eph.privateKey, clientKey, 'encrypt')
  const { kty, crv, x, y } = await s.exportKey('jwk', eph.publicKey)
  return {
    epk: { kty, crv, x, y },
    async wrap(dek: Uint8Array, binding: DeliveryBinding): Promise<WrappedDek> {
      const iv = crypto.getRandomValues(new Uint8Array(12)) // random per DEK: at most a few thousand per key
      const params = { name: 'AES-GCM', iv, additionalData: deliveryAad(binding) }
      const ct = new Uint8Array(await s.encrypt(params, kek, dek as Bytes))
      const out = new Uint8Array(12 + ct.length)
      out.set(iv)
      out.set(ct, 12)
      return { wrappedDek: toBase64url(out) }
    },
  }
}

/**
 * Client side: the unwrapping key of one response. Throws when `epk` is not a P-256 public key.
 *
 * @example
 * ```ts
 * const kek = await openDelivery(response, privateKey)
 * ```
 * @throws {TypeError} `epk` is not a P-256 public key; a WebCrypto error when the key agreement fails.
 */
export async function openDelivery(delivery: Pick<Delivery, 'epk'>, privateKey: CryptoKey): Promise<CryptoKey> {
  const epk = await importDeliveryPublicKey(delivery?.epk)
  if (!epk) throw new TypeError('malformed DEK delivery key')
  return deliveryKek(privateKey, epk, 'unwrapKey')
}

/**
 * Client side: unwraps a delivered DEK straight into a non-extractable HKDF key, with the `aad` of the request
 * it asked for. Throws on any mismatch: a DEK delivered for another nonce, tenant, EDEK or context.
 *
 * @example
 * ```ts
 * const binding = { nonce: readNonce(request.nonce)!, tenant: response.tenant, edek, context }
 * const dek = await unwrapDelivered(response, await openDelivery(response, privateKey), binding) // non-extractable
 * ```
 * @throws {TypeError} the wrapped DEK is not 60 bytes of base64url; a WebCrypto `OperationError` when it was
 * altered, wrapped to another key, or bound to another nonce, tenant, EDEK or context.
 */
export async function unwrapDelivered(w: WrappedDek, kek: CryptoKey, binding: DeliveryBinding): Promise<CryptoKey> {
  const bytes = fromBase64url(w?.wrappedDek)
  if (bytes?.length !== 60) throw new TypeError('malformed wrapped DEK')
  const params = { name: 'AES-GCM', iv: bytes.subarray(0, 12), additionalData: deliveryAad(binding) }
  return crypto.subtle.unwrapKey('raw', bytes.subarray(12), kek, params, 'HKDF', false, DEK_USAGES)
}
