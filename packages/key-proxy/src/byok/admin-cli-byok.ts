// The customer's side of `envelope-admin import-key` (fetch the import parameters, wrap the material locally with
// node:crypto, upload it) and `envelope-admin rekey-bulk` (stored EDEKs to the primary key, resumable).
import { constants, createPublicKey, publicEncrypt } from 'node:crypto'
import { appendFileSync, closeSync, createReadStream, existsSync, fsyncSync, openSync, readFileSync } from 'node:fs'
import { createInterface } from 'node:readline'

// biome-ignore lint/suspicious/noExplicitAny: a route's JSON, read as the proxy documents it
type Json = any

async function call(url: string, init: RequestInit): Promise<{ ok: boolean; status: number; body: Json }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) })
  return { ok: res.ok, status: res.status, body: await res.json().catch(() => ({})) }
}

const refusal = (r: { status: number; body: Json }) =>
  `${r.body?.error?.code ?? `HTTP ${r.status}`}: ${r.body?.error?.message ?? ''}`

/** import-key: exit code 0 (imported), 1 (refused or unreachable), 2 (usage). */
export async function importKey(o: {
  url: string
  adminKey: string
  materialFile?: string
  validTo?: string
  wrappingKeySpec?: string
}): Promise<number> {
  if (!o.materialFile) {
    console.error('envelope-admin: import-key needs --material FILE (the 32 raw bytes of the key material)')
    return 2
  }
  let material: Buffer
  try {
    material = readFileSync(o.materialFile)
  } catch (err) {
    console.error(`envelope-admin: cannot read ${o.materialFile}: ${(err as Error).message}`)
    return 2
  }
  if (material.length !== 32) {
    console.error(
      `envelope-admin: key material must be 32 raw bytes (AES-256); ${o.materialFile} has ${material.length}`,
    )
    return 2
  }
  let validTo: string | undefined
  if (o.validTo !== undefined) {
    const t = Date.parse(o.validTo)
    if (!Number.isFinite(t)) {
      console.error('envelope-admin: --valid-to must be a date (2027-06-30 or an ISO time)')
      return 2
    }
    validTo = new Date(t).toISOString()
  }
  const headers = { authorization: `ApiKey ${o.adminKey}`, 'content-type': 'application/json' }
  try {
    const spec = o.wrappingKeySpec ? `?wrappingKeySpec=${encodeURIComponent(o.wrappingKeySpec)}` : ''
    const p = await call(`${o.url}/import-parameters${spec}`, { headers })
    if (!p.ok) {
      console.error(refusal(p))
      return 1
    }
    const publicKey = createPublicKey({ key: Buffer.from(p.body.publicKey, 'base64url'), format: 'der', type: 'spki' })
    const wrapped = publicEncrypt(
      { key: publicKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
      material,
    )
    material.fill(0)
    const r = await call(`${o.url}/import`, {
      method: 'POST',
      headers,
      body: JSON.stringify({
        importToken: p.body.importToken,
        encryptedKeyMaterial: wrapped.toString('base64url'),
        ...(validTo ? { validTo } : {}),
      }),
    })
    if (!r.ok) {
      console.error(refusal(r))
      return 1
    }
    console.log(JSON.stringify(r.body, null, 2))
    return 0
  } catch (err) {
    console.error(`envelope-admin: cannot reach the proxy: ${(err as Error).message}`)
    return 1
  } finally {
    material.fill(0)
  }
}

/** The ids an output file says are done (`ok: true`); a torn last line (a crash mid-write) is ignored. */
function doneIds(outFile: string): { done: Set<string>; torn: boolean } {
  const done = new Set<string>()
  if (!existsSync(outFile)) return { done, torn: false }
  const text = readFileSync(outFile, 'utf8')
  for (const line of text.split('\n')) {
    try {
      const r = JSON.parse(line)
      if (typeof r?.id === 'string') r.ok === true ? done.add(r.id) : done.delete(r.id)
    } catch {}
  }
  return { done, torn: text.length > 0 && !text.endsWith('\n') }
}

/** rekey-bulk: exit code 0 (every item moved), 1 (some refused, or stopped: rerun to resume), 2 (usage). */
export async function rekeyBulk(o: {
  url: string
  tenant: string
  inFile?: string
  outFile?: string
  batch?: string
  apiKeyFile?: string
}): Promise<number> {
  if (!o.inFile || !o.outFile) {
    console.error('envelope-admin: rekey-bulk needs --in FILE (NDJSON of {id, edeks, context}) and --out FILE')
    return 2
  }
  const batchSize = o.batch === undefined ? 100 : Number(o.batch)
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 1000) {
    console.error('envelope-admin: --batch is 1 to 1000')
    return 2
  }
  let apiKey = process.env.ENVELOPE_API_KEY
  try {
    if (o.apiKeyFile) apiKey = readFileSync(o.apiKeyFile, 'utf8').trim()
  } catch (err) {
    console.error(`envelope-admin: cannot read ${o.apiKeyFile}: ${(err as Error).message}`)
    return 2
  }
  if (!apiKey) {
    console.error(
      'envelope-admin: rekey-bulk uses a service API key of the tenant: --api-key-file F or $ENVELOPE_API_KEY',
    )
    return 2
  }
  const { done, torn } = doneIds(o.outFile)
  const out = openSync(o.outFile, 'a')
  if (torn) appendFileSync(out, '\n') // the torn line of a crash stays on its own, ignored
  const counts = { moved: 0, skipped: 0, refused: 0 }
  const seen = new Set<string>()
  let lineNo = 0
  let batch: { id: string; edeks: unknown; context: unknown }[] = []
  const flush = async (): Promise<boolean> => {
    if (batch.length === 0) return true
    let r: Awaited<ReturnType<typeof call>>
    try {
      r = await call(`${o.url}/v1/keys/rekey-bulk`, {
        method: 'POST',
        headers: { authorization: `ApiKey ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tenant: o.tenant, items: batch }),
      })
    } catch (err) {
      console.error(`envelope-admin: stopped (the proxy did not answer: ${(err as Error).message}); rerun to resume`)
      return false
    }
    if (!r.ok) {
      console.error(`${refusal(r)}\nenvelope-admin: stopped; rerun to resume (done items are in ${o.outFile})`)
      return false
    }
    const lines = (r.body.results as Json[]).map((x) => {
      if (x.ok) counts.moved++
      else counts.refused++
      return `${JSON.stringify(x.ok ? { id: x.id, ok: true, edek: x.edek } : { id: x.id, ok: false, error: x.error })}\n`
    })
    appendFileSync(out, lines.join(''))
    fsyncSync(out) // what the file says is done is done
    batch = []
    return true
  }
  try {
    const input = createInterface({ input: createReadStream(o.inFile), crlfDelay: Number.POSITIVE_INFINITY })
    for await (const text of input) {
      lineNo++
      if (!text.trim()) continue
      let item: { id?: unknown; edeks?: unknown; context?: unknown }
      try {
        item = JSON.parse(text)
      } catch {
        console.error(`envelope-admin: ${o.inFile} line ${lineNo} is not JSON`)
        return 2
      }
      if (typeof item?.id !== 'string' || item.id.length === 0 || item.id.length > 256) {
        console.error(`envelope-admin: ${o.inFile} line ${lineNo} has no "id" (a string of 1 to 256 characters)`)
        return 2
      }
      if (done.has(item.id) || seen.has(item.id)) {
        counts.skipped++
        continue
      }
      seen.add(item.id)
      batch.push({ id: item.id, edeks: item.edeks, context: item.context ?? {} })
      if (batch.length >= batchSize && !(await flush())) return 1
    }
    if (!(await flush())) return 1
  } catch (err) {
    console.error(`envelope-admin: cannot read ${o.inFile}: ${(err as Error).message}`)
    return 2
  } finally {
    closeSync(out)
  }
  console.log(JSON.stringify(counts))
  return counts.refused ? 1 : 0
}
