// `npm run bench [-- --json] [-- --quick] [-- --runtime bun] [-- --frame-size N] [-- --sweep] [-- --gc-each-round]
// [-- --esdk-first]`: the core's benchmark in Node (or Bun). Every ratio is measured side by side in the same run,
// rounds alternating between our code and the baseline, and reported as the median of the rounds' ratios (our
// figure over the baseline's: higher is better). Timing lives here, never in tests.
//
//   stream_*_vs_limit      our TransformStreams vs the physical limit: node:crypto one-shot AES-256-GCM over 1 MiB
//                          chunks, one core, no streams (openssl speed is run too, for the record)
//   stream_*_vs_webcrypto  our TransformStreams vs one-shot crypto.subtle calls over 1 MiB chunks
//   stream_*_vs_esdk       vs @aws-crypto/client-node encryptStream/decryptStream, raw AES keyring, suite 0x0478
//   small_*_vs_esdk        1 KiB messages, ops/s with 16 in flight, a fresh data key per message on both sides
//   peak_rss_mib_stream_1gib  peak RSS of a fresh process streaming 1 GiB through encrypt then decrypt, and the
//                          same per pipeline stage (rss_by_stage)
//   core_bundle_gzip_kb       the core's browser bundle, minified and gzipped
// --sweep: stream encrypt and decrypt per frame size, each against the limit (to choose the default frame size).
import { spawnSync } from 'node:child_process'
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto'
import { mkdirSync, readFileSync } from 'node:fs'
import os from 'node:os'
import { Readable, Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { frameSizeSweep, sweepTable } from './lib/frame-size-sweep.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const argv = process.argv.slice(2)
const args = new Set(argv)
const option = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined)

// `--runtime bun`: the same bench, run by Bun (from the repository's own devDependency). `--runtime deno` runs only
// the frame-size sweep (scripts/lib/frame-size-sweep.mjs), on the core built here.
const otherRuntime = option('--runtime')
if (otherRuntime && otherRuntime !== 'node' && !globalThis.Bun) {
  const rest = argv.filter((a, i) => a !== '--runtime' && argv[i - 1] !== '--runtime')
  let run
  if (otherRuntime === 'bun') {
    run = spawnSync('npx', ['bun', fileURLToPath(import.meta.url), ...rest], { stdio: 'inherit', cwd: root })
  } else if (otherRuntime === 'deno' && args.has('--sweep')) {
    const { build } = await import('rolldown')
    await build({
      input: `${root}scripts/lib/bench-core.ts`,
      output: { file: `${root}dist/bench/core.mjs`, format: 'esm' },
      platform: 'neutral',
      logLevel: 'silent',
    })
    const sweepFile = `${root}scripts/lib/frame-size-sweep.mjs`
    run = spawnSync('npx', ['deno', 'run', '--allow-read', sweepFile, ...rest], { stdio: 'inherit', cwd: root })
  } else {
    throw new Error('--runtime: bun (everything), or deno with --sweep')
  }
  process.exit(run.status ?? 1)
}
const runtime = globalThis.Bun ? `bun ${globalThis.Bun.version}` : `node ${process.version}`
const collectGarbage = () => (globalThis.Bun ? globalThis.Bun.gc(true) : globalThis.gc?.())
const json = args.has('--json')
const quick = args.has('--quick')
const MiB = 1 << 20
const STREAM_BYTES = (quick ? 32 : 256) * MiB
const ROUNDS = quick ? 2 : 5
const WARMUP_ROUNDS = quick ? 1 : 2 // JIT and allocator warm-up, both sides alike
const SMALL_OPS = quick ? 1000 : 3000
const log = (...a) => (json ? console.error(...a) : console.log(...a))
const FRAME_SIZE = Number(option('--frame-size') ?? 0) || undefined // default: the core's DEFAULT_FRAME_SIZE

const out = `${root}dist/bench`

