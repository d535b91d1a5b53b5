// `npm start`: the demo with the key proxy on its embedded defaults, all on 127.0.0.1, each service a process of
// its own that the supervisor (scripts/lib/supervisor.mjs) starts again, with backoff, if it stops:
//   identity  a small demo identity service: signs short-lived ES256 JWTs for the demo tenants, serves its JWKS
//             (scripts/demo-identity.mjs)
//   proxy     the key proxy (local KMS), trusting that JWKS; tenants acme and globex are created on first start
//   storage   a small demo storage service that keeps only ciphertext (scripts/demo-storage.mjs)
//   demo      the Vite app, getting data keys from the proxy with the signed-in tenant's JWT
// Everything lives in one data folder (default .envelope-data/); stopping and starting again keeps it. The key
// proxy's files (keys.json, audit.log, root.key, admin.key) are at its top, where `npm run proxy` and
// `npm run admin` look by default.
// Options: --data DIR, --fresh (empty the data folder first), --preview (build, then serve the build),
//          --proxy-port N, --identity-port N, --storage-port N, --demo-port N.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { AUDITOR_ROLE, identityKey, KEY_ADMIN_ROLE, MEMBER_ROLE } from './demo-identity.mjs'
import { supervise } from './lib/supervisor.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const argv = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = argv.indexOf(name)
  return i >= 0 ? argv[i + 1] : fallback
}
const preview = argv.includes('--preview')
const dataDir = resolve(opt('--data', '.envelope-data'))
const proxyPort = Number(opt('--proxy-port', 7777))
const identityPort = Number(opt('--identity-port', 7780))
const storagePort = Number(opt('--storage-port', identityPort === 7780 ? 7778 : identityPort + 1))
const demoPort = Number(opt('--demo-port', preview ? 4173 : 5173))
const host = '127.0.0.1'
const demoOrigin = `http://${host}:${demoPort}`
const identityUrl = `http://${host}:${identityPort}`
const proxyUrl = `http://${host}:${proxyPort}`
const storageUrl = `http://${host}:${storagePort}`
const TENANTS = ['acme', 'globex']
const AUDIENCE = 'envelope-demo'
const PROXY_FILES = ['root.key', 'admin.key', 'keys.json', 'audit.log']

if (argv.includes('--fresh')) rmSync(dataDir, { recursive: true, force: true })
mkdirSync(dataDir, { recursive: true, mode: 0o700 })
moveOldProxyFolder()

/** Earlier versions kept the proxy's files in <data>/proxy/: moved up (all or none), so no key is lost. */
function moveOldProxyFolder() {
  const old = `${dataDir}/proxy`
  if (!PROXY_FILES.some((f) => existsSync(`${old}/${f}`))) return
  if (PROXY_FILES.some((f) => existsSync(`${dataDir}/${f}`))) {
    console.warn(`${old}/ holds an older key proxy's files, and ${dataDir}/ its own: left as they are`)
    return
  }
  for (const f of readdirSync(old)) if (f !== 'config.json') renameSync(`${old}/${f}`, `${dataDir}/${f}`)
  rmSync(old, { recursive: true, force: true })
  console.log(`moved the key proxy's files from ${old}/ to ${dataDir}/`)
}

