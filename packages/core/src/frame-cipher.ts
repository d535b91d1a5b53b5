/**
 * The seam between the format and the AES-256-GCM primitive that seals and opens frames. WebCrypto is the
 * reference and runs everywhere; where `node:crypto` is there and faster (Node, Bun), frames go through it
 * instead: synchronous OpenSSL / BoringSSL calls, no thread-pool hop per frame. Both give the same bytes; the
 * choice is a feature check made once, never an option. Data keys stay non-extractable `CryptoKey`s either way:
 * only the per-message key, which the core derives as bytes anyway (message-key.ts), is handed to the cipher.
 * @module
 */
import { concat } from './bytes.ts'
import type { Bytes } from './key-provider.ts'

/**
 * AES-256-GCM over one frame. `key` is whatever {@link FrameCipher.importKey} made. Data goes in and out as lists
 * of parts (views, in order), so neither side has to join bytes the primitive can take in pieces. Both ciphers are
 * done with their input when the call returns (WebCrypto copies it when called), so callers may reuse it then.
 */
export interface FrameCipher {
  readonly name: 'webcrypto' | 'node:crypto'
  /** True when seal and open return their results rather than promises. */
  readonly sync: boolean
  /** Frames sealed or opened so far (a test uses it to prove which path ran). */
  uses: number
  /** Makes a key from the 32 message-key bytes; the caller zeroes its copy after. */
  importKey(raw: Uint8Array): Promise<unknown>
  /** `ciphertext ‖ tag`, as one or more parts. */
  seal(key: unknown, nonce: Bytes, aad: Uint8Array, plaintext: Uint8Array): Bytes[] | Promise<Bytes[]>
  /** The plaintext of `ciphertext ‖ tag` (given in parts), in parts; throws or rejects when the tag fails. */
  open(key: unknown, nonce: Bytes, aad: Uint8Array, ciphertext: readonly Uint8Array[]): Bytes[] | Promise<Bytes[]>
}

/** The parts as one array: the only part itself, else a copy. */
const joined = (parts: readonly Uint8Array[]): Uint8Array => (parts.length === 1 ? parts[0]! : concat(parts))

/** The reference path: `crypto.subtle`, which copies its input when called (so callers may reuse it at once). */
export const webCryptoFrameCipher: FrameCipher = {
  name: 'webcrypto',
  sync: false,
  uses: 0,
  importKey: (raw) => crypto.subtle.importKey('raw', raw as Bytes, 'AES-GCM', false, ['encrypt', 'decrypt']),
  async seal(key, iv, additionalData, plaintext) {
    this.uses++
    const params = { name: 'AES-GCM', iv, additionalData: additionalData as Bytes }
    return [new Uint8Array(await crypto.subtle.encrypt(params, key as CryptoKey, plaintext as Bytes))]
  },
  async open(key, iv, additionalData, ciphertext) {
    this.uses++
    const params = { name: 'AES-GCM', iv, additionalData: additionalData as Bytes }
    return [new Uint8Array(await crypto.subtle.decrypt(params, key as CryptoKey, joined(ciphertext) as Bytes))]
  },
}

/** The part of `node:crypto` the core uses (typed here: the core has no dependency, not even on @types/node). */
export interface NodeCrypto {
  createSecretKey(key: Uint8Array): unknown
  createCipheriv(algorithm: 'aes-256-gcm', key: unknown, iv: Uint8Array): NodeCipher
  createDecipheriv(
    algorithm: 'aes-256-gcm',
    key: unknown,
    iv: Uint8Array,
    options: { authTagLength: number },
  ): NodeDecipher
}
export interface NodeCipher {
  setAAD(aad: Uint8Array): unknown
  update(data: Uint8Array): Uint8Array
  final(): Uint8Array
  getAuthTag(): Uint8Array
}
export interface NodeDecipher {
  setAAD(aad: Uint8Array): unknown
  setAuthTag(tag: Uint8Array): unknown
  update(data: Uint8Array): Uint8Array
  final(): Uint8Array
}

/**
 * A plain `Uint8Array` over `node:crypto`'s output, without copying: a `Buffer` would behave differently for the
 * caller (its `slice` is a view). The output owns its ArrayBuffer; any slack bytes past the data are zeroed.
 */
