/**
 * `@envelope/key-proxy`: the key proxy as a portable handler, its KMS backend interface and the local KMS.
 * Runtime entries: src/serve-node.ts (`npm run proxy`), src/serve-deno.ts.
 * @module @envelope/key-proxy
 */
export { type AppOptions, createApp, DEFAULT_KEY } from './app.ts'
export type { AuditLine, AuditSink } from './audit.ts'
export type { ApiKeyConfig, AuthConfig, JwtConfig } from './auth.ts'
export { type ProxyConfig, resolveConfig } from './config.ts'
export { ConfigError, DataDirLockedError, PROXY_ERRORS, ProxyError, type ProxyErrorCode } from './errors.ts'
export * from './keystore/index.ts'
export type { KeyInfo, KeyState, KmsBackend } from './kms/backend.ts'
export { LOCAL_PROVIDER_ID, LocalCmk, LocalKms, type LocalKmsOptions } from './kms/local-kms.ts'
export { isName, NAME_PATTERN } from './names.ts'
