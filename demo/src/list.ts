// The submissions list. Storage knows, in clear, only when each submission was stored, who uploaded it and how
// many bytes it holds; the title and everything else is in the encrypted `fields` object, which this page
// downloads and decrypts. A page of submissions at a time: their `fields` downloaded a few at a time, then all
// their data keys unwrapped in one call (the DEK cache answers what it holds, the key proxy one batch for the
// rest), then decrypted.
import {
  decryptToString,
  type Edek,
  type EncryptionContext,
  EnvelopeError,
  type KeyProvider,
  readHeader,
  type UnwrapResult,
} from '@envelope/core'
import { contextOf } from './sealing.ts'
import { providerFor, type Session } from './session.ts'
import { MAX_FIELDS_BYTES, type Submission } from './storage-api.ts'
import { type Manifest, storageFor } from './submit.ts'

/** Downloads at once (a browser opens about six connections to one host anyway). */
const DOWNLOADS = 6
/** Submissions per unwrap batch: the first titles show before the whole list is done. */
const PAGE = 25
/** The newest submissions shown; older ones are counted, not opened. */
export const MAX_LISTED = 100

export type Opened = { readonly manifest: Manifest } | { readonly error: EnvelopeError }

/** Runs `fn` on every item, at most `limit` at a time; results in order. */
export async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  const run = async () => {
    while (next < items.length) {
      const i = next++
      results[i] = await fn(items[i]!)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run))
  return results
}

const asError = (err: unknown) =>
  err instanceof EnvelopeError ? err : new EnvelopeError('ERR_UNEXPECTED', String(err), { cause: err })
/** A provider that hands out the one DEK already unwrapped for this message. */
const holding = (dek: CryptoKey): KeyProvider => ({
  generateDataKey: () => Promise.reject(new EnvelopeError('ERR_INVALID_ARGUMENT', 'this provider only opens')),
  unwrapDataKey: async () => dek,
  unwrapDataKeys: async (requests) => requests.map(() => ({ ok: true, dek })),
})

/** Decrypts the `fields` of `submissions` (of tenant `owner`), calling `onOpened` for each as its page is done. */
export async function openTitles(
  session: Session,
  owner: string,
  submissions: readonly Submission[],
  onOpened: (submission: Submission, opened: Opened) => void,
): Promise<void> {
  const storage = storageFor(session)
  const provider = providerFor(session)
  for (let start = 0; start < submissions.length; start += PAGE) {
    const page = submissions.slice(start, start + PAGE)
    type Downloaded =
      | { message: Uint8Array; edeks: readonly Edek[]; context: EncryptionContext }
      | { error: EnvelopeError }
    const downloaded = await mapBounded(page, DOWNLOADS, async (s): Promise<Downloaded> => {
      try {
        const size = s.objects.find((o) => o.name === 'fields')?.bytes ?? 0
        if (size > MAX_FIELDS_BYTES) throw new EnvelopeError('ERR_LIMIT_EXCEEDED', 'fields too large to list')
        const message = await storage.readSmall(owner, s.id, 'fields', MAX_FIELDS_BYTES)
        return { message, edeks: readHeader(message).edeks, context: contextOf(owner, s.id, 'fields') }
      } catch (err) {
        return { error: asError(err) }
      }
    })
    // One unwrap call for the page: the cache answers what it holds, the key proxy one batch for the rest.
    const ready = downloaded.flatMap((d, i) => ('error' in d ? [] : [{ ...d, submission: page[i]! }]))
    let keys: UnwrapResult[]
    try {
      keys = ready.length ? await provider.unwrapDataKeys(ready.map(({ edeks, context }) => ({ edeks, context }))) : []
    } catch (err) {
      keys = ready.map(() => ({ ok: false, error: asError(err) }))
    }
    downloaded.forEach((d, i) => {
      if ('error' in d) onOpened(page[i]!, { error: d.error })
    })
    await Promise.all(
      ready.map(async ({ message, context, submission }, i) => {
        const key = keys[i]!
        if (!key.ok) return onOpened(submission, { error: key.error })
        try {
          const text = await decryptToString(message, { provider: holding(key.dek), expectedContext: context })
          onOpened(submission, { manifest: JSON.parse(text) as Manifest })
        } catch (err) {
          onOpened(submission, { error: asError(err) })
        }
      }),
    )
  }
}
