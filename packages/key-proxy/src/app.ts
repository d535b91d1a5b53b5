/**
 * The key proxy as a web-standard handler (`app.fetch: Request → Response`), portable across Node, Deno and
 * Bun; the serve-*.ts entries only bind it to a socket. Routes and codes: docs/key-proxy-api.md.
 * @module
 */
import { type EncryptionContext, EnvelopeError, encodeContext } from '@envelope/core'
import {
  createDelivery,
  edekFromJson,
  edekToJson,
  importDeliveryPublicKey,
  type WrappedDek,
} from '@envelope/fetch-client/protocol'
import { type Context, Hono } from 'hono'
import { bodyLimit } from 'hono/body-limit'
import { cors } from 'hono/cors'
import type { AuditLine, AuditSink } from './audit.ts'
import { type AuthConfig, type Caller, createAuthenticator, tenantFor } from './auth.ts'
import { ProxyError } from './errors.ts'
import type { KmsBackend } from './kms/backend.ts'
import { contextHash } from './kms/edek-jwe.ts'

export interface AppOptions {
  readonly kms: KmsBackend
  readonly auth: AuthConfig
  readonly audit: AuditSink
  /** Largest request body, in bytes. Default 1 MiB. */
  readonly maxBodyBytes?: number
  /** Most items in one batch request. Default 1000. */
  readonly maxBatch?: number
  /** Browser origins allowed to call the data-key routes (CORS). Default none. */
  readonly corsOrigins?: readonly string[]
}

/** The CMK a tenant's data keys are made with (one named key per tenant in this version). */
export const DEFAULT_KEY = 'default'

type Vars = { Variables: { requestId: string; audited?: boolean; caller?: string } }
type Delivery = Awaited<ReturnType<typeof createDelivery>>

