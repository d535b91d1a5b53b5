// `npm run bench:kms [-- --json] [-- --quick] [-- --workers N]`: unwraps per second and p50/p99 request latency through a real key
// proxy for each KMS backend (the local KMS, SoftHSM2 over PKCS#11, AWS KMS) in direct and leased modes. AWS KMS is
// the AWS-KMS-compatible endpoint in a process of its own (`envelope-proxy --aws-kms-endpoint --latency-ms 20`):
// every AWS API answer is held back 20 ms, as a KMS call over a network; the proxy calls it through the real
// @aws-sdk/client-kms. The load client speaks the wire protocol with node:http (keep-alive): single unwraps one at
// a time (latency), then batches of 1000 with 2 requests in flight. Every item is a distinct EDEK and context.
//
// kms_calls_per_10k_unwraps_leased: the proxy is restarted on its data folder (leases cold, as after a deploy),
// then 10,000 leased AWS unwraps run while the endpoint counts the KMS calls that reach it.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { postText as postTextTo, processTreeCpuMs, sha256Hex } from './lib/proxy-process.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = new Set(process.argv.slice(2))
const json = args.has('--json')
const quick = args.has('--quick')
const argv = process.argv.slice(2)
const workersAt = argv.indexOf('--workers')
const workers = workersAt >= 0 ? Number(argv[workersAt + 1]) : os.availableParallelism()
const log = (...a) => (json ? console.error(...a) : console.log(...a))
const API_KEY = 'bench-kms-key'
const KMS_LATENCY_MS = 20
const scale = quick ? 0.25 : 1
const serveNode = `${root}packages/key-proxy/dist/serve-node.mjs`

// --- a Node build of the client's protocol, and of the proxy ---
const { build } = await import('rolldown')
await build({
  input: `${root}packages/fetch-client/src/protocol.ts`,
  output: { file: `${root}dist/bench/protocol.mjs`, format: 'esm' },
  platform: 'node',
  logLevel: 'silent',
})
const protocol = await import(`${root}dist/bench/protocol.mjs`)
await import(`${root}packages/key-proxy/build.mjs`)

const children = new Set()
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})

/** Spawns `node <args>` and resolves once `ready` matches what it printed. */
function start(nodeArgs, ready, env = {}) {
  // PROF=1: CPU profiles of every process (and worker) in /tmp/envelope-bench-kms-prof.
  const prof = process.env.PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/envelope-bench-kms-prof'] : []
  const child = spawn(process.execPath, [...prof, ...nodeArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  children.add(child)
  return new Promise((resolve, reject) => {
    let out = ''
    const seen = (d) => {
      out += d
      if (ready.test(out)) resolve({ child, out })
    }
    child.stdout.on('data', seen)
    child.stderr.on('data', (d) => {
      out += d
    })
    child.on('exit', (code) => {
      children.delete(child)
      reject(new Error(`exited ${code}: ${out}`))
    })
  })
}
const stop = async (child) => {
  child.removeAllListeners('exit')
  const exited = new Promise((r) => child.once('exit', r))
  child.kill('SIGTERM')
  await exited
  children.delete(child)
}

// --- the customer's KMSs: the AWS KMS endpoint (20 ms a call) and a SoftHSM2 token ---
const work = mkdtempSync(join(os.tmpdir(), 'envelope-bench-kms-'))
const endpoint = await start(
  [
    serveNode,
    '--aws-kms-endpoint',
    '--port',
    '0',
    '--data-dir',
    join(work, 'aws'),
    '--latency-ms',
    String(KMS_LATENCY_MS),
    '--create-key',
    'alias/bench-direct',
    '--create-key',
    'alias/bench-leased',
  ],
  /alias\/bench-leased: arn:\S+/,
)
const awsUrl = /listening on (http:\/\/[\d.]+:\d+)/.exec(endpoint.out)[1]
const arnOf = (alias) => new RegExp(`${alias}: (arn:\\S+)`).exec(endpoint.out)[1]
const credentialsFile = /AWS_SHARED_CREDENTIALS_FILE=(\S+)/.exec(endpoint.out)[1]
const controlToken = JSON.parse(readFileSync(join(work, 'aws', 'aws-kms-endpoint.json'), 'utf8')).controlToken
const control = async (body) => {
  const r = await fetch(`${awsUrl}/_envelope/control`, {
    method: body ? 'POST' : 'GET',
    headers: { authorization: `Bearer ${controlToken}` },
    body: body ? JSON.stringify(body) : undefined,
  })
  return r.json()
}

const hsmDir = join(work, 'hsm')
mkdirSync(join(hsmDir, 'tokens'), { recursive: true })
const softhsmConf = join(hsmDir, 'softhsm2.conf')
writeFileSync(
  softhsmConf,
  `directories.tokendir = ${join(hsmDir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`,
)
const hsmModule = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'].find((m) => {
  try {
    readFileSync(m)
    return true
  } catch {
    return false
  }
})
execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--pin', '1234', '--so-pin', '5678'], {
  env: { ...process.env, SOFTHSM2_CONF: softhsmConf },
  stdio: 'ignore',
})
writeFileSync(join(hsmDir, 'pin'), '1234\n')

