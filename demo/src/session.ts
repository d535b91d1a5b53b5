// Who is signed in, their tokens from the demo identity service, and the key provider acting for them.
import { EnvelopeError } from '@envelope/core'
import { createKeyProxyClient, type KeyProxyClient } from '@envelope/fetch-client'
import { type DekCache, openDekCache } from '@envelope/idb-cache'

export const PROXY_URL = import.meta.env.VITE_PROXY_URL ?? 'http://127.0.0.1:7777'
export const IDENTITY_URL = import.meta.env.VITE_IDENTITY_URL ?? 'http://127.0.0.1:7780'
export const STORAGE_URL = import.meta.env.VITE_STORAGE_URL ?? 'http://127.0.0.1:7778'
/** How long an unwrapped DEK is reused from this browser's cache: the delay before a disable reaches it. */
export const DEK_CACHE_TTL_MS = 10 * 60_000

export type Role = 'member' | 'admin' | 'auditor'
export interface Session {
  readonly tenant: string
  readonly role: Role
}

const STORE = 'envelope-demo-session'
// Opened early (the first IndexedDB open after a reload costs tens of ms): DEKs unwrapped once are reused from
// here, across reloads, as non-extractable keys, until their TTL.
export const dekCache: DekCache = await openDekCache({ maxEntries: 500, ttlMs: DEK_CACHE_TTL_MS })

export function currentSession(): Session | undefined {
  const saved = sessionStorage.getItem(STORE)
  return saved ? (JSON.parse(saved) as Session) : undefined
}

export function signIn(session: Session): void {
  sessionStorage.setItem(STORE, JSON.stringify(session))
}

/**
 * Signs out: forgets the session and its tokens, and drops the tenant's data keys from this browser (IndexedDB
 * and memory, in every tab: the cache posts the drop to them), so nothing unwrapped for the user outlives it.
 */
export async function signOut(): Promise<void> {
  const session = currentSession()
  sessionStorage.removeItem(STORE)
  tokens.clear()
  providers.clear()
  if (session) await dekCache.clearPartition(session.tenant)
}

const tokens = new Map<string, { jwt: string; until: number }>()

/** A JWT for the session, reused for a few minutes; `refresh` (after a 401) always asks for a new one. */
export async function tokenFor(session: Session, { refresh = false } = {}): Promise<string> {
  const id = `${session.tenant}/${session.role}`
  const held = tokens.get(id)
  if (held && !refresh && Date.now() < held.until) return held.jwt
  let r: Response
  try {
    r = await fetch(`${IDENTITY_URL}/token?tenant=${encodeURIComponent(session.tenant)}&role=${session.role}`)
  } catch (err) {
    throw new EnvelopeError('ERR_IDENTITY_UNAVAILABLE', 'the identity service cannot be reached', { cause: err })
  }
  if (!r.ok) throw new EnvelopeError('ERR_SIGN_IN', 'the identity service refused to sign in')
  const jwt = await r.text()
  tokens.set(id, { jwt, until: Date.now() + 5 * 60_000 })
  return jwt
}

const providers = new Map<string, KeyProxyClient>()

/** The key provider acting for the session's user: the proxy only ever serves its tenant's keys to it. */
export function providerFor(session: Session): KeyProxyClient {
  const id = `${session.tenant}/${session.role}`
  let provider = providers.get(id)
  if (!provider) {
    provider = createKeyProxyClient({
      baseUrl: PROXY_URL,
      getToken: ({ refresh }) => tokenFor(session, { refresh }),
      timeoutMs: 3000,
      retries: 1,
      cache: { dekCache, partition: session.tenant },
    })
    providers.set(id, provider)
  }
  return provider
}
