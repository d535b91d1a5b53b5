// `npm test`: typecheck, lint, then the tests in every runtime (Node, Deno, Bun, workerd, Chromium, Firefox),
// then the Deno side of the browser interop check, then the build and the package tests (test:packages). Every
// step runs even if an earlier one failed. Counts come from each runner's report in .ci-out/ (not from its console
// summary); typecheck, lint and build count as one test each.
// A runner that exits non-zero without a report, or without any failing test in it, counts as one failure.
// Prints a per-runner table and, alone on the last line, `N passed, N failed`; exits non-zero on any failure.
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const out = `${root}.ci-out`
// A hung runner must not hold CI: its whole process group is killed and it counts as failed. 600 s: the Node step
// takes ~160 s on a quiet machine of this kind and over 250 s on a loaded one.
const stepTimeoutMs = Number(process.env.TEST_STEP_TIMEOUT_S ?? 600) * 1000

const npmRun = (script) => ['npm', ['run', '--silent', script]]

/** Each step: a command, the report it writes (removed before it runs) and how to count that report. */
const steps = [
  { name: 'typecheck', cmd: npmRun('typecheck') },
  { name: 'lint', cmd: npmRun('lint') },
  { name: 'node', cmd: npmRun('test:node'), report: 'vitest.json', count: countVitest },
  { name: 'deno', cmd: npmRun('test:deno'), report: 'deno.xml', count: countJunit },
  { name: 'bun', cmd: npmRun('test:bun'), report: 'bun.xml', count: countJunit },
  { name: 'workerd', cmd: npmRun('test:workerd'), report: 'workerd.json', count: countWorkerd },
  {
    name: 'browsers',
    cmd: npmRun('test:browser'),
    report: 'playwright.json',
    count: countPlaywright,
    clean: ['interop'],
  },
  {
    // Messages the browsers made in the previous step must open in Deno too.
    name: 'interop (deno)',
    cmd: [
      'npx',
      [
        'deno',
        'test',
        '--conditions=@envelope/source',
        '--allow-read',
        '--junit-path=.ci-out/deno-interop.xml',
        'tests/runtimes/interop/browser-to-deno.deno.ts',
      ],
    ],
    report: 'deno-interop.xml',
    count: countJunit,
  },
  // The packages as published: built (one command), packed, installed in a fresh project and checked there.
  { name: 'build', cmd: npmRun('build') },
  {
    name: 'packages',
    cmd: ['node', ['scripts/test-packages.mjs', '--no-build']],
    report: 'packages.xml',
    count: countJunit,
  },
]

// --- counting reports ---

function countVitest(text) {
  const r = JSON.parse(text)
  // Files that failed to load have no failing test of their own: count each as one failure.
  const brokenFiles = r.testResults.filter(
    (f) => f.status === 'failed' && !f.assertionResults.some((a) => a.status === 'failed'),
  ).length
  return [
    { passed: r.numPassedTests, failed: r.numFailedTests + brokenFiles, skipped: r.numPendingTests + r.numTodoTests },
  ]
}

