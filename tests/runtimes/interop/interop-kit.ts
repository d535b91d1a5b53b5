/**
 * Cross-runtime interop: every runtime encrypts and decrypts with the same fixed test key, so a message made in one
 * runtime must open in every other. The KEK is a public test constant (32 bytes of 0x11), never a real key.
 */
import { createLocalKeyProvider, decryptToString, encrypt, type KeyProvider } from '@envelope/core'

export const interopText = 'envelope interop: made in one runtime, opened in another. ✓ äöü'
export const interopContext = { purpose: 'interop' }

let provider: Promise<KeyProvider> | undefined

function interopProvider(): Promise<KeyProvider> {
  provider ??= createLocalKeyProvider({ kek: new Uint8Array(32).fill(0x11), keyId: 'interop' })
  return provider
}

export async function interopEncrypt(text: string): Promise<Uint8Array> {
  return encrypt(text, { provider: await interopProvider(), context: interopContext })
}

export async function interopDecrypt(message: Uint8Array): Promise<string> {
  return decryptToString(message, { provider: await interopProvider(), expectedContext: interopContext })
}

export function toBase64(bytes: Uint8Array): string {
  let s = ''
  for (const b of bytes) s += String.fromCharCode(b)
  return btoa(s)
}

export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const s = atob(text)
  const out = new Uint8Array(s.length)
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i)
  return out
}
