/**
 * `@envelope/fetch-client`: a KeyProvider that gets data keys from the envelope key proxy over fetch.
 * @module @envelope/fetch-client
 */
export { createKeyProxyClient, type KeyProxyClient, type KeyProxyClientOptions } from './client.ts'
export { KeyProxyError } from './errors.ts'
export * as protocol from './protocol.ts'
