// Opening a submission: each object is downloaded and decrypted as a stream, its data key unwrapped through the
// IndexedDB cache. decryptStream releases a frame only once it verified; a file is gathered into a Blob (which
// the browser keeps outside the JS heap, on disk when large) and offered for saving only once the whole message
// verified, so a tampered or cut-off file yields nothing.
import { decrypt, decryptStream, readHeader } from '@envelope/core'
import { providerFor, type Session } from './session.ts'
import { contextOf, type Manifest, storageFor } from './submit.ts'

/** Decrypts the submission's fields and the names of its files; `keyId` names the tenant key and version. */
export async function openFields(
  session: Session,
  owner: string,
  id: string,
): Promise<{ manifest: Manifest; keyId: string }> {
  const stream = await storageFor(session).read(owner, id, 'fields')
  const message = new Uint8Array(await new Response(stream).arrayBuffer()) // small: fields and file names
  const plaintext = await decrypt(message, {
    provider: providerFor(session),
    expectedContext: contextOf(owner, id, 'fields'),
  })
  const edek = readHeader(message).edeks[0]
  const manifest = JSON.parse(new TextDecoder().decode(plaintext)) as Manifest
  return { manifest, keyId: edek ? `${edek.keyId} v${edek.keyVersion}` : 'an unknown key' }
}

const FOLD_BYTES = 16 * 2 ** 20

/** Decrypts attached file `index` as a stream into a Blob, never holding more than 16 MiB of it in the heap. */
export async function openFile(
  session: Session,
  owner: string,
  id: string,
  index: number,
  type: string,
  onProgress: (bytes: number) => void,
): Promise<Blob> {
  const name = `file-${index}`
  const ciphertext = await storageFor(session).read(owner, id, name)
  const plaintext = ciphertext.pipeThrough(
    decryptStream({ provider: providerFor(session), expectedContext: contextOf(owner, id, name) }),
  )
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
      onProgress(total)
    }
  }
  return new Blob([blob, ...chunks], { type })
}
