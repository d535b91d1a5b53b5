/**
 * The proxy's side of DEK delivery (packages/fetch-client/src/protocol.ts, docs/key-proxy-api.md "DEK
 * delivery"), sealing with node:crypto: the KEK is derived once per delivery with WebCrypto as in protocol.ts's
 * `createDelivery`, then each DEK is sealed with synchronous AES-GCM (~2 µs), where WebCrypto costs a thread-pool
 * round trip per DEK (as jwe-open-node.ts does for EDEKs). Same bytes on the wire: the client cannot tell.
 * @module
 */
import { createCipheriv, createSecretKey, type KeyObject, randomBytes } from 'node:crypto'
import {
  DELIVERY_HKDF,
  type DeliveryBinding,
  deliveryAad,
  toBase64url,
  type WrappedDek,
} from '@envelope/fetch-client/protocol'

export interface ProxyDelivery {
  readonly epk: JsonWebKey
  wrap(dek: Uint8Array, binding: DeliveryBinding): Promise<WrappedDek>
}

/** One delivery for one client key: an ephemeral key pair, one ECDH, then one AES-GCM call per DEK. */
export async function createNodeDelivery(clientKey: CryptoKey): Promise<ProxyDelivery> {
  const s = crypto.subtle
  const eph = await s.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits'])
  const z = await s.deriveBits({ name: 'ECDH', public: clientKey }, eph.privateKey, 256)
  const ikm = await s.importKey('raw', z, 'HKDF', false, ['deriveBits'])
  const bits = new Uint8Array(await s.deriveBits(DELIVERY_HKDF, ikm, 256))
  const kek: KeyObject = createSecretKey(bits)
  bits.fill(0)
  new Uint8Array(z).fill(0)
  const { kty, crv, x, y } = await s.exportKey('jwk', eph.publicKey)
  return {
    epk: { kty, crv, x, y },
    async wrap(dek, binding) {
      const iv = randomBytes(12) // random per DEK: a delivery serves at most 100 000 DEKs (app.ts)
      const cipher = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: 16 })
      cipher.setAAD(deliveryAad(binding))
      const ct = Buffer.concat([iv, cipher.update(dek), cipher.final(), cipher.getAuthTag()])
      return { wrappedDek: toBase64url(ct) }
    },
  }
}
