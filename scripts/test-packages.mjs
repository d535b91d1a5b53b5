// `npm run test:packages`: what `npm install @envelope/…` gives a user (scripts/test-packages/*.test.mjs, with
// node:test): every package packed, the tarballs installed in a fresh project, and checked there. Builds first
// (`npm run build`) unless given --no-build (`npm test` builds in a step of its own just before). Writes JUnit to
// .ci-out/packages.xml. Uses free ports only; Chromium runs once (run it under the browser lock, as `npm test` is).
// KEEP_PACKAGES_PROJECT=1 keeps the temporary project for a look (the run prints its path).
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { findFiles } from './find-files.mjs'

const root = fileURLToPath(new URL('..', import.meta.url))
const report = '.ci-out/packages.xml'
if (!process.argv.includes('--no-build')) {
  const built = spawnSync(process.execPath, ['scripts/build.mjs'], { cwd: root, stdio: 'inherit' })
  if (built.status !== 0) process.exit(built.status ?? 1)
}
mkdirSync(`${root}.ci-out`, { recursive: true })
rmSync(`${root}${report}`, { force: true })
const files = findFiles(root, 'scripts/test-packages', /\.test\.mjs$/)
const run = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-concurrency=1',
    '--test-reporter=spec',
    '--test-reporter-destination=stdout',
    '--test-reporter=junit',
    `--test-reporter-destination=${report}`,
    ...files,
  ],
  { cwd: root, stdio: 'inherit' },
)
process.exit(run.status ?? 1)
