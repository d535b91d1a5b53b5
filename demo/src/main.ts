// The demo page: seals a note and an optional file into one envelope message in the browser, with a data key
// from the key proxy (the signed-in tenant's JWT from the demo identity service), shows the message header,
// and opens it again, including the typed refusals for a flipped bit, another tenant and an unreachable proxy.
import { type DataKey, decrypt, decryptStream, EnvelopeError, type KeyProvider, readHeader } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { openDekCache } from '@envelope/idb-cache'
import type { SealMessage, SealRequest } from './seal-worker.ts'

const PROXY_URL = import.meta.env.VITE_PROXY_URL ?? 'http://127.0.0.1:7777'
const IDENTITY_URL = import.meta.env.VITE_IDENTITY_URL ?? 'http://127.0.0.1:7780'
const STORAGE_URL = import.meta.env.VITE_STORAGE_URL ?? 'http://127.0.0.1:7778'
// Opened early (the first IndexedDB open after a reload costs tens of ms): DEKs unwrapped once are reused from
// here, across reloads, as non-extractable keys, until their TTL.
const dekCache = await openDekCache({ maxEntries: 500, ttlMs: 10 * 60_000 })

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const status = $('status')
let sealed: { message: Uint8Array; tenant: string } | undefined

async function tokenFor(tenant: string): Promise<string> {
  const r = await fetch(`${IDENTITY_URL}/token?tenant=${encodeURIComponent(tenant)}`)
  if (!r.ok) throw new EnvelopeError('ERR_SIGN_IN', 'the demo identity service refused to sign in')
  return r.text()
}

/** A key provider acting as a user of `tenant`: the proxy only ever serves that tenant's keys to it. */
function providerFor(tenant: string, { baseUrl = PROXY_URL, cached = true } = {}): KeyProvider {
  return createKeyProxyClient({
    baseUrl,
    getToken: () => tokenFor(tenant),
    timeoutMs: 3000,
    retries: 1,
    ...(cached ? { cache: { dekCache, partition: tenant } } : {}),
  })
}

function show(text: string, kind: 'ok' | 'error') {
  status.textContent = text
  status.className = kind
}

function explain(err: unknown): string {
  if (!(err instanceof EnvelopeError)) return `Something unexpected failed: ${String(err)}`
  const why: Record<string, string> = {
    ERR_AUTHENTICATION_FAILED: 'the message was altered',
    ERR_TENANT_FORBIDDEN: 'this tenant may not use the other tenant’s key',
    ERR_PROXY_UNAVAILABLE: 'the key proxy cannot be reached',
    ERR_PROXY_TIMEOUT: 'the key proxy did not answer in time',
    ERR_KEY_DISABLED: 'the tenant’s key is disabled',
    ERR_KEY_DESTROYED: 'the tenant’s key was destroyed: this data is gone for good',
  }
  return `Refused (${err.code}): ${why[err.code] ?? err.message}. Nothing was decrypted.`
}

function hex(bytes: Uint8Array, max = 16): string {
  const h = Array.from(bytes.subarray(0, max), (b) => b.toString(16).padStart(2, '0')).join('')
  return bytes.length > max ? `${h}…` : h
}

// The payload: note and file in one Blob, length-prefixed, so one message carries both. A Blob, not bytes: the
// file is never read into the main thread; the worker streams it.
function pack(note: string, file: Blob): Blob {
  const n = new TextEncoder().encode(note)
  const length = new Uint8Array(4)
  new DataView(length.buffer).setUint32(0, n.length)
  return new Blob([length, n, file])
}

/** Encrypts `payload` in a Web Worker under `dataKey`; reports progress; resolves with the message as a Blob. */
function sealInWorker(dataKey: DataKey, context: Record<string, string>, payload: Blob): Promise<Blob> {
  const worker = new Worker(new URL('./seal-worker.ts', import.meta.url), { type: 'module' })
  const parts: Uint8Array<ArrayBuffer>[] = []
  return new Promise<Blob>((resolve, reject) => {
    worker.onmessage = ({ data }: MessageEvent<SealMessage>) => {
      if (data.type === 'progress') {
        show(`Encrypting in a Web Worker: ${Math.floor((100 * data.plaintextBytes) / Math.max(1, data.total))}%`, 'ok')
      } else if (data.type === 'part') parts.push(data.bytes as Uint8Array<ArrayBuffer>)
      else if (data.type === 'done') {
        document.body.dataset.sealedIn = data.inWorker ? 'worker' : 'main'
        resolve(new Blob(parts))
      } else reject(new EnvelopeError(data.code, data.message))
    }
    worker.onerror = (e) => reject(new EnvelopeError('ERR_WORKER', e.message))
    const request: SealRequest = { dataKey, context, payload }
    worker.postMessage(request)
  }).finally(() => worker.terminate())
}

function unpack(bytes: Uint8Array): { note: string; fileBytes: number } {
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0)
  return { note: new TextDecoder().decode(bytes.subarray(4, 4 + n)), fileBytes: bytes.length - 4 - n }
}

async function open(message: Uint8Array, provider: KeyProvider, tenant: string) {
  try {
    const { note, fileBytes } = unpack(await decrypt(message, { provider, expectedContext: { tenant } }))
    show(`Decrypted: “${note}”${fileBytes ? ` and ${fileBytes} file bytes` : ''}.`, 'ok')
  } catch (err) {
    show(explain(err), 'error')
  }
}