// The child mode measures peak RSS in a process of its own, loading only the built core (see the end).
if (args.has('--rss-child')) {
  await rssChild(await import(`${out}/core.mjs`), option('--rss-child'))
  process.exit(0)
}

// --- build the core once: a Node build to run, a minified browser build to weigh ---
const { build } = await import('rolldown')
mkdirSync(out, { recursive: true })
const entry = `${root}packages/core/src/index.ts`
// The Node build adds which frame cipher is in use (internal, so reported here rather than by the package).
const benchEntry = `${root}scripts/lib/bench-core.ts`
await build({
  input: benchEntry,
  output: { file: `${out}/core.mjs`, format: 'esm' },
  platform: 'node',
  logLevel: 'silent',
})
await build({
  input: entry,
  output: { file: `${out}/core.browser.min.mjs`, format: 'esm', minify: true },
  platform: 'browser',
  logLevel: 'silent',
})
const core = await import(`${out}/core.mjs`)
const bundle = readFileSync(`${out}/core.browser.min.mjs`)
const coreBundleGzipKb = gzipSync(bundle, { level: 9 }).length / 1000

// The ESDK is loaded only for its own cases, after ours against the limit and WebCrypto: with its modules (the AWS
// SDK among them) in the process, V8 ran ten times as many mark-compacts during our streams and our decrypt measured
// up to half as fast (docs/benchmarks.md), which is the process's doing, not the stream's. `--esdk-first` loads it
// before every case instead, to measure that.
let esdkEncrypt
let esdkDecrypt
let esdkEncryptStream
let esdkDecryptStream
let suiteId
let keyring
let smallEsdk
async function loadEsdk() {
  if (keyring) return
  const esdk = await import('@aws-crypto/client-node')
  ;({
    encrypt: esdkEncrypt,
    decrypt: esdkDecrypt,
    encryptStream: esdkEncryptStream,
    decryptStream: esdkDecryptStream,
  } = esdk.buildClient(esdk.CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT))
  suiteId = esdk.AlgorithmSuiteIdentifier.ALG_AES256_GCM_IV12_TAG16_HKDF_SHA512_COMMIT_KEY
  keyring = new esdk.RawAesKeyringNode({
    keyName: 'bench',
    keyNamespace: 'bench',
    unencryptedMasterKey: new Uint8Array(32).fill(9),
    wrappingSuite: esdk.RawAesWrappingSuiteIdentifier.AES256_GCM_IV12_TAG16_NO_PADDING,
  })
  smallEsdk = (await esdkEncrypt(keyring, small, { suiteId, encryptionContext: context })).result
}
const provider = await core.createLocalKeyProvider({ kek: new Uint8Array(32).fill(9), keyId: 'bench' })
const context = { tenant: 'acme', purpose: 'bench' }

// One 1 MiB plaintext chunk reused as the source, so the random generator is not what we measure.
const chunk = new Uint8Array(MiB)
for (let i = 0; i < MiB; i++) chunk[i] = (i * 2654435761) >>> 24
const mbps = (bytes, ms) => bytes / 1e6 / (ms / 1000)
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]

function webSource(total) {
  let sent = 0
  return new ReadableStream({
    pull(c) {
      if (sent >= total) return c.close()
      c.enqueue(chunk)
      sent += MiB
    },
  })
}

/** Reads a stream to its end; keeps the chunks only when asked (to decrypt them later). */
async function drainWeb(stream, keep) {
  const reader = stream.getReader()
  let n = 0
  const parts = []
  for (;;) {
    const { done, value } = await reader.read()
    if (done) return { n, parts }
    n += value.length
    if (keep) parts.push(value)
  }
}

const sink = () => {
  const s = new Writable({
    write(c, _e, cb) {
      s.bytes += c.length
      cb()
    },
  })
  s.bytes = 0
  return s
}

// --- cases ---
async function webcryptoEncrypt(total) {
  const key = await crypto.subtle.importKey('raw', new Uint8Array(32), 'AES-GCM', false, ['encrypt'])
  const t = performance.now()
  for (let i = 0; i < total / MiB; i++)
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, key, chunk)
  return mbps(total, performance.now() - t)
}