const { publicJwk } = await identityKey(dataDir)
await import(`${root}packages/key-proxy/build.mjs`)
const proxyConfig = `${dataDir}/proxy-config.json`
writeFileSync(
  proxyConfig,
  JSON.stringify(
    {
      host,
      port: proxyPort,
      dataDir,
      // each tenant's key, and a key for its own key material (the key view imports it: BYOK)
      tenants: TENANTS.map((id) => ({
        id,
        kms: [
          { id: 'default', provider: 'local' },
          { id: 'own', provider: 'local', origin: 'external' },
        ],
        primary: 'default',
      })),
      corsOrigins: [demoOrigin],
      // The demo's shred button destroys at once; a real deployment keeps a waiting period (default 7 days).
      minDeletionDays: 0,
      jwt: {
        jwksUrl: `${identityUrl}/.well-known/jwks.json`,
        issuer: identityUrl,
        audience: AUDIENCE,
        algorithms: ['ES256'],
        keyAdminRole: KEY_ADMIN_ROLE,
      },
      // Separation of duties: members use the tenant's key, key administrators manage it, auditors read its audit
      // log; the submission and object names are shown in clear in the tenant's audit lines.
      defaultPolicy: {
        jwtRoles: { 'key-admin': [KEY_ADMIN_ROLE], 'key-user': [MEMBER_ROLE], auditor: [AUDITOR_ROLE] },
        logContext: ['submission', 'object'],
      },
    },
    null,
    2,
  ),
)

const vite = `${root}node_modules/vite/bin/vite.js`
const viteEnv = { VITE_PROXY_URL: proxyUrl, VITE_IDENTITY_URL: identityUrl, VITE_STORAGE_URL: storageUrl }
if (preview) {
  await new Promise((ok, fail) =>
    spawn(process.execPath, [vite, 'build', '--config', 'demo/vite.config.ts', '--logLevel', 'warn'], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, ...viteEnv },
    }).on('exit', (code) => (code === 0 ? ok() : fail(new Error(`vite build failed (${code})`)))),
  )
}

const settings = { host, dataDir, origin: demoOrigin, audience: AUDIENCE }
const services = {
  identity: [
    'scripts/demo-identity.mjs',
    JSON.stringify({ ...settings, port: identityPort, tenants: TENANTS, issuer: identityUrl }),
  ],
  proxy: ['packages/key-proxy/dist/serve-node.mjs', '--config', proxyConfig],
  storage: [
    'scripts/demo-storage.mjs',
    JSON.stringify({ ...settings, port: storagePort, verifyJwk: publicJwk, issuer: identityUrl }),
  ],
  demo: [
    vite,
    ...(preview ? ['preview'] : []),
    '--config',
    'demo/vite.config.ts',
    ...(preview ? [] : ['--clearScreen', 'false']),
    '--port',
    String(demoPort),
  ],
}

// For the end-to-end tests, which stop, resume and kill the real services to show what the app does meanwhile.
const pids = { start: process.pid }
const supervised = Object.entries(services).map(([name, args]) =>
  supervise(name, process.execPath, args, {
    options: { cwd: root, env: { ...process.env, ...(name === 'demo' ? viteEnv : {}) } },
    onStart: (child) => {
      pids[name] = child.pid
      writeFileSync(`${dataDir}/pids.json`, JSON.stringify(pids))
    },
    onGiveUp: () => stop(1),
  }),
)

let stopping = false
async function stop(code = 0) {
  if (stopping) return
  stopping = true
  await Promise.all(supervised.map((s) => s.stop()))
  process.exit(code)
}
process.on('SIGINT', () => stop(0))
process.on('SIGTERM', () => stop(0))
// However this process ends, its services end with it (a port left held would stop the next `npm start`).
process.on('exit', () => {
  for (const s of supervised) s.child()?.kill('SIGKILL')
})

const defaults = dataDir === resolve('.envelope-data') && proxyPort === 7777
console.log(`
envelope demo          ${demoOrigin}/
key proxy              ${proxyUrl}   (tenants: ${TENANTS.join(', ')})
demo identity service  ${identityUrl}
demo storage           ${storageUrl}   (ciphertext only: ${dataDir}/storage)
data folder            ${dataDir}   (keys.json, audit.log, admin.key, storage/)
admin                  npm run admin -- rotate acme${defaults ? '' : ` --admin-key-file ${dataDir}/admin.key --url ${proxyUrl}`}   (npm run admin -- --help)
Ctrl-C stops everything; data stays. A service that stops is started again.
`)
