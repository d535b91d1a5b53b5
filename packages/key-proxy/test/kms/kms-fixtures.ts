// What the KMS tests share: a real proxy process with one service API key allowed every tenant, a short leaseTtl
// (so a revocation in leased mode shows within a bounded poll), deletion without a waiting period, and the KMS
// libraries and endpoints the test registers allowed.
import { hashKey, type RunningProxy, startProxy } from '../proxy-process.ts'

export const API_KEY = 'kms-test-service-key'

export async function startKmsProxy(
  config: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<{ proxy: RunningProxy; apiKey: string }> {
  const proxy = await startProxy(
    {
      minDeletionDays: 0,
      leaseTtlMs: 1000,
      apiKeys: [{ id: 'svc', sha256: await hashKey(API_KEY), tenants: ['*'] }],
      ...config,
    },
    undefined,
    { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', ...env },
  )
  return { proxy, apiKey: API_KEY }
}
