// `npm run bench:browser [-- --json]`: opening a 1 KiB message in Chromium through the key proxy client with the
// tiered DEK cache: a memory hit, an IndexedDB hit after a reload (memory tier empty), and a miss (an unwrap at a
// real proxy on loopback). Medians of timings taken in the page (automation inflates timings taken outside it).
// The same client in Node, where there is no IndexedDB, gives a memory hit and a miss for comparison.
// Then the demo's upload path: a 1 GiB file (`--upload-mib N` to change) encrypted by the demo's Web Worker and
// uploaded in parts to the demo storage service on loopback, against the plain upload of the same file the same
// way (same parts, same number in flight), in alternating rounds, with 1 part in flight and with the demo's
// PARTS_IN_FLIGHT, and in the same rounds the demo path's work without the network (its parts made in a worker,
// sent nowhere: the ceiling of the ratio); the core's encryptStream against one-shot WebCrypto in the page; the page's peak JS heap
// (sampled over the DevTools protocol) and its longest main-thread task. `--sweep` adds the frame-size sweep.
import { randomBytes } from 'node:crypto'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { createServer } from 'node:http'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { chromium } from '@playwright/test'
import { generateKeyPair, SignJWT } from 'jose'
import { build } from 'rolldown'
import { startStorage } from './demo-storage.mjs'
import { chromiumArgs, chromiumPath } from './lib/chromium.mjs'
import { sweepTable } from './lib/frame-size-sweep.mjs'
import { sha256Hex, startProxyProcess } from './lib/proxy-process.mjs'
import { sourceResolve } from './lib/source-condition.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const json = process.argv.includes('--json')
const log = (...a) => (json ? console.error(...a) : console.log(...a))
const COUNT = 200 // messages, each opened once per round
const UPLOAD_MIB = Number(process.argv[process.argv.indexOf('--upload-mib') + 1] || 0) || 1024
const UPLOAD_ROUNDS = 3 // per setting; each round is a demo upload and a plain upload, alternating
const SWEEP = process.argv.includes('--sweep')
const API_KEY = 'bench-browser-key'
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const listen = (server) =>
  new Promise((ok) => server.listen(0, '127.0.0.1', () => ok(`http://127.0.0.1:${server.address().port}`)))

// --- the page (bundled) on a static server, and the same code for Node ---
const out = `${root}dist/bench/browser`
const entry = `${root}scripts/bench-browser/page.ts`
await build({
  input: entry,
  output: { file: `${out}/page.js`, format: 'esm' },
  platform: 'browser',
  resolve: sourceResolve('browser'),
  logLevel: 'silent',
})
await build({
  input: entry,
  output: { file: `${out}/node.mjs`, format: 'esm' },
  platform: 'node',
  resolve: sourceResolve('node'),
  logLevel: 'silent',
})
await build({
  input: `${root}scripts/bench-browser/parts-worker.ts`,
  output: { file: `${out}/parts-worker.js`, format: 'esm' },
  platform: 'browser',
  resolve: sourceResolve('browser'),
  logLevel: 'silent',
})
await build({
  input: `${root}demo/src/seal-worker.ts`,
  output: { file: `${out}/seal-worker.js`, format: 'esm' },
  platform: 'browser',
  resolve: sourceResolve('browser'),
  logLevel: 'silent',
})
writeFileSync(
  `${out}/index.html`,
  '<!doctype html><meta charset="utf-8"><title>loading</title><input type="file" id="file"><script type="module" src="page.js"></script>',
)
const pages = createServer((req, res) => {
  const name = ['/page.js', '/seal-worker.js', '/parts-worker.js'].includes(req.url) ? req.url.slice(1) : 'index.html'
  // Cross-origin isolated, so performance.now() has fine resolution (Chromium coarsens it to 0.1 ms otherwise).
  res.writeHead(200, {
    'content-type': name.endsWith('.js') ? 'text/javascript' : 'text/html',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-embedder-policy': 'require-corp',
  })
  res.end(readFileSync(`${out}/${name}`))
})
const pageUrl = await listen(pages)

// --- a real key proxy on loopback ---
const sha256 = await sha256Hex(API_KEY)
const proxy = await startProxyProcess({
  tenants: ['bench'],
  corsOrigins: [pageUrl],
  apiKeys: [{ id: 'bench', sha256, tenants: ['bench'] }],
})
const proxyUrl = proxy.url