function context(value: unknown): EncryptionContext {
  try {
    encodeContext(value as EncryptionContext)
    return value as EncryptionContext
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

function errorJson(err: unknown, requestId: string) {
  const e = err instanceof ProxyError ? err : new ProxyError('ERR_INTERNAL', 'internal error')
  return { status: e.status, body: { error: { code: e.code, message: e.message, requestId } } }
}

export function createApp(options: AppOptions): Hono<Vars> {
  const { kms, audit } = options
  const maxBatch = options.maxBatch ?? 1000
  const authenticate = createAuthenticator(options.auth)
  const app = new Hono<Vars>()

  app.use('*', async (c, next) => {
    c.set('requestId', crypto.randomUUID())
    c.header('x-request-id', c.get('requestId'))
    await next()
  })
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
  const line = (c: Context<Vars>, fields: Partial<AuditLine> & Pick<AuditLine, 'action' | 'outcome'>): void => {
    c.set('audited', true)
    audit({
      time: new Date().toISOString(),
      requestId: c.get('requestId'),
      tenant: null,
      keyId: null,
      keyVersion: null,
      caller: c.get('caller') ?? null,
      contextHash: null,
      ...fields,
    })
  }

  /** The audit action of a key-use or admin route; undefined for health, readiness and unknown routes. */
  function actionOf(path: string): AuditLine['action'] | undefined {
    const m = /^\/v1\/keys\/(generate|batch-generate|unwrap|batch-unwrap|rekey)$/.exec(path)
    if (m) return m[1]!.includes('generate') ? 'generate' : m[1]!.includes('unwrap') ? 'unwrap' : 'rekey'
    const admin = /^\/v1\/admin\/tenants\/[^/]+\/keys\/[^/]+(?:\/([a-z-]+))?$/.exec(path)
    return admin ? `admin.${admin[1] ?? 'describe'}` : undefined
  }

  /** Every refused key-use or admin request leaves an audit line, even one refused before any operation began. */
  function auditRefusal(c: Context<Vars>, code: string): void {
    const action = actionOf(c.req.path)
    if (action && !c.get('audited')) line(c, { action, outcome: code })
  }

  app.use(
    '*',
    bodyLimit({
      maxSize: options.maxBodyBytes ?? 1 << 20,
      onError: (c) => {
        auditRefusal(c, 'ERR_BODY_TOO_LARGE')
        const error = {
          code: 'ERR_BODY_TOO_LARGE',
          message: 'request body is too large',
          requestId: c.get('requestId'),
        }
        return c.json({ error }, 413)
      },
    }),
  )
  app.onError((err, c) => {
    if (!(err instanceof ProxyError))
      console.error(`[key-proxy] ${c.get('requestId')} internal error:`, err instanceof Error ? err.message : err)
    const { status, body } = errorJson(err, c.get('requestId'))
    auditRefusal(c, body.error.code)
    return c.json(body, status as 400)
  })
  app.notFound((c) =>
    c.json({ error: { code: 'ERR_NOT_FOUND', message: 'no such route', requestId: c.get('requestId') } }, 404),
  )

  const outcome = (err: unknown) => (err instanceof EnvelopeError ? err.code : 'ERR_INTERNAL')

  /** Authenticates and audits a refusal before any body is trusted. */
  async function caller(c: Context<Vars>, action: AuditLine['action'], admin = false): Promise<Caller> {
    try {
      const who = await authenticate(c.req.header('authorization'), admin)
      c.set('caller', who.id)
      return who
    } catch (err) {
      line(c, { action, outcome: outcome(err) })
      throw err
    }
  }

  /** The tenant a request acts for; a refusal is audited like any other. */
  function tenantOf(c: Context<Vars>, who: Caller, action: AuditLine['action'], requested: unknown): string {
    try {
      return tenantFor(who, requested)
    } catch (err) {
      line(c, {
        action,
        tenant: typeof requested === 'string' ? requested : null,
        caller: who.id,
        outcome: outcome(err),
      })
      throw err
    }
  }

  // One delivery (one ECDH) serves every DEK of a response, and is reused for the same client key for a minute
  // (each DEK still gets a random IV): an ECDH per request would dominate single unwraps. Bounded.
  const deliveries = new Map<string, { made: number; uses: number; delivery: Promise<Delivery> }>()
  async function delivery(value: unknown): Promise<Delivery> {
    const jwk = value as { x?: unknown; y?: unknown } | null
    const id = `${String(jwk?.x)}.${String(jwk?.y)}`
    const hit = deliveries.get(id)
    if (hit && Date.now() - hit.made < 60_000 && hit.uses++ < 100_000) return hit.delivery
    const made = (async () => {
      const key = await importDeliveryPublicKey(value)
      if (!key) throw new ProxyError('ERR_BAD_REQUEST', '"clientKey" must be a P-256 public JWK')
      return createDelivery(key)
    })()
    if (deliveries.size >= 1000) deliveries.clear()
    deliveries.set(id, { made: Date.now(), uses: 1, delivery: made })
    made.catch(() => deliveries.delete(id))
    return made
  }

  // --- health ---
  app.get('/v1/health', (c) => c.json({ status: 'ok' }))
  app.get('/v1/ready', async (c) => {
    try {
      await kms.describe('__readiness__', DEFAULT_KEY).catch((err) => {
        if (!(err instanceof ProxyError && err.code === 'ERR_KEY_NOT_FOUND')) throw err
      })
      return c.json({ status: 'ready' })
    } catch {
      return c.json(
        {
          error: {
            code: 'ERR_KMS_UNAVAILABLE',
            message: 'KMS backend is not reachable',
            requestId: c.get('requestId'),
          },
        },
        503,
      )
    }
  })

  /**
   * Runs one audited operation: its line says `ok`, with what `work` learned (`note`), or the refusal's code.
   * Refusals are audited exactly like successes.
   */
  async function audited<T>(
    c: Context<Vars>,
    fields: Partial<AuditLine> & Pick<AuditLine, 'action'>,
    work: (note: (learned: Partial<AuditLine>) => void) => Promise<T>,
  ): Promise<T> {
    const learned: Partial<AuditLine> = {}
    try {
      const result = await work((l) => Object.assign(learned, l))
      line(c, { ...fields, ...learned, outcome: 'ok' })
      return result
    } catch (err) {
      line(c, { ...fields, ...learned, outcome: outcome(err) })
      throw err
    }
  }

  /**
   * The EDEK to use among those a request sends: this KMS's, preferring the acting tenant's (a message may carry
   * EDEKs for several tenants, or for other providers).
   */
  const ownEdek = (list: unknown, tenant: string) => {
    const ours = (Array.isArray(list) ? list.map(edekFromJson) : []).filter((e) => e?.providerId === kms.providerId)
    return ours.find((e) => e!.keyId.startsWith(`${tenant}/`)) ?? ours[0]
  }

  // --- data keys ---
  async function generateOne(c: Context<Vars>, who: Caller, tenant: string, ctx: EncryptionContext, d: Delivery) {
    const fields = { action: 'generate', tenant, keyId: `${tenant}/${DEFAULT_KEY}`, caller: who.id } as const
    return audited(c, { ...fields, contextHash: await contextHash(ctx) }, async (note) => {
      const { dek, edek } = await kms.generate(tenant, DEFAULT_KEY, ctx)
      try {
        note({ keyId: edek.keyId, keyVersion: edek.keyVersion })
        return { edek: edekToJson(edek), ...(await d.wrap(dek)) }
      } finally {
        dek.fill(0)
      }
    })
  }

  async function unwrapOne(
    c: Context<Vars>,
    who: Caller,
    tenant: string,
    item: unknown,
    d: Delivery,
  ): Promise<WrappedDek> {
    const it = item as { edeks?: unknown; context?: unknown } | null
    const ctx = context(it?.context)
    const edek = ownEdek(it?.edeks, tenant)
    const fields = {
      action: 'unwrap',
      tenant,
      keyId: edek?.keyId ?? null,
      keyVersion: edek?.keyVersion ?? null,
      caller: who.id,
    } as const
    return audited(c, { ...fields, contextHash: await contextHash(ctx) }, async (note) => {
      if (!edek) throw new ProxyError('ERR_EDEK_INVALID', 'no EDEK of this KMS in the request')
      const { dek, keyVersion } = await kms.unwrap(tenant, edek, ctx)
      try {
        note({ keyVersion })
        return await d.wrap(dek)
      } finally {
        dek.fill(0)
      }
    })
  }

  function items(body: Record<string, unknown>): unknown[] {
    if (!Array.isArray(body.items) || body.items.length === 0)
      throw new ProxyError('ERR_BAD_REQUEST', '"items" must be a non-empty array')
    if (body.items.length > maxBatch) throw new ProxyError('ERR_BATCH_TOO_LARGE', `at most ${maxBatch} items per batch`)
    return body.items
  }

  /** Runs every item; one item's refusal is its own result, never the batch's. */
  async function settle<T>(list: unknown[], run: (item: unknown) => Promise<T>) {
    return Promise.all(
      list.map((item) =>
        Promise.resolve(item)
          .then(run)
          .then(
            (r) => ({ ok: true as const, ...r }),
            (err) => {
              const e = err instanceof ProxyError ? err : new ProxyError('ERR_INTERNAL', 'internal error')
              return { ok: false as const, error: { code: e.code, message: e.message } }
            },
          ),
      ),
    )
  }

  app.post('/v1/keys/generate', async (c) => {
    const who = await caller(c, 'generate')
    const body = await jsonBody(c)
    const tenant = tenantOf(c, who, 'generate', body.tenant)
    const d = await delivery(body.clientKey)
    return c.json({ epk: d.epk, ...(await generateOne(c, who, tenant, context(body.context ?? {}), d)) })
  })

  app.post('/v1/keys/batch-generate', async (c) => {
    const who = await caller(c, 'generate')
    const body = await jsonBody(c)
    const tenant = tenantOf(c, who, 'generate', body.tenant)
    const d = await delivery(body.clientKey)
    const results = await settle(items(body), (item) =>
      generateOne(c, who, tenant, context((item as { context?: unknown })?.context ?? {}), d),
    )
    return c.json({ epk: d.epk, results })
  })

  app.post('/v1/keys/unwrap', async (c) => {
    const who = await caller(c, 'unwrap')
    const body = await jsonBody(c)
    const tenant = tenantOf(c, who, 'unwrap', body.tenant)
    const d = await delivery(body.clientKey)
    return c.json({ epk: d.epk, ...(await unwrapOne(c, who, tenant, body, d)) })
  })

  app.post('/v1/keys/batch-unwrap', async (c) => {
    const who = await caller(c, 'unwrap')
    const body = await jsonBody(c)
    const tenant = tenantOf(c, who, 'unwrap', body.tenant)
    const list = items(body)
    const d = await delivery(body.clientKey)
    return c.json({ epk: d.epk, results: await settle(list, (item) => unwrapOne(c, who, tenant, item, d)) })
  })

  app.post('/v1/keys/rekey', async (c) => {
    const who = await caller(c, 'rekey')
    const body = await jsonBody(c)
    const tenant = tenantOf(c, who, 'rekey', body.tenant)
    const toTenant = body.toTenant === undefined ? tenant : tenantOf(c, who, 'rekey', body.toTenant)
    const ctx = context(body.context ?? {})
    const edek = ownEdek(body.edeks, tenant)
    const fields = {
      action: 'rekey',
      tenant,
      toTenant,
      keyId: edek?.keyId ?? null,
      keyVersion: edek?.keyVersion ?? null,
      caller: who.id,
    } as const
    return audited(c, { ...fields, contextHash: await contextHash(ctx) }, async () => {
      if (!edek) throw new ProxyError('ERR_EDEK_INVALID', 'no EDEK of this KMS in the request')
      return c.json({ edek: edekToJson(await kms.rewrap(tenant, edek, ctx, toTenant)) })
    })
  })

  // --- administration (admin API keys; key-admin JWTs for their own tenant) ---
  const adminActions = {
    create: (t: string, k: string) => kms.createKey(t, k),
    rotate: (t: string, k: string) => kms.rotate(t, k),
    disable: (t: string, k: string) => kms.setEnabled(t, k, false),
    enable: (t: string, k: string) => kms.setEnabled(t, k, true),
    'cancel-deletion': (t: string, k: string) => kms.cancelDeletion(t, k),
    destroy: (t: string, k: string) => kms.destroy(t, k),
  } as const

  async function admin(c: Context<Vars>, action: string, run: (tenant: string, key: string) => Promise<unknown>) {
    const who = await caller(c, `admin.${action}`, true)
    const tenant = c.req.param('tenant')!
    const key = c.req.param('key') ?? DEFAULT_KEY
    const info = await audited(
      c,
      { action: `admin.${action}`, tenant, keyId: `${tenant}/${key}`, caller: who.id },
      () => {
        // A tenant's key administrator (a key-admin JWT) manages its own tenant's existing keys; creating keys
        // is the operator's (an admin API key).
        if (who.tenants !== '*' && (!who.tenants.includes(tenant) || action === 'create')) {
          throw new ProxyError('ERR_TENANT_FORBIDDEN', `not allowed to ${action} keys of tenant "${tenant}"`)
        }
        return run(tenant, key)
      },
    )
    return c.json(info as object)
  }

  app.get('/v1/admin/tenants/:tenant/keys/:key', (c) => admin(c, 'describe', (t, k) => kms.describe(t, k)))
  for (const [name, run] of Object.entries(adminActions)) {
    app.post(`/v1/admin/tenants/:tenant/keys/:key/${name}`, (c) => admin(c, name, run))
  }
  app.post('/v1/admin/tenants/:tenant/keys/:key/schedule-deletion', async (c) => {
    const body = await jsonBody(c).catch(() => ({}) as Record<string, unknown>)
    const days = body.waitingDays === undefined ? 30 : Number(body.waitingDays)
    return admin(c, 'schedule-deletion', (t, k) => kms.scheduleDeletion(t, k, days))
  })

  return app
}
