/**
 * The Node HTTP server of the key proxy, with the connection settings of the configuration: `headersTimeoutMs`
 * and `requestTimeoutMs` cut stalled connections (408), `maxConnections` drops connections past the cap. Node's
 * defaults (60 s for headers, 300 s per request, no cap) let a few hundred stalled clients hold the proxy's memory.
 * @module
 */
import type { Server } from 'node:http'
import { serve } from '@hono/node-server'
import type { Hono } from 'hono'
import type { ProxyConfig } from './config.ts'

export function serveNode(
  app: Pick<Hono, 'fetch'>,
  config: ProxyConfig,
  onListening: (info: { port: number }) => void,
): Server {
  const server = serve(
    {
      fetch: app.fetch,
      hostname: config.host,
      port: config.port,
      serverOptions: {
        headersTimeout: config.headersTimeoutMs,
        requestTimeout: config.requestTimeoutMs,
        // How often Node looks for connections past those timeouts (its default is every 30 s).
        connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(config.headersTimeoutMs / 4))),
      },
    },
    onListening,
  ) as Server
  server.maxConnections = config.maxConnections
  return server
}
