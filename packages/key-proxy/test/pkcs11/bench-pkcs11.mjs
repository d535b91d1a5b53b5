// Direct wraps and unwraps per second through the PKCS#11 client's session pool on SoftHSM2 (a token of its own
// in a temporary directory), for pool sizes and numbers of calls in flight, with p50/p99 per call; next to it the
// bare pkcs11js loop on one session (synchronous C_EncryptInit + C_Encrypt), the ceiling on this machine.
//   node packages/key-proxy/test/pkcs11/bench-pkcs11.mjs [--json] [--quick]
// (The integrator wires it into `npm run bench:kms`.)
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const args = new Set(process.argv.slice(2))
const json = args.has('--json')
const ops = args.has('--quick') ? 2_000 : 20_000
const log = (...a) => (json ? console.error(...a) : console.log(...a))
const pkg = fileURLToPath(new URL('../..', import.meta.url))

// --- a Node build of the backend (Node 20 runs no TypeScript) ---
const { build } = await import('rolldown')
const out = join(pkg, 'dist/bench/pkcs11.mjs')
await build({
  input: join(pkg, 'src/kms/pkcs11/index.ts'),
  output: { file: out, format: 'esm' },
  platform: 'node',
  external: [/^pkcs11js$/, /^node:/],
  logLevel: 'silent',
})

// --- a SoftHSM2 token of its own ---
const module = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so'].find(existsSync)
if (!module) throw new Error('SoftHSM2 is not installed (apt-get install -y softhsm2)')
const dir = mkdtempSync(join(os.tmpdir(), 'envelope-bench-hsm-'))
mkdirSync(join(dir, 'tokens'))
process.env.SOFTHSM2_CONF = join(dir, 'softhsm2.conf')
writeFileSync(process.env.SOFTHSM2_CONF, `directories.tokendir = ${dir}/tokens\nobjectstore.backend = file\n`)
execFileSync('softhsm2-util', ['--init-token', '--free', '--label', 'bench', '--pin', '1234', '--so-pin', '5678'], {
  stdio: 'ignore',
})
process.env.BENCH_HSM_PIN = '1234'

const { Pkcs11Cmk } = await import(out)
const context = { tenant: 'bench', purpose: 'dek', ctx: 'H2hYQ3Fx1c0mVw1Tt8h0k5bIYl5rUe3kq0yY3m2t8kE' }
const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]

/** `total` calls of `one(i)` with `inFlight` at a time: calls per second and per-call p50/p99 (ms). */
async function measure(inFlight, total, one) {
  const lat = new Float64Array(total)
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      for (let i = next++; i < total; i = next++) {
        const s = performance.now()
        await one(i)
        lat[i] = performance.now() - s
      }
    }),
  )
  const seconds = (performance.now() - t0) / 1000
  lat.sort()
  const ms = (x) => Math.round(x * 1000) / 1000
  return { perSecond: Math.round(total / seconds), p50: ms(pct(lat, 50)), p99: ms(pct(lat, 99)) }
}

const rows = []
try {
  // the bare binding: one session, synchronous calls, no pool, no context encoding
  {
    const p11 = createRequire(import.meta.url)('pkcs11js')
    const cmk = await Pkcs11Cmk.open({ module, tokenLabel: 'bench', pinEnv: 'BENCH_HSM_PIN', key: 'bench/raw' })
    await cmk.create()
    const api = new p11.PKCS11()
    api.load(module)
    try {
      api.C_Initialize()
    } catch {} // the client's: already initialized
    const slot = api.C_GetSlotList(true)[0]
    const session = api.C_OpenSession(slot, p11.CKF_SERIAL_SESSION)
    api.C_FindObjectsInit(session, [{ type: p11.CKA_LABEL, value: 'envelope/bench/raw/v1' }])
    const [key] = api.C_FindObjects(session, 1)
    api.C_FindObjectsFinal(session)
    const plain = Buffer.alloc(32, 7)
    const r = await measure(1, ops, () => {
      const iv = randomBytes(12)
      const parameter = { type: p11.CK_PARAMS_GCM, iv, aad: Buffer.from('aad'), ivBits: 96, tagBits: 128 }
      api.C_EncryptInit(session, { mechanism: p11.CKM_AES_GCM, parameter }, key)
      api.C_Encrypt(session, plain, Buffer.alloc(48))
    })
    api.C_CloseSession(session)
    await cmk.close()
    rows.push({ case: 'pkcs11js bare, 1 session, sync', sessions: 1, inFlight: 1, wraps: r, unwraps: undefined })
  }
  for (const [sessions, inFlight] of [
    [1, 1],
    [1, 16],
    [2, 16],
    [4, 16],
    [4, 64],
  ]) {
    const cmk = await Pkcs11Cmk.open({
      module,
      tokenLabel: 'bench',
      pinEnv: 'BENCH_HSM_PIN',
      key: `bench/s${sessions}-f${inFlight}`,
      maxSessions: sessions,
    })
    await cmk.create()
    const keys = Array.from({ length: 64 }, () => crypto.getRandomValues(new Uint8Array(32)))
    const wrapped = new Array(ops)
    const wraps = await measure(inFlight, ops, async (i) => {
      wrapped[i] = await cmk.wrap(keys[i % 64], context)
    })
    const unwraps = await measure(inFlight, ops, (i) => cmk.unwrap(wrapped[i], context))
    await cmk.close()
    rows.push({ case: 'Pkcs11Cmk through the pool', sessions, inFlight, wraps, unwraps })
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}

const best = Math.max(...rows.filter((r) => r.unwraps).map((r) => r.unwraps.perSecond))
const bare = rows[0].wraps.perSecond
const result = {
  machine: { cpus: os.cpus().length, node: process.version, softhsm: module, opsPerCase: ops },
  rows,
  unwraps_per_s_direct_hsm: best,
  ratios: { pool_best_unwraps_vs_bare_sync_wraps: Number((best / bare).toFixed(2)) },
}
if (json) {
  console.log(JSON.stringify(result, null, 2))
} else {
  const ms = (x) => x.toFixed(3)
  log('case                              sessions in-flight  wraps/s  p50 ms  p99 ms  unwraps/s  p50 ms  p99 ms')
  for (const r of rows) {
    const u = r.unwraps
    log(
      `${r.case.padEnd(34)}${String(r.sessions).padStart(8)}${String(r.inFlight).padStart(10)}` +
        `${String(r.wraps.perSecond).padStart(9)}${ms(r.wraps.p50).padStart(8)}${ms(r.wraps.p99).padStart(8)}` +
        (u ? `${String(u.perSecond).padStart(11)}${ms(u.p50).padStart(8)}${ms(u.p99).padStart(8)}` : ''),
    )
  }
  log(
    `unwraps_per_s_direct_hsm (best row): ${best}; vs bare sync wraps: ${result.ratios.pool_best_unwraps_vs_bare_sync_wraps}`,
  )
}
