// Loaded into the browser conformance page by the idb-cache specs (Chromium via Playwright, Firefox via
// puppeteer): the DekCache acceptance suite against real IndexedDB, and the steps of the reload, two-tab and
// storage-failure tests. Everything crosses to the spec as strings, numbers and plain objects.
import { readHeader } from '@envelope/core'
import { type DekCache, dekCacheKey, openDekCache, openIdbDekCache } from '../../src/index.ts'
import { dekCacheSuite } from '../conformance/dek-cache-suite.ts'
import {
  captureWarnings,
  fingerprint,
  freshDek,
  localProvider,
  opensWith,
  sealedMessage,
  uniqueName,
} from '../conformance/kit.ts'

const acceptance = dekCacheSuite('IndexedDB backend (real)', (o) =>
  openIdbDekCache({ ...o, name: uniqueName('real-idb') }),
)

export function acceptanceNames(): string[] {
  return acceptance.tests.map((t) => t.name)
}

export async function runAcceptance(name: string): Promise<{ ok: boolean; error?: string }> {
  const t = acceptance.tests.find((x) => x.name === name)
  if (!t) return { ok: false, error: `no such test: ${name}` }
  try {
    await t.fn()
    return { ok: true }
  } catch (err) {
    return { ok: false, error: String((err as Error)?.stack ?? err) }
  }
}

const settings = { maxEntries: 50, ttlMs: 3600_000 }
const toBase64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes))
const fromBase64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0))

/** Seals a message, caches its DEK in IndexedDB under `db`, and returns the message (base64). */
export async function sealAndCache(db: string): Promise<string> {
  const sealed = await sealedMessage(await localProvider(), 'survives a reload')
  const cache = await openIdbDekCache({ ...settings, name: db })
  await cache.set('acme', await dekCacheKey(sealed.edeks, sealed.context), sealed.dek)
  cache.close()
  return toBase64(sealed.message)
}

/** After a reload: reads the DEK back from IndexedDB and opens the message with it. */
export async function openFromCache(db: string, messageBase64: string) {
  const message = fromBase64(messageBase64)
  const header = readHeader(message)
  const cache = await openIdbDekCache({ ...settings, name: db })
  try {
    const dek = await cache.get('acme', await dekCacheKey(header.edeks, header.context))
    if (!dek) return { found: false }
    const exportRefused = await crypto.subtle.exportKey('raw', dek).then(
      () => false,
      () => true,
    )
    return {
      found: true,
      type: Object.prototype.toString.call(dek),
      extractable: dek.extractable,
      algorithm: dek.algorithm.name,
      usages: [...dek.usages].sort(),
      exportRefused,
      text: await opensWith(dek, message),
    }
  } finally {
    cache.close()
  }
}

// --- two tabs: caches kept open in this page between calls ---
const open = new Map<string, DekCache>()

export async function openCache(db: string, kind: 'tiered' | 'idb'): Promise<string> {
  const cache =
    kind === 'tiered' ? await openDekCache({ ...settings, name: db }) : await openIdbDekCache({ ...settings, name: db })
  open.get(db)?.close()
  open.set(db, cache)
  return cache.backend
}

function opened(db: string): DekCache {
  const cache = open.get(db)
  if (!cache) throw new Error(`cache ${db} is not open in this page`)
  return cache
}

/** Stores a fresh DEK; returns its fingerprint. */
export async function put(db: string, partition: string, key: string): Promise<string> {
  const dek = await freshDek()
  await opened(db).set(partition, key, dek)
  return fingerprint(dek)
}

/** The fingerprint of the cached DEK, or null on a miss. */
export async function fingerprintOf(db: string, partition: string, key: string): Promise<string | null> {
  const dek = await opened(db).get(partition, key)
  return dek ? fingerprint(dek) : null
}

export async function clearPartition(db: string, partition: string): Promise<void> {
  await opened(db).clearPartition(partition)
}

/** Waits (a bounded number of event-loop turns, no fixed delay) until the entry is gone from this tab. */
export async function waitUntilGone(db: string, partition: string, key: string): Promise<boolean> {
  for (let turn = 0; turn < 2000; turn++) {
    if ((await opened(db).get(partition, key)) === undefined) return true
    await new Promise((resolve) => setTimeout(resolve, 0))
  }
  return false
}

/** `count` concurrent writes (and reads of the other tab's keys) in this tab. */
export async function writeMany(db: string, mine: string, theirs: string, count: number): Promise<void> {
  const cache = opened(db)
  const dek = await freshDek()
  const work: Promise<unknown>[] = []
  for (let i = 0; i < count; i++) {
    work.push(cache.set('t', `${mine}${i}`, dek), cache.get('t', `${theirs}${i}`), cache.set('t', 'shared', dek))
  }
  await Promise.all(work)
}

export async function size(db: string): Promise<number> {
  return opened(db).size()
}

export function closeAll(): void {
  for (const cache of open.values()) cache.close()
  open.clear()
}

/** Deletes the database from this tab; our caches in other tabs must let it happen (they close on versionchange). */
export function deleteDatabase(db: string): Promise<string> {
  return new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(db)
    request.onsuccess = () => resolve('deleted')
    request.onerror = () => resolve(`error ${request.error?.name}`)
    request.onblocked = () => resolve('blocked')
  })
}

/** After the storage went away under an open cache: it keeps working from memory and warns once, without keys. */
export async function useAfterStorageLoss(db: string, partition: string, cachedKey: string) {
  const cache = opened(db)
  const { result, warnings } = await captureWarnings(async () => {
    const dek = await freshDek()
    const fp = await fingerprint(dek)
    await cache.set(partition, 'after', dek)
    const after = await cache.get(partition, 'after')
    const before = await cache.get(partition, cachedKey)
    return { fp, after: after ? (await fingerprint(after)) === fp : false, before: before !== undefined }
  })
  return {
    backend: cache.backend,
    before: result.before,
    after: result.after,
    warnings,
    leaked: warnings.some((w) => w.includes(result.fp) || w.includes(partition)),
  }
}
