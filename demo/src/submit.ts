// Submitting the form: one envelope message for the fields (and the attachments' names and types, which are as
// private as the fields), one per attached file, each under its own data key and bound by its encryption
// context to its tenant, submission and place in it, so no stored object can be swapped for another.
import { dataKeysFor, sealInWorker } from './sealing.ts'
import { providerFor, type Session, STORAGE_URL, tokenFor } from './session.ts'
import { StorageApi } from './storage-api.ts'

export interface Manifest {
  readonly fields: Record<string, string>
  readonly files: readonly { readonly name: string; readonly type: string; readonly size: number }[]
}

export type SubmitProgress = (uploadedPlaintext: number, total: number) => void

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
    const objects = await dataKeysFor(providerFor(session), session.tenant, id, plaintexts)
    await sealInWorker(
      new Worker(new URL('./seal-worker.ts', import.meta.url), { type: 'module' }),
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
