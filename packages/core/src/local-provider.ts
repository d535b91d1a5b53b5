/**
 * A {@link KeyProvider} with a key-encryption key (KEK) held in this process: for tests, offline use and as a
 * reference implementation. In production the KEK lives in a KMS behind the key proxy instead.
 * @module
 */
import { concat, randomBytes } from './bytes.ts'
import { encodeContext } from './context.ts'
import { EnvelopeError, InvalidArgumentError, KeyUnavailableError } from './errors.ts'
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

/**
 * Node's `subtle.unwrapKey` is itself a `decrypt` into a JavaScript ArrayBuffer followed by an `importKey` of it
 * (lib/internal/crypto/webcrypto.js), which leaves the DEK bytes to the garbage collector unzeroed, and it first
 * builds a DOMException on every call by trying AES-GCM as a key-wrap algorithm. There, the provider takes the same
 * two steps itself and zeroes the bytes as soon as the key is imported: no weaker, and ~1.6× the unwraps per
 * second (docs/benchmarks.md). A KEK given as bytes is imported with the decrypt usage for it. Browsers, Bun, Deno
 * and workerd keep `unwrapKey`.
 */
const UNWRAP_IN_TWO_STEPS = (() => {
  const g = globalThis as { Bun?: unknown; Deno?: unknown; process?: { versions?: { node?: unknown } } }
  return g.Bun === undefined && g.Deno === undefined && typeof g.process?.versions?.node === 'string'
})()
const IV_BYTES = 12
// iv (12) ‖ AES-GCM(DEK, 32) ‖ tag (16)
export const EDEK_BYTES = IV_BYTES + 32 + 16

/**
 * The EDEK's AAD binds the context and the key naming, so an EDEK cannot be moved to a message with another
 * context or relabelled (docs/format.md §8).
 */
export function wrapAad(keyId: string, keyVersion: string, context: EncryptionContext): Bytes {
  return concat([encodeContext({ keyId, keyVersion }), encodeContext(context)])
}

async function importKek(kek: Uint8Array | CryptoKey): Promise<CryptoKey> {
  if (kek instanceof Uint8Array) {
    if (kek.length !== 32) throw new InvalidArgumentError(`"kek" expected 32 bytes, got length=${kek.length}`)
    const usages: KeyUsage[] = UNWRAP_IN_TWO_STEPS ? ['encrypt', 'decrypt', 'unwrapKey'] : ['encrypt', 'unwrapKey']
    return crypto.subtle.importKey('raw', kek as Bytes, 'AES-GCM', false, usages)
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
  return kek
}

/**
 * Creates a provider that wraps each new DEK with AES-256-GCM under a local KEK. DEKs come back as
 * non-extractable HKDF keys; unwrapping goes straight into one with `subtle.unwrapKey`, so the DEK never exists
 * as JavaScript bytes on the decrypt side (on the encrypt side its random bytes are zeroed after import). In Node,
 * whose own `unwrapKey` decrypts into JavaScript bytes anyway, the provider decrypts and imports itself and zeroes
 * the bytes at once (faster, and no weaker).
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
  // A KEK given as a CryptoKey may lack the decrypt usage: it then unwraps in one step everywhere.
  const twoSteps = UNWRAP_IN_TWO_STEPS && kek.usages.includes('decrypt')
  // The key naming half of every wrap AAD is the same for this provider: encoded once.
  const naming = encodeContext({ keyId, keyVersion })
  const aadFor = (context: EncryptionContext) => concat([naming, encodeContext(context)])

  async function unwrapOne(edek: Edek, context: EncryptionContext): Promise<CryptoKey> {
    const ct = edek.ciphertext
    const params = { name: 'AES-GCM', iv: ct.subarray(0, IV_BYTES), additionalData: aadFor(context) }
    if (!twoSteps) {
      return crypto.subtle.unwrapKey('raw', ct.subarray(IV_BYTES), kek, params, 'HKDF', false, DEK_USAGES)
    }
    const raw = new Uint8Array(await crypto.subtle.decrypt(params, kek, ct.subarray(IV_BYTES)))
    try {
      return await crypto.subtle.importKey('raw', raw, 'HKDF', false, DEK_USAGES)
    } finally {
      raw.fill(0)
    }
  }

  const provider: KeyProvider = {
    async generateDataKey(context: EncryptionContext): Promise<DataKey> {
      const random = randomBytes(32 + IV_BYTES) // one call for the DEK and the iv
      const raw = random.subarray(0, 32)
      const iv = random.slice(32)
      try {
        const [dek, wrapped] = await Promise.all([
          crypto.subtle.importKey('raw', raw, 'HKDF', false, DEK_USAGES),
          crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: aadFor(context) }, kek, raw),
        ])
        const edek: Edek = { providerId, keyId, keyVersion, ciphertext: concat([iv, new Uint8Array(wrapped)]) }
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
