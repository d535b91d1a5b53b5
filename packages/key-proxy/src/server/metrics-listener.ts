/**
 * The metrics listener: `GET /metrics` in the Prometheus text format on its own address (`metrics.host`,
 * `metrics.port`; loopback by default), apart from the key routes, so scraping needs no key-proxy credential and
 * the key port exposes nothing more. Metrics hold counts, route patterns and error codes: no tenant data.
 * @module
 */
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { METRICS_CONTENT_TYPE } from '../metrics.ts'

/** Listens; resolves with the server and its URL. `collect` gives the text (a cluster primary adds up its workers). */
export function startMetricsListener(
  host: string,
  port: number,
  collect: () => Promise<string>,
): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    collect().then(
      (text) => res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE }).end(text),
      () => res.writeHead(503, { 'content-type': 'text/plain' }).end('metrics unavailable\n'),
    )
  })
  server.requestTimeout = 10_000
  server.headersTimeout = 5_000
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      const a = server.address() as AddressInfo
      resolve({ server, url: `http://${host.includes(':') ? `[${host}]` : host}:${a.port}/metrics` })
    })
  })
}
