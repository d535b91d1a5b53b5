// Starts a real key proxy process for tests: built from source once per test process, on 127.0.0.1 with a
// free port, a temporary data folder and the given configuration. Never a mock.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const pkg = fileURLToPath(new URL('..', import.meta.url))
// Under Deno (its Node compatibility runs this file too) execPath is deno: the proxy itself runs on Node.
const nodeBin = 'Deno' in globalThis ? 'node' : process.execPath
let built = false

export interface RunningProxy {
  readonly url: string
  readonly dataDir: string
  readonly adminKey: string
  /** The running process's id (changes on restart). */
  readonly pid: number
  /** Parsed lines of the audit log so far. */
  auditLines(): Array<Record<string, unknown>>
  /** Graceful stop. */
  stop(): Promise<void>
  /** SIGKILL of the whole instance (its `--workers` too, at once), as a crash of the machine. */
  kill9(): Promise<void>
  /** Starts the proxy again on the same data folder (and port). */
  restart(): Promise<void>
  /** Runs the admin CLI against this proxy; returns its exit code and output. */
  admin(...args: string[]): { status: number; stdout: string; stderr: string }
  /** An admin route with the admin key: `adminApi('PUT', 'acme/keys/hsm', body)` (paths under /v1/admin/tenants/). */
  // biome-ignore lint/suspicious/noExplicitAny: the JSON of whichever admin route, read by the tests as they need
  adminApi(method: string, path: string, body?: unknown): Promise<{ status: number; code?: string; body: any }>
  /** Everything the proxy printed so far (stdout and stderr). */
  output(): string
}

export function buildProxy(): void {
  if (built) return
  execFileSync(nodeBin, [join(pkg, 'build.mjs')], { stdio: 'inherit' })
  built = true
}

export async function startProxy(
  config: Record<string, unknown> = {},
  dataDir?: string,
  extraEnv: Record<string, string> = {},
): Promise<RunningProxy> {
  buildProxy()
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'envelope-proxy-'))
  const configFile = join(dir, 'test-config.json')
  writeFileSync(configFile, JSON.stringify({ port: 0, dataDir: dir, ...config }))
  let child: ChildProcess
  let url = ''
  let printed = ''

  async function launch(port?: number): Promise<void> {
    const env = {
      ...process.env,
      ...extraEnv,
      ENVELOPE_PROXY_CONFIG: configFile,
      ...(port ? { ENVELOPE_PROXY_PORT: String(port) } : {}),
    }
    child = spawn(nodeBin, [join(pkg, 'dist/serve-node.mjs')], { env, stdio: ['ignore', 'pipe', 'pipe'] })
    url = await new Promise<string>((resolve, reject) => {
      let out = ''
      const timer = setTimeout(() => reject(new Error(`proxy did not start: ${out}`)), 15_000)
      child.stdout!.on('data', (d) => {
        out += d
        printed += d
        const m = /listening on (https?:\/\/[\d.]+:\d+)/.exec(out)
        if (m) {
          clearTimeout(timer)
          resolve(m[1]!)
        }
      })
      child.stderr!.on('data', (d) => {
        out += d
        printed += d
      })
      child.on('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`proxy exited with ${code}: ${out}`))
      })
    })
  }

  const exited = () =>
    new Promise<void>((resolve) =>
      child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve()),
    )
  await launch()
  const port = Number(new URL(url).port)
  return {
    get url() {
      return url
    },
    get pid() {
      return child.pid!
    },
    dataDir: dir,
    adminKey: readFileSync(join(dir, 'admin.key'), 'utf8').trim(),
    auditLines: () => {
      try {
        return readFileSync(join(dir, 'audit.log'), 'utf8')
          .trim()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      } catch {
        return []
      }
    },
    async stop() {
      child.kill('SIGTERM')
      await exited()
    },
    async kill9() {
      // Its workers first found, then every process of the instance killed in one go.
      const pids = [child.pid!, ...childrenOf(child.pid!)]
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {}
      }
      await exited()
    },
    async restart() {
      await launch(port)
    },
    output: () => printed,
    async adminApi(method: string, path: string, body?: unknown) {
      const r = await fetch(`${url}/v1/admin/tenants/${path}`, {
        method,
        headers: { authorization: `ApiKey ${readFileSync(join(dir, 'admin.key'), 'utf8').trim()}` },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      const json = await r.json().catch(() => ({}))
      return { status: r.status, code: json?.error?.code, body: json }
    },
    admin(...args: string[]) {
      try {
        const stdout = execFileSync(
          nodeBin,
          [join(pkg, 'dist/admin-cli.mjs'), ...args, '--url', url, '--admin-key-file', join(dir, 'admin.key')],
          {
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'pipe'],
          },
        )
        return { status: 0, stdout, stderr: '' }
      } catch (err) {
        const e = err as { status: number; stdout: string; stderr: string }
        return { status: e.status, stdout: e.stdout, stderr: e.stderr }
      }
    },
  }
}

/** The pids of a process's children (Linux: /proc). */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** Hex SHA-256 of an API key, as the configuration stores it. */
export async function hashKey(key: string): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(key)))
  return Array.from(d, (b) => b.toString(16).padStart(2, '0')).join('')
}

/** The `code` a promise rejects with, or undefined when it resolves. */
export async function codeOf(work: Promise<unknown>): Promise<string | undefined> {
  try {
    await work
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}
