// The page's side of sealing a submission, shared by the form (submit.ts) and the upload benchmark
// (scripts/bench-browser), so both run the same path: one data key per stored object, each bound by its context
// to its tenant, submission and place in it, then the seal worker (seal-worker.ts) encrypts and uploads.
import { EnvelopeError, type KeyProvider } from '@envelope/core'
import type { SealMessage, SealObject, SealRequest } from './seal-worker.ts'

/** The context an object of a submission is encrypted under, and must open under. */
export const contextOf = (tenant: string, submission: string, object: string) => ({ tenant, submission, object })

/** A data key for each object, all asked for at once: once the upload starts, the key proxy is not needed. */
export function dataKeysFor(
  provider: KeyProvider,
  tenant: string,
  submission: string,
  plaintexts: readonly (readonly [name: string, plaintext: Blob])[],
): Promise<SealObject[]> {
  return Promise.all(
    plaintexts.map(async ([name, plaintext]) => {
      const context = contextOf(tenant, submission, name)
      const dataKey = await provider.generateDataKey(context, { plaintextLength: plaintext.size })
      return { name, plaintext, dataKey, context }
    }),
  )
}

/**
 * Runs `request` in `worker` (made by the caller, so each bundler sees its own worker URL) and terminates it;
 * rejects with the worker's error code.
 */
export function sealInWorker(
  worker: Worker,
  request: SealRequest,
  onProgress: (uploadedPlaintext: number, total: number) => void = () => {},
  onWorker: (scope: string) => void = () => {},
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    worker.onmessage = ({ data }: MessageEvent<SealMessage>) => {
      if (data.type === 'started') onWorker(data.scope)
      else if (data.type === 'progress') onProgress(data.uploadedPlaintext, data.total)
      else if (data.type === 'done') resolve()
      else reject(new EnvelopeError(data.code, data.message))
    }
    worker.onerror = (e) => reject(new EnvelopeError('ERR_WORKER', e.message))
    worker.postMessage(request)
  }).finally(() => worker.terminate())
}
