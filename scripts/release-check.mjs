// `npm run release:check`: whether the packages can be published as they are. Checks what a release needs that
// the tests do not (versions, internal dependency ranges, changelogs, metadata, a committed tree), then builds from
// clean and runs the package tests (scripts/test-packages.mjs) against the tarballs that would be published; they
// stay in .ci-out/packages/. Prints one line per problem and exits 1 if there is any. What is only done at
// release time (a committed tree, the changelog section dated, the public repository URL set) is listed as
// "before publishing"; with --final (right before `npm publish`) those are problems too.
import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import semver from 'semver'

const root = fileURLToPath(new URL('..', import.meta.url))
const PACKAGES = ['core', 'idb-cache', 'fetch-client', 'key-proxy']
const read = (path) => readFileSync(`${root}${path}`, 'utf8')
const manifests = Object.fromEntries(PACKAGES.map((p) => [p, JSON.parse(read(`packages/${p}/package.json`))]))
const byName = Object.fromEntries(Object.values(manifests).map((m) => [m.name, m]))
const rootManifest = JSON.parse(read('package.json'))
const final = process.argv.includes('--final')
const problems = []
const todos = []
const problem = (text) => {
  problems.push(text)
  console.error(`✗ ${text}`)
}
const beforePublishing = (text) => (final ? problem(text) : todos.push(text))

// --- the tree ---
const status = execFileSync('git', ['status', '--porcelain'], { cwd: root, encoding: 'utf8' }).trimEnd()
if (status) beforePublishing(`commit everything (a release is made from a commit):\n${status}`)

// --- versions, ranges, changelogs, metadata ---
const license = read('LICENSE')
const repositories = new Set()
for (const [dir, m] of Object.entries(manifests)) {
  if (!semver.valid(m.version)) problem(`${m.name}: version ${m.version} is not semver`)
  for (const [dep, range] of Object.entries(m.dependencies ?? {})) {
    // Internal dependencies name the exact version released with them: the packages are released together.
    if (byName[dep] && range !== byName[dep].version)
      problem(`${m.name}: depends on ${dep} ${range}, but ${dep} is ${byName[dep].version}`)
  }
  const changelog = read(`packages/${dir}/CHANGELOG.md`)
  if (!new RegExp(`^## ${m.version.replaceAll('.', '\\.')}\\b`, 'm').test(changelog))
    problem(`${m.name}: CHANGELOG.md has no "## ${m.version}" section`)
  if (new RegExp(`^## ${m.version.replaceAll('.', '\\.')} \\(unreleased\\)`, 'm').test(changelog))
    beforePublishing(`${m.name}: date the "## ${m.version} (unreleased)" section of CHANGELOG.md`)
  if (read(`packages/${dir}/LICENSE`) !== license) problem(`${m.name}: LICENSE differs from the repository's`)
  if (m.license !== 'Apache-2.0') problem(`${m.name}: license is ${m.license}`)
  if (m.engines?.node !== rootManifest.engines.node) problem(`${m.name}: engines.node differs from the repository's`)
  if (m.repository?.directory !== `packages/${dir}`) problem(`${m.name}: repository.directory is not packages/${dir}`)
  repositories.add(m.repository?.url)
  if (m.private) problem(`${m.name}: private`)
}
if (repositories.size !== 1) problem(`the packages name different repositories: ${[...repositories].join(', ')}`)
for (const url of repositories) {
  if (!url || /example\.invalid/.test(url))
    beforePublishing(`set the public repository URL in every package.json (now ${url})`)
}

// --- the package tests, from a clean build, against the tarballs that would be published ---
console.log('\nbuilding from clean and testing the tarballs (scripts/test-packages.mjs) …')
const tests = spawnSync(process.execPath, ['scripts/test-packages.mjs'], { cwd: root, stdio: 'inherit' })
if (tests.status !== 0) problem('the package tests failed (above)')

if (todos.length) console.log(`\nbefore publishing (--final checks these):\n${todos.map((t) => `- ${t}`).join('\n')}`)
console.log(
  problems.length
    ? `\nrelease:check: ${problems.length} problem(s)`
    : `\nrelease:check: the tarballs in .ci-out/packages/ pass${todos.length ? `; ${todos.length} step(s) before publishing` : ''}`,
)
process.exitCode = problems.length ? 1 : 0