let webcryptoCt
async function webcryptoDecrypt(total) {
  const key = await crypto.subtle.importKey('raw', new Uint8Array(32), 'AES-GCM', false, ['encrypt', 'decrypt'])
  webcryptoCt ??= new Uint8Array(await crypto.subtle.encrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, key, chunk))
  const t = performance.now()
  for (let i = 0; i < total / MiB; i++)
    await crypto.subtle.decrypt({ name: 'AES-GCM', iv: new Uint8Array(12) }, key, webcryptoCt)
  return mbps(total, performance.now() - t)
}

// The physical limit: node:crypto's one-shot AES-256-GCM over 1 MiB, one call after another on one core.
const limitKey = createSecretKey(new Uint8Array(32).fill(5))
let limitCt
let limitTag
function limitEncrypt(total) {
  const iv = new Uint8Array(12)
  const t = performance.now()
  for (let i = 0; i < total / MiB; i++) {
    const c = createCipheriv('aes-256-gcm', limitKey, iv)
    c.update(chunk)
    c.final()
    c.getAuthTag()
  }
  return mbps(total, performance.now() - t)
}
function limitDecrypt(total) {
  const iv = new Uint8Array(12)
  if (!limitCt) {
    const c = createCipheriv('aes-256-gcm', limitKey, iv)
    limitCt = c.update(chunk)
    c.final()
    limitTag = c.getAuthTag()
  }
  const t = performance.now()
  for (let i = 0; i < total / MiB; i++) {
    const d = createDecipheriv('aes-256-gcm', limitKey, iv)
    d.setAuthTag(limitTag)
    d.update(limitCt)
    d.final()
  }
  return mbps(total, performance.now() - t)
}

/** `openssl speed` on one core over 1 MiB blocks, for the record (the ratios use the in-process limit above). */
function opensslSpeed() {
  const r = spawnSync(
    'openssl',
    ['speed', '-evp', 'aes-256-gcm', '-bytes', String(MiB), '-seconds', quick ? '1' : '3'],
    {
      encoding: 'utf8',
    },
  )
  const m = /^AES-256-GCM\s+([\d.]+)k/m.exec(r.stdout ?? '')
  return m ? Number(m[1]) / 1000 : undefined // thousands of bytes per second → MB/s
}

let ourMessage // the parts of one STREAM_BYTES message, made once (after the encrypt cases), decrypted each round
async function ourEncrypt(total, keep = false) {
  const t = performance.now()
  const encrypting = core.encryptStream({ provider, context, frameSize: FRAME_SIZE })
  const { n, parts } = await drainWeb(webSource(total).pipeThrough(encrypting), keep)
  const ms = performance.now() - t
  if (n < total) throw new Error('short ciphertext')
  if (keep) ourMessage = parts
  return mbps(total, ms)
}

async function ourDecrypt(total) {
  let i = 0
  const source = new ReadableStream({
    pull(c) {
      if (i >= ourMessage.length) return c.close()
      c.enqueue(ourMessage[i++])
    },
  })
  const t = performance.now()
  const reader = source.pipeThrough(core.decryptStream({ provider, expectedContext: context })).getReader()
  let n = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    n += value.length
  }
  const ms = performance.now() - t
  if (n !== total) throw new Error(`decrypted ${n} of ${total} bytes`)
  return mbps(total, ms)
}

let esdkMessage
async function esdkStreamEncrypt(total, keep = false) {
  const parts = []
  const collect = new Writable({
    write(c, _e, cb) {
      if (keep) parts.push(c)
      cb()
    },
  })
  const t = performance.now()
  await pipeline(
    Readable.from(
      (function* () {
        for (let i = 0; i < total / MiB; i++) yield Buffer.from(chunk.buffer)
      })(),
    ),
    esdkEncryptStream(keyring, { suiteId, encryptionContext: context }),
    collect,
  )
  const ms = performance.now() - t
  if (keep) esdkMessage = parts
  return mbps(total, ms)
}

