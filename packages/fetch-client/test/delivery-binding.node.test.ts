// A delivered DEK is bound to the request it answers (docs/key-proxy-api.md, "DEK delivery"). A real proxy runs
// behind a front server that plays the attacker on the path between client and proxy: it answers the client's
// request with the proxy's real answer to another request (made with another tenant's credentials, for another
// EDEK, or earlier). The client must refuse every such answer, and never use the key in it.
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { decryptToString, encrypt, readHeader } from '@envelope/core'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { codeOf, hashKey, type RunningProxy, startProxy } from '../../key-proxy/test/proxy-process.ts'
import { createKeyProxyClient, type KeyProxyClientOptions } from '../src/index.ts'
import { createDelivery, edekToJson, importDeliveryPublicKey, readNonce } from '../src/protocol.ts'

const KEYS = { acme: 'binding-acme', globex: 'binding-globex' }
let proxy: RunningProxy
let front: Server
let frontUrl: string
let signing: CryptoKey
/** Rewrites each request on its way to the proxy (path, headers, JSON body), or answers it itself. */
type Answer = { answer: string } | undefined
let attack: (r: { path: string; authorization: string; body: Record<string, unknown> }) => Answer | Promise<Answer> =
  () => undefined
const answers: string[] = []

beforeAll(async () => {
  const pair = await generateKeyPair('ES256')
  signing = pair.privateKey
  proxy = await startProxy({
    tenants: ['acme', 'globex'],
    apiKeys: [
      { id: 'acme', sha256: await hashKey(KEYS.acme), tenants: ['acme'] },
      { id: 'globex', sha256: await hashKey(KEYS.globex), tenants: ['globex'] },
    ],
    jwt: {
      jwks: { keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k', alg: 'ES256' }] },
      issuer: 'https://id.test',
      audience: 'envelope',
    },
  })
  front = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const r = {
      path: req.url!,
      authorization: req.headers.authorization ?? '',
      body: chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {},
    }
    const own = await attack(r)
    let text: string
    let status = 200
    if (own) text = own.answer
    else {
      const got = await fetch(`${proxy.url}${r.path}`, {
        method: req.method,
        headers: { authorization: r.authorization, 'content-type': 'application/json' },
        body: req.method === 'POST' ? JSON.stringify(r.body) : undefined,
      })
      status = got.status
      text = await got.text()
    }
    answers.push(text)
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(text)
  })
  front.listen(0, '127.0.0.1')
  await once(front, 'listening')
  frontUrl = `http://127.0.0.1:${(front.address() as AddressInfo).port}`
})

afterAll(async () => {
  front?.closeAllConnections()
  front?.close()
  await proxy?.stop()
})

const token = (tenant: string) =>
  new SignJWT({ tenant })
    .setProtectedHeader({ alg: 'ES256', kid: 'k' })
    .setSubject(`${tenant}-user`)
    .setIssuer('https://id.test')
    .setAudience('envelope')
    .setExpirationTime('5m')
    .sign(signing)

const acmeClient = (extra: Partial<KeyProxyClientOptions> = {}) =>
  createKeyProxyClient({ baseUrl: frontUrl, apiKey: KEYS.acme, tenant: 'acme', retries: 0, ...extra })

test('an answer made for another tenant (its credentials, this client’s key and nonce) is refused', async () => {
  attack = (r) => {
    r.authorization = `ApiKey ${KEYS.globex}`
    delete r.body.tenant
  }
  expect(await codeOf(encrypt('acme data', { provider: acmeClient(), context: { doc: '1' } }))).toBe(
    'ERR_PROXY_PROTOCOL',
  )
  // The same for a browser client whose JWT names its tenant: the attacker swaps in a globex user's token.
  const globexToken = await token('globex')
  attack = (r) => {
    r.authorization = `Bearer ${globexToken}`
  }
  const browser = createKeyProxyClient({ baseUrl: frontUrl, getToken: () => token('acme'), retries: 0 })
  expect(await codeOf(encrypt('acme data', { provider: browser, context: { doc: '1' } }))).toBe('ERR_PROXY_PROTOCOL')
})

test('an unwrap answer for another EDEK or another context of the same tenant is refused', async () => {
  attack = () => {}
  const a = await encrypt('message a', { provider: acmeClient(), context: { doc: 'a' } })
  const b = await encrypt('message b', { provider: acmeClient(), context: { doc: 'b' } })
  // The client asks for a's key; the attacker has the proxy unwrap b's instead.
  const bEdeks = readHeader(b).edeks.map(edekToJson)
  attack = (r) => {
    if (r.path.endsWith('/batch-unwrap')) r.body.items = [{ edeks: bEdeks, context: { doc: 'b' } }]
  }
  expect(await codeOf(decryptToString(a, { provider: acmeClient() }))).toBe('ERR_PROXY_PROTOCOL')
  // The proxy's real answer for b, given to a client that asked for a.
  attack = () => {}
  expect(await decryptToString(b, { provider: acmeClient() })).toBe('message b')
  const bAnswer = answers.at(-1)!
  attack = (r) => (r.path.endsWith('/batch-unwrap') ? { answer: bAnswer } : undefined)
  expect(await codeOf(decryptToString(a, { provider: acmeClient() }))).toBe('ERR_PROXY_PROTOCOL')
})

test('an earlier answer replayed for a new request is refused (a DEK is never handed out twice)', async () => {
  attack = () => {}
  const client = acmeClient()
  await client.generateDataKey({ doc: 'r' })
  const earlier = answers.at(-1)!
  attack = () => ({ answer: earlier })
  expect(await codeOf(client.generateDataKey({ doc: 'r' }))).toBe('ERR_PROXY_PROTOCOL')
})

test('an answer that binds everything but names another tenant’s EDEK is refused (the client checks the key id)', async () => {
  // A forger holding the client's public key and nonce makes a perfectly bound delivery for tenant acme, of a
  // DEK under an EDEK that is globex's: only the client's own check of the EDEK's key id stops it.
  const globexClient = createKeyProxyClient({ baseUrl: proxy.url, apiKey: KEYS.globex, tenant: 'globex' })
  const globexEdek = readHeader(await encrypt('x', { provider: globexClient })).edeks[0]!
  attack = async (r) => {
    const delivery = await createDelivery((await importDeliveryPublicKey(r.body.clientKey))!)
    const binding = {
      nonce: readNonce(r.body.nonce)!,
      tenant: 'acme',
      edek: globexEdek,
      context: r.body.context as Record<string, string>,
    }
    const wrapped = await delivery.wrap(crypto.getRandomValues(new Uint8Array(32)), binding)
    return { answer: JSON.stringify({ epk: delivery.epk, tenant: 'acme', edek: edekToJson(globexEdek), ...wrapped }) }
  }
  expect(await codeOf(acmeClient().generateDataKey({ doc: 'f' }))).toBe('ERR_PROXY_PROTOCOL')
})

test('a client names the tenant it acts for: an API key without "tenant" is refused up front', () => {
  expect(() => createKeyProxyClient({ baseUrl: frontUrl, apiKey: KEYS.acme })).toThrow(/"tenant"/)
})
