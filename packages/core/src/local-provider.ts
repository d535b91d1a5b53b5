/**
 * A {@link KeyProvider} with a key-encryption key (KEK) held in this process: for tests, offline use and as a
 * reference implementation. In production the KEK lives in a KMS behind the key proxy instead.
 * @module
 */
import { concat, randomBytes } from './bytes.ts'
import { encodeContext } from './context.ts'
import { EnvelopeError, InvalidArgumentError, KeyUnavailableError } from './errors.ts'
import { type NodeCrypto, nodeCrypto } from './frame-cipher.ts'
import type {
  Bytes,
  DataKey,
  Edek,
  EncryptionContext,
  KeyProvider,
  ProviderCallOptions,
  UnwrapRequest,
  UnwrapResult,
} from './key-provider.ts'

/**
 * Options of {@link createLocalKeyProvider}.
 *
 * @example
 * ```ts
 * const provider = await createLocalKeyProvider({ kek: kekBytes, keyId: 'app-kek', keyVersion: '2' })
 * ```
 */
export interface LocalKeyProviderOptions {
  /** The KEK: 32 raw bytes (imported non-extractable, the array is not kept) or an AES-GCM 256 `CryptoKey`. */
  readonly kek: Uint8Array | CryptoKey
  /** Names the KEK in every EDEK, so a message says which key it needs. */
  readonly keyId: string
  /** The KEK's version, recorded in EDEKs. Default `''`. */
  readonly keyVersion?: string
  /** Provider id recorded in EDEKs. Default `'local'`. */
  readonly providerId?: string
}

const DEK_USAGES: KeyUsage[] = ['deriveKey', 'deriveBits']
const IV_BYTES = 12
const TAG_BYTES = 16
// iv (12) ‖ AES-GCM(DEK, 32) ‖ tag (16)
export const EDEK_BYTES = IV_BYTES + 32 + TAG_BYTES

/**
 * The EDEK's AAD binds the context and the key naming, so an EDEK cannot be moved to a message with another
 * context or relabelled (docs/format.md §8).
 */
export function wrapAad(keyId: string, keyVersion: string, context: EncryptionContext): Bytes {
  return concat([encodeContext({ keyId, keyVersion }), encodeContext(context)])
}

/** The KEK: AES-256-GCM over one 32-byte DEK, `ciphertext ‖ tag` out, a non-extractable HKDF DEK back. */
interface Kek {
  wrap(iv: Bytes, aad: Bytes, dek: Bytes): Promise<Uint8Array>
  unwrap(iv: Uint8Array, aad: Bytes, sealed: Uint8Array): Promise<CryptoKey>
}

/** A non-extractable CryptoKey: wrap and unwrap are WebCrypto calls, and the DEK goes straight into its key. */
const webCryptoKek = (key: CryptoKey): Kek => ({
  wrap: async (iv, additionalData, dek) =>
    new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData }, key, dek)),
  unwrap: (iv, additionalData, sealed) =>
    crypto.subtle.unwrapKey(
      'raw',
      sealed as Bytes,
      key,
      { name: 'AES-GCM', iv: iv as Bytes, additionalData },
      'HKDF',
      false,
      DEK_USAGES,
    ),
})

/**
 * A KEK given as bytes where the frames use `node:crypto` (Node, Bun) becomes a `node:crypto` KeyObject (the
 * bytes copied into native memory, as for a CryptoKey): wrap and unwrap are then synchronous calls of a few
 * microseconds instead of a thread-pool job each, which for small messages is a large part of the cost
 * (docs/benchmarks.md). The same AES-256-GCM and the same EDEKs: either kind of KEK opens the other's. The DEK's
 * bytes are imported and zeroed at once (Node's own `unwrapKey` decrypts into JavaScript bytes too, unzeroed).
 */
function nodeKek(nc: NodeCrypto, raw: Uint8Array): Kek {
  const key = nc.createSecretKey(raw)
  return {
    async wrap(iv, aad, dek) {
      const c = nc.createCipheriv('aes-256-gcm', key, iv)
      c.setAAD(aad)
      const ct = c.update(dek)
      c.final()
      return concat([ct, c.getAuthTag()])
    },
    async unwrap(iv, aad, sealed) {
      const d = nc.createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
      d.setAAD(aad)
      d.setAuthTag(sealed.subarray(32))
      const dek = d.update(sealed.subarray(0, 32))
      try {
        d.final() // throws when the tag fails: wrong KEK, altered EDEK or another context
        return await crypto.subtle.importKey('raw', dek as Bytes, 'HKDF', false, DEK_USAGES)
      } finally {
        dek.fill(0)
      }
    },
  }
}

