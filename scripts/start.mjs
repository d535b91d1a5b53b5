// `npm start`: the demo with the key proxy on its embedded defaults, all on 127.0.0.1.
//   identity  a small demo identity service: signs short-lived ES256 JWTs for the demo tenants, serves its JWKS
//   proxy     the key proxy (local KMS), trusting that JWKS; tenants acme and globex are created on first start
//   storage   a small demo storage service that keeps only ciphertext (scripts/demo-storage.mjs)
//   demo      the Vite app, getting data keys from the proxy with the signed-in tenant's JWT
// Everything lives in one data folder (default .envelope-data/); stopping and starting again keeps it.
// Options: --data DIR, --fresh (empty the data folder first), --preview (build, then serve the build),
//          --proxy-port N, --identity-port N, --storage-port N, --demo-port N.
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose'
import { startStorage } from './demo-storage.mjs'

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
const KEY_ADMIN_ROLE = 'key-admin'

if (argv.includes('--fresh')) rmSync(dataDir, { recursive: true, force: true })
mkdirSync(`${dataDir}/proxy`, { recursive: true, mode: 0o700 })

// --- identity: one signing key, kept in the data folder (0600) ---
const keyFile = `${dataDir}/identity-key.json`
if (!existsSync(keyFile)) {
  const { privateKey } = await generateKeyPair('ES256', { extractable: true })
  writeFileSync(keyFile, JSON.stringify(await exportJWK(privateKey)), { mode: 0o600 })
}
chmodSync(keyFile, 0o600)
const privateJwk = JSON.parse(readFileSync(keyFile, 'utf8'))
const signingKey = await importJWK(privateJwk, 'ES256')
const { d: _private, ...publicJwk } = privateJwk
const jwks = { keys: [{ ...publicJwk, kid: 'demo-1', alg: 'ES256', use: 'sig' }] }

const identity = createServer(async (req, res) => {
  const url = new URL(req.url ?? '/', identityUrl)
  res.setHeader('access-control-allow-origin', demoOrigin)
  if (url.pathname === '/.well-known/jwks.json') {
    res.writeHead(200, { 'content-type': 'application/json' })
    return res.end(JSON.stringify(jwks))
  }
  const tenant = url.searchParams.get('tenant')
  if (url.pathname === '/token' && TENANTS.includes(tenant)) {
    // A demo sign-in: anyone may be a member or the key administrator of either demo tenant. A real identity
    // service authenticates here, and grants the key-admin role to few.
    const admin = url.searchParams.get('role') === 'admin'
    const jwt = await new SignJWT({ tenant, roles: admin ? ['member', KEY_ADMIN_ROLE] : ['member'] })
      .setProtectedHeader({ alg: 'ES256', kid: 'demo-1' })
      .setSubject(`${admin ? 'demo-admin' : 'demo-user'}@${tenant}`)
      .setIssuer(identityUrl)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(url.searchParams.get('expired') ? Math.floor(Date.now() / 1000) - 60 : '10m')
      .sign(signingKey)
    res.writeHead(200, { 'content-type': 'text/plain' })
    return res.end(jwt)
  }
  res.writeHead(404, { 'content-type': 'text/plain' })
  res.end('not found')
})
await new Promise((ok) => identity.listen(identityPort, host, ok))
const storage = await startStorage({
  host,
  port: storagePort,
  dataDir,
  origin: demoOrigin,
  verifyKey: await importJWK(publicJwk, 'ES256'),
  issuer: identityUrl,
  audience: AUDIENCE,
})

// --- the key proxy, built from source, trusting the identity service ---
const children = []
const run = (cmd, args, env = {}) => {
  const child = spawn(cmd, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
  children.push(child)
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`${args.join(' ')} exited (${code ?? signal}); stopping`)
      stop(1)
    }
  })
  return child
}
let stopping = false
function stop(code = 0) {
  stopping = true
  for (const c of children) c.kill('SIGTERM')
  identity.close()
  storage.close()
  process.exit(code)
}
process.on('SIGINT', () => stop(0))
process.on('SIGTERM', () => stop(0))

await import(`${root}packages/key-proxy/build.mjs`)
writeFileSync(
  `${dataDir}/proxy/config.json`,
  JSON.stringify(
    {
      host,
      port: proxyPort,
      dataDir: `${dataDir}/proxy`,
      tenants: TENANTS,
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
    },
    null,
    2,
  ),
)
const proxy = run(process.execPath, [
  'packages/key-proxy/dist/serve-node.mjs',
  '--config',
  `${dataDir}/proxy/config.json`,
])
// For the end-to-end tests, which stop and resume the real proxy to show what the app does while it is down.
writeFileSync(`${dataDir}/pids.json`, JSON.stringify({ start: process.pid, proxy: proxy.pid }))

// --- the demo app ---
const vite = `${root}node_modules/vite/bin/vite.js`
const env = { VITE_PROXY_URL: proxyUrl, VITE_IDENTITY_URL: identityUrl, VITE_STORAGE_URL: storageUrl }
if (preview) {
  await new Promise((ok, fail) =>
    spawn(process.execPath, [vite, 'build', '--config', 'demo/vite.config.ts', '--logLevel', 'warn'], {
      cwd: root,
      stdio: 'inherit',
      env: { ...process.env, ...env },
    }).on('exit', (code) => (code === 0 ? ok() : fail(new Error(`vite build failed (${code})`)))),
  )
  run(process.execPath, [vite, 'preview', '--config', 'demo/vite.config.ts', '--port', String(demoPort)], env)
} else {
  run(
    process.execPath,
    [vite, '--config', 'demo/vite.config.ts', '--clearScreen', 'false', '--port', String(demoPort)],
    env,
  )
}

console.log(`
envelope demo          ${demoOrigin}/
key proxy              ${proxyUrl}   (tenants: ${TENANTS.join(', ')})
demo identity service  ${identityUrl}
demo storage           ${storageUrl}   (ciphertext only: ${dataDir}/storage)
data folder            ${dataDir}   (proxy/keys.json, proxy/audit.log, proxy/admin.key)
admin                  npm run admin -- --help   (e.g. npm run admin -- rotate acme --admin-key-file ${dataDir}/proxy/admin.key${proxyPort === 7777 ? '' : ` --url ${proxyUrl}`})
Ctrl-C stops everything; data stays.
`)
