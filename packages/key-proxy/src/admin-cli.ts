#!/usr/bin/env node
// The `envelope-admin` bin: key administration against a running proxy, with an admin API key (each tenant's keys,
// its KMS entries: the local KMS, an HSM over PKCS#11, AWS KMS, and their lifecycle); and, offline, new service
// API keys with the entry the proxy's configuration needs.
import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { verifyExport } from './audit/chain.ts'
import { importKey, rekeyBulk } from './byok/admin-cli-byok.ts'
import { isName, NAME_RULE } from './names.ts'

const HELP = `usage: envelope-admin <command> <tenant> [options]

commands:
  tenant              show the tenant's keys (KMS entries), its primary key, their settings
  register            add or change a key: --provider local|pkcs11|aws-kms --settings JSON (or
                      --settings-file F) [--mode direct|leased] [--primary] [--create]; the proxy makes a test
                      wrap and unwrap through the KMS first and refuses one that does not work
  test                a test wrap and unwrap through the key's KMS
  set-primary         new data keys with this key (the others still unwrap)
  retire | reactivate refuse / allow again every use of a key that is not the primary (after a migration)
  create              create the tenant's key (version 1); --origin external: with no material, for the
                      customer's own (then import-key)
  import-key          the customer's side of BYOK: fetches import parameters, wraps --material FILE (32 raw
                      bytes) locally with RSA-OAEP-SHA-256, uploads it [--valid-to DATE: then it is deleted]
  delete-imported-material  delete the key's imported material now (pending_import until imported again)
  rotation-schedule   rotate the key every --period-days N (1 to 3650), or --period-days off
  min-decryption-version  refuse EDEKs of versions below --version N (after rekey-bulk moved them); 1: none
  rekey-bulk          move stored EDEKs to the primary key: --in edeks.ndjson --out results.ndjson [--batch N]
                      with a service API key (--api-key-file F or $ENVELOPE_API_KEY); a rerun skips what --out
                      says is done. Each input line: {"id": "...", "edeks": [...], "context": {...}}
  describe            show the key's state and versions
  rotate              add a version and make it primary (old versions still unwrap)
  disable | enable    refuse / allow use of the key
  schedule-deletion   schedule crypto-shredding after --days N (default 30)
  cancel-deletion     cancel a scheduled deletion (the key stays disabled)
  destroy             erase the key's material once its waiting period is over
  new-api-key         offline: print a new service API key for the tenant and its "apiKeys" entry for the
                      proxy's configuration (only the SHA-256 goes there; --id NAME, default <tenant>-service;
                      --scopes key-user,key-admin,auditor: its roles, default key-user)
  policy              show the tenant's key policy (who may manage, use, audit its keys); with --set JSON or
                      --policy-file F, replace it
  audit               export the tenant's audit log as NDJSON (--from ISO-TIME, --out FILE; default stdout)
  audit verify FILE   offline but for the public key: check an export's hash chain and signed checkpoints
                      (--public-key F, a JWK file; default: fetched from the proxy's /v1/audit/signing-key);
                      exit 0 when intact, 1 listing each dropped, altered, reordered or inserted line

options:
  --key NAME          key name (default: default)
  --url URL           proxy URL (default: $ENVELOPE_PROXY_URL or http://127.0.0.1:7777)
  --admin-key-file F  file holding the admin API key (default: $ENVELOPE_DATA_DIR/admin.key or .envelope-data/admin.key)
  --days N            waiting period for schedule-deletion
  --provider P, --settings JSON, --settings-file F, --mode M, --primary, --create: for register
  -h, --help          this help

Tenant and key names are ${NAME_RULE}.
Settings are never secrets: name a PIN file or variable (pinFile, pinEnv), an AWS secret's file or variable.
For an AWS key the lifecycle commands are refused: the customer manages it in its own AWS account.
The admin key may also come from $ENVELOPE_ADMIN_KEY. Exit code 0 on success, 1 on a refusal (its code is
printed), 2 on a usage error.`

