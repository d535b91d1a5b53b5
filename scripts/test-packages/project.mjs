// The fresh project the package tests run in: `npm pack` of every package, the tarballs installed into a new
// temporary folder outside the repository (real copies, no workspace links), and helpers to run commands and
// servers there. One pack and one install, shared by every check.
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const root = fileURLToPath(new URL('../..', import.meta.url))
export const bin = (name) => join(root, 'node_modules/.bin', name)
/** The published packages, in dependency order. */
export const PACKAGES = ['core', 'idb-cache', 'fetch-client', 'key-proxy']

/** Packs every package into `out`; returns npm's report per package ({ name, version, files, path, … }). */
export function packAll(out) {
  mkdirSync(out, { recursive: true })
  const args = ['pack', '--json', '--pack-destination', out, ...PACKAGES.flatMap((p) => ['-w', `packages/${p}`])]
  const report = JSON.parse(
    execFileSync('npm', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
  )
  return report.map((r) => ({ ...r, path: join(out, r.filename) }))
}

/** A new project in a temporary folder with the tarballs installed (and their npm dependencies). */
export function installProject(tarballs) {
  const dir = mkdtempSync(join(tmpdir(), 'envelope-packages-'))
  const project = join(dir, 'project')
  mkdirSync(project)
  writeFileSync(
    join(project, 'package.json'),
    `${JSON.stringify({ name: 'envelope-consumer', private: true, type: 'module' }, null, 2)}\n`,
  )
  execFileSync('npm', ['install', '--no-audit', '--no-fund', ...tarballs], {
    cwd: project,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return { dir, project }
}

/** Runs a command to completion; returns { status, stdout, stderr } (never throws on a non-zero exit). */
export function run(cmd, args, options = {}) {
  try {
    const stdout = execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...options })
    return { status: 0, stdout, stderr: '' }
  } catch (err) {
    if (err.status === undefined || err.status === null) throw err
    return { status: err.status, stdout: err.stdout ?? '', stderr: err.stderr ?? '' }
  }
}

/**
 * Starts a long-running command in its own process group and waits for `ready` (a RegExp) in its output.
 * Returns { match, output(), stop() }; stop() ends the whole group (npx runs the program as a child).
 */
export function startServer(cmd, args, { ready, cwd, env, timeoutMs = 30_000 }) {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGTERM')
      } catch {
        // already gone
      }
      await exited
    }
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop()
      reject(new Error(`${cmd} ${args.join(' ')}: no ${ready} within ${timeoutMs} ms:\n${out}`))
    }, timeoutMs)
    const onData = (d) => {
      out += d
      const match = ready.exec(out)
      if (match) {
        clearTimeout(timer)
        resolve({ match, output: () => out, stop })
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${cmd} ${args.join(' ')} exited (${code ?? signal}) before it was ready:\n${out}`))
    })
  })
}

/**
 * The examples a package README marks as files: fenced blocks whose info string names one,
 * e.g. ```` ```js quick-start.mjs ````. Returns a Map of file name to code.
 */
export function readmeExamples(readmePath) {
  const text = readFileSync(readmePath, 'utf8')
  const found = new Map()
  for (const m of text.matchAll(/^```[a-z]+ ([\w.-]+)\n([\s\S]*?)^```$/gm)) found.set(m[1], m[2])
  return found
}
