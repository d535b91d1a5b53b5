// Encrypts and uploads a submission off the main thread, so the page stays responsive whatever the file size.
// The page gets the data keys from the key proxy and posts them here (a non-extractable CryptoKey travels by
// structured clone; its bytes never do). For each object this worker streams the plaintext (a Blob, read from
// disk as it goes) through encryptStream and uploads the ciphertext in parts of 8 MiB as they fill, one part
// uploading while the next is encrypted: memory stays flat, the file is never whole in memory.
import { type DataKey, EnvelopeError, encryptStream, type KeyProvider } from '@envelope/core'
import { StorageApi, StorageError } from './storage-api.ts'

const PART_BYTES = 8 * 2 ** 20
const ATTEMPTS = 3
const RETRYABLE = new Set(['ERR_STORAGE_UNAVAILABLE', 'ERR_UPLOAD_INCOMPLETE'])

/**
 * Uploads one part, sending it again after a dropped connection or a cut-off body (the service truncates a part
 * cut off, so a resend is safe). A part that landed but whose answer was lost shows as `ERR_OFFSET` with the
 * size already stored: done.
 */
async function putPart(storage: StorageApi, submission: string, name: string, offset: number, part: Blob) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await storage.putPart(submission, name, offset, part)
    } catch (err) {
      if (err instanceof StorageError && err.code === 'ERR_OFFSET' && err.size === offset + part.size) return
      if (attempt >= ATTEMPTS || !(err instanceof EnvelopeError) || !RETRYABLE.has(err.code)) throw err
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt))
    }
  }
}

export interface SealObject {
  readonly name: string
  readonly plaintext: Blob
  readonly dataKey: DataKey
  readonly context: Record<string, string>
}
export interface SealRequest {
  readonly storageUrl: string
  readonly token: string
  readonly submission: string
  readonly objects: readonly SealObject[]
}
export type SealMessage =
  | { readonly type: 'started'; readonly scope: string }
  | { readonly type: 'progress'; readonly uploadedPlaintext: number; readonly total: number }
  | { readonly type: 'done' }
  | { readonly type: 'error'; readonly code: string; readonly message: string }

const post = (m: SealMessage) => (self as unknown as Worker).postMessage(m)

/** A provider that hands out exactly the key the page made for this object. */
const holding = (dataKey: DataKey): KeyProvider => ({
  generateDataKey: async () => dataKey,
  unwrapDataKey: () => Promise.reject(new EnvelopeError('ERR_INVALID_ARGUMENT', 'this worker only encrypts')),
  unwrapDataKeys: () => Promise.reject(new EnvelopeError('ERR_INVALID_ARGUMENT', 'this worker only encrypts')),
})

async function sealAndUpload({ storageUrl, token, submission, objects }: SealRequest): Promise<void> {
  const storage = new StorageApi(storageUrl, async () => token)
  const total = objects.reduce((n, o) => n + o.plaintext.size, 0)
  let uploadedPlaintext = 0
  for (const { name, plaintext, dataKey, context } of objects) {
    let consumed = 0 // plaintext bytes read so far for this object
    const counted = plaintext.stream().pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          consumed += chunk.length
          controller.enqueue(chunk)
        },
      }),
    )
    const ciphertext = counted.pipeThrough(
      encryptStream({ provider: holding(dataKey), context, plaintextLength: plaintext.size }),
    )
    let offset = 0
    let pending: Promise<void> = Promise.resolve()
    let chunks: Uint8Array<ArrayBuffer>[] = []
    let filled = 0
    let credited = 0
    const flush = async () => {
      const part = new Blob(chunks)
      const at = offset
      const covers = consumed - credited // the plaintext this part carries, for progress
      credited = consumed
      offset += part.size
      chunks = []
      filled = 0
      await pending // one part in flight at a time: it uploads while the next one is encrypted
      pending = putPart(storage, submission, name, at, part).then(() => {
        uploadedPlaintext += covers
        post({ type: 'progress', uploadedPlaintext, total })
      })
      pending.catch(() => {}) // awaited (and so reported) before the next part or at the end
    }
    for await (const chunk of ciphertext as unknown as AsyncIterable<Uint8Array<ArrayBuffer>>) {
      chunks.push(chunk)
      filled += chunk.length
      if (filled >= PART_BYTES) await flush()
    }
    if (filled > 0 || offset === 0) await flush()
    await pending
  }
}

self.onmessage = async (event: MessageEvent<SealRequest>) => {
  post({ type: 'started', scope: self.constructor.name })
  try {
    await sealAndUpload(event.data)
    post({ type: 'done' })
  } catch (err) {
    const e = err as { code?: string; message?: string }
    post({ type: 'error', code: e?.code ?? 'ERR_UNEXPECTED', message: e?.message ?? String(err) })
  }
}
