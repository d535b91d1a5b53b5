// A browser app's use of the packages, type-checked from the installed tarballs under `strict` with no
// @types/node (test-packages: bundler and nodenext resolution).
import {
  createLocalKeyProvider,
  type DecryptStream,
  decryptToString,
  type EncryptionContext,
  encrypt,
  encryptStream,
  isEnvelopeError,
  type KeyProvider,
} from '@envelope/core'
import { createKeyProxyClient, type KeyProxyClient, KeyProxyError } from '@envelope/fetch-client'
import { edekToJson } from '@envelope/fetch-client/protocol'
import { type DekCache, openDekCache } from '@envelope/idb-cache'
import { withDekCache } from '@envelope/idb-cache/with-dek-cache'

const context: EncryptionContext = { tenant: 'acme' }
const local: KeyProvider = await createLocalKeyProvider({ kek: crypto.getRandomValues(new Uint8Array(32)), keyId: 'k' })
const cache: DekCache = await openDekCache({ maxEntries: 10, ttlMs: 60_000 })
const client: KeyProxyClient = createKeyProxyClient({ baseUrl: 'https://keys.example', getToken: () => 'jwt' })
const provider = withDekCache(client, cache, { partition: 'acme' })
const message: Uint8Array = await encrypt('x', { provider: local, context })
const text: string = await decryptToString(message, { provider, expectedContext: context })
const stream: ReadableWritablePair<Uint8Array, Uint8Array> = encryptStream({ provider, context })
declare const opening: DecryptStream
const checked: boolean = isEnvelopeError(new KeyProxyError('ERR_PROXY_UNAVAILABLE', 'down'), 'ERR_PROXY_UNAVAILABLE')

export { checked, edekToJson, opening, stream, text }
