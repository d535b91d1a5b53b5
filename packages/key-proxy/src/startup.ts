// Startup shared by the runtime entries: configuration, data folder, root and admin keys, the KMS, the tenants
// to create, the audit file, and the app. The serve-*.ts files only bind `app.fetch` to a socket.
import { randomUUID } from 'node:crypto'
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fromBase64url, toBase64url } from '@envelope/fetch-client/protocol'
import { createApp } from './app.ts'
import { openAuditFile } from './audit-file.ts'
import { sha256Hex } from './auth.ts'
import { authOf, defaultAllowedHosts, type ProxyConfig, resolveConfig } from './config.ts'
import { ConfigError } from './errors.ts'
import { FileKeystore } from './keystore/file-keystore.ts'
import { LocalKms } from './kms/local-kms.ts'
import { TenantKms } from './kms/tenant-kms.ts'

/**
 * Reads a secret file, or makes it (0600) with `make()` on first start: written in full under a private name,
 * then linked, so two starts at once agree on one secret and neither reads half of it.
 */
function secretFile(path: string, make: () => string): string {
  if (!existsSync(path)) {
    const mine = `${path}.${randomUUID()}.new`
    writeFileSync(mine, `${make()}\n`, { mode: 0o600, flag: 'wx' })
    try {
      linkSync(mine, path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    } finally {
      unlinkSync(mine)
    }
  }
  chmodSync(path, 0o600)
  return readFileSync(path, 'utf8').trim()
}

/** Reads the configuration (`--config` or $ENVELOPE_PROXY_CONFIG, then the environment) and builds the app. */
export async function startup(argv: readonly string[], env: Record<string, string | undefined>) {
  const configArg = argv.indexOf('--config')
  const configPath = configArg >= 0 ? argv[configArg + 1] : env.ENVELOPE_PROXY_CONFIG
  let fileSettings: Record<string, unknown> = {}
  if (configPath) {
    try {
      fileSettings = JSON.parse(readFileSync(configPath, 'utf8'))
    } catch (err) {
      throw new ConfigError(`cannot read configuration file ${configPath}: ${(err as Error).message}`)
    }
  }
  const config: ProxyConfig = resolveConfig(fileSettings, env)
  const dataDir = resolve(config.dataDir)
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })

  const rootKey = fromBase64url(
    config.rootKey ?? secretFile(`${dataDir}/root.key`, () => toBase64url(crypto.getRandomValues(new Uint8Array(32)))),
  )
  if (rootKey?.length !== 32) throw new ConfigError('root key must be 32 bytes in base64url')
  // With no admin key configured, one is made on first start; its file is the credential (0600).
  const adminKeys = config.adminKeys.length
    ? config.adminKeys
    : [
        {
          id: 'local-admin',
          sha256: await sha256Hex(
            secretFile(`${dataDir}/admin.key`, () => toBase64url(crypto.getRandomValues(new Uint8Array(24)))),
          ),
        },
      ]

  // Locks the data folder: a second proxy on it stops here, naming this one (ERR_DATA_DIR_LOCKED).
  const keystore = FileKeystore.open({ file: `${dataDir}/keys.json` })
  const localKms = new LocalKms({
    keystore,
    rootKey,
    minDeletionDays: config.minDeletionDays,
    maxKeyVersions: config.maxKeyVersions,
  })
  const kms = new TenantKms({
    keystore,
    localKms,
    policy: { pkcs11Modules: config.pkcs11Modules, awsKmsEndpoints: config.awsKmsEndpoints },
    leases: {
      ttlMs: config.leaseTtlMs,
      ...(config.leaseRefreshAheadMs !== undefined ? { refreshAheadMs: config.leaseRefreshAheadMs } : {}),
      maxAgeMs: config.leaseMaxAgeMs,
      maxDeks: config.leaseMaxDeks,
      maxLeases: config.maxLeases,
    },
    minDeletionDays: config.minDeletionDays,
    env,
  })
  await kms.configure(config.tenants)
  let port: number | undefined
  const app = createApp({
    kms,
    auth: { ...authOf(config), adminKeys },
    audit: openAuditFile(`${dataDir}/audit.log`),
    corsOrigins: config.corsOrigins,
    maxBodyBytes: config.maxBodyBytes,
    maxBatch: config.maxBatch,
    allowedHosts: () =>
      config.allowedHosts ?? (port === undefined ? undefined : defaultAllowedHosts(config.host, port)),
  })
  /** The server calls this once it listens: the default allowed Host values name the port. */
  const listening = (p: number) => {
    port = p
  }
  const where = `data: ${dataDir} (keys.json, audit.log${config.adminKeys.length ? '' : ', admin.key'})`
  return { app, config, where, listening }
}
