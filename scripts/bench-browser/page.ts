// The browser benchmark's page: opens 1 KiB messages through the key proxy client with the tiered DEK cache, and
// runs the demo's upload path (encrypt in its Web Worker, upload in parts to the demo storage service) against raw
// WebCrypto; times are taken in the page itself (automation would inflate them). Driven by
// scripts/bench-browser.mjs.
import * as core from '@envelope/core'
import { createLocalKeyProvider, decrypt, encrypt, encryptStream } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { type DekCache, openDekCache } from '@envelope/idb-cache'
import { dataKeysFor, sealInWorker } from '../../demo/src/sealing.ts'
import { PART_BYTES, PARTS_IN_FLIGHT, StorageApi } from '../../demo/src/storage-api.ts'
import { frameSizeSweep, webCryptoBaseline } from '../lib/frame-size-sweep.mjs'

declare global {
  var bench: {
    partsInFlight: number
    seal(proxyUrl: string, apiKey: string, count: number): Promise<string[]>
    open(proxyUrl: string, apiKey: string, messages: string[], rounds: number, fresh: boolean): Promise<number[][]>
    baseline(mib: number): Promise<{ webcrypto_mb_s: number; encrypt_stream_mb_s: number }>
    streamVsWebcrypto(mib: number, rounds: number): Promise<{ ours: number; webcrypto: number; ratio: number }>
    sweep(mib: number, rounds: number): Promise<unknown[]>
    uploadOnly(storageUrl: string, token: string, mib: number, inFlight: number): Promise<number>
    partsOnly(mib: number): Promise<number>
    upload(
      storageUrl: string,
      token: string,
      proxyUrl: string,
      apiKey: string,
      mib: number,
      inFlight: number,
    ): Promise<UploadFigures>
  }
}

export interface UploadFigures {
  readonly upload_mb_s: number
  readonly max_long_task_ms: number
  readonly long_tasks: number
}
const MiB = 2 ** 20

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes))
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
let cache: DekCache | undefined

/** The file the bench put in the page's file input (from disk, as a user's file would be), cut to `mib` MiB. */
function testFile(mib: number): Blob {
  const file = (document.getElementById('file') as HTMLInputElement | null)?.files?.[0]
  if (!file || file.size < mib * MiB) throw new Error(`no ${mib} MiB file in the page's file input`)
  return file.slice(0, mib * MiB)
}

