// A test identity provider: an ES256 key pair, the proxy's `jwt` settings that trust it, and tokens for a tenant
// with role-claim values (`roles`), as the policy tests sign them.
import { exportJWK, generateKeyPair, SignJWT } from 'jose'

export const ISSUER = 'https://id.example.test'
export const AUDIENCE = 'envelope-proxy'

export async function testIssuer() {
  const pair = await generateKeyPair('ES256')
  const jwt = {
    jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k', alg: 'ES256' }] },
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ['ES256'],
  }
  /** A 5-minute token of `sub` for `tenant`, with `roles` as its role-claim values. */
  const token = (tenant: string, roles: string[], sub = 'someone') =>
    new SignJWT({ tenant, roles })
      .setProtectedHeader({ alg: 'ES256', kid: 'k' })
      .setSubject(sub)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setExpirationTime('5m')
      .sign(pair.privateKey)
  return { jwt, token }
}
