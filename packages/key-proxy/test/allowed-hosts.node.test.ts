// The proxy answers only requests addressed to it: on loopback, by default, its own loopback names with its
// port, and the names of `allowedHosts` besides. A page on another site whose DNS name was rebound to 127.0.0.1
// (DNS rebinding) gets ERR_HOST_NOT_ALLOWED, even for /v1/health, and no key route sees its request.
import { request } from 'node:http'
import { afterAll, expect, test } from 'vitest'
import { type RunningProxy, startProxy } from './proxy-process.ts'

const running: RunningProxy[] = []
afterAll(async () => {
  for (const p of running) await p.stop()
})

function get(url: string, host: string, path = '/v1/health'): Promise<{ status: number; code?: string }> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, headers: { host } }, (res) => {
      let text = ''
      res.on('data', (d) => {
        text += d
      })
      res.on('end', () => resolve({ status: res.statusCode!, code: JSON.parse(text || '{}').error?.code }))
    })
    req.on('error', reject)
    req.end()
  })
}

test('on loopback: its own loopback names and port only', async () => {
  const proxy = await startProxy({ tenants: ['acme'] })
  running.push(proxy)
  const port = new URL(proxy.url).port
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `LOCALHOST:${port}`]) {
    expect(await get(proxy.url, host)).toEqual({ status: 200 })
  }
  for (const host of [`evil.example:${port}`, 'localhost', `127.0.0.1:${Number(port) + 1}`]) {
    expect({ host, ...(await get(proxy.url, host)) }).toEqual({ host, status: 403, code: 'ERR_HOST_NOT_ALLOWED' })
  }
  expect(await get(proxy.url, `rebound.example:${port}`, '/v1/admin/tenants/acme/keys/default')).toEqual({
    status: 403,
    code: 'ERR_HOST_NOT_ALLOWED',
  })
  // No admin request reached the routes: nothing was audited for it.
  expect(proxy.auditLines().filter((l) => String(l.action).startsWith('admin.'))).toEqual([])
})

test('allowedHosts: the configured names, and its own loopback names with its port', async () => {
  const proxy = await startProxy({ tenants: ['acme'], allowedHosts: ['Keys.Example.test'] })
  running.push(proxy)
  const port = new URL(proxy.url).port
  expect(await get(proxy.url, 'keys.example.test')).toEqual({ status: 200 })
  // A health check on the host itself (or a load balancer that sends the address it dialled) still gets in.
  expect(await get(proxy.url, new URL(proxy.url).host)).toEqual({ status: 200 })
  for (const host of [`evil.example:${port}`, 'keys.example.test:1', `127.0.0.1:${Number(port) + 1}`]) {
    expect({ host, ...(await get(proxy.url, host)) }).toEqual({ host, status: 403, code: 'ERR_HOST_NOT_ALLOWED' })
  }
})
