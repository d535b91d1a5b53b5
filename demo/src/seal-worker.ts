// Encrypts and uploads a submission off the main thread, so the page stays responsive whatever the file size.
// The page gets the data keys from the key proxy and posts them here (a non-extractable CryptoKey travels by
// structured clone; its bytes never do). For each object this worker streams the plaintext (a Blob, read from
// disk as it goes) through encryptStream and uploads the ciphertext in parts of 8 MiB as they fill, a few parts
// uploading at once while the next is encrypted (the storage service takes parts in any order): memory stays
// flat, the file is never whole in memory.
import { type DataKey, EnvelopeError, encryptStream, type KeyProvider } from '@envelope/core'
import { PART_BYTES, PARTS_IN_FLIGHT, StorageApi } from './storage-api.ts'

const ATTEMPTS = 3
const RETRYABLE = new Set(['ERR_STORAGE_UNAVAILABLE', 'ERR_UPLOAD_INCOMPLETE'])

/**
 * Uploads one part, sending it again after a dropped connection or a cut-off body: the service writes a part at
 * its offset and counts it only once it arrived whole, so a resend (also of a part whose answer was lost) is safe.
 */
async function putPart(storage: StorageApi, submission: string, name: string, offset: number, part: Blob) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await storage.putPart(submission, name, offset, part)
    } catch (err) {
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
  /** Parts uploading at once; default PARTS_IN_FLIGHT (the upload benchmark compares settings). */
  readonly partsInFlight?: number
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

async function sealAndUpload(request: SealRequest): Promise<void> {
  const { storageUrl, token, submission, objects, partsInFlight = PARTS_IN_FLIGHT } = request
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
    const uploading: Promise<void>[] = [] // oldest first
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
      if (uploading.length >= partsInFlight) await uploading.shift() // a failure stops the upload here
      const upload = putPart(storage, submission, name, at, part).then(() => {
        uploadedPlaintext += covers
        post({ type: 'progress', uploadedPlaintext, total })
      })
      upload.catch(() => {}) // awaited (and so reported) in order, before more parts or at the end
      uploading.push(upload)
    }
    for await (const chunk of ciphertext as unknown as AsyncIterable<Uint8Array<ArrayBuffer>>) {
      chunks.push(chunk)
      filled += chunk.length
      if (filled >= PART_BYTES) await flush()
    }
    if (filled > 0 || offset === 0) await flush()
    for (const upload of uploading.splice(0)) await upload
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
