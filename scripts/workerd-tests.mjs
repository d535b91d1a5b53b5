// Runs the portable suites in workerd: bundles tests/runtimes/workerd/worker.ts with rolldown, runs
// `workerd test`, parses the worker's one summary line, prints one line per test and writes .ci-out/workerd.json
// ({ passed, failed, tests: [{ name, ok, error? }] }). No summary line means a crash: no report, exit 1.
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { build } from 'rolldown'
import { sourceResolve } from './lib/source-condition.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const marker = 'ENVELOPE_WORKERD_RESULTS '
const report = `${root}.ci-out/workerd.json`

mkdirSync(`${root}.ci-out/workerd`, { recursive: true })
rmSync(report, { force: true })

await build({
  cwd: root,
  input: 'tests/runtimes/workerd/worker.ts',
  platform: 'browser',
  resolve: sourceResolve('browser'),
  logLevel: 'warn',
  output: { file: '.ci-out/workerd/worker.js', format: 'esm' },
})

const run = spawnSync('npx', ['workerd', 'test', 'tests/runtimes/workerd/config.capnp'], {
  cwd: root,
  encoding: 'utf8',
  maxBuffer: 64 * 1024 * 1024,
})
const output = `${run.stdout ?? ''}\n${run.stderr ?? ''}`
const line = output.split('\n').find((l) => l.includes(marker))
if (!line) {
  process.stdout.write(output)
  console.error(`workerd: no result line (exit ${run.status}); counted as a crash`)
  process.exit(1)
}

const { results } = JSON.parse(line.slice(line.indexOf(marker) + marker.length))
for (const r of results) {
  console.log(`${r.ok ? '  ✓' : '  ✗'} workerd › ${r.name}`)
  if (!r.ok) console.log(`      ${r.error.replaceAll('\n', '\n      ')}`)
}
const failed = results.filter((r) => !r.ok).length
const passed = results.length - failed
writeFileSync(report, `${JSON.stringify({ passed, failed, tests: results }, null, 2)}\n`)
console.log(`workerd: ${passed} passed, ${failed} failed`)
// workerd itself failing with all tests green (e.g. a crash after the summary) is still a failure.
process.exit(failed > 0 || run.status !== 0 ? 1 : 0)
