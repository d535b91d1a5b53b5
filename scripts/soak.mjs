// `npm run soak -- --minutes N [--clients C] [--workers W] [--json]` (not part of npm test): three key proxy
// instances on one PostgreSQL keystore behind nginx, all on loopback, under a bounded load for N minutes: C
// clients each sealing and opening a small message in a loop (generate + unwrap through the real fetch client),
// with a rotation on one instance every 2 s, and a disable then enable of another tenant every 10 s (whose own
// client expects its refusals while disabled). Reports errors (goal 0), the p50/p99 of an operation, and each
// instance's RSS (its primary and workers added up) at the start and at the end (goal: growth < 10 %).

import { readFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { sha256Hex, startProxyProcess } from './lib/proxy-process.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const argv = process.argv.slice(2)
const opt = (name, fallback) => {
  const i = argv.indexOf(name)
  return i >= 0 ? Number(argv[i + 1]) : fallback
}
const minutes = opt('--minutes', 1)
const clients = opt('--clients', 8)
const workers = opt('--workers', 1)
const json = argv.includes('--json')
const log = (...a) => (json ? console.error(...a) : console.log(...a))
if (!(minutes > 0 && minutes <= 120)) throw new Error('--minutes must be from 0 to 120')

// --- Node builds of what the load client and the harnesses need ---
const { build } = await import('rolldown')
await build({
  input: `${root}scripts/soak/parts.ts`,
  output: { file: `${root}dist/soak/parts.mjs`, format: 'esm' },
  platform: 'node',
  external: [/^jose(\/|$)/, /^pg(\/|$)/, /^node:/],
  logLevel: 'silent',
})
const { createKeyProxyClient, encrypt, decryptToString, startPostgres, startNginx, NGINX_UPSTREAM_HOST } = await import(
  `${root}dist/soak/parts.mjs`
)

const API_KEY = 'soak-key'
const ADMIN_KEY = 'soak-admin-key'
const pg = await startPostgres()
const settings = {
  rootKey: 'IiEgHx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAM',
  tenants: ['soak', 'toggle'],
  apiKeys: [{ id: 'soak', sha256: await sha256Hex(API_KEY), tenants: ['*'] }],
  adminKeys: [{ id: 'soak-admin', sha256: await sha256Hex(ADMIN_KEY) }],
  keystore: { url: pg.url },
  allowedHosts: [NGINX_UPSTREAM_HOST],
  maxKeyVersions: 10_000, // a rotation every 2 s: past the default cap (100) within minutes
  logLevel: 'warn', // a line per request would be most of what the soak writes
}
const instances = []
for (let i = 0; i < 3; i++) instances.push(await startProxyProcess(settings, [], { workers }))
const nginx = await startNginx(instances.map((i) => i.url))

/** RSS of an instance: its primary and its workers, in MiB (Linux /proc). */
function rssMiB(pid) {
  const of = (p) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0) / 1024
  let children = []
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number)
  } catch {}
  return [pid, ...children].reduce((sum, p) => sum + of(p), 0)
}

const admin = (url, tenant, action) =>
  fetch(`${url}/v1/admin/tenants/${tenant}/keys/default/${action}`, {
    method: 'POST',
    headers: { authorization: `ApiKey ${ADMIN_KEY}` },
  })

let stopping = false
const latencies = []
const errors = new Map()
let ops = 0
let expectedRefusals = 0
/** A failure's code; the provider's own under the core's ERR_KEY_UNAVAILABLE. */
const codeOf = (err) => {
  const code = err?.code ?? String(err?.message ?? err).slice(0, 80)
  const inner = err?.cause?.code ?? err?.errors?.[0]?.code
  return inner && inner !== code ? `${code}/${inner}` : code
}
const failed = (err) => {
  const code = codeOf(err)
  errors.set(code, (errors.get(code) ?? 0) + 1)
}

async function loadClient(c, tenant, refusalIsExpected) {
  const provider = createKeyProxyClient({ baseUrl: nginx.url, apiKey: API_KEY, tenant })
  for (let r = 0; !stopping; r++) {
    const context = { client: String(c), round: String(r % 1000) }
    const started = performance.now()
    try {
      const sealed = await encrypt(`soak ${c} ${r}`, { provider, context })
      if ((await decryptToString(sealed, { provider, expectedContext: context })) !== `soak ${c} ${r}`)
        throw new Error('opened to something else')
      latencies.push(performance.now() - started)
      ops++
    } catch (err) {
      if (refusalIsExpected() && codeOf(err).includes('ERR_KEY_DISABLED')) {
        expectedRefusals++
        await new Promise((r) => setTimeout(r, 50)) // refused at once: no need to spin while disabled
      } else failed(err)
    }
  }
}

