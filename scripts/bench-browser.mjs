// `npm run bench:browser [-- --json]`: opening a 1 KiB message in Chromium through the key proxy client with the
// tiered DEK cache: a memory hit, an IndexedDB hit after a reload (memory tier empty), and a miss (an unwrap at a
// real proxy on loopback). Medians of timings taken in the page (automation inflates timings taken outside it).
// The same client in Node, where there is no IndexedDB, gives a memory hit and a miss for comparison.
import { readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { chromium } from '@playwright/test'
import { build } from 'rolldown'
import { chromiumArgs, chromiumPath } from './lib/chromium.mjs'
import { sha256Hex, startProxyProcess } from './lib/proxy-process.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const json = process.argv.includes('--json')
const log = (...a) => (json ? console.error(...a) : console.log(...a))
const COUNT = 200 // messages, each opened once per round
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
  logLevel: 'silent',
})
await build({ input: entry, output: { file: `${out}/node.mjs`, format: 'esm' }, platform: 'node', logLevel: 'silent' })
writeFileSync(
  `${out}/index.html`,
  '<!doctype html><meta charset="utf-8"><title>loading</title><script type="module" src="page.js"></script>',
)
const pages = createServer((req, res) => {
  const name = req.url === '/page.js' ? 'page.js' : 'index.html'
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
    ratios: { idb_hit_vs_miss: Number((figures.chromium_miss_ms / figures.chromium_idb_hit_ms).toFixed(2)) },
    idb_hit_ms: Number(figures.chromium_idb_hit_ms.toFixed(3)),
    goals: { idb_hit_vs_miss: '>= 10', idb_hit_ms: '< 0.5' },
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
  }
  log(`(${COUNT} messages; proxy ${proxyUrl}; page ${pageUrl})`)
} finally {
  await browser.close()
  proxy.stop()
  pages.close()
}