async function esdkStreamDecrypt(total) {
  const s = sink()
  const t = performance.now()
  await pipeline(Readable.from(esdkMessage), esdkDecryptStream(keyring), s)
  const ms = performance.now() - t
  if (s.bytes !== total) throw new Error(`ESDK decrypted ${s.bytes} of ${total} bytes`)
  return mbps(total, ms)
}

async function opsPerSecond(n, fn) {
  let started = 0
  const t = performance.now()
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (started++ < n) await fn()
    }),
  )
  return n / ((performance.now() - t) / 1000)
}

const small = chunk.subarray(0, 1024)
const smallOurs = await core.encrypt(small, { provider, context })
const ourSmallEncrypt = () => opsPerSecond(SMALL_OPS, () => core.encrypt(small, { provider, context }))
const ourSmallDecrypt = () =>
  opsPerSecond(SMALL_OPS, () => core.decrypt(smallOurs, { provider, expectedContext: context }))
const esdkSmallEncrypt = () =>
  opsPerSecond(SMALL_OPS / 2, () => esdkEncrypt(keyring, small, { suiteId, encryptionContext: context }))
const esdkSmallDecrypt = () => opsPerSecond(SMALL_OPS / 2, () => esdkDecrypt(keyring, smallEsdk))

// Each case starts from a collected heap, so one case's garbage is not paid for by the next; its warm-up rounds
// then let V8 optimise the code again. A forced full GC before every timed run would measure the cold code instead:
// a full GC with no stream alive lets V8 drop the maps of the stream's objects (they are weak), which throws away
// the optimised Web Streams and cipher code, so each run would first recompile it (~150 ms of compiler CPU per
// 256 MiB decrypt here, seen with --trace-opt --trace-deopt; docs/benchmarks.md). `--gc-each-round` measures that.
const GC_EACH_ROUND = args.has('--gc-each-round')
const fresh = async (fn, arg) => {
  if (GC_EACH_ROUND) collectGarbage()
  return fn(arg)
}

/** Alternates ours and the baseline for ROUNDS rounds (after WARMUP_ROUNDS); median of the rounds' ratios. */
async function sideBySide(name, ours, baseline, arg) {
  collectGarbage()
  for (let i = 0; i < WARMUP_ROUNDS; i++) {
    await ours(arg)
    await baseline(arg)
  }
  const o = []
  const b = []
  const r = []
  for (let i = 0; i < ROUNDS; i++) {
    const x = await fresh(ours, arg)
    const y = await fresh(baseline, arg)
    o.push(x)
    b.push(y)
    r.push(x / y)
  }
  log(`  ${name}: ours ${median(o).toFixed(0)}, baseline ${median(b).toFixed(0)}, ratio ${median(r).toFixed(2)}`)
  return { ours: median(o), baseline: median(b), ratio: median(r) }
}

