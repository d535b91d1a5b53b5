// README.md's shell commands, run as written, as a new user would: each in a checkout of its own (the repository's
// files linked into a temporary folder, so its relative paths such as .envelope-data land there and not in this
// one), with no ENVELOPE_* or npm settings of ours, on the real default ports (these tests hold the browser lock,
// as every Playwright spec does). What each must do is listed in readme-commands.ts, which must list exactly the
// commands README.md has. The key proxy's health and readiness answers are checked against docs/key-proxy-api.md.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from '@playwright/test'
import { type Ran, readmeCommands } from './readme-commands.ts'

const root = fileURLToPath(new URL('../..', import.meta.url))
/** What a checkout of one's own does not share with this one: its data, test output, git. */
const OWN = new Set(['.envelope-data', '.ci-out', 'test-results', 'playwright-report', '.git'])
const env = Object.fromEntries(
  Object.entries(process.env).filter(([k]) => !/^(npm_|ENVELOPE_|VITE_)/i.test(k) && k !== 'INIT_CWD'),
)

/** The commands in README.md's shell code blocks, in order, each without its comment. */
function readmeShellCommands(): string[] {
  const readme = readFileSync(`${root}README.md`, 'utf8')
  return [...readme.matchAll(/^```(?:sh|bash|shell|console)\n([\s\S]*?)^```/gm)].flatMap((block) =>
    block[1]!
      .split('\n')
      .map((line) => line.replace(/(^|\s+)#.*$/, '').trim())
      .filter(Boolean),
  )
}

function checkout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'envelope-readme-'))
  for (const entry of readdirSync(root)) if (!OWN.has(entry)) symlinkSync(join(root, entry), join(dir, entry))
  return dir
}

/** `command` in a shell in `dir`, in a process group of its own (so Ctrl-C can reach all of it). */
function shell(command: string, dir: string): { child: ChildProcess; ran: Promise<Ran>; output: () => string } {
  const child = spawn('sh', ['-c', command], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => {
    stdout += d
  })
  child.stderr!.on('data', (d) => {
    stderr += d
  })
  const ran = new Promise<Ran>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })))
  return { child, ran, output: () => `${stdout}${stderr}` }
}

const status = (url: string) =>
  fetch(url).then(
    async (r) => {
      await r.arrayBuffer()
      return r.status
    },
    () => 0,
  )

/** docs/key-proxy-api.md's "`GET /v1/…` → `{…}`" answers, checked against the proxy on :7777. */
async function proxyAnswersAsDocumented() {
  const doc = readFileSync(`${root}docs/key-proxy-api.md`, 'utf8')
  const documented = [...doc.matchAll(/`GET (\/v1\/[a-z]+)` → `(\{[^`]*\})`/g)]
  expect(documented.map((m) => m[1])).toEqual(expect.arrayContaining(['/v1/health', '/v1/ready']))
  for (const [, path, body] of documented) {
    const r = await fetch(`http://127.0.0.1:7777${path}`)
    expect(await r.json(), `GET ${path}`).toEqual(JSON.parse(body!))
  }
}

test('README.md’s shell commands are exactly those readme-commands.ts says how to check', () => {
  expect([...new Set(readmeShellCommands())].sort()).toEqual(Object.keys(readmeCommands).sort())
})

for (const [command, entry] of Object.entries(readmeCommands)) {
  if (entry.kind !== 'serves') continue
  const during = Object.entries(readmeCommands).filter(([, e]) => e.kind === 'runs' && e.during.includes(command))
  test(`\`${command}\` as written serves on its documented ports, then \`${during.map(([c]) => c).join('`, `') || 'nothing else'}\` as written works`, async () => {
    test.setTimeout(180_000)
    const dir = checkout()
    const server = shell(command, dir)
    try {
      for (const [url, expected] of Object.entries(entry.answers)) {
        await expect
          .poll(
            async () => {
              if (server.child.exitCode !== null) throw new Error(`\`${command}\` ended:\n${server.output()}`)
              return status(url)
            },
            { timeout: 120_000, message: `${url} while \`${command}\` runs` },
          )
          .toBe(expected)
      }
      for (const [other, e] of during) {
        if (e.kind !== 'runs') continue
        const ran = await shell(other, dir).ran
        e.check(ran, dir)
      }
      for (const file of entry.files) expect(existsSync(join(dir, file)), file).toBe(true)
      await entry.check?.(dir)
      if ('http://127.0.0.1:7777/v1/ready' in entry.answers) await proxyAnswersAsDocumented()
    } finally {
      process.kill(-server.child.pid!, 'SIGINT') // Ctrl-C
      await server.ran
      rmSync(dir, { recursive: true, force: true })
    }
    // Ctrl-C stopped all of it: nothing answers on its ports any more.
    for (const url of Object.keys(entry.answers)) expect(await status(url), url).toBe(0)
  })
}

for (const [command, entry] of Object.entries(readmeCommands)) {
  if (entry.kind !== 'runs' || entry.during.length) continue
  test(`\`${command}\` as written works`, async () => {
    const dir = checkout()
    try {
      entry.check(await shell(command, dir).ran, dir)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
}
