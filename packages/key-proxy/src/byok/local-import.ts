/**
 * Bring your own key material into the local KMS, as AWS KMS imports it (docs/kms-backends.md, "Bring your own
 * key material"): a key made with `origin: 'external'` holds no material (`pending_import`); the proxy gives out
 * import parameters (an RSA wrapping public key, RSA-OAEP with SHA-256, and an import token valid 24 hours); the
 * customer wraps its 32 bytes under the public key and uploads them with the token and an optional expiry.
 *
 * What the material touches: the proxy's memory while it unwraps and seals it (then zeroed), and the keystore,
 * sealed under the root key like every local version. The wrapping private key is sealed the same way and
 * forgotten once used. A commitment of the material (an HMAC under it, revealing nothing) stays after the
 * material is deleted, so only the same material can return: its old EDEKs then open again.
 * @module
 */
import { constants, createHash, createHmac, createPrivateKey, generateKeyPair, privateDecrypt } from 'node:crypto'
import { fromBase64url, toBase64url } from '@envelope/fetch-client/protocol'
import { ProxyError } from '../errors.ts'
import type { ImportParamsRecord, LocalKeyRecord } from '../keystore/records.ts'
import type { KeyInfo } from '../kms/backend.ts'
import { kidOf } from '../kms/edek-jwe.ts'
import type { LocalKms } from '../kms/local-kms.ts'

/** How long import parameters are valid (AWS: 24 hours). */
export const IMPORT_TOKEN_TTL_MS = 24 * 3_600_000
/** Latest expiry of imported material, from the import (AWS: 365 days). */
export const MAX_VALID_TO_DAYS = 365
/** The wrapping key specs offered (AWS also offers RSA_2048, which it is retiring for new keys). */
export const WRAPPING_KEY_SPECS = ['RSA_3072', 'RSA_4096'] as const
/** The wrapping algorithm: RSA-OAEP with SHA-256 for the hash and MGF1 (AWS `RSAES_OAEP_SHA_256`). */
export const WRAPPING_ALGORITHM = 'RSAES_OAEP_SHA_256'
export const USED_TOKENS_KEPT = 16
/**
 * How long one RSA key pair serves the import parameters this process gives out for one key (each set still gets
 * its own token, used once): RSA-4096 generation takes seconds. A pair is never shared between keys, so material
 * wrapped for one key never unwraps for another. OpenBao keeps one wrapping key for ever.
 */
export const WRAPPING_KEY_REUSE_MS = 3_600_000

type Pair = { publicKey: Buffer; privateKey: Buffer }
/** This process's wrapping key pairs, by spec and key (every LocalKeyImport of the process shares them). */
const pairs = new Map<string, { made: number; pair: Promise<Pair> }>()
const MAX_PAIRS = 1000

function newPair(bits: number): Promise<Pair> {
  return new Promise((resolve, reject) =>
    generateKeyPair(
      'rsa',
      {
        modulusLength: bits,
        publicKeyEncoding: { type: 'spki', format: 'der' },
        privateKeyEncoding: { type: 'pkcs8', format: 'der' },
      },
      (err, publicKey, privateKey) => (err ? reject(err) : resolve({ publicKey, privateKey })),
    ),
  )
}

/**
 * What `GET …/import-parameters` answers.
 *
 * @example
 * ```ts
 * const p: ImportParameters = await byok.parameters('acme', 'byok', 'RSA_3072')
 * const spki = fromBase64url(p.publicKey) // DER SubjectPublicKeyInfo: crypto.subtle.importKey('spki', …)
 * ```
 */
export interface ImportParameters {
  readonly keyId: string
  /** `RSAES_OAEP_SHA_256`; `RSAES_OAEP_SHA_1` for an HSM without SHA-256 OAEP (SoftHSM2 2.6). */
  readonly wrappingAlgorithm: typeof WRAPPING_ALGORITHM | 'RSAES_OAEP_SHA_1'
  readonly wrappingKeySpec: (typeof WRAPPING_KEY_SPECS)[number]
  /** base64url DER SubjectPublicKeyInfo. */
  readonly publicKey: string
  /** Opaque; sent back with the wrapped material. */
  readonly importToken: string
  readonly parametersValidTo: string
}