log(
  `envelope core bench (${runtime}, frame cipher ${core.frameCipher().name}): ${STREAM_BYTES / MiB} MiB streams, ${SMALL_OPS} small messages, ${ROUNDS} rounds`,
)
if (args.has('--sweep')) {
  await sweep()
  process.exit(0)
}
// Encrypt cases first, while no message is held in memory (a large retained heap slows the GC of every case), and
// the cases against the limit and WebCrypto before the ESDK is loaded (loadEsdk).
if (args.has('--esdk-first')) await loadEsdk()
const encryptResults = {
  stream_encrypt_vs_limit: await sideBySide(
    'stream encrypt vs node:crypto one-shot 1 MiB (MB/s)',
    ourEncrypt,
    limitEncrypt,
    STREAM_BYTES,
  ),
  stream_encrypt_vs_webcrypto: await sideBySide(
    'stream encrypt vs WebCrypto (MB/s)',
    ourEncrypt,
    webcryptoEncrypt,
    STREAM_BYTES,
  ),
}
await ourEncrypt(STREAM_BYTES, true)
const decryptResults = {
  stream_decrypt_vs_limit: await sideBySide(
    'stream decrypt vs node:crypto one-shot 1 MiB (MB/s)',
    ourDecrypt,
    limitDecrypt,
    STREAM_BYTES,
  ),
  stream_decrypt_vs_webcrypto: await sideBySide(
    'stream decrypt vs WebCrypto (MB/s)',
    ourDecrypt,
    webcryptoDecrypt,
    STREAM_BYTES,
  ),
}
ourMessage = undefined
await loadEsdk()
const esdkEncryptResult = await sideBySide('stream encrypt vs ESDK (MB/s)', ourEncrypt, esdkStreamEncrypt, STREAM_BYTES)
await ourEncrypt(STREAM_BYTES, true)
await esdkStreamEncrypt(STREAM_BYTES, true)
const results = {
  ...encryptResults,
  stream_encrypt_vs_esdk: esdkEncryptResult,
  ...decryptResults,
  stream_decrypt_vs_esdk: await sideBySide(
    'stream decrypt vs ESDK (MB/s)',
    ourDecrypt,
    esdkStreamDecrypt,
    STREAM_BYTES,
  ),
  small_encrypt_vs_esdk: await sideBySide('1 KiB encrypt vs ESDK (ops/s)', ourSmallEncrypt, esdkSmallEncrypt),
  small_decrypt_vs_esdk: await sideBySide('1 KiB decrypt vs ESDK (ops/s)', ourSmallDecrypt, esdkSmallDecrypt),
}
ourMessage = undefined
esdkMessage = undefined

const openssl = opensslSpeed()

// Peak RSS, each in a fresh process (nothing of the runs above counts), for the whole pipeline and per stage.
function rss(stage) {
  const flags = globalThis.Bun ? [] : ['--expose-gc']
  const child = spawnSync(
    process.execPath,
    [
      ...flags,
      fileURLToPath(import.meta.url),
      '--rss-child',
      stage,
      ...(quick ? ['--quick'] : []),
      ...(FRAME_SIZE ? ['--frame-size', String(FRAME_SIZE)] : []),
    ],
    { encoding: 'utf8' },
  )
  if (child.status !== 0) throw new Error(`RSS child (${stage}) failed: ${child.stderr}`)
  return JSON.parse(child.stdout.trim().split('\n').pop())
}
const stages = {}
for (const stage of ['idle', 'source', 'encrypt', 'pipeline', 'pipeline-gc', 'bare-node-crypto']) {
  stages[stage] = rss(stage)
  log(
    `  peak RSS, ${stage}: ${stages[stage].peakRssMib.toFixed(1)} MiB${stages[stage].mbps ? `, ${stages[stage].mbps.toFixed(0)} MB/s` : ''}`,
  )
}
const peakRssMib = stages.pipeline.peakRssMib

const goals = {
  stream_encrypt_vs_limit: 0.6,
  stream_decrypt_vs_limit: 0.6,
  stream_encrypt_vs_webcrypto: 0.8,
  stream_decrypt_vs_webcrypto: 0.8,
  stream_encrypt_vs_esdk: 4,
  stream_decrypt_vs_esdk: 6,
  small_encrypt_vs_esdk: 3,
  small_decrypt_vs_esdk: 3,
}
const report = {
  machine: {
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    runtime,
    date: new Date().toISOString(),
  },
  settings: {
    streamMiB: STREAM_BYTES / MiB,
    rounds: ROUNDS,
    smallOps: SMALL_OPS,
    gcEachRound: GC_EACH_ROUND,
    esdkFirst: args.has('--esdk-first'),
    frameSize: FRAME_SIZE ?? core.DEFAULT_FRAME_SIZE,
    frameCipher: core.frameCipher().name,
  },
  figures: {
    ...Object.fromEntries(Object.entries(results).map(([k, v]) => [k, { ours: v.ours, baseline: v.baseline }])),
    limit_openssl_speed_mb_s: openssl === undefined ? null : Number(openssl.toFixed(0)),
  },
  ratios: Object.fromEntries(Object.entries(results).map(([k, v]) => [k, Number(v.ratio.toFixed(3))])),
  peak_rss_mib_stream_1gib: Number(peakRssMib.toFixed(1)),
  rss_by_stage: Object.fromEntries(
    Object.entries(stages).map(([k, v]) => [
      k,
      {
        peak_rss_mib: Number(v.peakRssMib.toFixed(1)),
        mb_s: v.mbps ? Number(v.mbps.toFixed(0)) : null,
        most_sampled: Object.fromEntries(Object.entries(v.most).map(([f, x]) => [f, Number(x.toFixed(1))])),
      },
    ]),
  ),
  core_bundle_gzip_kb: Number(coreBundleGzipKb.toFixed(2)),
  goals: { ratios: goals, peak_rss_mib_stream_1gib: '< 80', core_bundle_gzip_kb: '< 8' },
}