let toggled = false
async function adminLoop() {
  for (let tick = 0; !stopping; tick++) {
    await new Promise((r) => setTimeout(r, 1000))
    if (stopping) break
    try {
      const on = instances[tick % 3]
      if (tick % 2 === 0) {
        const r = await admin(on.url, 'soak', 'rotate')
        if (!r.ok) throw Object.assign(new Error(`rotate ${r.status}`), { code: `rotate_${r.status}` })
      }
      if (tick % 10 === 5) {
        toggled = true
        const r = await admin(on.url, 'toggle', 'disable')
        if (!r.ok) throw Object.assign(new Error(`disable ${r.status}`), { code: `disable_${r.status}` })
      }
      if (tick % 10 === 6) {
        const r = await admin(instances[(tick + 1) % 3].url, 'toggle', 'enable')
        if (!r.ok) throw Object.assign(new Error(`enable ${r.status}`), { code: `enable_${r.status}` })
        // Until every instance has applied the enable (within the keystore's bound), a refusal is expected.
        setTimeout(() => {
          toggled = false
        }, 2000)
      }
    } catch (err) {
      failed(err)
    }
  }
}

try {
  // Warm-up, then the RSS at the start.
  const warm = Date.now()
  stopping = false
  const warmers = Array.from({ length: clients }, (_, c) => loadClient(c, 'soak', () => false))
  // Long enough for the heaps to reach their working size (JIT, first GCs), so the RSS growth is the soak's own.
  await new Promise((r) => setTimeout(r, Math.min(30, Math.max(5, minutes * 3)) * 1000))
  stopping = true
  await Promise.all(warmers)
  latencies.length = 0
  errors.clear()
  ops = 0
  const rssStart = instances.map((i) => rssMiB(i.pid))
  log(
    `warmed up in ${((Date.now() - warm) / 1000).toFixed(0)} s; RSS MiB ${rssStart.map((x) => x.toFixed(1)).join(', ')}`,
  )

  stopping = false
  const t0 = Date.now()
  const loops = [
    ...Array.from({ length: clients - 1 }, (_, c) => loadClient(c, 'soak', () => false)),
    loadClient(clients - 1, 'toggle', () => toggled),
    adminLoop(),
  ]
  const report = setInterval(() => {
    const s = (Date.now() - t0) / 1000
    log(`  ${s.toFixed(0)} s: ${ops} operations, ${[...errors.values()].reduce((a, b) => a + b, 0)} errors`)
  }, 30_000)
  await new Promise((r) => setTimeout(r, minutes * 60_000))
  stopping = true
  await Promise.all(loops)
  clearInterval(report)
  const seconds = (Date.now() - t0) / 1000
  const rssEnd = instances.map((i) => rssMiB(i.pid))
  const sorted = [...latencies].sort((a, b) => a - b)
  const pct = (p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? 0
  const result = {
    machine: { cpu: os.cpus()[0]?.model, cores: os.availableParallelism(), node: process.version },
    minutes,
    clients,
    workers_per_instance: workers,
    operations: ops,
    operations_per_s: Number((ops / seconds).toFixed(1)),
    errors: Object.fromEntries(errors),
    error_count: [...errors.values()].reduce((a, b) => a + b, 0),
    expected_refusals: expectedRefusals,
    p50_ms: Number(pct(50).toFixed(2)),
    p99_ms: Number(pct(99).toFixed(2)),
    rss_mib: instances.map((_, i) => ({
      start: Number(rssStart[i].toFixed(1)),
      end: Number(rssEnd[i].toFixed(1)),
      growth: Number(((rssEnd[i] - rssStart[i]) / rssStart[i]).toFixed(3)),
    })),
    goals: { error_count: 0, rss_growth: '< 0.10' },
  }
  if (json) console.log(JSON.stringify(result, null, 2))
  else {
    console.log(
      `\n${result.operations} operations in ${minutes} min (${result.operations_per_s}/s), ${result.error_count} errors ${JSON.stringify(result.errors)}, ${expectedRefusals} expected refusals while disabled`,
    )
    console.log(`p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms (seal + open of one message)`)
    for (const [i, r] of result.rss_mib.entries())
      console.log(`instance ${i + 1}: RSS ${r.start} → ${r.end} MiB (${(r.growth * 100).toFixed(1)} %)`)
  }
  process.exitCode = result.error_count === 0 ? 0 : 1
} finally {
  await nginx.stop()
  await Promise.all(instances.map((i) => i.stop()))
  await pg.stop()
}
