// A server's use of the key proxy package, type-checked from the installed tarball under `strict` with
// @types/node (test-packages: bundler and nodenext resolution).
import {
  ConfigError,
  createApp,
  FileKeystore,
  LocalKms,
  type ProxyConfig,
  resolveConfig,
  TenantKms,
} from '@envelope/key-proxy'

const config: ProxyConfig = resolveConfig({ tenants: ['acme'] }, { ENVELOPE_PROXY_PORT: '0' })
const keystore = FileKeystore.open({ file: 'keys.json' })
const kms = new TenantKms({ keystore, localKms: new LocalKms({ keystore, rootKey: new Uint8Array(32) }) })
await kms.configure(config.tenants)
const app = createApp({ kms, auth: { apiKeys: config.apiKeys }, audit: (line) => console.log(line) })
const response: Response = await app.fetch(new Request('http://127.0.0.1/v1/health'))

export { app, ConfigError, response }
