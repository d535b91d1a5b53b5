// `npm run bench:proxy [-- --json] [-- --quick]`: the key proxy on loopback, real processes, under a bounded load
// client. Unwraps per second and p50/p99 request latency for single unwraps and for batches of 10, 100 and 1000,
// measured side by side in one run against
//   - one process serving alone (`--workers 0`),
//   - the default deployment, a worker per core (`--workers <cores>`),
//   - the same unwrap work (EDEK open + delivery wrap) in a bare loop in this process, with nothing around it.
// The load client speaks the wire protocol with node:http and keep-alive (not the client's own batching; a quarter
// of fetch's CPU per request, on the cores the proxy shares), with a fixed number of requests in flight and a fixed
// number of requests per case.
import { spawn } from 'node:child_process'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { postText as postTextTo, processTreeCpuMs, sha256Hex, startProxyProcess } from './lib/proxy-process.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = new Set(process.argv.slice(2))
const json = args.has('--json')
const quick = args.has('--quick')
const log = (...a) => (json ? console.error(...a) : console.log(...a))
const API_KEY = 'bench-proxy-key'
const cores = os.availableParallelism()

// --- Node builds of the client's protocol and of the bare unwrap loop ---
const { build } = await import('rolldown')
for (const [input, file] of [
  ['packages/fetch-client/src/protocol.ts', 'protocol.mjs'],
  ['scripts/bench-proxy/bare-unwrap.ts', 'bare-unwrap.mjs'],
  ['scripts/bench-proxy/postgres.ts', 'postgres.mjs'],
]) {
  await build({
    input: `${root}${input}`,
    output: {
      dir: `${root}dist/bench`,
      entryFileNames: file,
      chunkFileNames: 'chunks/[name]-[hash].mjs',
      format: 'esm',
    },
    platform: 'node',
    // The KMS providers' SDKs stay external (the bare loop only runs the local KMS; they load on first use).
    external: [/^jose(\/|$)/, /^pg(\/|$)/, /^@aws-sdk\//, /^pkcs11js$/, /^node:/],
    logLevel: 'silent',
  })
}
const protocol = await import(`${root}dist/bench/protocol.mjs`)
const { prepareBare } = await import(`${root}dist/bench/bare-unwrap.mjs`)
const { startPostgres } = await import(`${root}dist/bench/postgres.mjs`)

const percentile = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]
const scale = quick ? 0.2 : 1
const plan = [
  [1, Math.round(2000 * scale), 1], // latency: one request at a time
  [10, Math.round(1200 * scale), 4],
  [100, Math.round(240 * scale), 2 * cores],
  [1000, Math.max(2, Math.round(36 * scale)), 2 * cores],
]
const sha256 = await sha256Hex(API_KEY)
const ADMIN_KEY = 'bench-admin-key'
const settings = {
  tenants: ['bench'],
  apiKeys: [{ id: 'bench', sha256, tenants: ['bench'] }],
  adminKeys: [{ id: 'bench-admin', sha256: await sha256Hex(ADMIN_KEY) }],
  maxBodyBytes: 8 << 20,
}
// The PostgreSQL keystore's instances share one root key (and fsync stays on, as in production).
const pg = await startPostgres()
const pgSettings = { keystore: { url: pg.url }, rootKey: 'IiEgHx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAM' }
const nodeArgs = process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/pprof'] : []

