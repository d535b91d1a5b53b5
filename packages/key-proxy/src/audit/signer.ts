/**
 * The proxy's checkpoint signing key: Ed25519, in the data folder (`audit-signing.key`, PKCS#8 PEM, 0600), made on
 * first start. Its public key is published at `GET /v1/audit/signing-key` (and `envelope-admin audit verify`
 * fetches it there, or reads it from a file the customer kept).
 * @module
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto'
import { chmodSync, existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
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
  if (!existsSync(path)) {
    const mine = `${path}.${randomUUID()}.new`
    const { privateKey } = generateKeyPairSync('ed25519')
    writeFileSync(mine, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' })
    try {
      linkSync(mine, path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    } finally {
      unlinkSync(mine)
    }
  }
  chmodSync(path, 0o600)
  const privateKey = createPrivateKey(readFileSync(path, 'utf8'))
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
