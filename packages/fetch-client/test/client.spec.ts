// The fetch client in Chromium against a real key proxy process, as a browser app uses it: an end-user JWT,
// CORS, DEKs landing as non-extractable keys. A message sealed in the page opens in Node through the proxy.
import { fileURLToPath } from 'node:url'
import { decryptToString } from '@envelope/core'
import { expect, test } from '@playwright/test'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { hashKey, type RunningProxy, startProxy } from '../../key-proxy/test/proxy-process.ts'
import { createKeyProxyClient } from '../src/index.ts'

const PAGE = 'http://127.0.0.1:5174/' // the conformance page's Vite server serves workspace sources too
const fsPath = (rel: string) => `/@fs${fileURLToPath(new URL(rel, import.meta.url))}`
let proxy: RunningProxy
let jwt: string

test.beforeAll(async () => {
  const pair = await generateKeyPair('ES256')
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }
  proxy = await startProxy({
    tenants: ['acme'],
    corsOrigins: [PAGE.slice(0, -1)],
    apiKeys: [{ id: 'node-side', sha256: await hashKey('node-side-key'), tenants: ['acme'] }],
    jwt: { jwks: { keys: [jwk] }, issuer: 'https://id.test', audience: 'envelope', algorithms: ['ES256'] },
  })
  jwt = await new SignJWT({ tenant: 'acme' })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setSubject('browser-user')
    .setIssuer('https://id.test')
    .setAudience('envelope')
    .setExpirationTime('5m')
    .sign(pair.privateKey)
})

test.afterAll(async () => {
  await proxy?.stop()
})

test('in Chromium: DEKs from a real proxy, non-extractable; the message opens in Node', async ({ page }) => {
  await page.goto(PAGE)
  const result = await page.evaluate(
    async ({ url, token, clientPath, corePath }) => {
      const { createKeyProxyClient } = await import(/* @vite-ignore */ clientPath)
      const core = await import(/* @vite-ignore */ corePath)
      const provider = createKeyProxyClient({ baseUrl: url, getToken: () => token })
      const message = await core.encrypt('sealed in Chromium', { provider, context: { tenant: 'acme' } })
      const dek = await provider.unwrapDataKey(core.readHeader(message).edeks, { tenant: 'acme' })
      let exportRefused = false
      await crypto.subtle.exportKey('raw', dek).catch(() => {
        exportRefused = true
      })
      return {
        text: await core.decryptToString(message, { provider, expectedContext: { tenant: 'acme' } }),
        extractable: dek.extractable,
        exportRefused,
        message: Array.from(message as Uint8Array),
      }
    },
    { url: proxy.url, token: jwt, clientPath: fsPath('../src/index.ts'), corePath: fsPath('../../core/src/index.ts') },
  )
  expect(result).toMatchObject({ text: 'sealed in Chromium', extractable: false, exportRefused: true })
  const node = createKeyProxyClient({ baseUrl: proxy.url, apiKey: 'node-side-key', tenant: 'acme' })
  expect(await decryptToString(new Uint8Array(result.message), { provider: node })).toBe('sealed in Chromium')
  expect(proxy.auditLines().some((l) => l.caller === 'jwt:browser-user' && l.action === 'generate')).toBe(true)
})
