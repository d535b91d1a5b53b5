/**
 * PKCS#11 return values (CKR_*) and how each becomes one of the proxy's codes. pkcs11js throws a `Pkcs11Error`
 * whose `code` is the CK_RV; nothing of it leaves this backend but the CKR name in a message (never an argument,
 * so never the PIN). Values from the PKCS#11 2.40 / 3.0 headers.
 * @module
 */
import { ProxyError, type ProxyErrorCode } from '../../errors.ts'

export const CKR = {
  HOST_MEMORY: 0x02,
  SLOT_ID_INVALID: 0x03,
  GENERAL_ERROR: 0x05,
  FUNCTION_FAILED: 0x06,
  ARGUMENTS_BAD: 0x07,
  ATTRIBUTE_READ_ONLY: 0x10,
  ATTRIBUTE_SENSITIVE: 0x11,
  ATTRIBUTE_TYPE_INVALID: 0x12,
  ATTRIBUTE_VALUE_INVALID: 0x13,
  ACTION_PROHIBITED: 0x1b,
  DATA_INVALID: 0x20,
  DATA_LEN_RANGE: 0x21,
  DEVICE_ERROR: 0x30,
  DEVICE_MEMORY: 0x31,
  DEVICE_REMOVED: 0x32,
  ENCRYPTED_DATA_INVALID: 0x40,
  ENCRYPTED_DATA_LEN_RANGE: 0x41,
  AEAD_DECRYPT_FAILED: 0x42,
  FUNCTION_CANCELED: 0x50,
  FUNCTION_NOT_SUPPORTED: 0x54,
  KEY_HANDLE_INVALID: 0x60,
  KEY_SIZE_RANGE: 0x62,
  KEY_TYPE_INCONSISTENT: 0x63,
  KEY_FUNCTION_NOT_PERMITTED: 0x68,
  MECHANISM_INVALID: 0x70,
  MECHANISM_PARAM_INVALID: 0x71,
  OBJECT_HANDLE_INVALID: 0x82,
  OPERATION_ACTIVE: 0x90,
  OPERATION_NOT_INITIALIZED: 0x91,
  PIN_INCORRECT: 0xa0,
  PIN_INVALID: 0xa1,
  PIN_LEN_RANGE: 0xa2,
  PIN_EXPIRED: 0xa3,
  PIN_LOCKED: 0xa4,
  SESSION_CLOSED: 0xb0,
  SESSION_COUNT: 0xb1,
  SESSION_HANDLE_INVALID: 0xb3,
  SESSION_READ_ONLY: 0xb5,
  TEMPLATE_INCOMPLETE: 0xd0,
  TEMPLATE_INCONSISTENT: 0xd1,
  TOKEN_NOT_PRESENT: 0xe0,
  TOKEN_NOT_RECOGNIZED: 0xe1,
  TOKEN_WRITE_PROTECTED: 0xe2,
  USER_ALREADY_LOGGED_IN: 0x100,
  USER_NOT_LOGGED_IN: 0x101,
  USER_PIN_NOT_INITIALIZED: 0x102,
  USER_TYPE_INVALID: 0x103,
  USER_ANOTHER_ALREADY_LOGGED_IN: 0x104,
  BUFFER_TOO_SMALL: 0x150,
  CRYPTOKI_NOT_INITIALIZED: 0x190,
  CRYPTOKI_ALREADY_INITIALIZED: 0x191,
  PIN_TOO_WEAK: 0x1b8,
} as const

const NAMES = new Map<number, string>(Object.entries(CKR).map(([name, value]) => [value, `CKR_${name}`]))

/**
 * A failed PKCS#11 call: which call and its CK_RV, and nothing else of the native error (its text and stack stay
 * behind). {@link call} throws it.
 */
export class Pkcs11CallError extends Error {
  override readonly name = 'Pkcs11CallError'
  readonly rv: number | undefined
  readonly what: string
  constructor(what: string, e: unknown) {
    const rv = ckrOf(e)
    super(`PKCS#11 ${what}: ${rv === undefined ? 'failed' : ckrName(rv)}`)
    this.what = what
    this.rv = rv
  }
}

/** Runs one PKCS#11 call; a failure becomes a {@link Pkcs11CallError} naming the call. */
export function call<T>(what: string, f: () => T): T {
  try {
    return f()
  } catch (e) {
    throw new Pkcs11CallError(what, e)
  }
}

/** {@link call} for pkcs11js's `…Async` calls (run on libuv's thread pool). */
export async function callAsync<T>(what: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f()
  } catch (e) {
    throw new Pkcs11CallError(what, e)
  }
}

/** The CK_RV of a failed call, or undefined for anything else (a TypeError, a failed dlopen…). */
export function ckrOf(e: unknown): number | undefined {
  if (e instanceof Pkcs11CallError) return e.rv
  if (e instanceof Error && e.name === 'Pkcs11Error' && typeof (e as { code?: unknown }).code === 'number') {
    return (e as unknown as { code: number }).code
  }
  return undefined
}

