// The demo's identity service: signs short-lived ES256 JWTs for the members (key users), key administrators and
// auditors of the demo tenants, and serves its JWKS (which the key proxy and the storage service trust). Its signing key is kept in the
// data folder (identity-key.json, 0600), so tokens stay valid across restarts.
//
// `npm start` runs it as a process of its own: `node scripts/demo-identity.mjs '<settings as JSON>'`.
import { chmodSync, existsSync, readFileSync, realpathSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose'
import { createLocalServer } from './lib/local-http.mjs'

export const KEY_ADMIN_ROLE = 'key-admin'
export const MEMBER_ROLE = 'member'
export const AUDITOR_ROLE = 'auditor'
/** What `/token?role=` gives: the token's roles claim and its subject's name. */
const ROLES = {
  member: { roles: [MEMBER_ROLE], user: 'demo-user' },
  admin: { roles: [KEY_ADMIN_ROLE], user: 'demo-admin' },
  auditor: { roles: [AUDITOR_ROLE], user: 'demo-auditor' },
}

/** The service's signing key, made on first use; `publicJwk` is what verifiers need. */
export async function identityKey(dataDir) {
  const keyFile = `${dataDir}/identity-key.json`
  if (!existsSync(keyFile)) {
    const { privateKey } = await generateKeyPair('ES256', { extractable: true })
    writeFileSync(keyFile, JSON.stringify(await exportJWK(privateKey)), { mode: 0o600, flag: 'wx' })
  }
  chmodSync(keyFile, 0o600)
  const privateJwk = JSON.parse(readFileSync(keyFile, 'utf8'))
  const { d: _private, ...publicJwk } = privateJwk
  return { privateJwk, publicJwk }
}

/**
 * Starts the identity service; resolves with the listening http.Server. `issuer` defaults to the service's own
 * URL; `origin` is the demo app's, the only one allowed to read tokens across origins.
 */
export async function startIdentity({ host, port, dataDir, origin, tenants, audience, issuer }) {
  const { privateJwk, publicJwk } = await identityKey(dataDir)
  const signingKey = await importJWK(privateJwk, 'ES256')
  const jwks = JSON.stringify({ keys: [{ ...publicJwk, kid: 'demo-1', alg: 'ES256', use: 'sig' }] })

  const server = createLocalServer(async (req, res, url) => {
    res.setHeader('access-control-allow-origin', origin)
    if (req.method !== 'GET') {
      res.writeHead(405, { 'content-type': 'text/plain', allow: 'GET' })
      return res.end('method not allowed')
    }
    if (url.pathname === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' })
      return res.end(jwks)
    }
    const tenant = url.searchParams.get('tenant')
    if (url.pathname === '/token' && tenants.includes(tenant)) {
      // A demo sign-in: anyone may be a member (key user), the key administrator or the auditor of either demo
      // tenant. A real identity service authenticates here, and grants the key-admin and auditor roles to few.
      const { roles, user } = ROLES[url.searchParams.get('role')] ?? ROLES.member
      const jwt = await new SignJWT({ tenant, roles })
        .setProtectedHeader({ alg: 'ES256', kid: 'demo-1' })
        .setSubject(`${user}@${tenant}`)
        .setIssuer(issuer ?? `http://${host}:${server.address().port}`)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime(url.searchParams.get('expired') ? Math.floor(Date.now() / 1000) - 60 : '10m')
        .sign(signingKey)
      res.writeHead(200, { 'content-type': 'text/plain' })
      return res.end(jwt)
    }
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('not found')
  })
  await new Promise((resolve) => server.listen(port, host, resolve))
  return server
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await startIdentity(JSON.parse(process.argv[2]))
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0))
}
