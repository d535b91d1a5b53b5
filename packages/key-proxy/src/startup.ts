// Startup shared by the runtime entries: configuration, data folder, root and admin keys, the KMS, the tenants
// to create, the audit file, and the app. The serve-*.ts files only bind `app.fetch` to a socket.
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fromBase64url, toBase64url } from '@envelope/fetch-client/protocol'
import { type AppOptions, createApp } from './app.ts'
import { type AuditWriter, FileAuditStore } from './audit/file-store.ts'
import { PostgresAuditStore } from './audit/postgres-store.ts'
import { agreedAuditSigner, openAuditSigner } from './audit/signer.ts'
import { withWebhooks } from './audit/webhook.ts'
import { openAuditFile } from './audit-file.ts'
import { sha256Hex } from './auth.ts'
import { allowedHostsFor, authOf, type ProxyConfig, resolveConfig } from './config.ts'
import { ConfigError } from './errors.ts'
import { FileKeystore } from './keystore/file-keystore.ts'
import { PostgresKeystore, redactUrl } from './keystore/postgres-keystore.ts'
import { LocalKms } from './kms/local-kms.ts'
import { TenantKms } from './kms/tenant-kms.ts'
import type { ProxyMetrics } from './metrics.ts'
import { PolicyStore } from './policy/authorize.ts'
import { defaultPolicy } from './policy/policy.ts'
import { RotationScheduler } from './rotation/scheduler.ts'
import { secretFile } from './secret-file.ts'
import type { InstanceSync } from './server/instance-sync.ts'

/** The configuration file's settings (`--config` or $ENVELOPE_PROXY_CONFIG); none without one. */
export function readSettings(argv: readonly string[], env: Record<string, string | undefined>) {
  const configArg = argv.indexOf('--config')
  const configPath = configArg >= 0 ? argv[configArg + 1] : env.ENVELOPE_PROXY_CONFIG
  if (!configPath) return {}
  try {
    return JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>
  } catch (err) {
    throw new ConfigError(`cannot read configuration file ${configPath}: ${(err as Error).message}`)
  }
}

/**
 * The data folder with its secrets: made (0700) when missing, the root key and admin key read, or made on first
 * start. A `--workers` primary runs this before forking, so its workers only ever read the secrets.
 */
export async function prepareDataFolder(config: ProxyConfig) {
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
  return { dataDir, rootKey, adminKeys }
}

/**
 * The PostgreSQL keystore of the configuration. Every instance on it must seal with the same root key: the first
 * to open it records the root key's fingerprint (HKDF of the key: it tells nothing of it), and one with another
 * root key stops with `ERR_CONFIG` rather than seal keys the others cannot open.
 */
async function openSharedKeystore(
  settings: NonNullable<ProxyConfig['keystore']>,
  rootKey: Uint8Array,
  metrics: ProxyMetrics | undefined,
): Promise<PostgresKeystore> {
  const keystore = await PostgresKeystore.open({
    ...settings,
    onError: (op) => metrics?.keystoreError(op),
    onRemoteChange: (seconds) => metrics?.keystoreChange(seconds),
  })
  const ikm = await crypto.subtle.importKey('raw', rootKey as Uint8Array<ArrayBuffer>, 'HKDF', false, ['deriveBits'])
  const info = new TextEncoder().encode('envelope root key fingerprint')
  const bits = await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(), info }, ikm, 128)
  const mine = toBase64url(new Uint8Array(bits))
  if ((await keystore.agree('root-key-fingerprint', mine)) !== mine) {
    await keystore.close()
    throw new ConfigError(
      `the keystore ${redactUrl(settings.url)} holds keys sealed under another root key: every instance on one keystore needs the same rootKey`,
    )
  }
  return keystore
}

/**
 * What the Node server adds: request logs, metrics, readiness of the server itself, and (a `--workers`
 * worker) the instance its keystore is shared with.
 */
export type StartupHooks = Pick<AppOptions, 'log' | 'metrics' | 'readiness'> & {
  readonly sync?: InstanceSync
  /** A `--workers` worker: who writes the file audit store (the primary, server/audit-channel.ts). */
  readonly auditWriter?: AuditWriter
}

