/**
 * The tenant's own audit log over HTTP: `GET /v1/admin/tenants/:tenant/audit` (its auditors and key
 * administrators, and the operator; the role was checked before, app.ts) with filters, opaque tamper-proof
 * cursors and an NDJSON export; `GET /v1/audit/signing-key`, the public key that verifies checkpoints.
 * @module
 */
import type { EncryptionContext } from '@envelope/core'
import { fromBase64url, toBase64url } from '@envelope/fetch-client/protocol'
import type { Context, Hono } from 'hono'
import type { Vars } from '../app.ts'
import type { AuditLine } from '../audit.ts'
import { ProxyError } from '../errors.ts'
import type { PolicyStore } from '../policy/authorize.ts'
import type { AuditEntry, AuditRecord, Checkpoint } from './chain.ts'
import type { AuditQuery, AuditStore } from './store.ts'

/** What the audit routes need of the app. */
export interface AuditRouteDeps {
  readonly store: AuditStore | undefined
  readonly signingKey: object | undefined
  readonly cursorKey: Uint8Array
  readonly line: (
    c: Context<Vars>,
    fields: Partial<AuditLine> & Pick<AuditLine, 'action' | 'outcome'>,
  ) => Promise<boolean>
}

/** Longest value of a context field logged in clear. */
const MAX_CONTEXT_VALUE = 128

/**
 * A tenant audit entry from an operator's audit line: the same fields, with the context fields the tenant's
 * policy logs in clear.
 */
export async function entryOf(
  line: AuditLine,
  context: EncryptionContext | undefined,
  policies: PolicyStore,
): Promise<AuditEntry> {
  let clear: Record<string, string> | undefined
  if (context && line.tenant) {
    const fields = (await policies.get(line.tenant)).logContext
    for (const f of fields) {
      const v = Object.hasOwn(context, f) ? context[f] : undefined
      if (typeof v !== 'string') continue
      clear ??= {}
      clear[f] = v.length > MAX_CONTEXT_VALUE ? `${v.slice(0, MAX_CONTEXT_VALUE - 1)}…` : v
    }
  }
  return {
    time: line.time,
    requestId: line.requestId,
    caller: line.caller,
    action: line.action,
    keyId: line.keyId,
    keyVersion: line.keyVersion,
    contextHash: line.contextHash,
    ...(clear ? { context: clear } : {}),
    ...(line.reason !== undefined ? { reason: line.reason } : {}),
    ...(line.toTenant !== undefined ? { toTenant: line.toTenant } : {}),
    ...(line.policy !== undefined ? { policy: line.policy } : {}),
    outcome: line.outcome,
  }
}

const enc = new TextEncoder()

async function hmacKey(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', raw as BufferSource, { name: 'HMAC', hash: 'SHA-256' }, false, [
    'sign',
    'verify',
  ])
}

/** A cursor: where the next page starts, for which tenant and which filters, MACed so it cannot be forged. */
interface CursorBody {
  readonly t: string
  readonly a: number
  readonly f: string
}

function filterKey(q: AuditQuery): string {
  return JSON.stringify([q.from, q.to, q.action, q.outcome, q.caller, q.order ?? 'asc'])
}

function param(c: Context<Vars>, name: string, max: number): string | undefined {
  const v = c.req.query(name)
  if (v === undefined || v === '') return undefined
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the characters refused in a query value
  if (v.length > max || /[\u0000-\u001f\u007f]/.test(v))
    throw new ProxyError('ERR_BAD_REQUEST', `"${name}" must be at most ${max} printable characters`)
  return v
}

function time(c: Context<Vars>, name: string): string | undefined {
  const v = param(c, name, 40)
  if (v === undefined) return undefined
  const t = Date.parse(v)
  if (!Number.isFinite(t)) throw new ProxyError('ERR_BAD_REQUEST', `"${name}" must be an ISO 8601 time`)
  return new Date(t).toISOString()
}