globalThis.bench = {
  partsInFlight: PARTS_IN_FLIGHT,
  async seal(proxyUrl, apiKey, count) {
    const provider = createKeyProxyClient({ baseUrl: proxyUrl, apiKey, tenant: 'bench' })
    const plaintext = new Uint8Array(1024).fill(7)
    const out: string[] = []
    for (let i = 0; i < count; i++) out.push(b64(await encrypt(plaintext, { provider, context: { doc: String(i) } })))
    return out
  },
  /** Opens every message `rounds` times; returns the ms of each open, per round. */
  async open(proxyUrl, apiKey, messages, rounds, fresh) {
    if (fresh && globalThis.indexedDB) indexedDB.deleteDatabase('envelope-dek-cache')
    cache ??= await openDekCache({ maxEntries: 10_000, ttlMs: 600_000 })
    const provider = createKeyProxyClient({
      baseUrl: proxyUrl,
      apiKey,
      tenant: 'bench',
      batchWindowMs: 0,
      cache: { dekCache: cache, partition: 'bench' },
    })
    const bytes = messages.map(unb64)
    const times: number[][] = []
    for (let r = 0; r < rounds; r++) {
      const round: number[] = []
      for (const [i, m] of bytes.entries()) {
        const t = performance.now()
        const pt = await decrypt(m, { provider, expectedContext: { doc: String(i) } })
        round.push(performance.now() - t)
        if (pt.length !== 1024) throw new Error('bad plaintext')
      }
      times.push(round)
    }
    return times
  },
  /**
   * The baselines for a `mib` MiB file: raw AES-GCM over 1 MiB chunks in this page (no I/O, so an upper bound),
   * and the core's encryptStream over the same file as a Blob into a sink (no upload).
   */
  async baseline(mib) {
    const file = testFile(mib)
    const one = new Uint8Array(await file.slice(0, MiB).arrayBuffer())
    const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt'])
    let t = performance.now()
    for (let i = 0; i < mib; i++) {
      await crypto.subtle.encrypt({ name: 'AES-GCM', iv: crypto.getRandomValues(new Uint8Array(12)) }, key, one)
    }
    const webcrypto_mb_s = (mib * MiB) / 1e6 / ((performance.now() - t) / 1000)
    t = performance.now()
    const kek = crypto.getRandomValues(new Uint8Array(32))
    const provider = await createLocalKeyProvider({ kek, keyId: 'bench' })
    await file
      .stream()
      .pipeThrough(encryptStream({ provider, context: {}, plaintextLength: file.size }))
      .pipeTo(new WritableStream())
    const encrypt_stream_mb_s = (mib * MiB) / 1e6 / ((performance.now() - t) / 1000)
    return { webcrypto_mb_s, encrypt_stream_mb_s }
  },
  /**
   * The core's encryptStream over in-memory 1 MiB chunks against one-shot WebCrypto over the same chunks, in
   * alternating rounds (median of the rounds' ratios): the stream's own cost, with no file and no upload.
   */
  async streamVsWebcrypto(mib, rounds) {
    const chunk = new Uint8Array(MiB).map((_, i) => (i * 2654435761) >>> 24)
    const provider = await createLocalKeyProvider({ kek: crypto.getRandomValues(new Uint8Array(32)), keyId: 'bench' })
    const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt'])
    const ours = async () => {
      let sent = 0
      const t = performance.now()
      await new ReadableStream({
        pull(c) {
          if (sent++ >= mib) return c.close()
          c.enqueue(chunk)
        },
      })
        .pipeThrough(encryptStream({ provider }))
        .pipeTo(new WritableStream())
      return (mib * MiB) / 1e6 / ((performance.now() - t) / 1000)
    }
    const webcrypto = async () => {
      const t = performance.now()
      for (let i = 0; i < mib; i++) {
        await crypto.subtle.encrypt({ name: 'AES-GCM', iv: crypto.getRandomValues(new Uint8Array(12)) }, key, chunk)
      }
      return (mib * MiB) / 1e6 / ((performance.now() - t) / 1000)
    }
    await ours()
    await webcrypto()
    const o: number[] = []
    const w: number[] = []
    const r: number[] = []
    for (let i = 0; i < rounds; i++) {
      o.push(await ours())
      w.push(await webcrypto())
      r.push(o.at(-1)! / w.at(-1)!)
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
    return { ours: median(o), webcrypto: median(w), ratio: median(r) }
  },
  /** encryptStream and decryptStream per frame size against one-shot WebCrypto (scripts/lib/frame-size-sweep.mjs). */
  async sweep(mib, rounds) {
    return frameSizeSweep({ core, baseline: await webCryptoBaseline(), totalBytes: mib * MiB, rounds })
  },
  /**
   * The ceiling of the upload itself: the file's plaintext sent as Blob parts of the demo's size, `inFlight` at
   * once as the demo does, no encryption; MB/s.
   */
  async uploadOnly(storageUrl, token, mib, inFlight) {
    const file = testFile(mib)
    const storage = new StorageApi(storageUrl, async () => token)
    const submission = await storage.create()
    const t = performance.now()
    const uploading: Promise<void>[] = []
    for (let at = 0; at < file.size; at += PART_BYTES) {
      if (uploading.length >= inFlight) await uploading.shift()
      uploading.push(storage.putPart(submission, 'file-0', at, file.slice(at, at + PART_BYTES)))
    }
    await Promise.all(uploading)
    const seconds = (performance.now() - t) / 1000
    await storage.discard(submission)
    return (mib * MiB) / 1e6 / seconds
  },
  /**
   * The demo path's work before the network: the file encrypted into Blob parts in a worker, sent nowhere
   * (scripts/bench-browser/parts-worker.ts); MB/s.
   */
  async partsOnly(mib) {
    const worker = new Worker('parts-worker.js', { type: 'module' })
    try {
      return await new Promise<number>((resolve, reject) => {
        worker.onmessage = ({ data }) => resolve(data.mb_s)
        worker.onerror = (e) => reject(new Error(e.message))
        worker.postMessage(testFile(mib))
      })
    } finally {
      worker.terminate()
    }
  },
  /**
   * The demo's upload path for a `mib` MiB file: data keys from the proxy, then the demo's worker encrypts and
   * uploads in 8 MiB parts to the demo storage service. Long tasks are observed on the page's main thread.
   */
  async upload(storageUrl, token, proxyUrl, apiKey, mib, inFlight) {
    const file = testFile(mib)
    const longTasks: number[] = []
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) longTasks.push(e.duration)
    })
    observer.observe({ type: 'longtask' })
    const t = performance.now()
    const storage = new StorageApi(storageUrl, async () => token)
    const submission = await storage.create()
    const provider = createKeyProxyClient({ baseUrl: proxyUrl, apiKey, tenant: 'bench' })
    const objects = await dataKeysFor(provider, 'bench', submission, [
      ['fields', new Blob(['{"fields":{},"files":[]}'])],
      ['file-0', file],
    ])
    const request = { storageUrl, token, submission, objects, partsInFlight: inFlight }
    await sealInWorker(new Worker('seal-worker.js', { type: 'module' }), request)
    const stored = await storage.commit(submission)
    const seconds = (performance.now() - t) / 1000
    observer.disconnect()
    if ((stored.objects.find((o) => o.name === 'file-0')?.bytes ?? 0) <= mib * MiB) throw new Error('short upload')
    return {
      upload_mb_s: (mib * MiB) / 1e6 / seconds,
      max_long_task_ms: Math.max(0, ...longTasks),
      long_tasks: longTasks.length,
    }
  },
}
if (typeof document !== 'undefined') document.title = 'ready'
