// A `fetch` for the key-proxy client that opens a new connection per request (node:http, no keep-alive), so
// successive requests are spread over an instance's workers instead of riding one pooled connection.
import { send } from './http.ts'

export const fetchPerConnection: typeof fetch = async (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url
  const headers: Record<string, string> = {}
  new Headers(init?.headers).forEach((v, k) => {
    headers[k] = v
  })
  const reply = await send(url, {
    method: init?.method ?? 'GET',
    headers,
    body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
  })
  const out = new Headers()
  for (const [k, v] of Object.entries(reply.headers)) if (typeof v === 'string') out.set(k, v)
  return new Response(reply.body, { status: reply.status, headers: out })
}
