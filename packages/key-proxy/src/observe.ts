/**
 * The app's first middleware: gives each request its id (the caller's `x-request-id` when well formed, else a
 * fresh one, echoed in the response), then, once it is answered, writes its log line and counts it in the
 * metrics. The line holds the request id, method, route pattern, status, error code and duration: never the raw
 * path, the query, a header value or a body.
 * @module
 */
import type { MiddlewareHandler } from 'hono'
import { routePath } from 'hono/route'
import { type Logger, requestIdFrom } from './log.ts'
import type { ProxyMetrics } from './metrics.ts'

export interface ObserveOptions {
  readonly log?: Logger
  readonly metrics?: ProxyMetrics
}

/** The route's pattern (`/v1/admin/tenants/:tenant/keys/:key/rotate`), or `unmatched` when no route took it. */
function routeOf(c: Parameters<MiddlewareHandler>[0]): string {
  const path = routePath(c, -1)
  return path && !path.includes('*') ? path : 'unmatched'
}

/** The `code` of an error answer (`{ error: { code } }`), `ok` for a success. Error bodies are small. */
async function codeOf(res: Response): Promise<string> {
  if (res.status < 400) return 'ok'
  if (!res.headers.get('content-type')?.includes('application/json')) return `http_${res.status}`
  try {
    const body = (await res.clone().json()) as { error?: { code?: unknown } }
    const code = body?.error?.code
    return typeof code === 'string' && /^ERR_[A-Z0-9_]{1,60}$/.test(code) ? code : `http_${res.status}`
  } catch {
    return `http_${res.status}`
  }
}

export function observeRequests(options: ObserveOptions): MiddlewareHandler<{ Variables: { requestId: string } }> {
  const { log, metrics } = options
  return async (c, next) => {
    const started = performance.now()
    const requestId = requestIdFrom(c.req.header('x-request-id'))
    c.set('requestId', requestId)
    c.header('x-request-id', requestId)
    await next()
    if (!log && !metrics) return
    const seconds = (performance.now() - started) / 1000
    const route = routeOf(c)
    const status = c.res.status
    const code = await codeOf(c.res)
    metrics?.request(route, c.req.method, status, code, seconds)
    log?.info('request', {
      requestId,
      method: c.req.method,
      route,
      status,
      code,
      durationMs: Math.round(seconds * 1e6) / 1000,
    })
  }
}