// --- the proxy: one tenant per backend and mode ---
const BACKENDS = ['local', 'hsm', 'aws']
const settingsOf = (backend, mode) =>
  backend === 'hsm'
    ? {
        module: hsmModule,
        tokenLabel: 'bench',
        pinFile: join(hsmDir, 'pin'),
        keyLabel: `bench/${mode}`,
        maxWaiting: 4000, // a direct batch queues one HSM call per item: two batches of 1000 in flight
      }
    : backend === 'aws'
      ? {
          keyId: arnOf(`alias/bench-${mode}`),
          endpoint: awsUrl,
          credentials: { source: 'profile', profile: 'default', file: credentialsFile },
        }
      : {}
const provider = { local: 'local', hsm: 'pkcs11', aws: 'aws-kms' }
const proxyDir = join(work, 'proxy')
mkdirSync(proxyDir)
writeFileSync(
  join(proxyDir, 'config.json'),
  JSON.stringify({
    port: 0,
    // The proxy's default deployment, a worker per core (`--workers N` to choose; 0: one process serving alone).
    // Each worker holds leases of its own: a cold start makes one lease unwrap per worker.
    workers,
    dataDir: proxyDir,
    maxBodyBytes: 8 << 20,
    apiKeys: [{ id: 'bench', sha256: await sha256Hex(API_KEY), tenants: ['*'] }],
    tenants: BACKENDS.flatMap((backend) =>
      ['direct', 'leased'].map((mode) => ({
        id: `${backend}-${mode}`,
        kms: [{ id: 'k', provider: provider[backend], mode, settings: settingsOf(backend, mode) }],
      })),
    ),
  }),
)
const startProxy = async () => {
  const p = await start([serveNode, '--config', join(proxyDir, 'config.json')], /listening on http:\/\/[\d.]+:\d+/, {
    SOFTHSM2_CONF: softhsmConf,
  })
  return { child: p.child, url: /listening on (http:\/\/[\d.]+:\d+)/.exec(p.out)[1] }
}
let proxy = await startProxy()

