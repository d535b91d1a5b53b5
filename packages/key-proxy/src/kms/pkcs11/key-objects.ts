/**
 * How a CMK lives in the token, so the HSM alone says what it is (no state outside it):
 * - version n is an AES-256 secret key object labelled `envelope/<key>/v<n>`, CKA_ID = UTF-8 `envelope/<key>`
 *   (shared by the versions: one C_FindObjects lists them), made in the HSM by C_GenerateKey, sensitive and never
 *   extractable, usable for CKA_ENCRYPT/CKA_DECRYPT only;
 * - the primary is the highest version present;
 * - enabled means the primary allows both CKA_ENCRYPT and CKA_DECRYPT (the HSM enforces it on every call);
 * - destroyed means a data object labelled `envelope/<key>/destroyed` exists (a tombstone, so a destroyed key is
 *   told from one never made, and never made again); its versions are gone (C_DestroyObject).
 * @module
 */
import type { Pkcs11Binding } from './module.ts'

export const LABEL_PREFIX = 'envelope/'

/** A CMK's name in the token: path-like segments of letters, digits, `.`, `_`, `-` (e.g. `acme/default`). */
const KEY_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)*$/
export const MAX_KEY_NAME = 100
/** Versions read from the token at most (a key rotated daily for 27 years). */
export const MAX_VERSIONS = 10_000

export function isKeyName(name: unknown): name is string {
  return typeof name === 'string' && name.length <= MAX_KEY_NAME && KEY_NAME.test(name)
}

export const keyObjectId = (key: string): Buffer => Buffer.from(`${LABEL_PREFIX}${key}`, 'utf8')
export const versionLabel = (key: string, n: number): string => `${LABEL_PREFIX}${key}/v${n}`
export const tombstoneLabel = (key: string): string => `${LABEL_PREFIX}${key}/destroyed`
export const versionName = (n: number): string => `v${n}`

/** `v3` → 3; anything else (`v0`, `v03`, `3`, `v1e3`) → undefined. */
export function parseVersionName(name: unknown): number | undefined {
  if (typeof name !== 'string' || !/^v[1-9][0-9]{0,8}$/.test(name)) return undefined
  return Number(name.slice(1))
}

/** The version a label names, if it is one of this key's version labels. */
export function versionOfLabel(key: string, label: string): number | undefined {
  const prefix = `${LABEL_PREFIX}${key}/`
  return label.startsWith(prefix) ? parseVersionName(label.slice(prefix.length)) : undefined
}

/** C_GenerateKey template of version n: the attributes every CMK version has. */
export function versionTemplate(p11: Pkcs11Binding, key: string, n: number) {
  return [
    { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
    { type: p11.CKA_KEY_TYPE, value: p11.CKK_AES },
    { type: p11.CKA_VALUE_LEN, value: 32 },
    { type: p11.CKA_TOKEN, value: true },
    { type: p11.CKA_PRIVATE, value: true },
    { type: p11.CKA_SENSITIVE, value: true },
    { type: p11.CKA_EXTRACTABLE, value: false },
    { type: p11.CKA_ENCRYPT, value: true },
    { type: p11.CKA_DECRYPT, value: true },
    { type: p11.CKA_WRAP, value: false },
    { type: p11.CKA_UNWRAP, value: false },
    { type: p11.CKA_SIGN, value: false },
    { type: p11.CKA_VERIFY, value: false },
    { type: p11.CKA_DERIVE, value: false },
    // modifiable so that disable can clear CKA_ENCRYPT/CKA_DECRYPT (SENSITIVE and EXTRACTABLE can only tighten)
    { type: p11.CKA_MODIFIABLE, value: true },
    { type: p11.CKA_LABEL, value: versionLabel(key, n) },
    { type: p11.CKA_ID, value: keyObjectId(key) },
  ]
}

/** C_CreateObject template of the tombstone. */
export function tombstoneTemplate(p11: Pkcs11Binding, key: string, at: Date) {
  return [
    { type: p11.CKA_CLASS, value: p11.CKO_DATA },
    { type: p11.CKA_TOKEN, value: true },
    { type: p11.CKA_PRIVATE, value: true },
    { type: p11.CKA_MODIFIABLE, value: false },
    { type: p11.CKA_LABEL, value: tombstoneLabel(key) },
    { type: p11.CKA_APPLICATION, value: 'envelope' },
    { type: p11.CKA_VALUE, value: Buffer.from(JSON.stringify({ destroyed: at.toISOString() }), 'utf8') },
  ]
}
