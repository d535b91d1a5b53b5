// Graceful shutdown, alone and with workers: SIGTERM while a request is in flight (its headers read, its body not
// yet sent) stops new connections, lets that request finish with its audit line on disk, then exits 0. The drain
// timeout, or a second signal, cuts what is left and exits 1.
import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, test } from 'vitest'
import { type Instance, startInstance } from '../harness/instance.ts'

let instance: Instance | undefined
afterEach(async () => {
  instance?.signal('SIGKILL')
  await instance?.exited
  instance = undefined
})

const portOf = (url: string) => Number(new URL(url).port)

/**
 * A request whose headers the server has read (it answered `100 Continue`) and whose body is still to come:
 * `finish()` sends the body and resolves with the raw response.
 */
async function requestInFlight(inst: Instance) {
  const body = JSON.stringify({ waitingDays: 7 })
  const socket = connect(portOf(inst.url), '127.0.0.1')
  let received = ''
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.on('error', () => {})
  socket.setEncoding('utf8')
  const continued = new Promise<void>((resolve) => {
    socket.on('data', (d) => {
      received += d
      if (received.includes('100 Continue')) resolve()
    })
  })
  socket.write(
    'POST /v1/admin/tenants/s/keys/default/schedule-deletion HTTP/1.1\r\n' +
      `Host: 127.0.0.1:${portOf(inst.url)}\r\nAuthorization: ApiKey ${inst.adminKey}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\nExpect: 100-continue\r\nx-request-id: in-flight\r\n\r\n`,
  )
  await continued
  return {
    socket,
    async finish(): Promise<string> {
      socket.write(body)
      await closed // Connection: close, so the server closes it after the answer
      return received.slice(received.indexOf('100 Continue') + 12)
    },
    closed,
  }
}

/** Connections are refused (the listening socket is closed); polled, as the workers close theirs one by one. */
async function refused(url: string): Promise<boolean> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const outcome = await new Promise<'refused' | 'accepted'>((resolve) => {
      const s: Socket = connect(portOf(url), '127.0.0.1')
      s.once('connect', () => {
        s.destroy()
        resolve('accepted')
      })
      s.once('error', () => resolve('refused'))
    })
    if (outcome === 'refused') return true
    await new Promise((r) => setImmediate(r))
  }
  return false
}

describe.each([
  { workers: 0, label: 'one process' },
  { workers: 2, label: '--workers 2' },
])('$label', ({ workers }) => {
  test('SIGTERM: no new connections, the request in flight is answered and audited, exit 0', async () => {
    instance = await startInstance({ workers, config: { tenants: ['s'] } })
    const inFlight = await requestInFlight(instance)
    instance.signal('SIGTERM')
    await instance.waitFor((l) => l.msg === 'draining' && l.inFlight === 1, 'draining with the request in flight')
    expect(await refused(instance.url)).toBe(true)
    const response = await inFlight.finish()
    expect(response).toMatch(/^\s*HTTP\/1\.1 200 OK/)
    expect(response.toLowerCase()).toContain('connection: close')
    expect(response).toContain('"state":"pending_deletion"')
    expect(await instance.exited).toEqual({ code: 0, signal: null })
    const line = instance.auditLines().find((l) => l.requestId === 'in-flight')
    expect(line).toMatchObject({ action: 'admin.schedule-deletion', outcome: 'ok', tenant: 's' })
    expect(
      instance
        .logs()
        .filter((l) => l.msg === 'stopped')
        .map((l) => l.outcome),
    ).toContain('drained')
  })

  test('the drain timeout cuts a request that never ends, and the exit says so', async () => {
    instance = await startInstance({ workers, config: { tenants: ['s'], shutdownTimeoutMs: 200 } })
    const inFlight = await requestInFlight(instance)
    instance.signal('SIGTERM')
    await inFlight.closed // cut by the server, its body never sent
    expect((await instance.exited).code).toBe(1)
    expect(
      instance
        .logs()
        .filter((l) => l.msg === 'stopped')
        .map((l) => l.outcome),
    ).toContain('forced')
  })

  test('a second signal stops at once', async () => {
    instance = await startInstance({ workers, config: { tenants: ['s'], shutdownTimeoutMs: 600_000 } })
    const inFlight = await requestInFlight(instance)
    instance.signal('SIGTERM')
    await instance.waitFor((l) => l.msg === 'draining' && l.inFlight === 1, 'draining with the request in flight')
    instance.signal('SIGTERM')
    await inFlight.closed
    expect((await instance.exited).code).toBe(1)
  })
})
