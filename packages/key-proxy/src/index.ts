/**
 * `@envelope/key-proxy`: the key proxy as a portable handler, its KMS layer (each tenant's keys in the local KMS,
 * an HSM over PKCS#11 or AWS KMS; direct and leased modes), its keystore interface and the file keystore.
 * Runtime entries: src/serve-node.ts (`npm run proxy`, `--aws-kms-endpoint`), src/serve-deno.ts.
 * @module @envelope/key-proxy
 */
export { type AppOptions, createApp, DEFAULT_KEY } from './app.ts'
export type { AuditLine, AuditSink } from './audit.ts'
export type { ApiKeyConfig, AuthConfig, JwtConfig } from './auth.ts'
export type { ImportParameters, ImportRequest } from './byok/local-import.ts'
export { type ProxyConfig, resolveConfig } from './config.ts'
export { ConfigError, DataDirLockedError, PROXY_ERRORS, ProxyError, type ProxyErrorCode } from './errors.ts'
export * from './keystore/index.ts'
export type {
  KeyDescription,
  KeyInfo,
  KeyState,
  KmsBackend,
  LifecycleAction,
  RegisterRequest,
  TenantDescription,
} from './kms/backend.ts'
export type {
  CmkCallOptions,
  CmkClient,
  CmkImport,
  CmkLifecycle,
  CmkState,
  CmkStatus,
  CmkWrapped,
  WrapContext,
} from './kms/cmk.ts'
export { LOCAL_PROVIDER_ID, LocalCmk, LocalKms, type LocalKmsOptions } from './kms/local-kms.ts'
export type { KmsPolicy, KmsProvider, KmsSettings, OpenedCmk, ProviderContext } from './kms/providers/index.ts'
export {
  type ConfiguredTenant,
  DEFAULT_LEASES,
  type KmsObserver,
  type LeaseSettings,
  TenantKms,
  type TenantKmsOptions,
} from './kms/tenant-kms.ts'
export { isName, NAME_PATTERN } from './names.ts'
export { type CheckResult, RotationScheduler, type RotationSchedulerOptions } from './rotation/scheduler.ts'
