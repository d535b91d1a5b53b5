// Opening a submission: each object is downloaded and decrypted as a stream, its data key unwrapped through the
// IndexedDB cache. The fields are small and open here; a file opens in a Web Worker (open-worker.ts) and is
// offered for saving only once the whole message verified, so a tampered or cut-off file yields nothing.
import { decryptToString, EnvelopeError, readHeader } from '@envelope/core'
import type { OpenMessage, OpenRequest, UnwrapAnswer } from './open-worker.ts'
import { contextOf } from './sealing.ts'
import { providerFor, type Session, STORAGE_URL, tokenFor } from './session.ts'
import { MAX_FIELDS_BYTES } from './storage-api.ts'
import { type Manifest, storageFor } from './submit.ts'

/** Decrypts the submission's fields and the names of its files; `keyId` names the tenant key and version. */
export async function openFields(
  session: Session,
  owner: string,
  id: string,
): Promise<{ manifest: Manifest; keyId: string }> {
  const message = await storageFor(session).readSmall(owner, id, 'fields', MAX_FIELDS_BYTES)
  // decryptToString decodes exactly (invalid UTF-8 is an error, a leading U+FEFF is kept), unlike a default TextDecoder.
  const text = await decryptToString(message, {
    provider: providerFor(session),
    expectedContext: contextOf(owner, id, 'fields'),
  })
  const edek = readHeader(message).edeks[0]
  const manifest = JSON.parse(text) as Manifest
  return { manifest, keyId: edek ? `${edek.keyId} v${edek.keyVersion}` : 'an unknown key' }
}

/**
 * Decrypts attached file `index` in a Web Worker (demo/src/open-worker.ts) into a Blob; the worker asks this
 * page for the data key, which the session's provider unwraps (through the IndexedDB cache).
 */
export async function openFile(
  session: Session,
  owner: string,
  id: string,
  index: number,
  type: string,
  onProgress: (bytes: number) => void,
  onWorker: (scope: string) => void,
): Promise<Blob> {
  const object = `file-${index}`
  const request: OpenRequest = {
    storageUrl: STORAGE_URL,
    token: await tokenFor(session),
    owner,
    submission: id,
    object,
    mimeType: type,
    context: contextOf(owner, id, object),
  }
  const worker = new Worker(new URL('./open-worker.ts', import.meta.url), { type: 'module' })
  const provider = providerFor(session)
  return new Promise<Blob>((resolve, reject) => {
    worker.onmessage = ({ data }: MessageEvent<OpenMessage>) => {
      if (data.type === 'started') onWorker(data.scope)
      else if (data.type === 'unwrap') {
        provider.unwrapDataKey(data.edeks, data.context).then(
          (dek) => worker.postMessage({ type: 'unwrapped', dek } satisfies UnwrapAnswer),
          (err: { code?: string; message?: string }) =>
            worker.postMessage({
              type: 'refused',
              code: err?.code ?? 'ERR_UNEXPECTED',
              message: err?.message ?? String(err),
            } satisfies UnwrapAnswer),
        )
      } else if (data.type === 'progress') onProgress(data.bytes)
      else if (data.type === 'done') resolve(data.blob)
      else reject(new EnvelopeError(data.code, data.message))
    }
    worker.onerror = (e) => reject(new EnvelopeError('ERR_WORKER', e.message))
    worker.postMessage(request)
  }).finally(() => worker.terminate())
}
