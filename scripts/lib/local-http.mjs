// The HTTP server of a demo service on loopback. Every request goes through one guard, so no request can take the
// service down or reach it by another name:
//   - the Host header must be this service's own loopback name and port (127.0.0.1:<port> or localhost:<port>):
//     a page on another site that rebinds its DNS name to 127.0.0.1 (DNS rebinding) reads nothing from here;
//   - the request target must be a plain path (`/…`; `*` and absolute URLs are refused), split at `?` and never
//     parsed as a URL against a base: `new URL('//', base)` throws, and `//evil/token` or `/\evil/token` would
//     name another host;
//   - whatever the handler throws, synchronously or not, answers 500 (or ends the connection if the answer had
//     begun): an error in one request is never an unhandled rejection that stops the process.
import { createServer } from 'node:http'

const json = (res, status, code, message) => {
  res.writeHead(status, { 'content-type': 'application/json', connection: 'close' })
  res.end(JSON.stringify({ error: { code, message } }))
}

/** The Host values this server answers to: its own loopback names with its own port. */
function ownHosts(server) {
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : undefined
  return new Set([`127.0.0.1:${port}`, `localhost:${port}`])
}

/**
 * An http.Server for a loopback demo service. `handler(req, res, url)` gets the parsed target (`url.pathname`,
 * `url.searchParams`); it may be async, and may throw.
 */
export function createLocalServer(handler) {
  const server = createServer((req, res) => {
    req.on('error', () => {}) // a client that goes away mid-body: the handler sees the stream end early
    res.on('error', () => {})
    const host = (req.headers.host ?? '').toLowerCase()
    if (!ownHosts(server).has(host))
      return json(res, 403, 'ERR_HOST_NOT_ALLOWED', 'this service answers on loopback only')
    const target = req.url ?? ''
    if (!target.startsWith('/')) return json(res, 400, 'ERR_BAD_REQUEST', 'the request target is not a path')
    const query = target.indexOf('?')
    const url = {
      pathname: query < 0 ? target : target.slice(0, query),
      searchParams: new URLSearchParams(query < 0 ? '' : target.slice(query + 1)),
    }
    const failed = () => {
      if (!res.headersSent) json(res, 500, 'ERR_INTERNAL', 'the service failed on this request')
      else res.destroy()
    }
    try {
      Promise.resolve(handler(req, res, url)).catch(failed)
    } catch {
      failed()
    }
  })
  return server
}
