/**
 * The request body limit. A body announced by `Content-Length` (every HTTP/1.1 client's usual framing, and the
 * server refuses a body that does not match it) is judged by that header alone, so the request is never turned
 * into a web `Request` with a body stream just to be measured: on Node that conversion was over a quarter of a
 * single unwrap's CPU, and the route then reads the body straight from the socket. A chunked body, or one without a
 * length, is counted as it streams in (Hono's `bodyLimit`).
 * @module
 */
import type { Context, MiddlewareHandler } from 'hono'
import { bodyLimit } from 'hono/body-limit'

export function limitBody(maxSize: number, onError: (c: Context) => Response | Promise<Response>): MiddlewareHandler {
  const streamed = bodyLimit({ maxSize, onError })
  return (c, next) => {
    const method = c.req.method
    if (method === 'GET' || method === 'HEAD') return next() // no body (the server ignores one)
    const length = c.req.header('content-length')
    if (length !== undefined && /^\d{1,15}$/.test(length) && c.req.header('transfer-encoding') === undefined)
      return Number(length) > maxSize ? Promise.resolve(onError(c)) : next()
    return streamed(c, next)
  }
}
