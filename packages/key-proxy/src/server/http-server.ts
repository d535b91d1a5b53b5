/**
 * The key proxy's Node HTTP(S) server around the portable app, with what a graceful shutdown needs: it counts
 * requests in flight, and {@link NodeServer.drain} stops accepting connections, closes idle keep-alive ones,
 * answers every request still in flight (with `Connection: close`), and resolves once they are done, or ends
 * them at the timeout.
 * @module
 */
import {
  createServer as createHttpServer,
  type ServerOptions as HttpServerOptions,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer, type Server as HttpsServer, type ServerOptions } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import { createAdaptorServer } from '@hono/node-server'
import { readTls, reloadTls, type TlsFiles, type TlsMaterial } from './tls.ts'

export interface NodeServerOptions {
  readonly host: string
  readonly port: number
  readonly tls?: TlsFiles
  /** Passed to `http.createServer` (timeouts of the configuration). */
  readonly serverOptions?: HttpServerOptions
  /**
   * Most open connections; past it a new connection is closed at once, unanswered. Counted here rather than with
   * Node's `maxConnections`: in a cluster worker that one hands the connection back to the primary, which offers
   * it to the next worker, and so on, without end.
   */
  readonly maxConnections?: number
}

export interface NodeServer {
  readonly server: Server | HttpsServer
  /** The certificate served, with TLS. */
  readonly tls: TlsMaterial | undefined
  /** Starts listening; resolves with the URL it answers on. */
  listen(): Promise<string>
  /** Requests received and not yet answered. */
  inFlight(): number
  /** True once {@link drain} began. */
  readonly draining: boolean
  /** Graceful stop: `drained` when every request in flight was answered, `forced` when the timeout cut some. */
  drain(timeoutMs: number): Promise<'drained' | 'forced'>
  /** Stops at once, cutting every connection. */
  destroy(): void
  /** Reads the TLS files again and serves the new certificate to new connections (throws a ConfigError). */
  reloadTls(): TlsMaterial
}

export function createNodeServer(
  app: { fetch: (req: Request) => Response | Promise<Response> },
  options: NodeServerOptions,
): NodeServer {
  let tls = options.tls ? readTls(options.tls) : undefined
  const serverOptions: ServerOptions = { ...options.serverOptions, ...(tls ? { cert: tls.cert, key: tls.key } : {}) }
  const server = (
    tls
      ? createAdaptorServer({ fetch: app.fetch, createServer: createHttpsServer, serverOptions })
      : createAdaptorServer({ fetch: app.fetch, createServer: createHttpServer, serverOptions })
  ) as Server | HttpsServer
  const cap = options.maxConnections
  if (cap) {
    let open = 0
    server.on('connection', (socket: Socket) => {
      if (open >= cap) {
        socket.destroy()
        return
      }
      open++
      socket.once('close', () => open--)
    })
  }

  const inFlight = new Set<ServerResponse>()
  let draining = false
  let settle: (() => void) | undefined
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    inFlight.add(res)
    if (draining) res.setHeader('connection', 'close')
    res.once('close', () => {
      inFlight.delete(res)
      if (draining && inFlight.size === 0) settle?.()
    })
  })

  return {
    server,
    get tls() {
      return tls
    },
    get draining() {
      return draining
    },
    listen() {
      return new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(options.port, options.host, () => {
          server.off('error', reject)
          const { port } = server.address() as AddressInfo
          const host = options.host.includes(':') ? `[${options.host}]` : options.host
          resolve(`${tls ? 'https' : 'http'}://${host}:${port}`)
        })
      })
    },
    inFlight: () => inFlight.size,
    drain(timeoutMs) {
      draining = true
      // Answers still to be written tell their clients not to send another request on the connection.
      for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close')
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      const answered = new Promise<void>((resolve) => {
        settle = resolve
        if (inFlight.size === 0) resolve()
      })
      let timer: ReturnType<typeof setTimeout> | undefined
      const timeout = new Promise<'forced'>((resolve) => {
        timer = setTimeout(() => resolve('forced'), timeoutMs)
      })
      const done = answered.then(() => {
        server.closeIdleConnections() // keep-alive connections whose last request just ended
        return closed.then(() => 'drained' as const)
      })
      return Promise.race([done, timeout]).then((outcome) => {
        clearTimeout(timer)
        if (outcome === 'forced') server.closeAllConnections()
        return outcome
      })
    },
    destroy() {
      draining = true
      server.close()
      server.closeAllConnections()
    },
    reloadTls() {
      if (!options.tls || !('setSecureContext' in server)) throw new Error('this server has no TLS')
      tls = reloadTls(server as HttpsServer, options.tls)
      return tls
    },
  }
}