/** Reads the configuration (`--config` or $ENVELOPE_PROXY_CONFIG, then the environment) and builds the app. */
export async function startup(
  argv: readonly string[],
  env: Record<string, string | undefined>,
  { sync, auditWriter, ...hooks }: StartupHooks = {},
) {
  const config: ProxyConfig = resolveConfig(readSettings(argv, env), env)
  const { dataDir, rootKey, adminKeys } = await prepareDataFolder(config)
  const keystore = config.keystore
    ? await openSharedKeystore(config.keystore, rootKey, hooks.metrics)
    : // Locks the data folder (a `--workers` worker: checks its primary's lock, and shares the file through the
      // instance sync): a second proxy on it stops here, naming the holder (ERR_DATA_DIR_LOCKED).
      FileKeystore.open({ file: `${dataDir}/keys.json`, sync, lock: sync?.shared ? false : undefined })
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
  // Each tenant's own audit log (src/audit/): one hash chain per tenant, checkpoints signed by the proxy. On a shared
  // PostgreSQL keystore, in that database (every instance writes each tenant's one chain, with one signing key
  // sealed in the keystore); else in <data>/audit/ with the key in <data>/audit-signing.key.
  const shared = keystore instanceof PostgresKeystore ? keystore : undefined
  const signer = shared
    ? await agreedAuditSigner((name, value) => shared.agree(name, value), rootKey)
    : openAuditSigner(`${dataDir}/audit-signing.key`)
  const auditStore = withWebhooks(
    shared && config.keystore
      ? await PostgresAuditStore.open({ url: config.keystore.url, signer })
      : FileAuditStore.open({ dir: `${dataDir}/audit`, signer, ...(auditWriter ? { writer: auditWriter } : {}) }),
    // With --workers and the file store, the primary writes the lines and posts them (server/cluster.ts).
    auditWriter && !config.keystore ? [] : config.auditWebhooks,
    {
      retryMs: config.auditWebhookRetryMs,
      timeoutMs: config.auditWebhookTimeoutMs,
      maxQueue: config.auditWebhookMaxQueue,
      env,
    },
  )
  const cursorKey = createHash('sha256')
    .update('envelope-audit-cursor/1')
    .update(signer.privateKey.export({ format: 'der', type: 'pkcs8' }))
    .digest()
  if (config.auditRetentionDays !== undefined) {
    const days = config.auditRetentionDays
    const prune = () =>
      auditStore.prune(new Date(Date.now() - days * 86_400_000).toISOString()).catch((err) => {
        console.error(`[key-proxy] audit retention: ${(err as Error).message}`)
      })
    await prune()
    setInterval(prune, 3_600_000).unref()
  }
  let hosts: readonly string[] | undefined
  const audit = openAuditFile(`${dataDir}/audit.log`)
  // Every process checks; the one holding the keystore's rotation lock rotates (src/rotation/).
  if (config.rotationCheckMs > 0) {
    new RotationScheduler({ keystore, kms, localKms, audit, checkMs: config.rotationCheckMs }).start()
  }
  const app = createApp({
    kms,
    auth: { ...authOf(config), adminKeys },
    audit: (line) => {
      try {
        audit(line)
      } catch (err) {
        hooks.metrics?.auditWriteFailure()
        throw err
      }
    },
    corsOrigins: config.corsOrigins,
    maxBodyBytes: config.maxBodyBytes,
    maxBatch: config.maxBatch,
    policies: new PolicyStore(keystore, config.defaultPolicy ?? defaultPolicy(config.jwt?.keyAdminRole)),
    tenantKmsAdmin: config.tenantKmsAdmin,
    auditStore,
    auditSigningKey: signer.publicJwk,
    cursorKey,
    ...hooks,
    allowedHosts: () => hosts ?? config.allowedHosts,
  })
  /** The server calls this once it listens: the allowed Host values name the port. */
  const listening = (port: number) => {
    hosts = allowedHostsFor(config.host, port, config.allowedHosts)
  }
  const where = config.keystore
    ? `data: ${dataDir} (audit.log${config.adminKeys.length ? '' : ', admin.key'}), keystore: ${redactUrl(config.keystore.url)}`
    : `data: ${dataDir} (keys.json, audit.log${config.adminKeys.length ? '' : ', admin.key'})`
  /** After the last request: the audit log on disk (fsync) and closed, the keystore (and data folder) released. */
  const close = async () => {
    audit.close()
    await auditStore.close()
    await kms.close()
    localKms.close()
    await keystore.close()
  }
  return { app, config, where, close, keystore, listening }
}