if (json) {
  console.log(JSON.stringify(report, null, 2))
} else {
  console.log('\n| figure | ours | baseline | ratio | goal |')
  console.log('|---|---|---|---|---|')
  for (const [k, v] of Object.entries(results)) {
    console.log(`| ${k} | ${v.ours.toFixed(0)} | ${v.baseline.toFixed(0)} | ${v.ratio.toFixed(2)} | ≥ ${goals[k]} |`)
  }
  console.log(`| peak_rss_mib_stream_1gib | ${report.peak_rss_mib_stream_1gib} | | | < 80 |`)
  console.log(`| core_bundle_gzip_kb | ${report.core_bundle_gzip_kb} | | | < 8 |`)
  console.log(`\nopenssl speed, one core, 1 MiB blocks: ${report.figures.limit_openssl_speed_mb_s} MB/s`)
  console.log(
    '\n| stage (1 GiB, fresh process) | peak RSS MiB | MB/s | most sampled, MiB: anon / file / heap / external / ArrayBuffers |',
  )
  console.log('|---|---|---|---|')
  for (const [k, v] of Object.entries(report.rss_by_stage)) {
    const m = v.most_sampled
    const most = `${m.rss_anon_mib} / ${m.rss_file_mib} / ${m.heap_used_mib} / ${m.external_mib} / ${m.array_buffers_mib}`
    console.log(`| ${k} | ${v.peak_rss_mib} | ${v.mb_s ?? ''} | ${most} |`)
  }
}

