// The demo storage service's API (scripts/demo-storage.mjs), for the page and the upload worker. Failures
// become EnvelopeErrors with stable codes, so the page explains them like any other.
import { EnvelopeError } from '@envelope/core'

/** Ciphertext bytes per uploaded part (the service takes up to 16 MiB). */
export const PART_BYTES = 8 * 2 ** 20
/**
 * Parts uploading at once (the service takes them in any order, up to 64 MiB ahead). More than one keeps
 * Chromium's upload path busy while a part's answer is on its way (docs/benchmarks.md: 1 and 3 measured side by
 * side); memory is this many parts.
 */
export const PARTS_IN_FLIGHT = 3

export interface StoredObject {
  readonly name: string
  readonly bytes: number
}
export interface Submission {
  readonly id: string
  readonly created: string
  /** Who uploaded it, as storage saw the caller's sign-in (absent for submissions stored before it recorded it). */
  readonly by?: string
  readonly objects: readonly StoredObject[]
}

/** A refusal by the storage service; `size` is what it holds of an object, on `ERR_OFFSET`. */
export class StorageError extends EnvelopeError {
  readonly size: number | undefined
  constructor(code: string, message: string, size?: number) {
    super(code, message)
    this.size = size
  }
}

export class StorageApi {
  readonly baseUrl: string
  readonly token: () => Promise<string>
  constructor(baseUrl: string, token: () => Promise<string>) {
    this.baseUrl = baseUrl
    this.token = token
  }

  private async call(path: string, init: RequestInit = {}): Promise<Response> {
    let r: Response
    try {
      const headers = { authorization: `Bearer ${await this.token()}` }
      r = await fetch(`${this.baseUrl}${path}`, { ...init, headers })
    } catch (err) {
      if (err instanceof EnvelopeError) throw err
      throw new EnvelopeError('ERR_STORAGE_UNAVAILABLE', 'the storage service cannot be reached', { cause: err })
    }
    if (r.ok) return r
    const body = (await r.json().catch(() => ({}))) as { error?: { code?: string; message?: string }; size?: number }
    throw new StorageError(
      body.error?.code ?? (r.status >= 500 ? 'ERR_STORAGE_UNAVAILABLE' : 'ERR_STORAGE'),
      body.error?.message ?? `storage answered ${r.status}`,
      body.size,
    )
  }

  /** Starts a submission; nothing shows in the list until {@link commit}. */
  async create(): Promise<string> {
    return ((await (await this.call('/submissions', { method: 'POST' })).json()) as { id: string }).id
  }

  /** Writes one part (at most 16 MiB) of an object at `offset`; parts may come in any order. */
  async putPart(id: string, name: string, offset: number, part: Blob): Promise<void> {
    const r = await this.call(`/submissions/${id}/objects/${name}?offset=${offset}`, { method: 'PUT', body: part })
    await r.arrayBuffer() // read to the end: a body left unread is aborted when the worker ends
  }

  async commit(id: string): Promise<Submission> {
    return (await this.call(`/submissions/${id}/commit`, { method: 'POST' })).json() as Promise<Submission>
  }

  /** Drops an upload in progress; stored submissions are never touched. */
  async discard(id: string): Promise<void> {
    await this.call(`/submissions/${id}`, { method: 'DELETE' })
  }

  async list(): Promise<Submission[]> {
    return ((await (await this.call('/submissions')).json()) as { submissions: Submission[] }).submissions
  }

  /** One stored object, as a stream of ciphertext. */
  async read(owner: string, id: string, name: string): Promise<ReadableStream<Uint8Array>> {
    const r = await this.call(`/tenants/${owner}/submissions/${id}/objects/${name}`)
    if (!r.body) throw new EnvelopeError('ERR_STORAGE', 'storage answered without a body')
    return r.body
  }

  /**
   * A small stored object (a submission's `fields`), read whole but never more than `maxBytes`: storage is not
   * trusted to say how large it is, so a larger one is refused while it downloads (`ERR_LIMIT_EXCEEDED`).
   */
  async readSmall(owner: string, id: string, name: string, maxBytes: number): Promise<Uint8Array> {
    const reader = (await this.read(owner, id, name)).getReader()
    const parts: Uint8Array[] = []
    let total = 0
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      total += r.value.length
      if (total > maxBytes) {
        await reader.cancel()
        throw new EnvelopeError('ERR_LIMIT_EXCEEDED', `stored object ${name} is larger than ${maxBytes} bytes`)
      }
      parts.push(r.value)
    }
    const out = new Uint8Array(total)
    let at = 0
    for (const p of parts) {
      out.set(p, at)
      at += p.length
    }
    return out
  }
}

/** The largest `fields` object the page downloads (a form's fields and file names are a few KiB). */
export const MAX_FIELDS_BYTES = 2 ** 20
