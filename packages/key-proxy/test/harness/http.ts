// Plain node:http(s) requests for the operations tests, each on a connection of its own unless an agent is given
// (fetch pools connections, and these tests care which connection, hence which worker, a request takes).
import { type Agent, type ClientRequest, request as httpRequest } from 'node:http'
import { request as httpsRequest } from 'node:https'

export interface Reply {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  readonly body: string
  /** With HTTPS: SHA-256 fingerprint of the certificate the server presented on this connection. */
  readonly fingerprint?: string
  /** Local port of the connection (tells whether two replies came over one connection). */
  readonly localPort?: number
  json<T = Record<string, unknown>>(): T
}

export interface RequestOptions {
  readonly method?: string
  readonly headers?: Record<string, string>
  readonly body?: unknown
  /** Reuse connections (keep-alive); default: a new connection for this request. */
  readonly agent?: Agent
  /** A CA for HTTPS (a self-signed test certificate). */
  readonly ca?: string | Buffer
}

export function send(url: string, options: RequestOptions = {}): Promise<Reply> {
  const u = new URL(url)
  const body = options.body === undefined ? undefined : JSON.stringify(options.body)
  const headers: Record<string, string> = { ...options.headers }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest
  return new Promise((resolve, reject) => {
    const req = request(
      u,
      {
        method: options.method ?? (body === undefined ? 'GET' : 'POST'),
        headers,
        agent: options.agent ?? false,
        ...(options.ca ? { ca: options.ca } : {}),
      },
      (res) => {
        const socket = res.socket as import('node:tls').TLSSocket
        const fingerprint =
          typeof socket.getPeerCertificate === 'function' ? socket.getPeerCertificate().fingerprint256 : undefined
        const localPort = socket.localPort
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d) => {
          text += d
        })
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: text,
            fingerprint,
            localPort,
            json: () => JSON.parse(text),
          }),
        )
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

/** An admin route: `POST /v1/admin/tenants/<tenant>/keys/default/<action>` (or GET describe). */
export function admin(url: string, adminKey: string, tenant: string, action?: string, body?: unknown) {
  const path = `${url}/v1/admin/tenants/${tenant}/keys/default${action ? `/${action}` : ''}`
  return send(path, {
    method: action ? 'POST' : 'GET',
    headers: { authorization: `ApiKey ${adminKey}` },
    body: action ? (body ?? {}) : undefined,
  })
}

/**
 * The status and error code of the answer to `req`, which may come before its body is sent (a refusal on the
 * headers or part of the body); the connection is then destroyed. An error after the answer is ignored.
 */
export function answerOf(req: ClientRequest): Promise<{ status: number; code?: string }> {
  return new Promise((resolve, reject) => {
    let answered = false
    req.on('response', (res) => {
      answered = true
      let body = ''
      res.on('data', (d) => {
        body += d
      })
      res.on('end', () => {
        resolve({ status: res.statusCode!, code: JSON.parse(body).error?.code })
        req.destroy()
      })
    })
    req.on('error', (err) => (answered ? undefined : reject(err)))
  })
}
