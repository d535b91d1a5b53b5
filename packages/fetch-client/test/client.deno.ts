// The fetch client in Deno against a real key proxy process: a round trip through the core, and a refusal
// with the proxy's code.
import { decryptToString, encrypt, readHeader } from '@envelope/core'
import { hashKey, startProxy } from '../../key-proxy/test/proxy-process.ts'
import { createKeyProxyClient } from '../src/index.ts'

Deno.test('fetch client in Deno: seal and open through a real proxy; another tenant is refused', async () => {
  const proxy = await startProxy({
    tenants: ['acme', 'globex'],
    apiKeys: [
      { id: 'acme', sha256: await hashKey('deno-acme'), tenants: ['acme'] },
      { id: 'globex', sha256: await hashKey('deno-globex'), tenants: ['globex'] },
    ],
  })
  try {
    const provider = createKeyProxyClient({ baseUrl: proxy.url, apiKey: 'deno-acme', tenant: 'acme' })
    const message = await encrypt('sealed in Deno', { provider, context: { runtime: 'deno' } })
    if ((await decryptToString(message, { provider })) !== 'sealed in Deno') throw new Error('round trip failed')
    const dek = await provider.unwrapDataKey(readHeader(message).edeks, { runtime: 'deno' })
    if (dek.extractable) throw new Error('DEK must be non-extractable')
    const other = createKeyProxyClient({ baseUrl: proxy.url, apiKey: 'deno-globex', tenant: 'globex', retries: 0 })
    let code: string | undefined
    try {
      await decryptToString(message, { provider: other })
    } catch (err) {
      code = (err as { code?: string }).code
    }
    if (code !== 'ERR_TENANT_FORBIDDEN') throw new Error(`expected ERR_TENANT_FORBIDDEN, got ${code}`)
  } finally {
    await proxy.stop()
  }
})
