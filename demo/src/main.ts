// The demo page: seals a note and an optional file into one envelope message in the browser, shows its header,
// and opens it again, including the typed errors a tampered message or a wrong tenant gives.
import { createLocalKeyProvider, decrypt, EnvelopeError, encrypt, type KeyProvider, readHeader } from '@envelope/core'

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const status = $('status')
let provider: KeyProvider
let sealed: { message: Uint8Array; tenant: string; fileName: string } | undefined

function show(text: string, kind: 'ok' | 'error') {
  status.textContent = text
  status.className = kind
}

function hex(bytes: Uint8Array, max = 16): string {
  const h = Array.from(bytes.subarray(0, max), (b) => b.toString(16).padStart(2, '0')).join('')
  return bytes.length > max ? `${h}…` : h
}

// The payload: note and file in one buffer, length-prefixed, so one message carries both.
function pack(note: string, file: Uint8Array): Uint8Array {
  const n = new TextEncoder().encode(note)
  const out = new Uint8Array(4 + n.length + file.length)
  new DataView(out.buffer).setUint32(0, n.length)
  out.set(n, 4)
  out.set(file, 4 + n.length)
  return out
}

function unpack(bytes: Uint8Array): { note: string; fileBytes: number } {
  const n = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0)
  return { note: new TextDecoder().decode(bytes.subarray(4, 4 + n)), fileBytes: bytes.length - 4 - n }
}

async function open(message: Uint8Array, tenant: string) {
  try {
    const { note, fileBytes } = unpack(await decrypt(message, { provider, expectedContext: { tenant } }))
    show(`Decrypted: “${note}”${fileBytes ? ` and ${fileBytes} file bytes` : ''}.`, 'ok')
  } catch (err) {
    if (err instanceof EnvelopeError) show(`Refused (${err.code}): ${err.message}. Nothing was decrypted.`, 'error')
    else throw err
  }
}

$('seal').addEventListener('submit', async (event) => {
  event.preventDefault()
  const form = new FormData(event.target as HTMLFormElement)
  const tenant = String(form.get('tenant'))
  const file = form.get('file') as File | null
  const fileBytes = file && file.size > 0 ? new Uint8Array(await file.arrayBuffer()) : new Uint8Array(0)
  const message = await encrypt(pack(String(form.get('note')), fileBytes), { provider, context: { tenant } })
  sealed = { message, tenant, fileName: file?.name ?? '' }
  const h = readHeader(message)
  const rows: [string, string][] = [
    ['size', `${message.length} bytes (${h.headerLength} header)`],
    ['context', JSON.stringify(h.context)],
    ['EDEK', `${h.edeks[0]!.providerId} / ${h.edeks[0]!.keyId} — ${hex(h.edeks[0]!.ciphertext)}`],
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
  show('Encrypted. Nothing left this page.', 'ok')
})

$('open').addEventListener('click', () => sealed && open(sealed.message, sealed.tenant))
$('tamper').addEventListener('click', () => {
  if (!sealed) return
  const altered = sealed.message.slice()
  altered[altered.length - 20]! ^= 1
  return open(altered, sealed.tenant)
})
$('wrong-tenant').addEventListener('click', () => sealed && open(sealed.message, `${sealed.tenant}-other`))

// A KEK generated in this page and never extractable; the key proxy replaces it in the full demo.
const kek = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'unwrapKey'])
provider = await createLocalKeyProvider({ kek, keyId: 'demo-page-kek' })
document.body.dataset.ready = 'true'
