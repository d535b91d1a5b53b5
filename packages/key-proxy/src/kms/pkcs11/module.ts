/**
 * One PKCS#11 library (the vendor's `.so`), loaded and initialized once per process however many tokens and
 * keys use it: a second C_Initialize of the same library is an error, and C_Finalize ends every session of it,
 * so the library is shared and finalized when its last user is done.
 * @module
 */
import { createRequire } from 'node:module'
import type * as Pkcs11js from 'pkcs11js'
import { ProxyError } from '../../errors.ts'
import { CKR, ckrOf, toProxyError } from './errors.ts'

export type Pkcs11Binding = typeof Pkcs11js
export type Pkcs11Api = Pkcs11js.PKCS11
export type Handle = Buffer

let binding: Pkcs11Binding | undefined

/** pkcs11js, loaded on first use: a proxy with no PKCS#11 tenant never needs its native module. */
function loadBinding(): Pkcs11Binding {
  if (!binding) {
    try {
      binding = createRequire(import.meta.url)('pkcs11js') as Pkcs11Binding
    } catch {
      throw new ProxyError(
        'ERR_KMS_UNAVAILABLE',
        'pkcs11js is not installed or its native module was not built (root package.json allowScripts: "pkcs11js": true)',
      )
    }
  }
  return binding
}

export class Pkcs11Module {
  static readonly #loaded = new Map<string, Pkcs11Module>()

  /** The library at `path`, loaded and initialized (shared: call {@link release} once per `open`). */
  static open(path: string): Pkcs11Module {
    let m = Pkcs11Module.#loaded.get(path)
    if (!m) {
      m = new Pkcs11Module(path, loadBinding())
      Pkcs11Module.#loaded.set(path, m)
    }
    m.#users++
    return m
  }

  readonly path: string
  /** pkcs11js itself: its constants (CKA_*, CKM_*…) and classes. */
  readonly p11: Pkcs11Binding
  readonly api: Pkcs11Api
  #users = 0

  private constructor(path: string, p11: Pkcs11Binding) {
    this.path = path
    this.p11 = p11
    const api = new p11.PKCS11()
    try {
      api.load(path)
    } catch {
      throw new ProxyError(
        'ERR_KMS_UNAVAILABLE',
        `PKCS#11 module ${path} could not be loaded (missing, or not a PKCS#11 library)`,
      )
    }
    this.api = api
    try {
      this.#initialize()
    } catch (e) {
      api.close()
      throw e
    }
  }

  // OS locking: pkcs11js runs C_Encrypt/C_Decrypt on libuv's thread pool, so calls on several sessions overlap.
  #initialize(): void {
    try {
      this.api.C_Initialize({ flags: this.p11.CKF_OS_LOCKING_OK })
    } catch (e) {
      if (ckrOf(e) !== CKR.CRYPTOKI_ALREADY_INITIALIZED) throw toProxyError(e, 'C_Initialize')
    }
  }

  /** After CKR_CRYPTOKI_NOT_INITIALIZED (someone finalized the library under us): initialize it again. */
  reinitialize(): void {
    this.#initialize()
  }

  release(): void {
    if (--this.#users > 0) return
    Pkcs11Module.#loaded.delete(this.path)
    try {
      this.api.C_Finalize()
    } catch {
      // already finalized: nothing left to release in the library
    }
    this.api.close()
  }
}
