/**
 * The key proxy as a web-standard handler (`app.fetch: Request → Response`), portable across Node, Deno and
 * Bun; the serve-*.ts entries only bind it to a socket. Routes and codes: docs/key-proxy-api.md.
 *
 * Order of every key-use and admin request: the audit log must be writable, then the credentials are checked
 * (from the headers alone: not a byte of the body is read for a caller that is not authenticated), then the body
 * is read within `maxBodyBytes`, then the route runs. No DEK leaves without its audit line.
 * @module
 */
import { type EncryptionContext, EnvelopeError } from '@envelope/core'
import {
  DATA_KEY,
  deliveryPublicJwk,
  edekFromJson,
  edekToJson,
  importDeliveryPublicKey,
  readNonce,
  reasonProblem,
  type WrappedDek,
} from '@envelope/fetch-client/protocol'
import { type Context, Hono } from 'hono'
import { cors } from 'hono/cors'
import { auditRoutes, entryOf } from './audit/routes.ts'
import type { AuditStore } from './audit/store.ts'
import { type AuditLine, AuditLog, type AuditSink, boundLine } from './audit.ts'
import { type AuthConfig, type Caller, createAuthenticator, tenantFor } from './auth.ts'
import { limitBody } from './body-limit.ts'
import { byokRoutes } from './byok/routes.ts'
import { checkedContext } from './context-bytes.ts'
import { createNodeDelivery, type ProxyDelivery } from './delivery-node.ts'
import { ProxyError, type ProxyErrorCode } from './errors.ts'
import type { KmsBackend, LifecycleAction, RegisterRequest } from './kms/backend.ts'
import { contextHash } from './kms/edek-jwe.ts'
import type { Logger } from './log.ts'
import type { ProxyMetrics } from './metrics.ts'
import { checkName, isName } from './names.ts'
import { observeRequests } from './observe.ts'
import { authorize, PolicyStore } from './policy/authorize.ts'
import { defaultPolicy, permissionOf } from './policy/policy.ts'
import { policyRoutes } from './policy/routes.ts'

/**
 * Options of {@link createApp}: the KMS, who may call, where audit lines go, and the request limits.
 *
 * @example
 * ```ts
 * const options: AppOptions = {
 *   kms: new TenantKms({ keystore, localKms: new LocalKms({ keystore, rootKey }) }),
 *   auth: { apiKeys: [{ id: 'billing', sha256: billingKeyHash, tenants: ['acme'] }] },
 *   audit: (line) => writeSync(auditFd, `${JSON.stringify(line)}\n`),
 *   corsOrigins: ['https://app.example.com'],
 * }
 * ```
 */
export interface AppOptions {
  readonly kms: KmsBackend
  readonly auth: AuthConfig
  /** Appends one audit line; throws when it cannot (the proxy then fails closed: docs, "Audit log"). */
  readonly audit: AuditSink
  /** Largest request body, in bytes. Default 1 MiB. */
  readonly maxBodyBytes?: number
  /** Most items in one batch request. Default 1000. */
  readonly maxBatch?: number
  /** Browser origins allowed to call the data-key routes (CORS). Default none. */
  readonly corsOrigins?: readonly string[]
  /** A JSON log line per request (observe.ts). Default none. */
  readonly log?: Logger
  /** Request counts and latencies (metrics.ts). Default none. */
  readonly metrics?: ProxyMetrics
  /** More of what readiness needs (keystore, shutting down): a problem makes `/v1/ready` answer 503 with it. */
  readonly readiness?: () => Promise<{ code: ProxyErrorCode; message: string } | undefined>
  /**
   * The `Host` values requests must carry (`127.0.0.1:7777`, `keys.example.com`), lower case; others are refused
   * with `ERR_HOST_NOT_ALLOWED` (no DNS rebinding). A function: the list once the port is known. Default: any.
   */
  readonly allowedHosts?: readonly string[] | (() => readonly string[] | undefined)
  /** Tenants' key policies (src/policy/). Default: in memory, the default policy (docs/key-proxy-api.md, "Key policy"). */
  readonly policies?: PolicyStore
  /** Whether a tenant's key administrators may manage its KMS entries (create, register, primary, retire). */
  readonly tenantKmsAdmin?: boolean
  /** Each tenant's own audit log (src/audit/), served at `GET /v1/admin/tenants/:tenant/audit`. Default none. */
  readonly auditStore?: AuditStore
  /** The checkpoint signing key's public JWK, served at `GET /v1/audit/signing-key`. */
  readonly auditSigningKey?: object
  /** 32 bytes that make audit cursors tamper-proof (HMAC); the same for every instance. Default random. */
  readonly cursorKey?: Uint8Array
}