/** Starts a proxy and makes distinct EDEKs through it; returns `runCase` and what the bare loop needs. */
async function prepare(workers, extra = {}) {
  const proxy = await startProxyProcess({ ...settings, ...extra }, nodeArgs, { workers })
  {
    const { privateKey, publicJwk } = await protocol.generateDeliveryKeyPair()
    const post = async (path, body) => {
      const r = await fetch(`${proxy.url}/v1${path}`, {
        method: 'POST',
        headers: { authorization: `ApiKey ${API_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`)
      return r.json()
    }
    const EDEKS = quick ? 200 : 1000
    const edeks = []
    for (let i = 0; i < EDEKS; i += 100) {
      const items = Array.from({ length: Math.min(100, EDEKS - i) }, (_, j) => ({ context: { doc: String(i + j) } }))
      const { results } = await post('/keys/batch-generate', {
        items,
        clientKey: publicJwk,
        nonce: protocol.newNonce(),
      })
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

    // The load client shares the cores with the proxy: request bodies are made once (each request then only adds
    // its fresh nonce), answers read as text and checked for a refused item, so its own cost per unwrap stays small.
    const bodies = new Map()
    const bodyOf = (batch, n) => {
      const key = `${batch}/${(n * batch) % edeks.length}`
      let body = bodies.get(key)
      if (!body) {
        body = JSON.stringify(
          batch === 1
            ? { ...edeks[n % edeks.length], clientKey: publicJwk }
            : {
                items: Array.from({ length: batch }, (_, i) => edeks[(n * batch + i) % edeks.length]),
                clientKey: publicJwk,
              },
        ).slice(0, -1)
        bodies.set(key, body)
      }
      return `${body},"nonce":"${protocol.newNonce()}"}`
    }
    const postText = (path, body) => postTextTo(proxy.url, API_KEY, path, body)

    /** `requests` requests with `concurrency` in flight; each unwraps `batch` EDEKs. */
    async function runCase(batch, requests, concurrency) {
      const latencies = []
      let next = 0
      const cpu0 = processTreeCpuMs(proxy.pid)
      const t0 = performance.now()
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (next < requests) {
            const n = next++
            const start = performance.now()
            if (batch === 1) {
              await postText('/keys/unwrap', bodyOf(1, n))
            } else {
              const text = await postText('/keys/batch-unwrap', bodyOf(batch, n))
              if (text.includes('"ok":false')) throw new Error('a batch item failed')
            }
            latencies.push(performance.now() - start)
          }
        }),
      )
      const seconds = (performance.now() - t0) / 1000
      return { items: requests * batch, seconds, latencies, cpuSeconds: (processTreeCpuMs(proxy.pid) - cpu0) / 1000 }
    }

    await runCase(1, 200, 4) // warm-up
    await runCase(100, 10, 2 * cores)
    const singleBody = bodyOf(1, 0)
    const answerBytes = Buffer.byteLength(await postText('/keys/unwrap', singleBody))
    return {
      runCase,
      stop: proxy.stop,
      dataDir: proxy.dataDir,
      edeks,
      publicJwk,
      url: proxy.url,
      singleBody,
      answerBytes,
    }
  }
}