const args = process.argv.slice(2)
const flag = (name: string) => {
  const i = args.indexOf(name)
  if (i < 0) return undefined
  const v = args[i + 1]
  args.splice(i, 2)
  return v
}
const bool = (name: string) => {
  const i = args.indexOf(name)
  if (i >= 0) args.splice(i, 1)
  return i >= 0
}
if (args.includes('-h') || args.includes('--help') || args.length === 0) {
  console.log(HELP)
  process.exit(args.length === 0 ? 2 : 0)
}
const key = flag('--key') ?? 'default'
const url = (flag('--url') ?? process.env.ENVELOPE_PROXY_URL ?? 'http://127.0.0.1:7777').replace(/\/+$/, '')
const keyFile = flag('--admin-key-file') ?? `${process.env.ENVELOPE_DATA_DIR ?? '.envelope-data'}/admin.key`
const days = flag('--days')
const keyId = flag('--id')
const provider = flag('--provider')
const settingsText = flag('--settings')
const settingsFile = flag('--settings-file')
const mode = flag('--mode')
const primary = bool('--primary')
const origin = flag('--origin')
const materialFile = flag('--material')
const validTo = flag('--valid-to')
const wrappingKeySpec = flag('--wrapping-key-spec')
const periodDays = flag('--period-days')
const minVersion = flag('--version')
const inFile = flag('--in')
const outFile = flag('--out')
const batchFlag = flag('--batch')
const apiKeyFile = flag('--api-key-file')
const create = bool('--create')
const scopes = flag('--scopes')
const policyText = flag('--set')
const policyFile = flag('--policy-file')
const from = flag('--from')
const publicKeyFile = flag('--public-key')
const [command, tenant] = args
if (command === 'audit' && tenant === 'verify') {
  const file = args[2]
  if (!file) {
    console.error('envelope-admin: audit verify needs the export file')
    process.exit(2)
  }
  let text: string
  let jwk: { kty: string; crv: string; x: string }
  try {
    text = readFileSync(file, 'utf8')
    jwk = publicKeyFile
      ? JSON.parse(readFileSync(publicKeyFile, 'utf8'))
      : await (await fetch(`${url}/v1/audit/signing-key`, { signal: AbortSignal.timeout(10_000) })).json()
  } catch (err) {
    console.error(`envelope-admin: ${(err as Error).message}`)
    process.exit(2)
  }
  const report = verifyExport(text, jwk)
  for (const p of report.problems) console.error(p)
  console.log(
    `${report.ok ? 'intact' : 'NOT INTACT'}: ${report.lines} lines (seq ${report.firstSeq ?? '-'} to ${report.lastSeq ?? '-'}), ${report.checkpoints} checkpoints, ${report.problems.length} problems`,
  )
  process.exit(report.ok ? 0 : 1)
}
if (command === 'new-api-key' && tenant) {
  const apiKey = randomBytes(32).toString('base64url')
  const entry = {
    id: keyId ?? `${tenant}-service`,
    sha256: createHash('sha256').update(apiKey).digest('hex'),
    tenants: [tenant],
    ...(scopes ? { scopes: scopes.split(',') } : {}),
  }
  console.log(`key:    ${apiKey}   (the service's credential: keep it secret, it is stored nowhere)`)
  console.log(`config: ${JSON.stringify(entry)}   (add it to "apiKeys" in the proxy's configuration file)`)
  process.exit(0)
}
const commands = [
  'tenant',
  'register',
  'test',
  'set-primary',
  'retire',
  'reactivate',
  'create',
  'describe',
  'rotate',
  'disable',
  'enable',
  'schedule-deletion',
  'cancel-deletion',
  'destroy',
  'import-key',
  'delete-imported-material',
  'rotation-schedule',
  'min-decryption-version',
  'rekey-bulk',
  'policy',
  'audit',
]
if (!command || !commands.includes(command) || !tenant) {
  console.error(`envelope-admin: expected <command> <tenant>\n\n${HELP}`)
  process.exit(2)
}
for (const [what, name] of [
  ['tenant', tenant],
  ['key', key],
] as const) {
  if (!isName(name)) {
    console.error(`envelope-admin: the ${what} name must be ${NAME_RULE}`)
    process.exit(2)
  }
}

if (command === 'rekey-bulk') {
  const code = await rekeyBulk({ url, tenant, inFile, outFile, batch: batchFlag, apiKeyFile })
  process.exit(code)
}