/**
 * The key (KMS entry) a tenant named in the configuration's `tenants: ["acme"]` form gets: a local one.
 *
 * @example
 * ```ts
 * await kms.createKey('acme', DEFAULT_KEY) // what `envelope-admin create acme` does
 * ```
 */
export const DEFAULT_KEY = DATA_KEY

/** @internal What the app keeps per request. */
export type Vars = { Variables: { requestId: string; audited?: boolean; who?: Caller; tenant?: string } }

/** @internal {@link createApp}'s audited step, for routes kept in files of their own. */
export type Audited = <T>(
  c: Context<Vars>,
  fields: Partial<AuditLine> & Pick<AuditLine, 'action'>,
  work: (note: (learned: Partial<AuditLine>) => void) => Promise<T>,
) => Promise<T>
type Delivery = ProxyDelivery

function context(value: unknown): EncryptionContext {
  try {
    return checkedContext(value as EncryptionContext) // encoded once for the whole request, frozen
  } catch (err) {
    throw new ProxyError('ERR_BAD_REQUEST', `"context": ${(err as Error).message}`)
  }
}

async function jsonBody(c: Context): Promise<Record<string, unknown>> {
  let body: unknown
  try {
    body = await c.req.json()
  } catch {
    throw new ProxyError('ERR_BAD_REQUEST', 'request body is not JSON')
  }
  if (!body || typeof body !== 'object' || Array.isArray(body))
    throw new ProxyError('ERR_BAD_REQUEST', 'request body must be a JSON object')
  return body as Record<string, unknown>
}

/** Refusals that are this instance's state, not an item's: a batch with one of them is refused as a whole. */
const INSTANCE_UNAVAILABLE: ReadonlySet<ProxyErrorCode> = new Set([
  'ERR_AUDIT_UNAVAILABLE',
  'ERR_KEYSTORE_UNAVAILABLE',
  'ERR_SHUTTING_DOWN',
])

/** An unwrap's optional reason: undefined, or a string the protocol's rule takes (protocol.ts, reasonProblem). */
function checkReason(value: unknown): string | undefined {
  if (value === undefined) return undefined
  const problem = reasonProblem(value)
  if (problem) throw new ProxyError('ERR_BAD_REQUEST', problem)
  return value as string
}

function nonceOf(body: Record<string, unknown>): Uint8Array {
  const nonce = readNonce(body.nonce)
  if (!nonce) throw new ProxyError('ERR_BAD_REQUEST', '"nonce" must be 16 bytes in base64url')
  return nonce
}

function errorJson(err: unknown, requestId: string) {
  const e = err instanceof ProxyError ? err : new ProxyError('ERR_INTERNAL', 'internal error')
  return { status: e.status, body: { error: { code: e.code, message: e.message, requestId } } }
}

/** A path segment decoded (`%41cme` is `Acme`); the raw segment, which no name matches, if it does not decode. */
function decodeURIComponentOr(segment: string): string {
  try {
    return decodeURIComponent(segment)
  } catch {
    return segment
  }
}

/** The audit action of a key-use or admin route; undefined for health, readiness and unknown routes. */
function actionOf(method: string, path: string): AuditLine['action'] | undefined {
  const m = /^\/v1\/keys\/(generate|batch-generate|unwrap|batch-unwrap|rekey|rekey-bulk)$/.exec(path)
  if (m && method === 'POST')
    return m[1]!.includes('generate') ? 'generate' : m[1]!.includes('unwrap') ? 'unwrap' : 'rekey'
  if (/^\/v1\/admin\/tenants\/[^/]+$/.test(path)) return method === 'GET' ? 'admin.describe-tenant' : undefined
  if (/^\/v1\/admin\/tenants\/[^/]+\/policy$/.test(path))
    return method === 'GET' ? 'admin.policy' : method === 'PUT' ? 'admin.set-policy' : undefined
  if (/^\/v1\/admin\/tenants\/[^/]+\/audit$/.test(path)) return method === 'GET' ? 'audit.read' : undefined
  const admin = /^\/v1\/admin\/tenants\/[^/]+\/keys\/[^/]+(?:\/([a-z-]+))?$/.exec(path)
  if (!admin) return undefined
  if (admin[1] === undefined)
    return method === 'GET' ? 'admin.describe' : method === 'PUT' ? 'admin.register' : undefined
  if (method === 'GET') return admin[1] === 'import-parameters' ? 'admin.import-parameters' : undefined
  return method === 'POST' ? `admin.${admin[1]}` : undefined
}

