// Opens one stored file off the main thread: downloads its ciphertext, decrypts it as a stream and gathers the
// verified plaintext into a Blob (kept by the browser outside the JS heap, on disk when large), posted to the
// page only once every frame verified, so a tampered or cut-off file yields nothing. The buffers a large file
// churns through live and die in this worker, not in the page. The data key comes from the page, which asks its
// key provider (and so the IndexedDB cache) and posts back a non-extractable CryptoKey.
import { decryptStream, type Edek, type EncryptionContext, EnvelopeError, type KeyProvider } from '@envelope/core'
import { StorageApi } from './storage-api.ts'

const FOLD_BYTES = 16 * 2 ** 20

export interface OpenRequest {
  readonly storageUrl: string
  readonly token: string
  readonly owner: string
  readonly submission: string
  readonly object: string
  readonly mimeType: string
  readonly context: Record<string, string>
}
export type OpenMessage =
  | { readonly type: 'started'; readonly scope: string }
  | { readonly type: 'unwrap'; readonly edeks: readonly Edek[]; readonly context: EncryptionContext }
  | { readonly type: 'progress'; readonly bytes: number }
  | { readonly type: 'done'; readonly blob: Blob }
  | { readonly type: 'error'; readonly code: string; readonly message: string }
export type UnwrapAnswer =
  | { readonly type: 'unwrapped'; readonly dek: CryptoKey }
  | { readonly type: 'refused'; readonly code: string; readonly message: string }

const post = (m: OpenMessage) => (self as unknown as Worker).postMessage(m)
let answer: ((a: UnwrapAnswer) => void) | undefined

/** Unwraps through the page: the page holds the session, the key proxy client and the cache. */
const viaPage: KeyProvider = {
  generateDataKey: () => Promise.reject(new EnvelopeError('ERR_INVALID_ARGUMENT', 'this worker only decrypts')),
  unwrapDataKey: (edeks, context) =>
    new Promise<CryptoKey>((resolve, reject) => {
      answer = (a) => (a.type === 'unwrapped' ? resolve(a.dek) : reject(new EnvelopeError(a.code, a.message)))
      post({ type: 'unwrap', edeks, context })
    }),
  unwrapDataKeys: () => Promise.reject(new EnvelopeError('ERR_INVALID_ARGUMENT', 'one message at a time')),
}

async function open(request: OpenRequest): Promise<Blob> {
  const { storageUrl, token, owner, submission, object, mimeType: type, context } = request
  const ciphertext = await new StorageApi(storageUrl, async () => token).read(owner, submission, object)
  const plaintext = ciphertext.pipeThrough(decryptStream({ provider: viaPage, expectedContext: context }))
  let blob = new Blob([], { type })
  let chunks: Uint8Array<ArrayBuffer>[] = []
  let held = 0
  let total = 0
  for await (const chunk of plaintext as unknown as AsyncIterable<Uint8Array<ArrayBuffer>>) {
    chunks.push(chunk)
    held += chunk.length
    total += chunk.length
    if (held >= FOLD_BYTES) {
      blob = new Blob([blob, ...chunks], { type })
      chunks = []
      held = 0
      post({ type: 'progress', bytes: total })
    }
  }
  return new Blob([blob, ...chunks], { type })
}

self.onmessage = async (event: MessageEvent<OpenRequest | UnwrapAnswer>) => {
  const data = event.data
  if ('type' in data) return answer?.(data) // the page's answer to an unwrap
  post({ type: 'started', scope: self.constructor.name })
  try {
    post({ type: 'done', blob: await open(data) })
  } catch (err) {
    const e = err as { code?: string; message?: string }
    post({ type: 'error', code: e?.code ?? 'ERR_UNEXPECTED', message: e?.message ?? String(err) })
  }
}