// The proxies run side by side and take turns, case by case and round by round (the bare loop too, in the
// batch-1000 rounds; the PostgreSQL one in the batched rounds), so a drift of the shared machine falls on all alike.
const alone = await prepare(0)
const pooled = await prepare(cores)
const onPg = await prepare(0, pgSettings)
const bareBatch = 1000
const bare = await prepareBare({
  dataDir: alone.dataDir,
  tenant: 'bench',
  items: alone.edeks,
  clientKey: alone.publicJwk,
  batch: bareBatch,
})
// The machine's floor for a single request, in the same rounds (scripts/bench-proxy/floor-server.mjs): a server
// that does nothing, alone and with one IPC round trip per request, as a worker's audit lines to its primary; and
// the same two spinning 1 ms of CPU per request (about a worker's), which is what the tail then owes the machine.
const FLOOR_BUSY_MS = 1
async function startFloor(hop, busyMs = 0) {
  const child = spawn(
    process.execPath,
    [
      `${root}scripts/bench-proxy/floor-server.mjs`,
      ...(hop ? ['--hop'] : []),
      '--busy-ms',
      String(busyMs),
      '--answer-bytes',
      String(alone.answerBytes),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  )
  const url = await new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve(/listening on (\S+)/.exec(String(d))[1]))
    child.once('exit', (code) => reject(new Error(`floor server exited ${code}`)))
  })
  const body = () => `${alone.singleBody},"nonce":"${protocol.newNonce()}"}`
  return {
    async run(requests) {
      const latencies = []
      for (let i = 0; i < requests; i++) {
        const start = performance.now()
        await postTextTo(url, API_KEY, '/keys/unwrap', body())
        latencies.push(performance.now() - start)
      }
      return latencies
    },
    stop: () => child.kill('SIGTERM'),
  }
}
const floors = {
  http: await startFloor(false),
  hop: await startFloor(true),
  httpBusy: await startFloor(false, FLOOR_BUSY_MS),
  hopBusy: await startFloor(true, FLOOR_BUSY_MS),
}
for (const f of Object.values(floors)) await f.run(200) // warm-up
const floorLatencies = { http: [], hop: [], httpBusy: [], hopBusy: [] }
const rounds = quick ? 1 : 6 // alternating often: the machine's speed drifts within a run
const merged = () => ({ items: 0, seconds: 0, latencies: [], cpuSeconds: 0 })
const add = (into, r) => {
  into.items += r.items
  into.seconds += r.seconds
  into.latencies.push(...r.latencies)
  into.cpuSeconds += r.cpuSeconds ?? 0
}
const summary = (batch, requests, concurrency, m) => ({
  batch,
  requests,
  concurrency,
  unwrapsPerS: m.items / m.seconds,
  p50Ms: percentile(m.latencies, 50),
  p99Ms: percentile(m.latencies, 99),
  // The proxy's processes' CPU over the wall time: a Node process keeps more than one core busy (GC threads,
  // the kernel's loopback TCP), which bounds what N workers on N cores can add.
  coresBusy: Number((m.cpuSeconds / m.seconds).toFixed(2)),
  cpuMsPer1000: Number(((m.cpuSeconds * 1e6) / m.items).toFixed(1)),
})
const aloneCases = []
const pooledCases = []
const pgCases = []
const bareRun = merged()
for (const [batch, requests, concurrency] of plan) {
  const a = merged()
  const p = merged()
  const g = merged()
  const perRound = Math.max(1, Math.round(requests / rounds))
  for (let r = 0; r < rounds; r++) {
    add(a, await alone.runCase(batch, perRound, concurrency))
    add(p, await pooled.runCase(batch, perRound, concurrency))
    if (batch >= 100) add(g, await onPg.runCase(batch, perRound, concurrency))
    if (batch === 1)
      for (const [name, f] of Object.entries(floors)) floorLatencies[name].push(...(await f.run(perRound)))
    if (batch === 1000) {
      const u0 = process.cpuUsage() // the bare loop runs in this process
      const r = await bare.run((quick ? 4000 : 20_000) / rounds)
      const u = process.cpuUsage(u0)
      add(bareRun, { ...r, cpuSeconds: (u.user + u.system) / 1e6 })
    }
  }
  aloneCases.push(summary(batch, perRound * rounds, concurrency, a))
  pooledCases.push(summary(batch, perRound * rounds, concurrency, p))
  if (batch >= 100) pgCases.push(summary(batch, perRound * rounds, concurrency, g))
  for (const [label, c] of [
    ['one process', aloneCases.at(-1)],
    [`${cores} workers`, pooledCases.at(-1)],
  ]) {
    log(
      `  batch ${String(batch).padStart(4)}, ${label.padEnd(11)}: ${c.unwrapsPerS.toFixed(0).padStart(6)} unwraps/s, p50 ${c.p50Ms.toFixed(2)} ms, p99 ${c.p99Ms.toFixed(2)} ms per request (${c.requests} requests, ${c.concurrency} in flight; ${c.coresBusy} cores busy, ${c.cpuMsPer1000} ms CPU per 1000)`,
    )
  }
}
await Promise.all([alone.stop(), pooled.stop()])
for (const f of Object.values(floors)) f.stop()
log(
  `  batch    1, floor      : p50 ${percentile(floorLatencies.http, 50).toFixed(2)} ms, p99 ${percentile(floorLatencies.http, 99).toFixed(2)} ms (a server doing nothing); with one IPC round trip: p50 ${percentile(floorLatencies.hop, 50).toFixed(2)} ms, p99 ${percentile(floorLatencies.hop, 99).toFixed(2)} ms`,
)
log(
  `  batch    1, floor busy : p50 ${percentile(floorLatencies.httpBusy, 50).toFixed(2)} ms, p99 ${percentile(floorLatencies.httpBusy, 99).toFixed(2)} ms (spinning ${FLOOR_BUSY_MS} ms a request); with one IPC round trip: p50 ${percentile(floorLatencies.hopBusy, 50).toFixed(2)} ms, p99 ${percentile(floorLatencies.hopBusy, 99).toFixed(2)} ms`,
)

