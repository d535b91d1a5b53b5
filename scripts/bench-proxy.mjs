// `npm run bench:proxy [-- --json] [-- --quick]`: the key proxy on loopback, a real process, under a bounded load
// client. Unwraps per second and p50/p99 request latency for single unwraps and for batches of 10, 100 and 1000.
// The load client speaks the wire protocol with plain fetch (not the client's own batching), with a fixed number
// of requests in flight and a fixed number of requests per case.
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { sha256Hex, startProxyProcess } from './lib/proxy-process.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = new Set(process.argv.slice(2))
const json = args.has('--json')
const quick = args.has('--quick')
const log = (...a) => (json ? console.error(...a) : console.log(...a))
const API_KEY = 'bench-proxy-key'

// --- a Node build of the client's protocol ---
const { build } = await import('rolldown')
await build({
  input: `${root}packages/fetch-client/src/protocol.ts`,
  output: { file: `${root}dist/bench/protocol.mjs`, format: 'esm' },
  platform: 'node',
  logLevel: 'silent',
})
const protocol = await import(`${root}dist/bench/protocol.mjs`)

// --- start a real proxy ---
const sha256 = await sha256Hex(API_KEY)
const proxy = await startProxyProcess(
  { tenants: ['bench'], apiKeys: [{ id: 'bench', sha256, tenants: ['bench'] }], maxBodyBytes: 8 << 20 },
  process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/pprof'] : [],
)
const url = proxy.url

try {
  const { privateKey, publicJwk } = await protocol.generateDeliveryKeyPair()
  const post = async (path, body) => {
    const r = await fetch(`${url}/v1${path}`, {
      method: 'POST',
      headers: { authorization: `ApiKey ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`)
    return r.json()
  }

  // EDEKs to unwrap: distinct ones, made through the proxy.
  const EDEKS = quick ? 200 : 1000
  const edeks = []
  for (let i = 0; i < EDEKS; i += 100) {
    const items = Array.from({ length: Math.min(100, EDEKS - i) }, (_, j) => ({ context: { doc: String(i + j) } }))
    const { results } = await post('/keys/batch-generate', { items, clientKey: publicJwk, nonce: protocol.newNonce() })
    for (const [j, r] of results.entries()) edeks.push({ edeks: [r.edek], context: { doc: String(i + j) } })
  }
  // Check once that what comes back really unwraps on the client side.
  const nonce = protocol.newNonce()
  const check = await post('/keys/unwrap', { ...edeks[0], clientKey: publicJwk, nonce })
  const binding = {
    nonce: protocol.readNonce(nonce),
    tenant: 'bench',
    edek: protocol.edekFromJson(edeks[0].edeks[check.edekIndex]),
    context: edeks[0].context,
  }
  await protocol.unwrapDelivered(check, await protocol.openDelivery(check, privateKey), binding)

  const percentile = (xs, p) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]

  /** `requests` requests with `concurrency` in flight; each unwraps `batch` EDEKs. */
  async function runCase(batch, requests, concurrency) {
    const latencies = []
    let next = 0
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < requests) {
          const n = next++
          const start = performance.now()
          if (batch === 1) {
            await post('/keys/unwrap', { ...edeks[n % edeks.length], clientKey: publicJwk, nonce: protocol.newNonce() })
          } else {
            const items = Array.from({ length: batch }, (_, i) => edeks[(n * batch + i) % edeks.length])
            const { results } = await post('/keys/batch-unwrap', {
              items,
              clientKey: publicJwk,
              nonce: protocol.newNonce(),
            })
            if (results.some((r) => !r.ok)) throw new Error('a batch item failed')
          }
          latencies.push(performance.now() - start)
        }
      }),
    )
    const seconds = (performance.now() - t0) / 1000
    return {
      batch,
      requests,
      concurrency,
      unwrapsPerS: (requests * batch) / seconds,
      p50Ms: percentile(latencies, 50),
      p99Ms: percentile(latencies, 99),
    }
  }

  const scale = quick ? 0.2 : 1
  const plan = [
    [1, Math.round(2000 * scale), 1], // latency: one request at a time
    [10, Math.round(600 * scale), 4],
    [100, Math.round(80 * scale), 2],
    [1000, Math.max(2, Math.round(12 * scale)), 2],
  ]
  await runCase(1, 200, 4) // warm-up
  const cases = []
  for (const [batch, requests, concurrency] of plan) {
    const r = await runCase(batch, requests, concurrency)
    cases.push(r)
    log(
      `  batch ${String(batch).padStart(4)}: ${r.unwrapsPerS.toFixed(0).padStart(6)} unwraps/s, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms per request (${r.requests} requests, ${r.concurrency} in flight)`,
    )
  }
  const single = cases[0]
  const batched = cases.at(-1)
  const report = {
    machine: {
      cpu: os.cpus()[0]?.model,
      cores: os.cpus().length,
      node: process.version,
      date: new Date().toISOString(),
    },
    cases,
    ratios: { batch1000_vs_single: Number((batched.unwrapsPerS / single.unwrapsPerS).toFixed(2)) },
    unwraps_per_s_batched: Math.round(Math.max(...cases.slice(1).map((c) => c.unwrapsPerS))),
    p99_ms_single: Number(single.p99Ms.toFixed(2)),
    p50_ms_single: Number(single.p50Ms.toFixed(2)),
    goals: { batch1000_vs_single: '>= 20', unwraps_per_s_batched: '>= 10000', p99_ms_single: '< 5' },
  }
  if (json) console.log(JSON.stringify(report, null, 2))
  else {
    console.log('\n| case | unwraps/s | p50 ms | p99 ms |\n|---|---|---|---|')
    for (const c of cases)
      console.log(`| batch ${c.batch} | ${c.unwrapsPerS.toFixed(0)} | ${c.p50Ms.toFixed(2)} | ${c.p99Ms.toFixed(2)} |`)
    console.log(
      `\nbatch1000_vs_single ${report.ratios.batch1000_vs_single} (goal ≥ 20), unwraps_per_s_batched ${report.unwraps_per_s_batched} (goal ≥ 10000), p99_ms_single ${report.p99_ms_single} (goal < 5)`,
    )
  }
} finally {
  proxy.stop()
}
