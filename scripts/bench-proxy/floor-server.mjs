// The floor of a single request on this machine, for `bench:proxy`: a server that does no work (reads the body,
// answers a fixed JSON of the size of an unwrap's answer) in a process of its own, and, with `--hop`, one IPC round
// trip per request to a second process first, as a `--workers` worker's tenant audit lines to its primary. Measured
// by the same load client, in the same rounds as the proxies: what the machine's scheduling and loopback TCP cost
// before the proxy does anything.
import { fork } from 'node:child_process'
import http from 'node:http'

if (process.argv[2] === '--echo') {
  process.on('message', (m) => process.send(m))
} else {
  const hop = process.argv.includes('--hop') ? fork(new URL(import.meta.url).pathname, ['--echo']) : undefined
  const waiting = new Map()
  let next = 0
  hop?.on('message', (m) => {
    waiting.get(m.id)?.()
    waiting.delete(m.id)
  })
  const size = Number(process.argv[process.argv.indexOf('--answer-bytes') + 1]) || 400
  const answer = JSON.stringify({ pad: 'x'.repeat(Math.max(0, size - 10)) })
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', async () => {
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
