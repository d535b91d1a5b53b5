// The tenant's own key material (BYOK), as the customer does it with AWS KMS: the key proxy gives an RSA wrapping
// public key and a one-use import token for the tenant's key `own`; this page wraps the customer's 32 bytes under
// that key with WebCrypto (RSA-OAEP, SHA-256) and uploads only the wrap, with an optional expiry after which the
// proxy deletes the material. The page never sends the material itself, and keeps nothing of it.
import { EnvelopeError } from '@envelope/core'
import { call, type KeyInfo } from './admin.ts'
import type { Session } from './session.ts'

/** The key of the tenant's own material (scripts/start.mjs configures it for every demo tenant). */
export const OWN_KEY = 'own'

interface ImportParameters {
  readonly wrappingAlgorithm: 'RSAES_OAEP_SHA_256' | 'RSAES_OAEP_SHA_1'
  readonly publicKey: string
  readonly importToken: string
}

const fromBase64url = (s: string) =>
  Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0))
const toBase64url = (b: Uint8Array) =>
  btoa(String.fromCharCode(...b))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')

export const describeOwnKey = (s: Session) => call(s, '', undefined, OWN_KEY)
export const deleteOwnMaterial = (s: Session) => call(s, 'delete-imported-material', undefined, OWN_KEY)

/** Imports 32 bytes of the customer's material, wrapped in this page; `validTo`: an ISO time, or none. */
export async function importOwnMaterial(s: Session, material: Uint8Array, validTo?: string): Promise<KeyInfo> {
  if (material.length !== 32) {
    throw new EnvelopeError(
      'ERR_IMPORT_MATERIAL_SIZE',
      `key material is 32 bytes (AES-256); this file has ${material.length}`,
    )
  }
  const p = await call<ImportParameters>(s, 'import-parameters', undefined, OWN_KEY)
  const hash = p.wrappingAlgorithm === 'RSAES_OAEP_SHA_1' ? 'SHA-1' : 'SHA-256'
  const key = await crypto.subtle.importKey('spki', fromBase64url(p.publicKey), { name: 'RSA-OAEP', hash }, false, [
    'encrypt',
  ])
  const wrapped = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'RSA-OAEP' }, key, material as Uint8Array<ArrayBuffer>),
  )
  material.fill(0)
  return call(
    s,
    'import',
    { importToken: p.importToken, encryptedKeyMaterial: toBase64url(wrapped), ...(validTo ? { validTo } : {}) },
    OWN_KEY,
  )
}

/** 32 random bytes for the customer to keep (its own copy is the point of BYOK), as a file download. */
export function newMaterialFile(): Blob {
  return new Blob([crypto.getRandomValues(new Uint8Array(32))], { type: 'application/octet-stream' })
}

/** Sets (days) or removes (null) the rotation schedule of the tenant's key. */
export const setRotation = (s: Session, periodDays: number | null) => call(s, 'rotation-schedule', { periodDays })