// Rotation visible across instances: a rotation acknowledged by one PostgreSQL instance, then two others asked
// for data keys until theirs carry the new version; the time from the acknowledgement, per instance.
const others = [await prepare(0, pgSettings), await prepare(0, pgSettings)]
const { publicJwk: visibilityKey } = await protocol.generateDeliveryKeyPair()
const versionOn = async (url) => {
  const r = await fetch(`${url}/v1/keys/generate`, {
    method: 'POST',
    headers: { authorization: `ApiKey ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ context: {}, clientKey: visibilityKey, nonce: protocol.newNonce() }),
  })
  if (!r.ok) throw new Error(`generate: ${r.status} ${await r.text()}`)
  return (await r.json()).edek.keyVersion
}
const visible = []
for (let i = 0; i < (quick ? 10 : 40); i++) {
  const r = await fetch(`${onPg.url}/v1/admin/tenants/bench/keys/default/rotate`, {
    method: 'POST',
    headers: { authorization: `ApiKey ${ADMIN_KEY}` },
  })
  if (!r.ok) throw new Error(`rotate: ${r.status} ${await r.text()}`)
  const version = String((await r.json()).primaryVersion)
  const acked = performance.now()
  await Promise.all(
    others.map(async (o) => {
      for (let tries = 0; (await versionOn(o.url)) !== version; tries++) {
        if (tries > 20_000) throw new Error('a rotation never became visible')
      }
      visible.push(performance.now() - acked)
    }),
  )
}
await Promise.all([onPg.stop(), ...others.map((o) => o.stop())])
await pg.stop()
log(
  `rotation visible on the other instances: p50 ${percentile(visible, 50).toFixed(1)} ms, p99 ${percentile(visible, 99).toFixed(1)} ms (${visible.length} samples)`,
)
const bareRate = bareRun.items / bareRun.seconds
log(`bare loop, one process: ${bareRate.toFixed(0)} unwraps/s (EDEK open + delivery wrap, batches of ${bareBatch})`)

const best = (cases) => Math.max(...cases.slice(1).map((c) => c.unwrapsPerS))
const bestCase = (cases) => cases.slice(1).reduce((a, c) => (c.unwrapsPerS > a.unwrapsPerS ? c : a))
const ratio = (a, b) => Number((a / b).toFixed(2))
const report = {
  machine: { cpu: os.cpus()[0]?.model, cores, node: process.version, date: new Date().toISOString() },
  one_process: { workers: 0, cases: aloneCases },
  workers: { workers: cores, cases: pooledCases },
  bare_crypto: {
    unwrapsPerS: Math.round(bareRate),
    batch: bareBatch,
    coresBusy: Number((bareRun.cpuSeconds / bareRun.seconds).toFixed(2)),
  },
  // Cores kept busy by the proxy's processes in their best batched case: workers_vs_single can reach at most
  // about (cores the workers get) / (cores one process already keeps busy).
  cores_busy: {
    one_process: bestCase(aloneCases).coresBusy,
    workers: bestCase(pooledCases).coresBusy,
    bare_loop: Number((bareRun.cpuSeconds / bareRun.seconds).toFixed(2)),
  },
  ratios: {
    workers_vs_single: ratio(best(pooledCases), best(aloneCases)),
    batched_vs_bare_crypto: ratio(best(aloneCases), bareRate),
    batched_vs_bare_crypto_workers: ratio(best(pooledCases), bareRate),
    batch1000_vs_single: ratio(aloneCases.at(-1).unwrapsPerS, aloneCases[0].unwrapsPerS),
    pg_vs_file: ratio(Math.max(...pgCases.map((c) => c.unwrapsPerS)), best(aloneCases)),
  },
  postgres: { workers: 0, cases: pgCases },
  rotation_visible_ms_p99: Number(percentile(visible, 99).toFixed(1)),
  rotation_visible_ms_p50: Number(percentile(visible, 50).toFixed(1)),
  unwraps_per_s_batched: Math.round(best(pooledCases)),
  unwraps_per_s_batched_one_process: Math.round(best(aloneCases)),
  p99_ms_single: Number(pooledCases[0].p99Ms.toFixed(2)),
  p50_ms_single: Number(pooledCases[0].p50Ms.toFixed(2)),
  p99_ms_single_one_process: Number(aloneCases[0].p99Ms.toFixed(2)),
  // The same load client against a server that does nothing (and one that also makes one IPC round trip).
  floor_single: {
    p50_ms: Number(percentile(floorLatencies.http, 50).toFixed(2)),
    p99_ms: Number(percentile(floorLatencies.http, 99).toFixed(2)),
    p50_ms_ipc_round_trip: Number(percentile(floorLatencies.hop, 50).toFixed(2)),
    p99_ms_ipc_round_trip: Number(percentile(floorLatencies.hop, 99).toFixed(2)),
    busy_ms: FLOOR_BUSY_MS,
    p50_ms_busy: Number(percentile(floorLatencies.httpBusy, 50).toFixed(2)),
    p99_ms_busy: Number(percentile(floorLatencies.httpBusy, 99).toFixed(2)),
    p50_ms_busy_ipc_round_trip: Number(percentile(floorLatencies.hopBusy, 50).toFixed(2)),
    p99_ms_busy_ipc_round_trip: Number(percentile(floorLatencies.hopBusy, 99).toFixed(2)),
  },
  goals: {
    workers_vs_single: '>= 1.6',
    batched_vs_bare_crypto: '>= 0.5',
    batched_vs_bare_crypto_workers: '>= 0.9',
    batch1000_vs_single: '>= 20',
    unwraps_per_s_batched: 'a record (swings 2x between machines of this kind)',
    p99_ms_single: '< 5 (with workers)',
    pg_vs_file: '>= 0.9',
    rotation_visible_ms_p99: '< 1000',
  },
}
if (json) console.log(JSON.stringify(report, null, 2))
else {
  console.log('\n| case | one process: unwraps/s | p50 ms | p99 ms | workers: unwraps/s | p50 ms | p99 ms |')
  console.log('|---|---|---|---|---|---|---|')
  for (const [i, c] of aloneCases.entries()) {
    const w = pooledCases[i]
    console.log(
      `| batch ${c.batch} | ${c.unwrapsPerS.toFixed(0)} | ${c.p50Ms.toFixed(2)} | ${c.p99Ms.toFixed(2)} | ${w.unwrapsPerS.toFixed(0)} | ${w.p50Ms.toFixed(2)} | ${w.p99Ms.toFixed(2)} |`,
    )
  }
  console.log(`| bare loop (one process) | ${bareRate.toFixed(0)} | | | | | |`)
  const r = report.ratios
  console.log(
    `\npg_vs_file ${r.pg_vs_file} (goal ≥ 0.9), rotation_visible_ms_p99 ${report.rotation_visible_ms_p99} (goal < 1000)\nworkers_vs_single ${r.workers_vs_single} (goal ≥ 1.6), batched_vs_bare_crypto ${r.batched_vs_bare_crypto} (goal ≥ 0.5), with workers ${r.batched_vs_bare_crypto_workers} (goal ≥ 0.9), batch1000_vs_single ${r.batch1000_vs_single} (goal ≥ 20), unwraps_per_s_batched ${report.unwraps_per_s_batched}, p99_ms_single ${report.p99_ms_single} with workers (goal < 5; one process ${report.p99_ms_single_one_process}; a server doing nothing ${report.floor_single.p99_ms}, with one IPC round trip ${report.floor_single.p99_ms_ipc_round_trip}; spinning ${FLOOR_BUSY_MS} ms ${report.floor_single.p99_ms_busy}, with the round trip ${report.floor_single.p99_ms_busy_ipc_round_trip})`,
  )
}
