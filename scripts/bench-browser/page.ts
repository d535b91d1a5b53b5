// The browser benchmark's page: opens 1 KiB messages through the key proxy client with the tiered DEK cache and
// times each open in the page itself (automation would inflate the figures). Driven by scripts/bench-browser.mjs.
import { decrypt, encrypt } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { type DekCache, openDekCache } from '@envelope/idb-cache'

declare global {
  var bench: {
    seal(proxyUrl: string, apiKey: string, count: number): Promise<string[]>
    open(proxyUrl: string, apiKey: string, messages: string[], rounds: number, fresh: boolean): Promise<number[][]>
  }
}

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes))
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0))
let cache: DekCache | undefined

globalThis.bench = {
  async seal(proxyUrl, apiKey, count) {
    const provider = createKeyProxyClient({ baseUrl: proxyUrl, apiKey })
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
}
if (typeof document !== 'undefined') document.title = 'ready'
