// Encrypts a file off the main thread, so the page stays responsive: the main thread gets the data key from the
// key proxy and posts it here (a non-extractable CryptoKey travels by structured clone; its bytes never do), this
// worker streams the payload through encryptStream and posts back ciphertext parts (transferred, not copied) and
// progress.
import { type DataKey, encryptStream, type KeyProvider } from '@envelope/core'

export interface SealRequest {
  readonly dataKey: DataKey
  readonly context: Record<string, string>
  readonly payload: Blob
}
export type SealMessage =
  | { readonly type: 'progress'; readonly plaintextBytes: number; readonly total: number }
  | { readonly type: 'part'; readonly bytes: Uint8Array }
  | { readonly type: 'done'; readonly inWorker: boolean }
  | { readonly type: 'error'; readonly code: string; readonly message: string }

const post = (m: SealMessage, transfer: Transferable[] = []) => (self as unknown as Worker).postMessage(m, transfer)

self.onmessage = async (event: MessageEvent<SealRequest>) => {
  const { dataKey, context, payload } = event.data
  // The key was made for this message on the main thread: hand exactly it to encryptStream.
  const provider: KeyProvider = {
    generateDataKey: async () => dataKey,
    unwrapDataKey: () => Promise.reject(new Error('this worker only encrypts')),
    unwrapDataKeys: () => Promise.reject(new Error('this worker only encrypts')),
  }
  try {
    let seen = 0
    const counted = payload.stream().pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          seen += chunk.length
          post({ type: 'progress', plaintextBytes: seen, total: payload.size })
          controller.enqueue(chunk)
        },
      }),
    )
    const reader = counted.pipeThrough(encryptStream({ provider, context, plaintextLength: payload.size })).getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      post({ type: 'part', bytes: value }, [value.buffer])
    }
    post({
      type: 'done',
      inWorker: typeof (globalThis as { WorkerGlobalScope?: unknown }).WorkerGlobalScope !== 'undefined',
    })
  } catch (err) {
    const e = err as { code?: string; message?: string }
    post({ type: 'error', code: e?.code ?? 'ERR_INTERNAL', message: e?.message ?? String(err) })
  }
}
