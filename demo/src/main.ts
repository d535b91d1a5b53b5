// The demo page: seals a note and an optional file into one envelope message in the browser, with a data key
// from the key proxy (the signed-in tenant's JWT from the demo identity service), shows the message header,
// and opens it again, including the typed refusals for a flipped bit, another tenant and an unreachable proxy.
import { decrypt, EnvelopeError, encrypt, type KeyProvider, readHeader } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'

const PROXY_URL = import.meta.env.VITE_PROXY_URL ?? 'http://127.0.0.1:7777'
const IDENTITY_URL = import.meta.env.VITE_IDENTITY_URL ?? 'http://127.0.0.1:7780'

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T
const status = $('status')
let sealed: { message: Uint8Array; tenant: string } | undefined

/** A key provider acting as a user of `tenant`: the proxy only ever serves that tenant's keys to it. */
function providerFor(tenant: string, baseUrl = PROXY_URL): KeyProvider {
  const getToken = async () => {
    const r = await fetch(`${IDENTITY_URL}/token?tenant=${encodeURIComponent(tenant)}`)
    if (!r.ok) throw new EnvelopeError('ERR_SIGN_IN', 'the demo identity service refused to sign in')
    return r.text()
  }
  return createKeyProxyClient({ baseUrl, getToken, timeoutMs: 3000, retries: 1 })
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
  const fileBytes = file && file.size > 0 ? new Uint8Array(await file.arrayBuffer()) : new Uint8Array(0)
  let message: Uint8Array
  try {
    message = await encrypt(pack(String(form.get('note')), fileBytes), {
      provider: providerFor(tenant),
      context: { tenant },
    })
  } catch (err) {
    return show(explain(err).replace('Nothing was decrypted.', 'Nothing was encrypted or sent.'), 'error')
  }
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
  show(`Encrypted with a data key of tenant ${tenant}. The note and file never left this page.`, 'ok')
})

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
$('proxy-down').addEventListener(
  'click',
  () => sealed && open(sealed.message, providerFor(sealed.tenant, 'http://127.0.0.1:9'), sealed.tenant),
)
document.body.dataset.ready = 'true'
