// The demo upload path's work before the network, for `npm run bench:browser`: the file streamed through
// encryptStream and gathered into Blob parts of the demo's size, as demo/src/seal-worker.ts does, in a worker as
// there, but sent nowhere. Its MB/s over the plain upload's, in the same round, bounds upload_vs_plain_upload:
// the demo path cannot upload faster than it makes its parts.
import { createLocalKeyProvider, encryptStream } from '@envelope/core'
import { PART_BYTES } from '../../demo/src/storage-api.ts'

self.onmessage = async ({ data: file }: MessageEvent<Blob>) => {
  const provider = await createLocalKeyProvider({ kek: crypto.getRandomValues(new Uint8Array(32)), keyId: 'bench' })
  const t = performance.now()
  let chunks: Uint8Array<ArrayBuffer>[] = []
  let filled = 0
  let parts = 0
  const ciphertext = file.stream().pipeThrough(encryptStream({ provider, plaintextLength: file.size }))
  for await (const chunk of ciphertext as unknown as AsyncIterable<Uint8Array<ArrayBuffer>>) {
    chunks.push(chunk)
    filled += chunk.length
    if (filled >= PART_BYTES) {
      parts += new Blob(chunks).size > 0 ? 1 : 0
      chunks = []
      filled = 0
    }
  }
  if (filled > 0) parts += new Blob(chunks).size > 0 ? 1 : 0
  postMessage({ mb_s: file.size / 1e6 / ((performance.now() - t) / 1000), parts })
}