function countJunit(text) {
  let passed = 0
  let failed = 0
  let skipped = 0
  // Attribute values may hold a raw `>` (node:test writes test names unescaped): skip over quoted values.
  for (const m of text.matchAll(/<testcase\b(?:[^>"]|"[^"]*")*?(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const body = m[2] ?? ''
    if (/<(failure|error)\b/.test(body)) failed++
    else if (/<skipped\b/.test(body)) skipped++
    else passed++
  }
  return [{ passed, failed, skipped }]
}

function countWorkerd(text) {
  const r = JSON.parse(text)
  return [{ passed: r.passed, failed: r.failed, skipped: 0 }]
}

function countPlaywright(text) {
  const r = JSON.parse(text)
  const rows = new Map()
  const row = (project) => {
    if (!rows.has(project)) rows.set(project, { label: project, passed: 0, failed: 0, skipped: 0 })
    return rows.get(project)
  }
  const walk = (suite) => {
    for (const spec of suite.specs ?? []) {
      for (const t of spec.tests) {
        const into = row(t.projectName)
        if (t.status === 'expected') into.passed++
        else if (t.status === 'skipped') into.skipped++
        else into.failed++ // unexpected, and flaky (no retries are configured, so flaky means it failed once)
      }
    }
    for (const child of suite.suites ?? []) walk(child)
  }
  for (const s of r.suites ?? []) walk(s)
  // Errors outside tests (a spec that fails to load, a webServer that never came up).
  if (r.errors?.length) row('(errors)').failed += r.errors.length
  return [...rows.values()]
}

// --- running ---

let current
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (current) killGroup(current)
    process.exit(130)
  })
}

function killGroup(child) {
  try {
    process.kill(-child.pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

function run([command, args]) {
  return new Promise((resolve) => {
    // Own process group, so a timeout can kill the runner with everything it started (servers, browsers).
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'], detached: true })
    current = child
    let timedOut = false
    const timer = setTimeout(() => {
      timedOut = true
      killGroup(child)
    }, stepTimeoutMs)
    child.on('error', (err) => {
      console.error(`could not start ${command}: ${err.message}`)
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      current = undefined
      resolve({ code: code ?? 1, signal, timedOut })
    })
  })
}

mkdirSync(out, { recursive: true })
const table = []
for (const step of steps) {
  if (step.report) rmSync(`${out}/${step.report}`, { force: true })
  for (const dir of step.clean ?? []) rmSync(`${out}/${dir}`, { force: true, recursive: true })
  console.log(`\n━━━ ${step.name} ━━━`)
  const started = Date.now()
  const { code, timedOut } = await run(step.cmd)
  const seconds = (Date.now() - started) / 1000
  let rows
  let note = ''
  if (!step.report) {
    rows = [{ passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1, skipped: 0 }]
  } else if (!existsSync(`${out}/${step.report}`)) {
    rows = [{ passed: 0, failed: 1, skipped: 0 }]
    note = timedOut ? 'timed out, no report' : `crashed (exit ${code}), no report`
  } else {
    try {
      rows = step.count(readFileSync(`${out}/${step.report}`, 'utf8'))
    } catch (err) {
      rows = [{ passed: 0, failed: 1, skipped: 0 }]
      note = `unreadable report: ${err.message}`
    }
    const failed = rows.reduce((n, r) => n + r.failed + r.skipped, 0)
    if (code !== 0 && failed === 0) {
      rows.push({ label: '(exit)', passed: 0, failed: 1, skipped: 0 })
      note = timedOut ? 'timed out' : `exited ${code} with no failing test in its report`
    }
  }
  if (timedOut && !note) note = 'timed out'
  for (const [i, r] of rows.entries()) {
    const label = rows.length > 1 || r.label ? `${step.name} ${r.label ?? ''}`.trim() : step.name
    table.push({ ...r, label, seconds: i === 0 ? seconds : undefined, note: i === 0 ? note : '' })
  }
}

// Skipped tests hide failures (house rule: none), so they count as failed.
let passed = 0
let failed = 0
console.log(`\n${'runner'.padEnd(28)}${'passed'.padStart(8)}${'failed'.padStart(8)}${'skipped'.padStart(9)}   time`)
for (const r of table) {
  passed += r.passed
  failed += r.failed + r.skipped
  const time = r.seconds === undefined ? '' : `${r.seconds.toFixed(1)} s`
  console.log(
    `${r.label.padEnd(28)}${String(r.passed).padStart(8)}${String(r.failed).padStart(8)}${String(r.skipped).padStart(9)}   ${time.padEnd(9)}${r.note}`,
  )
}
console.log(`${passed} passed, ${failed} failed`)
process.exitCode = failed > 0 || passed === 0 ? 1 : 0
