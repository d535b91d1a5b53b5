// `node scripts/bench-browser/transport.mjs [--mib N] [--rounds N]`: how to get bytes from Chromium to a service on
// loopback, measured to a server that counts and drops them (no disk): HTTP/1.1 with Blob parts of 8 MiB, 1 or 3
// in flight (what the demo does), against HTTP/2 over TLS (a self-signed certificate made for the run, Chromium
// told to accept it) with the same parts, and with one streamed request body (`duplex: 'half'`, which Chromium
// sends only over HTTP/2). Each plaintext, and each ciphertext from the core's encryptStream. Medians of MB/s.
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs'
import { createServer } from 'node:http'
import { createSecureServer } from 'node:http2'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { chromium } from '@playwright/test'
import { build } from 'rolldown'
import { chromiumArgs, chromiumPath } from '../lib/chromium.mjs'

const root = fileURLToPath(new URL('../..', import.meta.url))
const arg = (name, fallback) => Number(process.argv[process.argv.indexOf(name) + 1] || 0) || fallback
const MIB = arg('--mib', 256)
const ROUNDS = arg('--rounds', 3)
const dir = mkdtempSync(`${os.tmpdir()}/envelope-transport-`)
const cert = spawnSync('openssl', [
  'req',
  '-x509',
  '-newkey',
  'ec',
  '-pkeyopt',
  'ec_paramgen_curve:P-256',
  '-nodes',
  '-days',
  '1',
  '-keyout',
  `${dir}/key.pem`,
  '-out',
  `${dir}/cert.pem`,
  '-subj',
  '/CN=127.0.0.1',
  '-addext',
  'subjectAltName=IP:127.0.0.1',
])
if (cert.status !== 0) throw new Error(`openssl: ${cert.stderr}`)
await build({
  input: `${root}packages/core/src/index.ts`,
  output: { file: `${dir}/core.js`, format: 'esm' },
  platform: 'browser',
  logLevel: 'silent',
})
const core = readFileSync(`${dir}/core.js`)

const handler = (req, res) => {
  res.setHeader('access-control-allow-origin', '*')
  res.setHeader('access-control-allow-methods', 'PUT')
  if (req.method === 'OPTIONS') return res.writeHead(204).end()
  if (req.url === '/') return res.writeHead(200, { 'content-type': 'text/html' }).end('<input type=file id=file>')
  if (req.url === '/core.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(core)
  let n = 0
  req.on('data', (c) => {
    n += c.length
  })
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ n })))
}
const h1 = createServer(handler)
const h2 = createSecureServer(
  { key: readFileSync(`${dir}/key.pem`), cert: readFileSync(`${dir}/cert.pem`), allowHTTP1: true },
  handler,
)
await Promise.all([h1, h2].map((s) => new Promise((ok) => s.listen(0, '127.0.0.1', ok))))
const file = `${dir}/file.bin`
const fd = openSync(file, 'w')
for (let i = 0; i < MIB; i++) writeSync(fd, randomBytes(2 ** 20))
closeSync(fd)

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: [...chromiumArgs, '--ignore-certificate-errors'],
})
try {
  const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage()
  const http1 = `http://127.0.0.1:${h1.address().port}`
  const http2 = `https://127.0.0.1:${h2.address().port}`
  await page.goto(`${http1}/`)
  await page.setInputFiles('#file', file)
  const results = await page.evaluate(
    async ([http1, http2, rounds]) => {
      const core = await import(`${http1}/core.js`)
      const file = document.getElementById('file').files[0]
      const PART = 8 * 2 ** 20
      const provider = await core.createLocalKeyProvider({ kek: new Uint8Array(32).fill(1), keyId: 'transport' })
      const ciphertext = () => file.stream().pipeThrough(core.encryptStream({ provider }))
      const rate = (t) => file.size / 1e6 / ((performance.now() - t) / 1000)
      async function parts(base, inFlight, encrypted) {
        const t = performance.now()
        const uploading = []
        const send = async (body) => {
          if (uploading.length >= inFlight) await uploading.shift()
          uploading.push(fetch(`${base}/part`, { method: 'PUT', body }).then((r) => r.json()))
        }
        if (!encrypted) for (let at = 0; at < file.size; at += PART) await send(file.slice(at, at + PART))
        else {
          let chunks = []
          let filled = 0
          for await (const c of ciphertext()) {
            chunks.push(c)
            filled += c.length
            if (filled >= PART) {
              await send(new Blob(chunks))
              chunks = []
              filled = 0
            }
          }
          if (filled) await send(new Blob(chunks))
        }
        await Promise.all(uploading)
        return rate(t)
      }
      async function streamed(base, encrypted) {
        const t = performance.now()
        const body = encrypted ? ciphertext() : file.stream()
        await (await fetch(`${base}/stream`, { method: 'PUT', body, duplex: 'half' })).json()
        return rate(t)
      }
      const cases = {
        'HTTP/1.1, parts, 1 in flight': (e) => parts(http1, 1, e),
        'HTTP/1.1, parts, 3 in flight': (e) => parts(http1, 3, e),
        'HTTP/2 (TLS), parts, 1 in flight': (e) => parts(http2, 1, e),
        'HTTP/2 (TLS), parts, 3 in flight': (e) => parts(http2, 3, e),
        'HTTP/2 (TLS), one streamed body': (e) => streamed(http2, e),
      }
      const out = {}
      for (let r = 0; r < rounds; r++) {
        for (const [name, run] of Object.entries(cases)) {
          for (const encrypted of [false, true]) {
            const key = `${name}, ${encrypted ? 'ciphertext' : 'plaintext'}`
            out[key] = [...(out[key] ?? []), await run(encrypted)]
          }
        }
      }
      return out
    },
    [http1, http2, ROUNDS],
  )
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  console.log(
    `| ${MIB} MiB from Chromium ${browser.version()} to a counting server on loopback | MB/s (median of ${ROUNDS}) |\n|---|---|`,
  )
  for (const [k, v] of Object.entries(results)) console.log(`| ${k} | ${median(v).toFixed(0)} |`)
} finally {
  await browser.close()
  h1.close()
  h2.close()
  rmSync(dir, { recursive: true, force: true })
}