// --- the demo storage service on loopback, with a token of its own signing key ---
const storageDir = mkdtempSync(`${os.tmpdir()}/envelope-bench-storage-`)
const { privateKey, publicKey } = await generateKeyPair('ES256')
const storage = await startStorage({
  host: '127.0.0.1',
  port: 0,
  dataDir: storageDir,
  origin: pageUrl,
  verifyKey: publicKey,
  issuer: 'bench',
  audience: 'bench',
})
const storageUrl = `http://127.0.0.1:${storage.address().port}`
const storageToken = await new SignJWT({ tenant: 'bench' })
  .setProtectedHeader({ alg: 'ES256' })
  .setIssuer('bench')
  .setAudience('bench')
  .setExpirationTime('1h')
  .sign(privateKey)

const browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs })
try {
  const context = await browser.newContext()
  const page = await context.newPage()
  const ready = async () => {
    await page.goto(pageUrl)
    await page.waitForFunction(() => document.title === 'ready')
  }
  await ready()
  if (!(await page.evaluate(() => globalThis.crossOriginIsolated)))
    throw new Error('bench page is not cross-origin isolated')
  const messages = await page.evaluate(([u, k, n]) => globalThis.bench.seal(u, k, n), [proxyUrl, API_KEY, COUNT])
  // Round 1 on an empty cache: every open is a miss (an unwrap at the proxy). Rounds 2-3: memory hits.
  const cold = await page.evaluate(
    ([u, k, m]) => globalThis.bench.open(u, k, m, 3, true),
    [proxyUrl, API_KEY, messages],
  )
  // After a reload the memory tier is empty: round 1 is an IndexedDB hit for every message.
  await ready()
  const warm = await page.evaluate(
    ([u, k, m]) => globalThis.bench.open(u, k, m, 1, false),
    [proxyUrl, API_KEY, messages],
  )

  // The same client in Node: no IndexedDB, so the cache is memory only.
  globalThis.indexedDB = undefined
  await import(`${out}/node.mjs`)
  const nodeMessages = await globalThis.bench.seal(proxyUrl, API_KEY, COUNT)
  const node = await globalThis.bench.open(proxyUrl, API_KEY, nodeMessages, 2, false)

  // The demo's upload path, with the page's JS heap sampled meanwhile (V8 heap plus ArrayBuffer backing stores).
  // The file to upload, on disk as a user's would be, handed to the page through its file input.
  const bigFile = `${storageDir}-upload.bin`
  const fd = openSync(bigFile, 'w')
  for (let i = 0; i < UPLOAD_MIB; i++) writeSync(fd, randomBytes(2 ** 20))
  closeSync(fd)
  const withFile = async () => {
    await ready()
    await page.setInputFiles('#file', bigFile)
  }
  await withFile()
  const base = await page.evaluate((n) => globalThis.bench.baseline(n), UPLOAD_MIB)
  const streamVsWebcrypto = await page.evaluate((n) => globalThis.bench.streamVsWebcrypto(n, 5), 256)
  const sweep = SWEEP ? await page.evaluate((n) => globalThis.bench.sweep(n, 3), 128) : undefined
  const PARTS_IN_FLIGHT = globalThis.bench.partsInFlight // the demo's setting (the page's code, loaded in Node above)
  // Demo path and plain upload side by side: the ratio of each round's pair, median over the rounds.
  // With the demo's setting, each round also times the demo path's work without the network (the file encrypted
  // into Blob parts in a worker, sent nowhere): over the plain upload it bounds what upload_vs_plain_upload can be.
  const sideBySide = {}
  const partsOnly = []
  for (const inFlight of [1, PARTS_IN_FLIGHT]) {
    const demo = []
    const plain = []
    for (let round = 0; round < UPLOAD_ROUNDS; round++) {
      if (inFlight === PARTS_IN_FLIGHT) {
        await withFile()
        partsOnly.push(await page.evaluate((n) => globalThis.bench.partsOnly(n), UPLOAD_MIB))
      }
      await withFile()
      plain.push(
        await page.evaluate(
          ([s, t, n, k]) => globalThis.bench.uploadOnly(s, t, n, k),
          [storageUrl, storageToken, UPLOAD_MIB, inFlight],
        ),
      )
      await withFile()
      const r = await page.evaluate(
        ([s, t, u, k, n, f]) => globalThis.bench.upload(s, t, u, k, n, f),
        [storageUrl, storageToken, proxyUrl, API_KEY, UPLOAD_MIB, inFlight],
      )
      demo.push(r.upload_mb_s)
      const parts = inFlight === PARTS_IN_FLIGHT ? `, parts without upload ${partsOnly.at(-1).toFixed(1)} MB/s` : ''
      log(
        `  ${inFlight} part(s) in flight, round ${round + 1}: demo ${r.upload_mb_s.toFixed(1)} MB/s, plain ${plain.at(-1).toFixed(1)} MB/s${parts}`,
      )
    }
    const ratios = demo.map((d, i) => d / plain[i])
    sideBySide[inFlight] = { demo: median(demo), plain: median(plain), ratio: median(ratios), ratios, plains: plain }
  }
  const uploadOnly = sideBySide[PARTS_IN_FLIGHT].plain
  const plains = sideBySide[PARTS_IN_FLIGHT].plains
  const partsVsPlain = median(partsOnly.map((p, i) => p / plains[i]))
  // The ratio if making parts and uploading them cannot overlap (every core already busy): their times add, so
  // demo / plain = parts / (parts + plain). With cores to spare it would be min(parts, plain) / plain.
  const serialBound = median(partsOnly.map((p, i) => p / (p + plains[i])))
  await withFile() // a fresh page: the baselines' garbage does not count against the upload's heap
  const cdp = await context.newCDPSession(page)
  await cdp.send('HeapProfiler.collectGarbage') // the earlier pages' garbage (same renderer) is not the upload's
  let peak = 0
  let sampling = true
  const sampler = (async () => {
    while (sampling) {
      const u = await cdp.send('Runtime.getHeapUsage')
      peak = Math.max(peak, u.usedSize + (u.backingStorageSize ?? 0))
      await new Promise((r) => setTimeout(r, 20))
    }
  })()
  const upload = await page
    .evaluate(
      ([s, t, u, k, n, f]) => globalThis.bench.upload(s, t, u, k, n, f),
      [storageUrl, storageToken, proxyUrl, API_KEY, UPLOAD_MIB, PARTS_IN_FLIGHT],
    )
    .finally(() => {
      sampling = false
    })
  await sampler

  const figures = {
    chromium_miss_ms: median(cold[0]),
    chromium_memory_hit_ms: median([...cold[1], ...cold[2]]),
    chromium_idb_hit_ms: median(warm[0]),
    node_miss_ms: median(node[0]),
    node_memory_hit_ms: median(node[1]),
  }
  const report = {
    machine: {
      cpu: os.cpus()[0]?.model,
      cores: os.cpus().length,
      chromium: browser.version(),
      node: process.version,
      date: new Date().toISOString(),
    },
    messages: COUNT,
    figures,
    upload_mib: UPLOAD_MIB,
    upload: {
      upload_mb_s: Number(upload.upload_mb_s.toFixed(1)),
      webcrypto_1mib_chunks_mb_s: Number(base.webcrypto_mb_s.toFixed(1)),
      core_encrypt_stream_mb_s: Number(base.encrypt_stream_mb_s.toFixed(1)),
      upload_only_mb_s: Number(uploadOnly.toFixed(1)),
      parts_without_upload_mb_s: Number(median(partsOnly).toFixed(1)),
      parts_in_flight: PARTS_IN_FLIGHT,
      side_by_side: Object.fromEntries(
        Object.entries(sideBySide).map(([k, v]) => [
          `${k}_in_flight`,
          {
            demo_mb_s: Number(v.demo.toFixed(1)),
            plain_mb_s: Number(v.plain.toFixed(1)),
            ratio: Number(v.ratio.toFixed(3)),
          },
        ]),
      ),
      long_tasks: upload.long_tasks,
    },
    stream_encrypt_vs_webcrypto_in_chromium: {
      ours_mb_s: Number(streamVsWebcrypto.ours.toFixed(0)),
      webcrypto_mb_s: Number(streamVsWebcrypto.webcrypto.toFixed(0)),
    },
    ...(sweep ? { frame_size_sweep_chromium: sweep } : {}),
    ratios: {
      idb_hit_vs_miss: Number((figures.chromium_miss_ms / figures.chromium_idb_hit_ms).toFixed(2)),
      upload_vs_webcrypto: Number((upload.upload_mb_s / base.webcrypto_mb_s).toFixed(2)),
      upload_vs_plain_upload: Number(sideBySide[PARTS_IN_FLIGHT].ratio.toFixed(3)),
      upload_vs_plain_upload_1_in_flight: Number(sideBySide[1].ratio.toFixed(3)),
      parts_without_upload_vs_plain_upload: Number(partsVsPlain.toFixed(3)),
      upload_vs_plain_upload_if_serial: Number(serialBound.toFixed(3)),
      stream_encrypt_vs_webcrypto: Number(streamVsWebcrypto.ratio.toFixed(3)),
    },
    idb_hit_ms: Number(figures.chromium_idb_hit_ms.toFixed(3)),
    peak_js_heap_mib: Number((peak / 2 ** 20).toFixed(1)),
    max_long_task_ms: Number(upload.max_long_task_ms.toFixed(1)),
    goals: {
      idb_hit_vs_miss: '>= 10',
      idb_hit_ms: '< 0.5',
      upload_vs_webcrypto: '>= 0.7',
      upload_vs_plain_upload: '>= 0.9',
      stream_encrypt_vs_webcrypto: '>= 0.8',
      peak_js_heap_mib: '< 150',
      max_long_task_ms: '< 100',
    },
  }
  if (json) console.log(JSON.stringify(report, null, 2))
  else {
    console.log('| open a 1 KiB message (median ms) | Chromium | Node |\n|---|---|---|')
    console.log(
      `| memory hit | ${figures.chromium_memory_hit_ms.toFixed(3)} | ${figures.node_memory_hit_ms.toFixed(3)} |`,
    )
    console.log(`| IndexedDB hit after reload | ${figures.chromium_idb_hit_ms.toFixed(3)} | (no IndexedDB) |`)
    console.log(
      `| miss: unwrap at the proxy on loopback | ${figures.chromium_miss_ms.toFixed(3)} | ${figures.node_miss_ms.toFixed(3)} |`,
    )
    console.log(
      `\nidb_hit_vs_miss ${report.ratios.idb_hit_vs_miss} (goal ≥ 10), idb_hit_ms ${report.idb_hit_ms} (goal < 0.5)`,
    )
    console.log(`\n| ${UPLOAD_MIB} MiB in Chromium | MB/s |\n|---|---|`)
    console.log(`| demo upload path: worker encrypt + upload in 8 MiB parts | ${report.upload.upload_mb_s} |`)
    console.log(`| upload only: the plaintext in 8 MiB Blob parts, no encryption | ${report.upload.upload_only_mb_s} |`)
    console.log(`| core encryptStream of the Blob in the page, no upload | ${report.upload.core_encrypt_stream_mb_s} |`)
    console.log(
      `| the demo's parts made in a worker (encryptStream into 8 MiB Blobs), no upload | ${report.upload.parts_without_upload_mb_s} |`,
    )
    console.log(`| raw WebCrypto AES-GCM, 1 MiB chunks, no I/O | ${report.upload.webcrypto_1mib_chunks_mb_s} |`)
    for (const [k, v] of Object.entries(report.upload.side_by_side))
      console.log(`| ${k.replaceAll('_', ' ')}: demo ${v.demo_mb_s}, plain upload ${v.plain_mb_s} | ratio ${v.ratio} |`)
    console.log(
      `\nupload_vs_plain_upload ${report.ratios.upload_vs_plain_upload} (goal ≥ 0.9; parts without upload vs plain upload ${report.ratios.parts_without_upload_vs_plain_upload}, the ratio if the two cannot overlap ${report.ratios.upload_vs_plain_upload_if_serial}), stream_encrypt_vs_webcrypto ${report.ratios.stream_encrypt_vs_webcrypto} (goal ≥ 0.8)`,
    )
    if (sweep) console.log(`\n${sweepTable(sweep, `Chromium ${browser.version()}, baseline WebCrypto one-shot 1 MiB`)}`)
    console.log(
      `\nupload_vs_webcrypto ${report.ratios.upload_vs_webcrypto} (goal ≥ 0.7), peak_js_heap_mib ${report.peak_js_heap_mib} (goal < 150), max_long_task_ms ${report.max_long_task_ms} (goal < 100; ${upload.long_tasks} tasks over 50 ms)`,
    )
  }
  log(`(${COUNT} messages; proxy ${proxyUrl}; page ${pageUrl})`)
} finally {
  await browser.close()
  proxy.stop()
  pages.close()
  storage.close()
  rmSync(storageDir, { recursive: true, force: true })
  rmSync(`${storageDir}-upload.bin`, { force: true })
}
