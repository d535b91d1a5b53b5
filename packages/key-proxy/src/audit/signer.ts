/**
 * The proxy's checkpoint signing key: Ed25519, in the data folder (`audit-signing.key`, PKCS#8 PEM, 0600), made on
 * first start. Its public key is published at `GET /v1/audit/signing-key` (and `envelope-admin audit verify`
 * fetches it there, or reads it from a file the customer kept).
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto'
import { secretFile } from '../secret-file.ts'
import { keyId } from './chain.ts'

/**
 * The key that signs checkpoints, its public half and id.
 *
 * @example
 * ```ts
 * const signer = openAuditSigner('.envelope-data/audit-signing.key')
 * console.log(signer.kid, signer.publicJwk)
 * ```
 */
export interface AuditSigner {
  readonly privateKey: KeyObject
  readonly publicKey: KeyObject
  readonly kid: string
  /** `{ kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' }` */
  readonly publicJwk: { readonly kty: string; readonly crv: string; readonly x: string; readonly kid: string }
}

/** Reads the signing key at `path`, or makes it there (written whole under a private name, then linked). */
export function openAuditSigner(path: string): AuditSigner {
  const pem = secretFile(path, () =>
    String(generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' })).trim(),
  )
  return signerOf(createPrivateKey(pem))
}

function signerOf(privateKey: KeyObject): AuditSigner {
  const publicKey = createPublicKey(privateKey)
  const kid = keyId(publicKey)
  const { kty, crv, x } = publicKey.export({ format: 'jwk' }) as { kty: string; crv: string; x: string }
  return {
    privateKey,
    publicKey,
    kid,
    publicJwk: { kty, crv, x, kid, alg: 'EdDSA', use: 'sig' } as AuditSigner['publicJwk'],
  }
}

/**
 * The signing key every instance on one shared keystore uses: the first instance to start makes it and stores it
 * sealed under the root key (AES-256-GCM, with a key derived from the root key by HKDF), which every instance on
 * one keystore shares; the others read the same sealed key (`agree`: the keystore's first-writer-wins value).
 *
 * @example
 * ```ts
 * const signer = await agreedAuditSigner((name, value) => keystore.agree(name, value), rootKey)
 * ```
 * @throws whatever `agree` throws (`ERR_KEYSTORE_UNAVAILABLE`); an Error when the sealed key does not open (another root key)
 */
export async function agreedAuditSigner(
  agree: (name: string, value: string) => Promise<string>,
  rootKey: Uint8Array,
): Promise<AuditSigner> {
  const key = Buffer.from(hkdfSync('sha256', rootKey, Buffer.alloc(0), 'envelope audit signing key', 32))
  const iv = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', key, iv)
  const der = generateKeyPairSync('ed25519').privateKey.export({ format: 'der', type: 'pkcs8' })
  const mine = Buffer.concat([iv, cipher.update(der), cipher.final(), cipher.getAuthTag()]).toString('base64url')
  const sealed = Buffer.from(await agree('audit-signing-key', mine), 'base64url')
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12))
  decipher.setAuthTag(sealed.subarray(sealed.length - 16))
  const opened = Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()])
  return signerOf(createPrivateKey({ key: opened, format: 'der', type: 'pkcs8' }))
}