/**
 * The key proxy as a web-standard handler (`app.fetch: Request → Response`, a Hono app): data-key routes,
 * admin routes, health, CORS and the audit log, over any {@link KmsBackend}. The `envelope-proxy` program serves it
 * on Node; any runtime or framework with `Request`/`Response` can too.
 *
 * @example
 * ```ts
 * const keystore = FileKeystore.open({ file: 'keys.json' })
 * const kms = new TenantKms({ keystore, localKms: new LocalKms({ keystore, rootKey }) })
 * const app = createApp({ kms, auth: { apiKeys }, audit })
 * Deno.serve({ hostname: '127.0.0.1', port: 7777 }, app.fetch) // or Bun.serve, @hono/node-server, a worker
 * ```
 * @throws Nothing itself: every request it refuses is answered with `{ error: { code, message, requestId } }` and
 * the code's HTTP status ({@link PROXY_ERRORS}).
 */
export function createApp(options: AppOptions): Hono<Vars> {
  const { kms } = options
  const auditLog = new AuditLog(options.audit)
  const maxBatch = options.maxBatch ?? 1000
  const authenticate = createAuthenticator(options.auth)
  const policies = options.policies ?? new PolicyStore(undefined, defaultPolicy(options.auth.jwt?.keyAdminRole))
  const tenantAudit = options.auditStore
  const authz = { policies, tenantKmsAdmin: options.tenantKmsAdmin ?? false }
  const app = new Hono<Vars>()

  app.use('*', observeRequests(options))
  // The Host check comes first: a page elsewhere whose name was rebound to this address reads nothing here.
  const hosts = options.allowedHosts
  if (hosts) {
    app.use('*', async (c, next) => {
      const allowed = typeof hosts === 'function' ? hosts() : hosts
      const host = (c.req.header('host') ?? '').toLowerCase()
      if (allowed && !allowed.includes(host)) {
        const { status, body } = errorJson(
          new ProxyError('ERR_HOST_NOT_ALLOWED', 'this key proxy does not answer to that Host name'),
          c.get('requestId'),
        )
        return c.json(body, status as 403)
      }
      await next()
    })
  }
  if (options.corsOrigins?.length) {
    // Admin routes too: a tenant's key administrator may manage its key from the browser (a key-admin JWT).
    const allowed = cors({
      origin: [...options.corsOrigins],
      allowHeaders: ['authorization', 'content-type'],
      maxAge: 600,
    })
    app.use('/v1/keys/*', allowed)
    app.use('/v1/admin/*', allowed)
  }

  /**
   * Writes one audit line (every field bounded) to the operator's log and, for a caller of that tenant (or the
   * operator), to the tenant's own log (src/audit/); false when either could not be written. `context`: the
   * request's encryption context, whose fields the tenant's policy chose are logged in clear in its own log.
   */
  const line = async (
    c: Context<Vars>,
    fields: Partial<AuditLine> & Pick<AuditLine, 'action' | 'outcome'>,
    context?: EncryptionContext,
  ): Promise<boolean> => {
    c.set('audited', true)
    let full: AuditLine = {
      time: new Date().toISOString(),
      requestId: c.get('requestId'),
      tenant: null,
      keyId: null,
      keyVersion: null,
      caller: c.get('who')?.id ?? null,
      contextHash: null,
      ...fields,
    }
    // A refusal after the tenant was known (a bad body, a bad reason) is that tenant's line too.
    if (full.tenant === null && c.get('tenant') !== undefined) full = { ...full, tenant: c.get('tenant')! }
    full = boundLine(full) // both logs get the bounded line, whatever a request sent
    const written = auditLog.write(full)
    const caller = c.get('who')
    const tenant = full.tenant
    // A caller of another tenant writes nothing into this tenant's log (it cannot flood or forge it).
    // Reading a tenant's log is in the operator's log only (a live view would otherwise fill the log it reads).
    // Only a tenant's name: a requested tenant that is not one (200 kB of it) is in the operator's log alone.
    if (
      !tenantAudit ||
      !isName(tenant) ||
      !caller ||
      full.action === 'audit.read' ||
      !(caller.admin || caller.tenants === '*' || caller.tenants.includes(tenant))
    )
      return written
    try {
      await tenantAudit.append(tenant, await entryOf(full, context, policies))
      return written
    } catch (err) {
      console.error(`[key-proxy] tenant audit line not written: ${(err as Error).message}`)
      // Key use is refused up front until this tenant's log takes its `audit.resumed` line (tenantAuditReady).
      const gap = tenantGaps.get(tenant) ?? { since: full.time, lost: 0 }
      gap.lost++
      tenantGaps.set(tenant, gap)
      return false
    }
  }

  /** Tenants whose log lost lines: since when, how many. Cleared by an `audit.resumed` line in that log. */
  const tenantGaps = new Map<string, { since: string; lost: number }>()
  async function tenantAuditReady(): Promise<boolean> {
    for (const [tenant, gap] of tenantGaps) {
      try {
        await tenantAudit!.append(tenant, {
          time: new Date().toISOString(),
          requestId: null,
          caller: null,
          action: 'audit.resumed',
          keyId: null,
          keyVersion: null,
          contextHash: null,
          lost: gap.lost,
          since: gap.since,
          outcome: 'ok',
        })
        tenantGaps.delete(tenant)
        auditLog.write({
          time: new Date().toISOString(),
          requestId: null,
          action: 'audit.resumed',
          tenant,
          keyId: null,
          keyVersion: null,
          caller: null,
          outcome: 'ok',
          contextHash: null,
          lost: gap.lost,
          since: gap.since,
        })
      } catch {
        return false
      }
    }
    return true
  }

  const refuse = async (c: Context<Vars>, code: ProxyErrorCode, message: string) => {
    const action = actionOf(c.req.method, c.req.path)
    if (action && !c.get('audited')) await line(c, { action, outcome: code })
    const { status, body } = errorJson(new ProxyError(code, message), c.get('requestId'))
    return c.json(body, status as 400)
  }

  // Every key-use and admin request: the audit log first, then credentials, from the headers alone.
  app.use('/v1/*', async (c, next) => {
    const action = actionOf(c.req.method, c.req.path)
    if (!action) return next()
    if ((auditLog.failing && !auditLog.ready()) || !(await tenantAuditReady())) {
      return refuse(c, 'ERR_AUDIT_UNAVAILABLE', 'the audit log cannot be written: key use is refused until it can')
    }
    let tenant: string | null = null
    try {
      const caller = await authenticate(c.req.header('authorization'), !permissionOf(action)?.startsWith('use'))
      c.set('who', caller)
      // The caller's roles, before any byte of the body is read: admin and audit routes name their tenant in the
      // path; a JWT has one tenant; an API key's scopes are the same for each of its tenants.
      const inPath = /^\/v1\/admin\/tenants\/([^/]+)/.exec(c.req.path)?.[1]
      if (inPath !== undefined) tenant = checkName(decodeURIComponentOr(inPath), 'the tenant name')
      else if (caller.tenants !== '*' && caller.tenants.length === 1) tenant = caller.tenants[0]!
      await authorize(caller, tenant ?? undefined, action, authz)
    } catch (err) {
      await line(c, { action, tenant, outcome: outcome(err) })
      throw err
    }
    return next()
  })
  app.use(
    '*',
    limitBody(options.maxBodyBytes ?? 1 << 20, (c) =>
      refuse(c as Context<Vars>, 'ERR_BODY_TOO_LARGE', 'request body is too large'),
    ),
  )
  app.onError(async (err, c) => {
    if (!(err instanceof ProxyError))
      console.error(`[key-proxy] ${c.get('requestId')} internal error:`, err instanceof Error ? err.message : err)
    const { status, body } = errorJson(err, c.get('requestId'))
    const action = actionOf(c.req.method, c.req.path)
    if (action && !c.get('audited')) await line(c, { action, outcome: body.error.code })
    return c.json(body, status as 400)
  })
  app.notFound((c) =>
    c.json({ error: { code: 'ERR_NOT_FOUND', message: 'no such route', requestId: c.get('requestId') } }, 404),
  )

  const outcome = (err: unknown) => (err instanceof EnvelopeError ? err.code : 'ERR_INTERNAL')
  const who = (c: Context<Vars>): Caller => c.get('who')!

  /** The tenant a request acts for; a refusal is audited like any other. */
  async function tenantOf(
    c: Context<Vars>,
    action: AuditLine['action'],
    requested: unknown,
    field?: string,
  ): Promise<string> {
    try {
      const tenant = tenantFor(who(c), requested, field)
      if (c.get('tenant') === undefined) c.set('tenant', tenant)
      return tenant
    } catch (err) {
      await line(c, { action, tenant: typeof requested === 'string' ? requested : null, outcome: outcome(err) })
      throw err
    }
  }

  // One delivery (one ECDH) serves every DEK of a response, and is reused for the same client key for a minute
  // (each DEK still gets its own IV, from the delivery's counter, and its own additional data). Keyed by the client key once its shape is
  // checked, so only a key that imported as a P-256 point is ever found here. Bounded.
  const deliveries = new Map<string, { made: number; uses: number; delivery: Promise<Delivery> }>()
  async function delivery(value: unknown): Promise<Delivery> {
    const jwk = deliveryPublicJwk(value)
    if (!jwk) throw new ProxyError('ERR_BAD_REQUEST', '"clientKey" must be a P-256 public JWK')
    const id = `${jwk.x}.${jwk.y}`
    const hit = deliveries.get(id)
    if (hit && Date.now() - hit.made < 60_000 && hit.uses++ < 100_000) return hit.delivery
    const made = (async () => {
      const key = await importDeliveryPublicKey(jwk)
      if (!key) throw new ProxyError('ERR_BAD_REQUEST', '"clientKey" must be a P-256 public JWK')
      return createNodeDelivery(key)
    })()
    if (deliveries.size >= 1000) deliveries.clear()
    deliveries.set(id, { made: Date.now(), uses: 1, delivery: made })
    made.catch(() => deliveries.delete(id))
    return made
  }

  // --- health ---
  app.get('/v1/health', (c) => c.json({ status: 'ok' }))
  app.get('/v1/ready', async (c) => {
    const unready = (code: ProxyErrorCode, message: string) =>
      c.json({ error: { code, message, requestId: c.get('requestId') } }, 503)
    const problem = await options.readiness?.()
    if (problem) return unready(problem.code, problem.message)
    if (!auditLog.ready() || !(await tenantAuditReady()))
      return unready('ERR_AUDIT_UNAVAILABLE', 'the audit log cannot be written')
    try {
      await kms.ready()
      return c.json({ status: 'ready' })
    } catch {
      return unready('ERR_KMS_UNAVAILABLE', 'KMS backend is not reachable')
    }
  })

  /**
   * Runs one audited operation: its line says `ok`, with what `work` learned (`note`), or the refusal's code.
   * The result is only returned once its `ok` line is written: otherwise `ERR_AUDIT_UNAVAILABLE`.
   */
  async function audited<T>(
    c: Context<Vars>,
    fields: Partial<AuditLine> & Pick<AuditLine, 'action'>,
    work: (note: (learned: Partial<AuditLine>) => void) => Promise<T>,
    context?: EncryptionContext,
  ): Promise<T> {
    const learned: Partial<AuditLine> = {}
    let result: T
    try {
      result = await work((l) => Object.assign(learned, l))
    } catch (err) {
      await line(c, { ...fields, ...learned, outcome: outcome(err) }, context)
      throw err
    }
    if (!(await line(c, { ...fields, ...learned, outcome: 'ok' }, context))) {
      throw new ProxyError(
        'ERR_AUDIT_UNAVAILABLE',
        fields.action.startsWith('admin.')
          ? `${fields.action} was applied, but its audit line could not be written`
          : 'the audit log cannot be written: no key is released without its audit line',
      )
    }
    return result
  }

  /**
   * The EDEK to use among those a request sends, and its index: one of this proxy's KMSs, preferring the acting
   * tenant's (a message may carry EDEKs for several tenants, or for other providers).
   */
  const providerIds = new Set(kms.providerIds)
  const ownEdek = (list: unknown, tenant: string) => {
    const ours = (Array.isArray(list) ? list.map(edekFromJson) : [])
      .map((edek, index) => ({ edek: edek!, index }))
      .filter(({ edek }) => edek !== undefined && providerIds.has(edek.providerId))
    return ours.find(({ edek }) => edek.keyId.startsWith(`${tenant}/`)) ?? ours[0]
  }

  // --- data keys ---
  async function generateOne(c: Context<Vars>, tenant: string, ctx: EncryptionContext, d: Delivery, nonce: Uint8Array) {
    const fields = { action: 'generate', tenant } as const
    return audited(
      c,
      { ...fields, contextHash: await contextHash(ctx) },
      async (note) => {
        const { dek, edek } = await kms.generate(tenant, ctx)
        try {
          note({ keyId: edek.keyId, keyVersion: edek.keyVersion })
          return { edek: edekToJson(edek), ...(await d.wrap(dek, { nonce, tenant, edek, context: ctx })) }
        } finally {
          dek.fill(0)
        }
      },
      ctx,
    )
  }

  async function unwrapOne(
    c: Context<Vars>,
    tenant: string,
    item: unknown,
    d: Delivery,
    nonce: Uint8Array,
    /** The request's `reason`, for items that give none of their own. */
    reason?: unknown,
  ): Promise<WrappedDek & { edekIndex: number }> {
    const it = item as { edeks?: unknown; context?: unknown; reason?: unknown } | null
    const ctx = context(it?.context)
    const chosen = ownEdek(it?.edeks, tenant)
    const why = checkReason(it?.reason ?? reason)
    const fields = {
      action: 'unwrap',
      tenant,
      keyId: chosen?.edek.keyId ?? null,
      keyVersion: chosen?.edek.keyVersion ?? null,
      ...(why !== undefined ? { reason: why } : {}),
    } as const
    return audited(
      c,
      { ...fields, contextHash: await contextHash(ctx) },
      async (note) => {
        if (!chosen) throw new ProxyError('ERR_EDEK_INVALID', 'no EDEK of this proxy’s KMSs in the request')
        const { dek, keyVersion } = await kms.unwrap(tenant, chosen.edek, ctx)
        try {
          note({ keyVersion })
          const wrapped = await d.wrap(dek, { nonce, tenant, edek: chosen.edek, context: ctx })
          return { edekIndex: chosen.index, ...wrapped }
        } finally {
          dek.fill(0)
        }
      },
      ctx,
    )
  }

  function items(body: Record<string, unknown>): unknown[] {
    if (!Array.isArray(body.items) || body.items.length === 0)
      throw new ProxyError('ERR_BAD_REQUEST', '"items" must be a non-empty array')
    if (body.items.length > maxBatch) throw new ProxyError('ERR_BATCH_TOO_LARGE', `at most ${maxBatch} items per batch`)
    return body.items
  }

  /**
   * Runs every item; one item's refusal is its own result, never the batch's, unless it says this instance cannot
   * serve (its audit log or keystore, a stop under way): then the whole batch is that 503, as a single request's
   * would be, so a client fails over to another instance instead of taking it as the item's answer.
   */
  async function settle<T>(list: unknown[], run: (item: unknown) => Promise<T>) {
    return Promise.all(
      list.map((item) =>
        Promise.resolve(item)
          .then(run)
          .then(
            (r) => ({ ok: true as const, ...r }),
            (err) => {
              const e = err instanceof ProxyError ? err : new ProxyError('ERR_INTERNAL', 'internal error')
              if (INSTANCE_UNAVAILABLE.has(e.code)) throw e
              return { ok: false as const, error: { code: e.code, message: e.message } }
            },
          ),
      ),
    )
  }

  app.post('/v1/keys/generate', async (c) => {
    const body = await jsonBody(c)
    const tenant = await tenantOf(c, 'generate', body.tenant)
    const nonce = nonceOf(body)
    const d = await delivery(body.clientKey)
    return c.json({ epk: d.epk, tenant, ...(await generateOne(c, tenant, context(body.context ?? {}), d, nonce)) })
  })

  app.post('/v1/keys/batch-generate', async (c) => {
    const body = await jsonBody(c)
    const tenant = await tenantOf(c, 'generate', body.tenant)
    const nonce = nonceOf(body)
    const d = await delivery(body.clientKey)
    const results = await settle(items(body), (item) =>
      generateOne(c, tenant, context((item as { context?: unknown })?.context ?? {}), d, nonce),
    )
    return c.json({ epk: d.epk, tenant, results })
  })

  app.post('/v1/keys/unwrap', async (c) => {
    const body = await jsonBody(c)
    const tenant = await tenantOf(c, 'unwrap', body.tenant)
    const nonce = nonceOf(body)
    const d = await delivery(body.clientKey)
    return c.json({ epk: d.epk, tenant, ...(await unwrapOne(c, tenant, body, d, nonce)) })
  })

  app.post('/v1/keys/batch-unwrap', async (c) => {
    const body = await jsonBody(c)
    const tenant = await tenantOf(c, 'unwrap', body.tenant)
    const list = items(body)
    const nonce = nonceOf(body)
    const d = await delivery(body.clientKey)
    checkReason(body.reason)
    return c.json({
      epk: d.epk,
      tenant,
      results: await settle(list, (item) => unwrapOne(c, tenant, item, d, nonce, body.reason)),
    })
  })

  /** Rewraps one item's EDEK for `toTenant`'s primary key (the DEK never leaves), audited as `rekey`. */
  async function rekeyOne(c: Context<Vars>, tenant: string, toTenant: string, item: unknown) {
    const it = item as { edeks?: unknown; context?: unknown } | null
    const ctx = context(it?.context ?? {})
    const chosen = ownEdek(it?.edeks, tenant)
    const fields = {
      action: 'rekey',
      tenant,
      toTenant,
      keyId: chosen?.edek.keyId ?? null,
      keyVersion: chosen?.edek.keyVersion ?? null,
    } as const
    return audited(
      c,
      { ...fields, contextHash: await contextHash(ctx) },
      async () => {
        if (!chosen) throw new ProxyError('ERR_EDEK_INVALID', 'no EDEK of this proxy’s KMSs in the request')
        return edekToJson(await kms.rewrap(tenant, chosen.edek, ctx, toTenant))
      },
      ctx,
    )
  }

  app.post('/v1/keys/rekey', async (c) => {
    const body = await jsonBody(c)
    const tenant = await tenantOf(c, 'rekey', body.tenant)
    const toTenant = body.toTenant === undefined ? tenant : await tenantOf(c, 'rekey', body.toTenant, '"toTenant"')
    return c.json({ tenant: toTenant, edek: await rekeyOne(c, tenant, toTenant, body) })
  })

  // Bulk rekey (a customer retiring old versions): a bounded batch of stored EDEKs moved to the primary key's
  // current version, a result per item by its `id` (envelope-admin rekey-bulk resumes from these).
  app.post('/v1/keys/rekey-bulk', async (c) => {
    const body = await jsonBody(c)
    const tenant = await tenantOf(c, 'rekey', body.tenant)
    const list = items(body)
    const ids = list.map((item) => (item as { id?: unknown } | null)?.id)
    if (ids.some((id) => typeof id !== 'string' || id.length === 0 || id.length > 256)) {
      throw new ProxyError('ERR_BAD_REQUEST', 'every item needs an "id": a string of 1 to 256 characters')
    }
    const results = await settle(list, async (item) => ({ edek: await rekeyOne(c, tenant, tenant, item) }))
    return c.json({ tenant, results: results.map((r, i) => ({ id: ids[i], ...r })) })
  })

  // --- administration (admin API keys; key-admin JWTs for their own tenant) ---
  const lifecycle = (action: LifecycleAction) => (t: string, k: string, by: string) =>
    kms.lifecycle(t, k, action, undefined, by)
  const adminActions = new Map<string, (t: string, k: string, by: string) => Promise<unknown>>([
    ['rotate', lifecycle('rotate')],
    ['disable', lifecycle('disable')],
    ['enable', lifecycle('enable')],
    ['cancel-deletion', lifecycle('cancel-deletion')],
    ['destroy', lifecycle('destroy')],
    ['test', (t, k) => kms.test(t, k)],
    ['primary', (t, k) => kms.setPrimary(t, k)],
    ['retire', (t, k) => kms.setRetired(t, k, true)],
    ['reactivate', (t, k) => kms.setRetired(t, k, false)],
  ])
  async function admin(
    c: Context<Vars>,
    action: string,
    run: (tenant: string, key: string, by: string) => Promise<unknown>,
  ) {
    const caller = who(c)
    const tenant = c.req.param('tenant')!
    const key = c.req.param('key') ?? DEFAULT_KEY
    const keyId = action === 'describe-tenant' ? null : `${tenant}/${key}`
    const info = await audited(c, { action: `admin.${action}`, tenant, keyId }, () => {
      checkName(key, 'the key name')
      return run(tenant, key, caller.id) // the caller's tenant and role were checked before the body was read
    })
    return c.json(info as object)
  }

  /** An admin body: JSON, or nothing at all (`{}`); read after the credentials were checked. */
  async function adminBody(c: Context<Vars>): Promise<Record<string, unknown>> {
    const text = await c.req.text()
    let body: unknown = {}
    try {
      if (text.trim()) body = JSON.parse(text)
    } catch {
      throw new ProxyError('ERR_BAD_REQUEST', 'request body is not JSON')
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new ProxyError('ERR_BAD_REQUEST', 'request body must be a JSON object')
    }
    return body as Record<string, unknown>
  }

  app.get('/v1/admin/tenants/:tenant', (c) => admin(c, 'describe-tenant', (t) => kms.describeTenant(t)))
  app.get('/v1/admin/tenants/:tenant/keys/:key', (c) => admin(c, 'describe', (t, k) => kms.describe(t, k)))
  for (const [name, run] of adminActions) {
    app.post(`/v1/admin/tenants/:tenant/keys/:key/${name}`, (c) => admin(c, name, run))
  }
  app.put('/v1/admin/tenants/:tenant/keys/:key', async (c) => {
    const body = await adminBody(c)
    const request: RegisterRequest = {
      provider: body.provider as string,
      settings: body.settings,
      ...(body.mode !== undefined ? { mode: body.mode as RegisterRequest['mode'] } : {}),
      primary: body.primary === true,
      create: body.create === true,
      ...(body.origin === 'external' ? { origin: 'external' as const } : {}),
    }
    if (body.origin !== undefined && body.origin !== 'external' && body.origin !== 'proxy') {
      throw new ProxyError('ERR_BAD_REQUEST', '"origin" is "proxy" (the default) or "external"')
    }
    for (const flag of ['primary', 'create'] as const) {
      if (body[flag] !== undefined && typeof body[flag] !== 'boolean') {
        throw new ProxyError('ERR_BAD_REQUEST', `"${flag}" must be true or false`)
      }
    }
    return admin(c, 'register', (t, k) => kms.register(t, k, request))
  })
  app.post('/v1/admin/tenants/:tenant/keys/:key/create', async (c) => {
    // `{ "origin": "external" }`: a key with no material, for the customer's own (src/byok/)
    const body = await adminBody(c)
    if (body.origin !== undefined && body.origin !== 'external' && body.origin !== 'proxy') {
      throw new ProxyError('ERR_BAD_REQUEST', '"origin" is "proxy" (the default) or "external"')
    }
    const origin = body.origin === 'external' ? 'external' : undefined
    return admin(c, 'create', (t, k) => kms.createKey(t, k, { origin }))
  })
  byokRoutes(app, { admin, adminBody, kms })
  app.post('/v1/admin/tenants/:tenant/keys/:key/schedule-deletion', async (c) => {
    // Credentials were checked before this body is read; an empty body means the default waiting period.
    const body = await adminBody(c)
    const days = body.waitingDays === undefined ? 30 : body.waitingDays
    if (!Number.isInteger(days)) throw new ProxyError('ERR_BAD_REQUEST', '"waitingDays" must be a whole number')
    return admin(c, 'schedule-deletion', (t, k) => kms.lifecycle(t, k, 'schedule-deletion', days as number))
  })
  policyRoutes(app, { policies, audited, adminBody, who })
  auditRoutes(app, {
    store: tenantAudit,
    signingKey: options.auditSigningKey,
    cursorKey: options.cursorKey ?? crypto.getRandomValues(new Uint8Array(32)),
    line,
  })

  return app
}