$('seal').addEventListener('submit', async (event) => {
  event.preventDefault()
  const form = new FormData(event.target as HTMLFormElement)
  const tenant = String(form.get('tenant'))
  const file = form.get('file') as File | null
  const payload = pack(String(form.get('note')), file ?? new Blob())
  let stored: Blob
  try {
    // The data key comes from the proxy here (the page holds the token); the worker only ever sees the key.
    const context = { tenant }
    const dataKey = await providerFor(tenant).generateDataKey(context, { plaintextLength: payload.size })
    stored = await sealInWorker(dataKey, context, payload)
  } catch (err) {
    return show(explain(err).replace('Nothing was decrypted.', 'Nothing was encrypted or sent.'), 'error')
  }
  const message = new Uint8Array(await stored.arrayBuffer()) // kept for the demo's tamper and decrypt buttons
  sealed = { message, tenant }
  const h = readHeader(message)
  const e = h.edeks[0]!
  const rows: [string, string][] = [
    ['size', `${message.length} bytes (${h.headerLength} header)`],
    ['context', JSON.stringify(h.context)],
    ['EDEK', `${e.providerId} / ${e.keyId} v${e.keyVersion} — a ${e.ciphertext.length}-byte JWE`],
    ['message id', hex(h.messageId, 32)],
    ['commitment', hex(h.commitment, 32)],
    [
      'frames',
      `${Math.max(1, Math.ceil((message.length - h.headerLength) / (h.frameSize + 16)))} of ${h.frameSize / 1024} KiB`,
    ],
  ]
  $('header').replaceChildren(
    ...rows.flatMap(([k, v]) => {
      const dt = document.createElement('dt')
      const dd = document.createElement('dd')
      dt.textContent = k
      dd.textContent = v
      return [dt, dd]
    }),
  )
  $('result').hidden = false
  // Only ciphertext goes to storage (as a Blob, which the browser may keep on disk rather than in the JS heap).
  const upload = await fetch(`${STORAGE_URL}/submissions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${await tokenFor(tenant)}` },
    body: stored,
  })
  if (!upload.ok) return show(`Encrypted, but the storage service refused the upload (${upload.status}).`, 'error')
  show(
    `Encrypted in a Web Worker with a data key of tenant ${tenant} and stored. The note and file never left this page in the clear.`,
    'ok',
  )
  await listSubmissions()
})

const selectedTenant = () => ($('seal').querySelector('select') as HTMLSelectElement).value

/** The signed-in tenant's submissions, as the storage service lists them. */
async function listSubmissions(): Promise<void> {
  const tenant = selectedTenant()
  const r = await fetch(`${STORAGE_URL}/submissions`, {
    headers: { authorization: `Bearer ${await tokenFor(tenant)}` },
  })
  const { submissions } = (await r.json()) as { submissions: { id: string; bytes: number }[] }
  $('submissions').replaceChildren(
    ...submissions.map((s) => {
      const li = document.createElement('li')
      const button = document.createElement('button')
      button.type = 'button'
      button.textContent = `Open ${s.id}`
      button.addEventListener('click', () => openStored(tenant, s.id))
      li.append(button, ` ${s.bytes} bytes of ciphertext`)
      return li
    }),
  )
}

/** Downloads a submission and decrypts it as a stream: each frame is released only once it verified. */
async function openStored(tenant: string, id: string): Promise<void> {
  const log = $('opened')
  try {
    const r = await fetch(`${STORAGE_URL}/submissions/${id}`, {
      headers: { authorization: `Bearer ${await tokenFor(tenant)}` },
    })
    if (!r.ok || !r.body) throw new EnvelopeError('ERR_NOT_FOUND', `storage answered ${r.status}`)
    const plain = r.body.pipeThrough(decryptStream({ provider: providerFor(tenant), expectedContext: { tenant } }))
    const { note, fileBytes } = unpack(new Uint8Array(await new Response(plain).arrayBuffer()))
    log.textContent = `Opened ${id}: “${note}”${fileBytes ? ` and ${fileBytes} file bytes` : ''}.`
    log.className = 'ok'
  } catch (err) {
    log.textContent = explain(err)
    log.className = 'error'
  }
}

$('seal')
  .querySelector('select')!
  .addEventListener('change', () => void listSubmissions())

$('open').addEventListener('click', () => sealed && open(sealed.message, providerFor(sealed.tenant), sealed.tenant))
$('tamper').addEventListener('click', () => {
  if (!sealed) return
  const altered = sealed.message.slice()
  altered[altered.length - 20]! ^= 1
  return open(altered, providerFor(sealed.tenant), sealed.tenant)
})
$('wrong-tenant').addEventListener('click', () => {
  if (!sealed) return
  const other = sealed.tenant === 'acme' ? 'globex' : 'acme'
  return open(sealed.message, providerFor(other), sealed.tenant)
})
// A device without the cached key: a cached DEK keeps opening data while the proxy is down, until its TTL.
$('proxy-down').addEventListener('click', () => {
  if (!sealed) return
  const offline = providerFor(sealed.tenant, { baseUrl: 'http://127.0.0.1:9', cached: false })
  return open(sealed.message, offline, sealed.tenant)
})
await listSubmissions()
document.body.dataset.ready = 'true'