function own(out: Uint8Array): Bytes {
  if (out.byteOffset !== 0) return out.slice() as Bytes // a pooled buffer: never hand out its neighbours
  const bytes = new Uint8Array(out.buffer as ArrayBuffer, 0, out.length)
  if (out.buffer.byteLength > out.length) new Uint8Array(out.buffer, out.length).fill(0)
  return bytes
}

function nodeFrameCipherOf(nc: NodeCrypto): FrameCipher {
  return {
    name: 'node:crypto',
    sync: true,
    uses: 0,
    importKey: async (raw) => nc.createSecretKey(raw),
    // Ciphertext and tag as two parts, as node:crypto makes them: joining them would copy every frame once more.
    seal(key, iv, aad, plaintext) {
      this.uses++
      const c = nc.createCipheriv('aes-256-gcm', key, iv)
      if (aad.length > 0) c.setAAD(aad)
      const ct = c.update(plaintext)
      c.final()
      return [own(ct), own(c.getAuthTag())]
    },
    open(key, iv, aad, ciphertext) {
      this.uses++
      const d = nc.createDecipheriv('aes-256-gcm', key, iv, { authTagLength: 16 })
      if (aad.length > 0) d.setAAD(aad)
      // The last 16 bytes are the tag, wherever the parts end; the parts before it go through update() as they are.
      let left = -16
      for (const p of ciphertext) left += p.length
      const tag = new Uint8Array(16)
      let tagAt = 0
      const out: Bytes[] = []
      for (const p of ciphertext) {
        const body = Math.max(0, Math.min(p.length, left))
        if (body > 0) out.push(own(d.update(p.subarray(0, body))))
        left -= body
        if (body < p.length) {
          tag.set(p.subarray(body), tagAt)
          tagAt += p.length - body
        }
      }
      d.setAuthTag(tag)
      try {
        d.final()
      } catch (err) {
        for (const p of out) p.fill(0) // never returned: the tag failed
        throw err
      }
      return out
    },
  }
}

/**
 * `node:crypto` where it is the faster primitive: reached through `process.getBuiltinModule` (Node ≥ 20.16,
 * Bun), so no import statement exists for bundlers or browsers to trip on. Not in Deno, whose `node:crypto`
 * AES-GCM measured ~0.1 GB/s against ~0.5–0.8 for its WebCrypto, nor in workerd (docs/benchmarks.md).
 */
function detectNodeCrypto(): NodeCrypto | undefined {
  const g = globalThis as {
    Deno?: unknown
    navigator?: { userAgent?: string }
    process?: { getBuiltinModule?: (id: string) => unknown }
  }
  if (g.Deno !== undefined || g.navigator?.userAgent === 'Cloudflare-Workers') return undefined
  let nc: Partial<NodeCrypto> | undefined
  try {
    nc = g.process?.getBuiltinModule?.('node:crypto') as Partial<NodeCrypto> | undefined
  } catch {
    return undefined
  }
  const usable =
    typeof nc?.createCipheriv === 'function' &&
    typeof nc.createDecipheriv === 'function' &&
    typeof nc.createSecretKey === 'function'
  return usable ? (nc as NodeCrypto) : undefined
}

const detected = detectNodeCrypto()
/** `node:crypto` where the frames use it (internal: the local provider's KEK uses it there too). */
export const nodeCrypto: NodeCrypto | undefined = detected
/** The `node:crypto` path, when this runtime has one. */
export const nodeFrameCipher: FrameCipher | undefined = detected && nodeFrameCipherOf(detected)

/** What this runtime uses: `node:crypto` where it was found, else WebCrypto. */
export const defaultFrameCipher: FrameCipher = nodeFrameCipher ?? webCryptoFrameCipher
let active = defaultFrameCipher

/** The cipher new messages use. */
export function frameCipher(): FrameCipher {
  return active
}

/**
 * For the conformance runners only (not exported from the package): run the suites on each path this runtime
 * has. Returns the cipher that was active, to restore.
 */
export function useFrameCipherForTests(cipher: FrameCipher): FrameCipher {
  const previous = active
  active = cipher
  return previous
}
