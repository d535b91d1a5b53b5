/**
 * The PKCS#11 (HSM) CMK backend: {@link Pkcs11Cmk} (CmkClient + CmkLifecycle) over pkcs11js. docs/kms-backends.md
 * says how to configure it, what lives in the token and how a customer recovers a key with its HSM alone.
 * @module
 */
export type { Pkcs11Failure } from './errors.ts'
export { Pkcs11Cmk, type Pkcs11CmkOptions } from './pkcs11-cmk.ts'
export type { Pkcs11TokenOptions } from './token.ts'
export { AAD_FORMAT, WRAPPED_BYTES, wrapAad } from './wrap-format.ts'