/** `CKR_SESSION_HANDLE_INVALID`, or `CKR 0x80000001` for a vendor's own value: safe to put in a message. */
export function ckrName(rv: number): string {
  return NAMES.get(rv) ?? `CKR 0x${rv.toString(16)}`
}

/**
 * What to do after a failed call:
 * - `lost`: the session, the login or the library is gone (the HSM restarted, the token was pulled, another part
 *   of the process finalized the library): reconnect (re-initialize, find the token again, log in) and retry once;
 * - `broken`: this one session is in a bad state: close it and retry once on another;
 * - `stale`: an object handle no longer names an object (removed, or handles reissued): look the key up again
 *   and retry once;
 * - `fatal`: map it to a code.
 */
export type Pkcs11Failure = 'lost' | 'broken' | 'stale' | 'fatal'

const LOST: ReadonlySet<number> = new Set([
  CKR.SESSION_HANDLE_INVALID,
  CKR.SESSION_CLOSED,
  CKR.DEVICE_REMOVED,
  CKR.DEVICE_ERROR,
  CKR.TOKEN_NOT_PRESENT,
  CKR.TOKEN_NOT_RECOGNIZED,
  CKR.USER_NOT_LOGGED_IN,
  CKR.CRYPTOKI_NOT_INITIALIZED,
  CKR.SLOT_ID_INVALID,
])
const BROKEN: ReadonlySet<number> = new Set([CKR.OPERATION_ACTIVE, CKR.OPERATION_NOT_INITIALIZED])
const STALE: ReadonlySet<number> = new Set([CKR.OBJECT_HANDLE_INVALID, CKR.KEY_HANDLE_INVALID])

export function classify(e: unknown): Pkcs11Failure {
  const rv = ckrOf(e)
  if (rv === undefined) return 'fatal'
  if (LOST.has(rv)) return 'lost'
  if (BROKEN.has(rv)) return 'broken'
  if (STALE.has(rv)) return 'stale'
  return 'fatal'
}

/** The HSM refused our credentials: the customer changed or locked the PIN (its kill switch, or a mistake). */
export const PIN_REFUSED: ReadonlySet<number> = new Set([
  CKR.PIN_INCORRECT,
  CKR.PIN_INVALID,
  CKR.PIN_LEN_RANGE,
  CKR.PIN_EXPIRED,
  CKR.PIN_LOCKED,
  CKR.USER_PIN_NOT_INITIALIZED,
])

/**
 * A failed AES-GCM decryption: the tag did not verify (altered ciphertext, other key, other additional data).
 * SoftHSM2 reports a bad tag as CKR_GENERAL_ERROR and other HSMs as CKR_FUNCTION_FAILED, so only for the
 * C_Decrypt call itself (after C_DecryptInit accepted the key) do these two mean "does not open".
 */
export const DECRYPT_REFUSED: ReadonlySet<number> = new Set([
  CKR.ENCRYPTED_DATA_INVALID,
  CKR.ENCRYPTED_DATA_LEN_RANGE,
  CKR.AEAD_DECRYPT_FAILED,
  CKR.DATA_LEN_RANGE,
  CKR.GENERAL_ERROR,
  CKR.FUNCTION_FAILED,
])

const CODES = new Map<number, ProxyErrorCode>([
  [CKR.KEY_FUNCTION_NOT_PERMITTED, 'ERR_KEY_DISABLED'],
  ...[...PIN_REFUSED].map((rv): [number, ProxyErrorCode] => [rv, 'ERR_KMS_ACCESS_DENIED']),
  [CKR.SESSION_COUNT, 'ERR_KMS_THROTTLED'],
  [CKR.FUNCTION_CANCELED, 'ERR_KMS_TIMEOUT'],
])

/**
 * Any failure of a PKCS#11 call as a ProxyError (a ProxyError passes through). `what` names the call for the
 * message, e.g. `C_EncryptInit`. Anything unknown is `ERR_KMS_UNAVAILABLE`.
 */
export function toProxyError(e: unknown, what: string): ProxyError {
  if (e instanceof ProxyError) return e
  if (e instanceof Pkcs11CallError) what = e.what
  const rv = ckrOf(e)
  if (rv === undefined) return new ProxyError('ERR_KMS_UNAVAILABLE', `PKCS#11 ${what} failed`)
  const code = CODES.get(rv) ?? 'ERR_KMS_UNAVAILABLE'
  const why =
    code === 'ERR_KEY_DISABLED'
      ? ': the key object does not allow this use (disabled in the HSM)'
      : code === 'ERR_KMS_ACCESS_DENIED'
        ? ': the HSM refused the PIN'
        : ''
  return new ProxyError(code, `PKCS#11 ${what}: ${ckrName(rv)}${why}`)
}
