// Runs the Bun tests: the portable suites (tests/runtimes/bun) and every package's `test/**/*.bun.test.ts`.
// Always an explicit file list: bare `bun test` would also collect Playwright specs and browser tests.
// Writes JUnit to .ci-out/bun.xml; extra arguments are passed to `bun test`.
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { findFiles } from './find-files.mjs'
import { SOURCE_CONDITION } from './lib/source-condition.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const report = '.ci-out/bun.xml'
const files = [
  ...findFiles(root, 'tests/runtimes/bun', /\.bun\.test\.ts$/),
  ...findFiles(root, 'packages', /^packages\/[^/]+\/test\/.*\.bun\.test\.ts$/),
].map((f) => `./${f}`)

mkdirSync(`${root}.ci-out`, { recursive: true })
rmSync(`${root}${report}`, { force: true })
const args = [
  'bun',
  'test',
  `--conditions=${SOURCE_CONDITION}`,
  '--reporter=junit',
  `--reporter-outfile=${report}`,
  ...process.argv.slice(2),
  ...files,
]
const run = spawnSync('npx', args, { cwd: root, stdio: 'inherit' })
process.exit(run.status ?? 1)
