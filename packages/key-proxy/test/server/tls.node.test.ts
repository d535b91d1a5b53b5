// HTTPS with certificate and key files, and their reload on SIGHUP: new connections get the new certificate,
// a connection already open keeps going, a reload that fails keeps the old certificate. Alone and with workers.

import { X509Certificate } from 'node:crypto'
import { copyFileSync } from 'node:fs'
import { Agent } from 'node:https'
import { afterEach, describe, expect, test } from 'vitest'
import { resolveServerConfig } from '../../src/server/server-config.ts'
import { makeCert } from '../harness/certs.ts'
import { send } from '../harness/http.ts'
import { type Instance, startInstance } from '../harness/instance.ts'

let instance: Instance | undefined
afterEach(async () => {
  await instance?.stop()
  instance = undefined
})

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256

describe.each([
  { workers: 0, label: 'one process' },
  { workers: 2, label: '--workers 2' },
])('$label', ({ workers }) => {
  test('serves HTTPS; SIGHUP swaps the certificate without dropping an open connection', async () => {
    const first = makeCert('first')
    const second = makeCert('second')
    const served = makeCert('served') // the files the proxy reads: first's now, second's after the swap
    copyFileSync(first.certFile, served.certFile)
    copyFileSync(first.keyFile, served.keyFile)
    instance = await startInstance({ workers, config: { tls: { certFile: served.certFile, keyFile: served.keyFile } } })
    expect(instance.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)

    const kept = new Agent({ keepAlive: true, maxSockets: 1, ca: first.cert })
    const before = await send(`${instance.url}/v1/health`, { agent: kept as never })
    expect(before.status).toBe(200)
    expect(before.fingerprint).toBe(fingerprintOf(first.cert))

    copyFileSync(second.certFile, served.certFile)
    copyFileSync(second.keyFile, served.keyFile)
    const since = instance.logs().length
    instance.signal('SIGHUP')
    // Every worker's line (waiting for the n-th line from `since + n` could find the first one again).
    const reloads = () => instance!.logs().filter((l, i) => i >= since && l.msg === 'tls reloaded').length
    await instance.waitFor((l) => l.msg === 'tls reloaded' && reloads() >= Math.max(1, workers), 'the reloads', since)
    expect(instance.logs().filter((l, i) => i >= since && l.msg === 'tls reloaded')).toHaveLength(Math.max(1, workers))

    const fresh = await send(`${instance.url}/v1/health`, { ca: second.cert })
    expect(fresh.fingerprint).toBe(fingerprintOf(second.cert))
    await expect(send(`${instance.url}/v1/health`, { ca: first.cert })).rejects.toThrow()

    // The connection made before the swap still works, on its first certificate.
    const again = await send(`${instance.url}/v1/health`, { agent: kept as never })
    expect(again.status).toBe(200)
    expect(again.localPort).toBe(before.localPort)
    expect(again.fingerprint).toBe(fingerprintOf(first.cert))
    kept.destroy()
  })

  test('a reload with a key that is not the certificate’s keeps the old certificate and says why', async () => {
    const good = makeCert('good')
    const other = makeCert('other')
    instance = await startInstance({ workers, config: { tls: { certFile: good.certFile, keyFile: good.keyFile } } })
    copyFileSync(other.keyFile, good.keyFile) // now the key does not match the certificate
    const since = instance.logs().length
    instance.signal('SIGHUP')
    const failed = await instance.waitFor((l) => l.msg.startsWith('tls not reloaded'), 'the refusal', since)
    expect(String(failed.error)).toContain('does not go with')
    expect(JSON.stringify(instance.logs())).not.toContain('PRIVATE KEY')
    const r = await send(`${instance.url}/v1/health`, { ca: good.cert })
    expect(r.fingerprint).toBe(fingerprintOf(good.cert))
  })
})

test('a start with a missing certificate file stops and names the file', async () => {
  const c = makeCert('missing')
  await expect(
    startInstance({ workers: 0, config: { tls: { certFile: `${c.certFile}.nope`, keyFile: c.keyFile } } }),
  ).rejects.toThrow(/cannot read the TLS certificate file .*\.nope/)
})

test('plain HTTP beyond loopback is refused unless TLS ends in front of the proxy', async () => {
  await expect(startInstance({ workers: 0, config: { host: '0.0.0.0' } })).rejects.toThrow(
    /plain HTTP on 0\.0\.0\.0 is refused/,
  )
  // (Not started: a test listens on loopback only.)
  expect(resolveServerConfig({ insecureHttp: true }, {}, '0.0.0.0').insecureHttp).toBe(true)
  expect(() => resolveServerConfig({}, {}, '10.1.2.3')).toThrow(/plain HTTP on 10\.1\.2\.3 is refused/)
  for (const host of ['127.0.0.1', '127.8.9.10', 'localhost', '::1', '[::1]']) {
    expect(resolveServerConfig({}, {}, host).insecureHttp).toBe(false)
  }
})