let adminKey = process.env.ENVELOPE_ADMIN_KEY
if (!adminKey) {
  try {
    adminKey = readFileSync(keyFile, 'utf8').trim()
  } catch {
    console.error(`envelope-admin: no admin key (set ENVELOPE_ADMIN_KEY or --admin-key-file; tried ${keyFile})`)
    process.exit(2)
  }
}

let request: Record<string, unknown> = days ? { waitingDays: Number(days) } : {}
if (command === 'register') {
  let settings: unknown
  try {
    const text = settingsFile !== undefined ? readFileSync(settingsFile, 'utf8') : settingsText
    settings = text === undefined ? undefined : JSON.parse(text)
  } catch (err) {
    console.error(`envelope-admin: --settings is not JSON (${(err as Error).message})`)
    process.exit(2)
  }
  if (!provider) {
    console.error('envelope-admin: register needs --provider (local, pkcs11 or aws-kms)')
    process.exit(2)
  }
  request = { provider, settings, ...(mode ? { mode } : {}), primary, create }
}
if (command === 'create' && origin !== undefined) {
  if (origin !== 'external' && origin !== 'proxy') {
    console.error('envelope-admin: --origin is external or proxy')
    process.exit(2)
  }
  request = { origin }
}
if (command === 'rotation-schedule') {
  if (periodDays === undefined || (periodDays !== 'off' && !/^\d{1,5}$/.test(periodDays))) {
    console.error('envelope-admin: rotation-schedule needs --period-days N (days) or --period-days off')
    process.exit(2)
  }
  request = { periodDays: periodDays === 'off' ? null : Number(periodDays) }
}
if (command === 'min-decryption-version') {
  if (minVersion === undefined || !/^\d{1,9}$/.test(minVersion)) {
    console.error('envelope-admin: min-decryption-version needs --version N (a version number)')
    process.exit(2)
  }
  request = { version: Number(minVersion) }
}
const tenantPath = `/v1/admin/tenants/${encodeURIComponent(tenant)}`
const keyPath = `${tenantPath}/keys/${encodeURIComponent(key)}`
if (command === 'policy' && (policyText !== undefined || policyFile !== undefined)) {
  try {
    request = JSON.parse(policyFile !== undefined ? readFileSync(policyFile, 'utf8') : policyText!)
  } catch (err) {
    console.error(`envelope-admin: the policy is not JSON (${(err as Error).message})`)
    process.exit(2)
  }
}
const setPolicy = command === 'policy' && (policyText !== undefined || policyFile !== undefined)
const [method, path] =
  command === 'audit'
    ? ['GET', `${tenantPath}/audit?format=ndjson${from ? `&from=${encodeURIComponent(from)}` : ''}`]
    : command === 'policy'
      ? [setPolicy ? 'PUT' : 'GET', `${tenantPath}/policy`]
      : command === 'tenant'
        ? ['GET', tenantPath]
        : command === 'describe'
          ? ['GET', keyPath]
          : command === 'register'
            ? ['PUT', keyPath]
            : ['POST', `${keyPath}/${command === 'set-primary' ? 'primary' : command}`]
if (command === 'import-key') {
  process.exit(
    await importKey({
      url: `${url}${keyPath}`,
      adminKey,
      materialFile,
      validTo,
      wrappingKeySpec,
    }),
  )
}
try {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { authorization: `ApiKey ${adminKey}`, 'content-type': 'application/json' },
    body: method === 'GET' ? undefined : JSON.stringify(request),
    signal: AbortSignal.timeout(10_000),
  })
  if (command === 'audit' && res.ok) {
    const text = await res.text()
    if (outFile) writeFileSync(outFile, text)
    else process.stdout.write(text)
    process.exit(0)
  }
  const body = await res.json().catch(() => ({}))
  if (!res.ok) {
    console.error(`${body?.error?.code ?? `HTTP ${res.status}`}: ${body?.error?.message ?? ''}`)
    process.exit(1)
  }
  console.log(JSON.stringify(body, null, 2))
} catch (err) {
  console.error(`envelope-admin: cannot reach the proxy at ${url}: ${(err as Error).message}`)
  process.exit(1)
}