export function auditRoutes(app: Hono<Vars>, deps: AuditRouteDeps): void {
  const keyP = hmacKey(deps.cursorKey)

  async function makeCursor(body: CursorBody): Promise<string> {
    const data = toBase64url(enc.encode(JSON.stringify(body)))
    const mac = new Uint8Array(await crypto.subtle.sign('HMAC', await keyP, enc.encode(data)))
    return `${data}.${toBase64url(mac)}`
  }

  async function readCursor(text: string, tenant: string, filters: string): Promise<number> {
    const bad = () => new ProxyError('ERR_CURSOR_INVALID', 'the cursor is not one this proxy gave for this query')
    const [data, macText, extra] = text.split('.')
    const mac = macText === undefined ? undefined : fromBase64url(macText)
    if (!data || !mac || extra !== undefined || text.length > 512) throw bad()
    if (!(await crypto.subtle.verify('HMAC', await keyP, mac as BufferSource, enc.encode(data)))) throw bad()
    const body = JSON.parse(new TextDecoder().decode(fromBase64url(data)!)) as CursorBody
    if (body.t !== tenant || body.f !== filters || !Number.isSafeInteger(body.a) || body.a < 0) throw bad()
    return body.a
  }

  app.get('/v1/audit/signing-key', (c) => {
    if (!deps.signingKey) throw new ProxyError('ERR_NOT_FOUND', 'this proxy keeps no tenant audit logs')
    return c.json(deps.signingKey)
  })

  app.get('/v1/admin/tenants/:tenant/audit', async (c) => {
    const tenant = c.req.param('tenant')
    const store = deps.store
    if (!store) throw new ProxyError('ERR_NOT_FOUND', 'this proxy keeps no tenant audit logs')
    const order = param(c, 'order', 4) ?? 'asc'
    if (order !== 'asc' && order !== 'desc') throw new ProxyError('ERR_BAD_REQUEST', '"order" must be asc or desc')
    const q: AuditQuery = {
      from: time(c, 'from'),
      to: time(c, 'to'),
      action: param(c, 'action', 64),
      outcome: param(c, 'outcome', 64),
      caller: param(c, 'caller', 256),
      order,
    }
    const limitText = param(c, 'limit', 4)
    const limit = limitText === undefined ? 100 : Number(limitText)
    if (!Number.isInteger(limit) || limit < 1 || limit > 1000)
      throw new ProxyError('ERR_BAD_REQUEST', '"limit" must be a whole number from 1 to 1000')
    const format = param(c, 'format', 8) ?? 'json'
    if (format !== 'json' && format !== 'ndjson')
      throw new ProxyError('ERR_BAD_REQUEST', '"format" must be json or ndjson')
    const cursorText = param(c, 'cursor', 512)

    if (format === 'ndjson') {
      if (q.to || q.action || q.outcome || q.caller || order !== 'asc' || cursorText)
        throw new ProxyError(
          'ERR_BAD_REQUEST',
          'an export is the whole log, or from a time ("from") on: filter it once verified',
        )
      const stream = await exportStream(store, tenant, q.from)
      if (!(await deps.line(c, { action: 'audit.read', tenant, outcome: 'ok' })))
        throw new ProxyError('ERR_AUDIT_UNAVAILABLE', 'the audit log cannot be written')
      return c.body(stream, 200, { 'content-type': 'application/x-ndjson' })
    }
    const filters = filterKey(q)
    const after = cursorText === undefined ? undefined : await readCursor(cursorText, tenant, filters)
    const page = await store.query(tenant, { ...q, limit, ...(after !== undefined ? { after } : {}) })
    if (!(await deps.line(c, { action: 'audit.read', tenant, outcome: 'ok' })))
      throw new ProxyError('ERR_AUDIT_UNAVAILABLE', 'the audit log cannot be written')
    return c.json({
      tenant,
      records: page.records,
      ...(page.next !== undefined ? { next: await makeCursor({ t: tenant, a: page.next, f: filters }) } : {}),
    })
  })
}

/**
 * The NDJSON export from `from` (or the first line kept) to the last line: the checkpoint anchoring its first line,
 * its lines with each checkpoint after the line it signs, and a checkpoint of the last line (signed now if need
 * be). Read a page at a time.
 */
async function exportStream(store: AuditStore, tenant: string, from: string | undefined): Promise<ReadableStream> {
  const head = await store.checkpoint(tenant)
  const bounds = await store.bounds(tenant)
  const text = (x: AuditRecord | Checkpoint) => enc.encode(`${JSON.stringify(x)}\n`)
  if (!head || !bounds) return new ReadableStream({ start: (ctl) => ctl.close() })
  let start = bounds.first // the first line to send
  if (from !== undefined) {
    const first = (await store.query(tenant, { from, limit: 1 })).records[0]
    start = first ? first.seq : head.seq + 1
  }
  // The anchor: the last checkpoint before `start` (the export then begins right after it), or line 1.
  const anchors = start > 1 ? await store.checkpoints(tenant, 0, start - 1) : []
  const anchor = anchors.at(-1)
  const signed = [...(await store.checkpoints(tenant, (anchor?.seq ?? 0) + 1, head.seq))]
  let after = anchor?.seq ?? 0
  let sentAnchor = anchor === undefined
  let done = after >= head.seq
  return new ReadableStream({
    async pull(ctl) {
      if (!sentAnchor) {
        sentAnchor = true
        ctl.enqueue(text(anchor!))
        return
      }
      if (done) return ctl.close()
      const page = await store.query(tenant, { after, limit: 1000 })
      for (const r of page.records) {
        if (r.seq > head.seq) {
          done = true
          break
        }
        ctl.enqueue(text(r))
        while (signed.length && signed[0]!.seq <= r.seq) ctl.enqueue(text(signed.shift()!))
        after = r.seq
      }
      if (page.next === undefined || after >= head.seq) done = true
      else after = page.next
    },
  })
}