// --- child: stream 1 GiB through one pipeline stage, report peak RSS and throughput ---
//   idle: the runtime with the core loaded; source: the plaintext source alone; encrypt: source → encryptStream;
//   pipeline: source → encryptStream → decryptStream (decrypt's own cost is pipeline's time less encrypt's);
//   pipeline-gc: the same with a full GC every 8 MiB (what is live, as opposed to garbage not yet collected);
//   bare-node-crypto: node:crypto seal + open of each frame in a plain loop, no streams, no core (the floor of any
//   design that hands out fresh buffers, which a stream's reader owns).
async function rssChild(core, stage) {
  const total = (quick ? 128 : 1024) * MiB
  const source = new Uint8Array(MiB).fill(3)
  const p = await core.createLocalKeyProvider({ kek: new Uint8Array(32).fill(9), keyId: 'bench' })
  const frameSize = FRAME_SIZE ?? core.DEFAULT_FRAME_SIZE
  let n = 0
  // What the resident set is made of, sampled every 8 MiB of output (maxima over the samples; VmHWM is the peak):
  // anonymous memory (heaps, buffers) vs file-backed pages (the runtime's binary), the JS heap, and the memory
  // outside it that the runtime accounts for (external, of which ArrayBuffer backing stores).
  const most = { rss_anon_mib: 0, rss_file_mib: 0, heap_used_mib: 0, external_mib: 0, array_buffers_mib: 0 }
  let nextSample = 0
  const sample = () => {
    if (n < nextSample) return
    nextSample += 8 * MiB
    const status = readFileSync('/proc/self/status', 'utf8')
    const kb = (field) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1] ?? 0) / 1024
    const m = process.memoryUsage()
    const now = {
      rss_anon_mib: kb('RssAnon'),
      rss_file_mib: kb('RssFile'),
      heap_used_mib: m.heapUsed / MiB,
      external_mib: m.external / MiB,
      array_buffers_mib: m.arrayBuffers / MiB,
    }
    for (const k in most) most[k] = Math.max(most[k], now[k])
  }
  const t = performance.now()
  const plain = () => {
    let sent = 0
    return new ReadableStream({
      pull(c) {
        if (sent >= total) return c.close()
        c.enqueue(source)
        sent += MiB
      },
    })
  }
  const drain = async (stream, gcEvery) => {
    const reader = stream.getReader()
    let next = gcEvery
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      n += value.length
      sample()
      if (gcEvery && n >= next) {
        collectGarbage()
        next += gcEvery
      }
    }
  }
  if (stage === 'source') await drain(plain())
  if (stage === 'encrypt') await drain(plain().pipeThrough(core.encryptStream({ provider: p, frameSize })))
  if (stage === 'pipeline' || stage === 'pipeline-gc') {
    await drain(
      plain()
        .pipeThrough(core.encryptStream({ provider: p, context: { tenant: 'acme' }, frameSize }))
        .pipeThrough(core.decryptStream({ provider: p, expectedContext: { tenant: 'acme' } })),
      stage === 'pipeline-gc' ? 8 * MiB : 0,
    )
  }
  if (stage === 'bare-node-crypto') {
    const { createCipheriv: cc, createDecipheriv: cd, createSecretKey: sk } = await import('node:crypto')
    const key = sk(new Uint8Array(32).fill(1))
    const iv = new Uint8Array(12)
    const pt = source.subarray(0, frameSize)
    for (let i = 0; i < total / frameSize; i++) {
      const c = cc('aes-256-gcm', key, iv)
      const ct = c.update(pt)
      c.final()
      const d = cd('aes-256-gcm', key, iv)
      d.setAuthTag(c.getAuthTag())
      n += d.update(ct).length
      d.final()
      sample()
      if (i % 64 === 0) await null // let the event loop (and so the GC's tasks) run, as a stream would
    }
  }
  const seconds = (performance.now() - t) / 1000
  sample()
  if (stage !== 'idle' && n < total) throw new Error(`${stage} gave ${n} of ${total} bytes`)
  // VmHWM is this address space's peak resident set (not a sample). Not getrusage's maxRSS: on Linux that survives
  // execve and starts from the parent's RSS at fork, so a child spawned by a big parent would report the parent's.
  const hwm = readFileSync('/proc/self/status', 'utf8').match(/^VmHWM:\s+(\d+) kB/m)
  const peakRssMib = (hwm ? Number(hwm[1]) : process.resourceUsage().maxRSS) / 1024
  const mbps = stage === 'idle' ? undefined : total / 1e6 / seconds
  console.log(JSON.stringify({ peakRssMib, mbps, most }))
}

// --- sweep: stream encrypt and decrypt at each frame size against the limit, side by side ---
async function sweep() {
  const rows = await frameSizeSweep({
    core,
    baseline: { encrypt: limitEncrypt, decrypt: limitDecrypt },
    totalBytes: (quick ? 32 : 128) * MiB,
    rounds: ROUNDS,
    log,
    gc: collectGarbage,
    gcEachRound: GC_EACH_ROUND,
  })
  const label = `${runtime}, frame cipher ${core.frameCipher().name}, baseline node:crypto one-shot 1 MiB`
  if (json) console.log(JSON.stringify({ runtime, baseline: 'node:crypto one-shot 1 MiB', rows }, null, 2))
  else console.log(`\n${sweepTable(rows, label)}`)
}