/**
 * What `POST …/import` takes.
 *
 * @example
 * ```ts
 * await byok.importMaterial('acme', 'byok', { importToken, encryptedKeyMaterial, validTo: '2027-06-01T00:00:00Z' })
 * ```
 */
export interface ImportRequest {
  readonly importToken: unknown
  /** base64url RSA-OAEP-SHA-256 ciphertext of the 32-byte material. */
  readonly encryptedKeyMaterial: unknown
  /** ISO date after which the material is deleted; absent: it does not expire. */
  readonly validTo?: unknown
}

/** base64url SHA-256 of a text (an import token's hash). */
export const sha256 = (text: string) => createHash('sha256').update(text).digest('base64url')

/** The commitment of key material: reveals nothing of it, tells the same material apart from another. */
export function materialCommitment(tenant: string, keyName: string, material: Uint8Array): string {
  return createHmac('sha256', material).update(`envelope byok commitment/1 ${tenant}/${keyName}`).digest('base64url')
}

/** An import token: `<base64url of "tenant/key">.<parameters id>.<32 random bytes, base64url>`. */
function parseToken(token: unknown): { owner: string; id: string } | undefined {
  if (typeof token !== 'string' || token.length > 512) return undefined
  const m = /^([A-Za-z0-9_-]{1,200})\.([A-Za-z0-9_-]{16,64})\.[A-Za-z0-9_-]{43}$/.exec(token)
  const owner = m && fromBase64url(m[1]!)
  if (!owner) return undefined
  return { owner: new TextDecoder().decode(owner), id: m[2]! }
}

const importLabel = (tenant: string, keyName: string, id: string) => `import ${tenant}/${keyName} ${id}`

/** A request's `validTo`: in the future, at most {@link MAX_VALID_TO_DAYS} away; undefined: no expiry. */
export function parseValidTo(value: unknown, now: Date): string | undefined {
  if (value === undefined || value === null) return undefined
  const t = typeof value === 'string' && value.length <= 40 ? Date.parse(value) : Number.NaN
  if (!Number.isFinite(t)) throw new ProxyError('ERR_BAD_REQUEST', '"validTo" must be an ISO date')
  if (t <= now.getTime()) throw new ProxyError('ERR_BAD_REQUEST', '"validTo" must be in the future')
  if (t > now.getTime() + MAX_VALID_TO_DAYS * 86_400_000) {
    throw new ProxyError('ERR_BAD_REQUEST', `"validTo" must be at most ${MAX_VALID_TO_DAYS} days from now`)
  }
  return new Date(t).toISOString()
}

function checkExternal(tenant: string, keyName: string, k: LocalKeyRecord | undefined): LocalKeyRecord {
  if (!k) throw new ProxyError('ERR_KEY_NOT_FOUND', `tenant "${tenant}" has no key "${keyName}"`)
  if (k.origin !== 'external') {
    throw new ProxyError(
      'ERR_KEY_STATE',
      `key "${tenant}/${keyName}" holds material the proxy made: create a key with origin "external" to import`,
    )
  }
  // enabled or disabled: the same material again, for a new expiry (as AWS KMS)
  if (k.state === 'pending_deletion' || k.state === 'destroyed') {
    throw new ProxyError('ERR_KEY_STATE', `key "${tenant}/${keyName}" is ${k.state}: it imports no material`)
  }
  return k
}

/**
 * Checks an import token against what a key holds (its outstanding parameters, the tokens it used): the
 * parameters it names, still valid.
 * @throws {ProxyError} `ERR_IMPORT_TOKEN_INVALID`, `ERR_IMPORT_TOKEN_WRONG_KEY`, `ERR_IMPORT_TOKEN_USED`, `ERR_IMPORT_TOKEN_EXPIRED`
 */
export function checkImportToken<
  P extends { readonly id: string; readonly tokenHash: string; readonly expires: string },
