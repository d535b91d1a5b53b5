// Fresh-clone hygiene: `npm install` on a fresh clone must leave package-lock.json byte for byte as committed and
// print no engine warning for a Node version the repository claims (root package.json `engines`).
// Why a lock changed before: npm writes only the optional platform packages (biome's, deno's, workerd's
// binaries for other systems) it could fetch when it wrote the lock, and every install without node_modules looks
// for the missing ones again; the registry serves them now, so a fresh install added ~250 lines. A complete lock
// (every optional dependency present) leaves nothing to add.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import semver from 'semver'
import { PACKAGES, root } from './project.mjs'

const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'))
const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
const claimed = rootManifest.engines.node

/** Where Node would find `name` from the package at `location` (a lock key), or undefined. */
function resolveInLock(location, name) {
  let at = location
  for (;;) {
    const candidate = at ? `${at}/node_modules/${name}` : `node_modules/${name}`
    if (lock.packages[candidate]) return candidate
    if (!at) return undefined
    const i = at.lastIndexOf('/node_modules/')
    at = i >= 0 ? at.slice(0, i) : ''
  }
}

test('package-lock.json lists every optional dependency of every package in it', () => {
  const missing = []
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (location === '' || entry.link) continue
    for (const name of Object.keys(entry.optionalDependencies ?? {})) {
      if (!resolveInLock(location, name)) missing.push(`${location} → ${name}`)
    }
  }
  assert.deepEqual(missing, [], 'a fresh npm install would add these to the lock')
})

const libc = process.report.getReport().header.glibcVersionRuntime ? 'glibc' : 'musl'

/** Whether npm installs this lock entry on this machine (its os/cpu/libc fit). */
function installedHere(entry) {
  const fits = (list, value) =>
    !list || list.includes(value) || (list.every((x) => x.startsWith('!')) && !list.includes(`!${value}`))
  return fits(entry.os, process.platform) && fits(entry.cpu, process.arch) && fits(entry.libc, libc)
}

test(`every package installed here supports the Node versions the repository claims (${claimed})`, () => {
  const lowest = semver.minVersion(claimed).version
  const refused = []
  for (const [location, entry] of Object.entries(lock.packages)) {
    if (location === '' || entry.link || !entry.engines?.node || !installedHere(entry)) continue
    for (const version of [lowest, process.versions.node]) {
      if (!semver.satisfies(version, entry.engines.node))
        refused.push(`${location} wants node ${entry.engines.node}, not ${version}`)
    }
  }
  assert.deepEqual(refused, [], 'npm install would print EBADENGINE warnings')
})

test('the published packages claim the same Node versions as the repository', () => {
  for (const pkg of PACKAGES) {
    const manifest = JSON.parse(readFileSync(join(root, 'packages', pkg, 'package.json'), 'utf8'))
    assert.equal(manifest.engines?.node, claimed, `@envelope/${pkg}`)
  }
})
