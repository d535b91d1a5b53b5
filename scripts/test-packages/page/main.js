// A page built by Vite from the installed tarballs (core, idb-cache, fetch-client): a local round trip, then a
// round trip through the key proxy with the end user's JWT and the IndexedDB cache. The result lands in
// `window.result` for the test to read. Proxy URL and token come in the URL's fragment.
import { createLocalKeyProvider, decryptToString, encrypt } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { openDekCache } from '@envelope/idb-cache'

const params = new URLSearchParams(location.hash.slice(1))
const context = { tenant: 'acme', doc: 'page' }

async function main() {
  const local = await createLocalKeyProvider({ kek: crypto.getRandomValues(new Uint8Array(32)), keyId: 'page-kek' })
  const localText = await decryptToString(await encrypt('local', { provider: local, context }), { provider: local })

  const dekCache = await openDekCache({ maxEntries: 10, ttlMs: 60_000, name: 'envelope-packages-test' })
  let requests = 0
  const provider = createKeyProxyClient({
    baseUrl: params.get('proxy'),
    getToken: () => params.get('token'),
    fetch: (...args) => {
      requests++
      return fetch(...args)
    },
    cache: { dekCache, partition: 'acme' },
  })
  const message = await encrypt('through the proxy', { provider, context })
  const first = await decryptToString(message, { provider, expectedContext: context })
  const afterMiss = requests
  const second = await decryptToString(message, { provider, expectedContext: context })
  return {
    localText,
    first,
    second,
    requestsForMiss: afterMiss,
    requestsForHit: requests - afterMiss,
    backend: dekCache.backend,
  }
}

main().then(
  (r) => {
    window.result = r
  },
  (err) => {
    window.result = { error: `${err?.code ?? err?.name}: ${err?.message}` }
  },
)