async function importKek(kek: Uint8Array | CryptoKey): Promise<Kek> {
  if (kek instanceof Uint8Array) {
    if (kek.length !== 32) throw new InvalidArgumentError(`"kek" expected 32 bytes, got length=${kek.length}`)
    if (nodeCrypto) return nodeKek(nodeCrypto, kek)
    return webCryptoKek(await crypto.subtle.importKey('raw', kek as Bytes, 'AES-GCM', false, ['encrypt', 'unwrapKey']))
  }
  const alg = (kek as CryptoKey | undefined)?.algorithm as AesKeyAlgorithm | undefined
  if (
    alg?.name !== 'AES-GCM' ||
    alg.length !== 256 ||
    !kek.usages.includes('encrypt') ||
    !kek.usages.includes('unwrapKey')
  ) {
    throw new InvalidArgumentError(
      '"kek" expected 32 bytes or an AES-GCM 256 CryptoKey with usages encrypt and unwrapKey',
    )
  }
  return webCryptoKek(kek)
}

/**
 * Creates a provider that wraps each new DEK with AES-256-GCM under a local KEK. DEKs come back as
 * non-extractable HKDF keys. With a `CryptoKey` KEK, and with KEK bytes in browsers, Deno and workerd, unwrapping
 * goes straight into one with `subtle.unwrapKey`, so the DEK never exists as JavaScript bytes on the decrypt side
 * (on the encrypt side its random bytes are zeroed after import). With KEK bytes in Node and Bun the KEK is a
 * `node:crypto` key (synchronous, much faster for small messages) and the unwrapped DEK's bytes are zeroed as soon
 * as they are imported.
 *
 * @example
 * ```ts
 * const provider = await createLocalKeyProvider({ kek: crypto.getRandomValues(new Uint8Array(32)), keyId: 'backup-kek' })
 * const message = await encrypt('hello', { provider })
 * ```
 * @throws {InvalidArgumentError} the KEK or key naming is unusable.
 */
export async function createLocalKeyProvider(options: LocalKeyProviderOptions): Promise<KeyProvider> {
  const providerId = options?.providerId ?? 'local'
  const keyId = options?.keyId
  const keyVersion = options?.keyVersion ?? ''
  if (typeof keyId !== 'string' || typeof keyVersion !== 'string' || typeof providerId !== 'string') {
    throw new InvalidArgumentError('"keyId", "keyVersion" and "providerId" expected strings')
  }
  const kek = await importKek(options.kek)
  // The key naming half of every wrap AAD is the same for this provider: encoded once.
  const naming = encodeContext({ keyId, keyVersion })
  const aadFor = (context: EncryptionContext) => concat([naming, encodeContext(context)])

  const unwrapOne = (edek: Edek, context: EncryptionContext): Promise<CryptoKey> =>
    kek.unwrap(edek.ciphertext.subarray(0, IV_BYTES), aadFor(context), edek.ciphertext.subarray(IV_BYTES))

  const provider: KeyProvider = {
    async generateDataKey(context: EncryptionContext): Promise<DataKey> {
      const random = randomBytes(32 + IV_BYTES) // one call for the DEK and the iv
      const raw = random.subarray(0, 32)
      const iv = random.slice(32)
      try {
        const [dek, wrapped] = await Promise.all([
          crypto.subtle.importKey('raw', raw, 'HKDF', false, DEK_USAGES),
          kek.wrap(iv, aadFor(context), raw),
        ])
        const edek: Edek = { providerId, keyId, keyVersion, ciphertext: concat([iv, wrapped]) }
        return { dek, edeks: [edek] }
      } finally {
        random.fill(0)
      }
    },

    async unwrapDataKey(edeks: readonly Edek[], context: EncryptionContext): Promise<CryptoKey> {
      if (!Array.isArray(edeks)) throw new InvalidArgumentError('"edeks" expected an array')
      let lastError: unknown
      for (const edek of edeks) {
        if (edek.providerId !== providerId || edek.keyId !== keyId || edek.keyVersion !== keyVersion) continue
        if (edek.ciphertext.length !== EDEK_BYTES) continue
        try {
          return await unwrapOne(edek, context)
        } catch (err) {
          lastError = err // wrong KEK, altered EDEK or another context: try the next EDEK
        }
      }
      throw new KeyUnavailableError(`no EDEK of this message unwraps with local key "${keyId}"`, { cause: lastError })
    },

    async unwrapDataKeys(requests: readonly UnwrapRequest[], opts?: ProviderCallOptions): Promise<UnwrapResult[]> {
      return Promise.all(
        requests.map((r) =>
          provider.unwrapDataKey(r.edeks, r.context, opts).then(
            (dek): UnwrapResult => ({ ok: true, dek }),
            (err): UnwrapResult => ({
              ok: false,
              error: err instanceof EnvelopeError ? err : new KeyUnavailableError('unwrap failed', { cause: err }),
            }),
          ),
        ),
      )
    },
  }
  return provider
}