>(
  tenant: string,
  keyName: string,
  holder: { readonly importParams?: P; readonly usedTokens?: readonly string[] },
  token: unknown,
  now: Date,
): P {
  const parsed = parseToken(token)
  if (!parsed) throw new ProxyError('ERR_IMPORT_TOKEN_INVALID', '"importToken" is not an import token of this proxy')
  if (parsed.owner !== `${tenant}/${keyName}`) {
    throw new ProxyError('ERR_IMPORT_TOKEN_WRONG_KEY', 'the import token was given for another key')
  }
  const hash = sha256(token as string)
  if (holder.usedTokens?.includes(hash)) {
    throw new ProxyError('ERR_IMPORT_TOKEN_USED', 'the import token was used already: get new import parameters')
  }
  const p = holder.importParams
  if (!p || p.id !== parsed.id || p.tokenHash !== hash) {
    throw new ProxyError('ERR_IMPORT_TOKEN_INVALID', 'the import token is not the latest one given for this key')
  }
  if (now >= new Date(p.expires)) {
    throw new ProxyError('ERR_IMPORT_TOKEN_EXPIRED', `the import parameters expired at ${p.expires}`)
  }
  return p
}

/** A new import token for parameters `id` of a key. */
export function newImportToken(tenant: string, keyName: string, id: string): string {
  const secret = toBase64url(crypto.getRandomValues(new Uint8Array(32)))
  return `${toBase64url(new TextEncoder().encode(`${tenant}/${keyName}`))}.${id}.${secret}`
}

/** A request's `encryptedKeyMaterial`, decoded. */
export function wrappedMaterial(value: unknown): Uint8Array {
  const wrapped = typeof value === 'string' && value.length <= 1024 ? fromBase64url(value) : undefined
  if (!wrapped) throw new ProxyError('ERR_BAD_REQUEST', '"encryptedKeyMaterial" must be base64url')
  return wrapped
}

/**
 * Imports of the customer's own key material into the local KMS.
 *
 * @example
 * ```ts
 * const byok = new LocalKeyImport(localKms)
 * await localKms.createKey('acme', 'byok', 'external')
 * const p = await byok.parameters('acme', 'byok')
 * // the customer: RSA-OAEP-SHA-256(p.publicKey, its 32 bytes) → encryptedKeyMaterial
 * await byok.importMaterial('acme', 'byok', { importToken: p.importToken, encryptedKeyMaterial })
 * ```
 * @throws {ProxyError} `ERR_KEY_NOT_FOUND`, `ERR_KEY_STATE` (not an external key, or not pending_import),
 * `ERR_IMPORT_TOKEN_INVALID`, `ERR_IMPORT_TOKEN_WRONG_KEY`, `ERR_IMPORT_TOKEN_EXPIRED`, `ERR_IMPORT_TOKEN_USED`,
 * `ERR_IMPORT_UNWRAP_FAILED`, `ERR_IMPORT_MATERIAL_SIZE`, `ERR_IMPORT_MATERIAL_MISMATCH`, `ERR_BAD_REQUEST`.
 */
export class LocalKeyImport {
  readonly #kms: LocalKms

  constructor(kms: LocalKms) {
    this.#kms = kms
  }