try {
  const { privateKey, publicJwk } = await protocol.generateDeliveryKeyPair()
  const post = async (path, body, tenant) => {
    const r = await fetch(`${proxy.url}/v1${path}`, {
      method: 'POST',
      headers: { authorization: `ApiKey ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ...body, tenant }),
    })
    if (!r.ok) throw new Error(`${path}: ${r.status} ${await r.text()}`)
    return r.json()
  }
  const admin = readFileSync(join(proxyDir, 'admin.key'), 'utf8').trim()
  for (const mode of ['direct', 'leased']) {
    const r = await fetch(`${proxy.url}/v1/admin/tenants/hsm-${mode}/keys/k/create`, {
      method: 'POST',
      headers: { authorization: `ApiKey ${admin}` },
    })
    if (!r.ok) throw new Error(`HSM key: ${await r.text()}`)
  }

  const EDEKS = quick ? 300 : 1000
  async function makeEdeks(tenant) {
    const edeks = []
    for (let i = 0; i < EDEKS; i += 100) {
      const items = Array.from({ length: Math.min(100, EDEKS - i) }, (_, j) => ({ context: { doc: String(i + j) } }))
      const { results } = await post(
        '/keys/batch-generate',
        { items, clientKey: publicJwk, nonce: protocol.newNonce() },
        tenant,
      )
      for (const [j, r] of results.entries()) {
        if (!r.ok) throw new Error(`${tenant}: ${r.error.code}`)
        edeks.push({ edeks: [r.edek], context: { doc: String(i + j) } })
      }
    }
    // Check once that what comes back really opens on the client side.
    const nonce = protocol.newNonce()
    const check = await post('/keys/unwrap', { ...edeks[0], clientKey: publicJwk, nonce }, tenant)
    const binding = {
      nonce: protocol.readNonce(nonce),
      tenant,
      edek: protocol.edekFromJson(edeks[0].edeks[0]),
      context: edeks[0].context,
    }
    await protocol.unwrapDelivered(check, await protocol.openDelivery(check, privateKey), binding)
    return edeks
  }

  // The load client shares the cores with the proxy (as in bench:proxy): a batch's body is made once per
  // position (each request then only adds its fresh nonce), and answers are read as text, checked for a refusal.
  const bodies = new Map()
  const batchBody = (tenant, edeks, batch, n) => {
    const key = `${tenant}/${batch}/${(n * batch) % edeks.length}`
    let body = bodies.get(key)
    if (!body) {
      const items = Array.from({ length: batch }, (_, i) => edeks[(n * batch + i) % edeks.length])
      body = JSON.stringify({ items, clientKey: publicJwk, tenant }).slice(0, -1)
      bodies.set(key, body)
    }
    return body
  }
  const postText = (path, body) => postTextTo(proxy.url, API_KEY, path, body)
  const percentile = (xs, p) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))]
  /** `requests` requests with `concurrency` in flight; each unwraps `batch` EDEKs. */
  async function runCase(tenant, edeks, batch, requests, concurrency) {
    const latencies = []
    let next = 0
    const cpu0 = [processTreeCpuMs(proxy.child.pid), processTreeCpuMs(endpoint.child.pid)]
    const t0 = performance.now()
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < requests) {
          const n = next++
          const start = performance.now()
          if (batch === 1) {
            await post(
              '/keys/unwrap',
              { ...edeks[n % edeks.length], clientKey: publicJwk, nonce: protocol.newNonce() },
              tenant,
            )
          } else {
            const text = await postText(
              '/keys/batch-unwrap',
              `${batchBody(tenant, edeks, batch, n)},"nonce":"${protocol.newNonce()}"}`,
            )
            if (text.includes('"ok":false')) throw new Error(`${tenant}: a batch item failed: ${text.slice(0, 300)}`)
          }
          latencies.push(performance.now() - start)
        }
      }),
    )
    const seconds = (performance.now() - t0) / 1000
    // Cores kept busy by the proxy (with its workers) and by the AWS endpoint, which shares this machine where
    // AWS KMS would be elsewhere: what direct mode costs the proxy itself, apart from the stand-in KMS.
    const proxyCpu = (processTreeCpuMs(proxy.child.pid) - cpu0[0]) / 1000
    const endpointCpu = (processTreeCpuMs(endpoint.child.pid) - cpu0[1]) / 1000
    return {
      proxyCoresBusy: Number((proxyCpu / seconds).toFixed(2)),
      endpointCoresBusy: Number((endpointCpu / seconds).toFixed(2)),
      unwrapsPerS: Math.round((requests * batch) / seconds),
      p50Ms: Number(percentile(latencies, 50).toFixed(2)),
      p99Ms: Number(percentile(latencies, 99).toFixed(2)),
      requests,
      batch,
      concurrency,
    }
  }

  const cases = []
  const edekSets = {}
  for (const backend of BACKENDS) {
    for (const mode of ['direct', 'leased']) {
      const tenant = `${backend}-${mode}`
      edekSets[tenant] = await makeEdeks(tenant)
      const slow = backend === 'aws' && mode === 'direct' // 20 ms a KMS call: fewer requests
      await runCase(tenant, edekSets[tenant], 1, 20, 2) // warm-up
      const single = await runCase(tenant, edekSets[tenant], 1, Math.round((slow ? 150 : 1000) * scale), 1)
      const batched = await runCase(tenant, edekSets[tenant], 1000, Math.max(2, Math.round((slow ? 4 : 30) * scale)), 2)
      for (const [name, r] of [
        ['single', single],
        ['batch 1000', batched],
      ]) {
        cases.push({ backend, mode, case: name, ...r })
        log(
          `  ${tenant.padEnd(13)} ${name.padEnd(10)}: ${String(r.unwrapsPerS).padStart(6)} unwraps/s, p50 ${r.p50Ms} ms, p99 ${r.p99Ms} ms (cores busy: proxy ${r.proxyCoresBusy}, AWS endpoint ${r.endpointCoresBusy})`,
        )
      }
    }
  }

  // Cold leases (a restart), then 10,000 leased AWS unwraps: how many KMS calls reach the customer's KMS?
  await stop(proxy.child)
  proxy = await startProxy()
  await control({ resetStats: true })
  const tenThousand = await runCase('aws-leased', edekSets['aws-leased'], 1000, 10, 2)
  const stats = (await control()).stats
  log(`  aws-leased after a restart: 10000 unwraps, ${stats.calls} KMS calls (${JSON.stringify(stats.byOperation)})`)

  const find = (backend, mode, c) => cases.find((x) => x.backend === backend && x.mode === mode && x.case === c)
  const report = {
    machine: {
      cpu: os.cpus()[0]?.model,
      cores: os.cpus().length,
      node: process.version,
      date: new Date().toISOString(),
      load: os.loadavg(),
    },
    workers,
    kmsLatencyMs: KMS_LATENCY_MS,
    cases,
    cold10k: { unwraps: 10_000, kmsCalls: stats.calls, byOperation: stats.byOperation, ...tenThousand },
    ratios: {
      leased_vs_direct_aws: Number(
        (find('aws', 'leased', 'batch 1000').unwrapsPerS / find('aws', 'direct', 'batch 1000').unwrapsPerS).toFixed(1),
      ),
      leased_vs_direct_aws_single: Number(
        (find('aws', 'leased', 'single').unwrapsPerS / find('aws', 'direct', 'single').unwrapsPerS).toFixed(1),
      ),
    },
    unwraps_per_s_leased_aws: find('aws', 'leased', 'batch 1000').unwrapsPerS,
    kms_calls_per_10k_unwraps_leased: stats.calls,
    unwraps_per_s_direct_hsm: find('hsm', 'direct', 'batch 1000').unwrapsPerS,
    goals: {
      leased_vs_direct_aws: '>= 20',
      unwraps_per_s_leased_aws: '>= 10000',
      kms_calls_per_10k_unwraps_leased: '<= 2 per tenant per lease period',
    },
  }
  if (json) console.log(JSON.stringify(report, null, 2))
  else {
    console.log(
      `\nKMS latency injected: ${KMS_LATENCY_MS} ms per AWS call; proxy workers: ${workers}\n\n| backend | mode | case | unwraps/s | p50 ms | p99 ms |\n|---|---|---|---|---|---|`,
    )
    for (const c of cases)
      console.log(`| ${c.backend} | ${c.mode} | ${c.case} | ${c.unwrapsPerS} | ${c.p50Ms} | ${c.p99Ms} |`)
    console.log(
      `\nleased_vs_direct_aws ${report.ratios.leased_vs_direct_aws} (goal ≥ 20; single unwraps: ${report.ratios.leased_vs_direct_aws_single}), unwraps_per_s_leased_aws ${report.unwraps_per_s_leased_aws} (goal ≥ 10000), kms_calls_per_10k_unwraps_leased ${report.kms_calls_per_10k_unwraps_leased} (goal ≤ 2), unwraps_per_s_direct_hsm ${report.unwraps_per_s_direct_hsm}`,
    )
  }
} finally {
  await stop(proxy.child).catch(() => {})
  await stop(endpoint.child).catch(() => {})
}
