// The floor of a single request on this machine, for `bench:proxy`: a server that does no work (reads the body,
// answers a fixed JSON of the size of an unwrap's answer) in a process of its own, and, with `--hop`, one IPC round
// trip per request to a second process first, as a `--workers` worker's tenant audit lines to its primary. With
// `--busy-ms X`, it spins X ms of CPU per request before the hop (and the second process a tenth of it), about what
// the proxy's worker and primary spend. Measured by the same load client, in the same rounds as the proxies: what the
// machine's scheduling and loopback TCP cost, and what it makes of that much CPU per request.
import { fork } from 'node:child_process'
import http from 'node:http'

const arg = (name) => (process.argv.includes(name) ? process.argv[process.argv.indexOf(name) + 1] : undefined)
const busyMs = Number(arg('--busy-ms') ?? 0)
const spin = (ms) => {
  const until = performance.now() + ms
  while (performance.now() < until);
}

if (process.argv[2] === '--echo') {
  process.on('message', (m) => {
    spin(busyMs)
    process.send(m)
  })
} else {
  const hop = process.argv.includes('--hop')
    ? fork(new URL(import.meta.url).pathname, ['--echo', '--busy-ms', String(busyMs / 10)])
    : undefined
  const waiting = new Map()
  let next = 0
  hop?.on('message', (m) => {
    waiting.get(m.id)?.()
    waiting.delete(m.id)
  })
  const size = Number(arg('--answer-bytes')) || 400
  const answer = JSON.stringify({ pad: 'x'.repeat(Math.max(0, size - 10)) })
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', async () => {
      spin(busyMs)
      if (hop) {
        await new Promise((resolve) => {
          const id = next++
          waiting.set(id, resolve)
          hop.send({ id, lines: ['x'.repeat(300)] })
        })
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(answer) })
      res.end(answer)
    })
  })
  server.listen(0, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`))
  process.on('SIGTERM', () => {
    hop?.kill()
    process.exit(0)
  })
}