  /** New import parameters (the previous ones, if any, no longer import). */
  async parameters(tenant: string, keyName: string, spec: unknown = 'RSA_3072'): Promise<ImportParameters> {
    if (!WRAPPING_KEY_SPECS.includes(spec as 'RSA_3072')) {
      throw new ProxyError('ERR_BAD_REQUEST', `"wrappingKeySpec" must be ${WRAPPING_KEY_SPECS.join(' or ')}`)
    }
    checkExternal(tenant, keyName, await this.#kms.current(tenant, keyName))
    const pair = await this.#pair(spec as string, `${tenant}/${keyName}`)
    const id = toBase64url(crypto.getRandomValues(new Uint8Array(16)))
    const importToken = newImportToken(tenant, keyName, id)
    const der = Buffer.from(pair.privateKey) // a copy: the pair may be replaced (and zeroed) meanwhile
    const sealed = await this.#kms.seal(der, importLabel(tenant, keyName, id)).finally(() => der.fill(0))
    const params: ImportParamsRecord = {
      id,
      spec: spec as ImportParamsRecord['spec'],
      tokenHash: sha256(importToken),
      publicKey: pair.publicKey.toString('base64url'),
      privateKey: sealed,
      expires: new Date(this.#kms.now().getTime() + IMPORT_TOKEN_TTL_MS).toISOString(),
    }
    await this.#kms.update(tenant, keyName, async (k) => ({
      ...checkExternal(tenant, keyName, k),
      importParams: params,
    }))
    return {
      keyId: `${tenant}/${keyName}`,
      wrappingAlgorithm: WRAPPING_ALGORITHM,
      wrappingKeySpec: params.spec,
      publicKey: params.publicKey,
      importToken,
      parametersValidTo: params.expires,
    }
  }

  /** This process's wrapping key pair of a spec for one key, made again after {@link WRAPPING_KEY_REUSE_MS}. */
  #pair(spec: string, keyId: string): Promise<Pair> {
    const id = `${spec} ${keyId}`
    const held = pairs.get(id)
    const now = Date.now()
    if (held && now - held.made < WRAPPING_KEY_REUSE_MS) return held.pair
    pairs.delete(id)
    if (held) held.pair.then((p) => p.privateKey.fill(0)).catch(() => {})
    while (pairs.size >= MAX_PAIRS) {
      const [oldest, entry] = pairs.entries().next().value!
      pairs.delete(oldest)
      entry.pair.then((p) => p.privateKey.fill(0)).catch(() => {})
    }
    const pair = newPair(spec === 'RSA_4096' ? 4096 : 3072)
    pairs.set(id, { made: now, pair })
    pair.catch(() => pairs.delete(id))
    return pair
  }

  #paramsOf(tenant: string, keyName: string, k: LocalKeyRecord, token: unknown): ImportParamsRecord {
    return checkImportToken(tenant, keyName, k, token, this.#kms.now())
  }

  /**
   * Imports the customer's material: the key becomes `enabled` (a disabled one stays disabled), and its version 1
   * is that material. Into a key that holds material already, only the same material, for a new `validTo`.
   */
  async importMaterial(tenant: string, keyName: string, request: ImportRequest): Promise<KeyInfo> {
    const now = this.#kms.now()
    const k = checkExternal(tenant, keyName, await this.#kms.current(tenant, keyName))
    const p = this.#paramsOf(tenant, keyName, k, request?.importToken)
    const validTo = parseValidTo(request?.validTo, now)
    const wrapped = wrappedMaterial(request?.encryptedKeyMaterial)
    const der = await this.#kms.unseal(p.privateKey, importLabel(tenant, keyName, p.id))
    let material: Buffer
    try {
      const key = createPrivateKey({ key: Buffer.from(der), format: 'der', type: 'pkcs8' })
      material = privateDecrypt({ key, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped)
    } catch {
      throw new ProxyError(
        'ERR_IMPORT_UNWRAP_FAILED',
        `the material does not unwrap: wrap it with ${WRAPPING_ALGORITHM} under this key's latest wrapping public key`,
      )
    } finally {
      der.fill(0)
    }
    try {
      if (material.length !== 32) {
        throw new ProxyError(
          'ERR_IMPORT_MATERIAL_SIZE',
          `key material must be 32 bytes (AES-256), not ${material.length}`,
        )
      }
      const commitment = materialCommitment(tenant, keyName, material)
      const sealed = await this.#kms.seal(material, kidOf(tenant, keyName, 1))
      const hash = sha256(request.importToken as string)
      return await this.#kms.update(tenant, keyName, async (current) => {
        const c = checkExternal(tenant, keyName, current)
        this.#paramsOf(tenant, keyName, c, request.importToken) // the same parameters, still (another import raced)
        if (c.imported?.commitment && c.imported.commitment !== commitment) {
          throw new ProxyError(
            'ERR_IMPORT_MATERIAL_MISMATCH',
            `key "${tenant}/${keyName}" had other key material: only the same material can be imported again`,
          )
        }
        const { importParams: _, ...rest } = c
        return {
          ...rest,
          state: c.state === 'disabled' ? 'disabled' : 'enabled',
          primary: 1,
          versions: { '1': { created: c.versions['1']?.created ?? now.toISOString(), sealed } },
          imported: { commitment, importedAt: now.toISOString(), ...(validTo ? { validTo } : {}) },
          usedTokens: [...(c.usedTokens ?? []), hash].slice(-USED_TOKENS_KEPT),
        }
      })
    } finally {
      material.fill(0)
    }
  }
}
