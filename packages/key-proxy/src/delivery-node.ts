/**
 * The proxy's side of DEK delivery (packages/fetch-client/src/protocol.ts, docs/key-proxy-api.md "DEK
 * delivery"), sealing with node:crypto: the KEK is derived once per delivery with WebCrypto as in protocol.ts's
 * `createDelivery`, then each DEK is sealed with synchronous AES-GCM (~2 µs), where WebCrypto costs a thread-pool
 * round trip per DEK (as jwe-open-node.ts does for EDEKs). Same bytes on the wire: the client cannot tell.
 * @module
 */
import { createCipheriv, createSecretKey, type KeyObject } from 'node:crypto'
import {
  DELIVERY_HKDF,
  type DeliveryBinding,
  deliveryAad,
  toBase64url,
  type WrappedDek,
} from '@envelope/fetch-client/protocol'
import { contextBytes } from './context-bytes.ts'

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
  let sealed = 0
  return {
    epk: { kty, crv, x, y },
    async wrap(dek, binding) {
      // A counter under a KEK of this delivery alone (its ephemeral ECDH): no IV ever repeats under it (the
      // deterministic construction of NIST SP 800-38D §8.2.1), and no random draw per DEK. A delivery is reused
      // for at most 100 000 requests of one client key (app.ts): far below the counter's 2^53.
      const n = ++sealed
      const iv = Buffer.alloc(12)
      iv.writeUInt32BE(Math.floor(n / 2 ** 32), 4)
      iv.writeUInt32BE(n >>> 0, 8)
      const cipher = createCipheriv('aes-256-gcm', kek, iv, { authTagLength: 16 })
      cipher.setAAD(deliveryAad(binding, contextBytes(binding.context)))
      const ct = Buffer.concat([iv, cipher.update(dek), cipher.final(), cipher.getAuthTag()])
      return { wrappedDek: toBase64url(ct) }
    },
  }
}
