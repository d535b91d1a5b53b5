// Submitting the form: one envelope message for the fields (and the attachments' names and types, which are as
// private as the fields), one per attached file, each under its own data key and bound by its encryption
// context to its tenant, submission and place in it, so no stored object can be swapped for another.
import { EnvelopeError } from '@envelope/core'
import type { SealMessage, SealObject, SealRequest } from './seal-worker.ts'
import { providerFor, type Session, STORAGE_URL, tokenFor } from './session.ts'
import { StorageApi } from './storage-api.ts'

export interface Manifest {
  readonly fields: Record<string, string>
  readonly files: readonly { readonly name: string; readonly type: string; readonly size: number }[]
}

export type SubmitProgress = (uploadedPlaintext: number, total: number) => void

/** The context an object of a submission is encrypted under, and must open under. */
export const contextOf = (tenant: string, submission: string, object: string) => ({ tenant, submission, object })

export const storageFor = (session: Session) => new StorageApi(STORAGE_URL, () => tokenFor(session))

/**
 * Encrypts and uploads a submission; resolves with its id once stored. All data keys are made first, in one go:
 * once the upload starts, the key proxy is no longer needed. On any failure the upload in progress is discarded
 * and nothing is stored.
 */
export async function submit(
  session: Session,
  fields: Record<string, string>,
  files: readonly File[],
  onProgress: SubmitProgress,
  onWorker: (scope: string) => void,
): Promise<string> {
  const storage = storageFor(session)
  const manifest: Manifest = { fields, files: files.map((f) => ({ name: f.name, type: f.type, size: f.size })) }
  const plaintexts: [string, Blob][] = [
    ['fields', new Blob([JSON.stringify(manifest)])],
    ...files.map((f, i): [string, Blob] => [`file-${i}`, f]),
  ]
  const id = await storage.create()
  try {
    const provider = providerFor(session)
    const objects: SealObject[] = await Promise.all(
      plaintexts.map(async ([name, plaintext]) => {
        const context = contextOf(session.tenant, id, name)
        const dataKey = await provider.generateDataKey(context, { plaintextLength: plaintext.size })
        return { name, plaintext, dataKey, context }
      }),
    )
    await sealInWorker(
      { storageUrl: STORAGE_URL, token: await tokenFor(session), submission: id, objects },
      onProgress,
      onWorker,
    )
    await storage.commit(id)
    return id
  } catch (err) {
    await storage.discard(id).catch(() => {}) // best effort: an upload never committed never shows up anyway
    throw err
  }
}

function sealInWorker(request: SealRequest, onProgress: SubmitProgress, onWorker: (scope: string) => void) {
  const worker = new Worker(new URL('./seal-worker.ts', import.meta.url), { type: 'module' })
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
