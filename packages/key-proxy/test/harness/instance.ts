// A real key proxy instance for the operations tests: `dist/serve-node.mjs` (built from source) on 127.0.0.1,
// a free port, a temporary data folder, with `--workers N` or none, plain HTTP or HTTPS. Its stdout is kept as
// parsed JSON log lines, so a test can wait for what the instance says it did. Never a mock.
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildProxy } from '../proxy-process.ts'

const entry = fileURLToPath(new URL('../../dist/serve-node.mjs', import.meta.url))

export type LogLine = Record<string, unknown> & { msg: string; level: string }

export interface Instance {
  readonly url: string
  readonly dataDir: string
  readonly adminKey: string
  readonly pid: number
  readonly child: ChildProcess
  /** Every JSON line the instance printed so far. */
  logs(): LogLine[]
  /** Everything it printed on stderr. */
  stderr(): string
  /** Resolves with the first log line (from line `since` on, so far or to come) that `match` accepts. */
  waitFor(match: (line: LogLine) => boolean, what?: string, since?: number): Promise<LogLine>
  signal(sig: NodeJS.Signals): void
  /** SIGKILL of every process of the instance at once (the primary and its workers), as a crash; then waits. */
  kill9(): Promise<void>
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
  /** SIGTERM and wait (no-op once exited). */
  stop(): Promise<void>
  auditLines(): Array<Record<string, unknown>>
}

export interface InstanceOptions {
  /** Settings of the configuration file (port 0 and the data folder are set unless given). */
  readonly config?: Record<string, unknown>
  /** `--workers N`; undefined: the default (one per core). */
  readonly workers?: number
  readonly dataDir?: string
  readonly env?: Record<string, string>
}

export async function startInstance(options: InstanceOptions = {}): Promise<Instance> {
  buildProxy()
  const dir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'envelope-ops-'))
  const configFile = join(dir, `config-${Date.now()}-${Math.random().toString(36).slice(2)}.json`)
  writeFileSync(configFile, JSON.stringify({ port: 0, dataDir: dir, ...options.config }))
  const args = [entry, '--config', configFile]
  if (options.workers !== undefined) args.push('--workers', String(options.workers))
  const env = { ...process.env, ENVELOPE_PROXY_WORKERS: undefined, ...options.env }
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: LogLine[] = []
  const waiters: Array<{ match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }> = []
  let err = ''
  let partial = ''
  child.stdout!.on('data', (d) => {
    partial += d
    const parts = partial.split('\n')
    partial = parts.pop()!
    for (const text of parts) {
      if (!text.trim()) continue
      let line: LogLine
      try {
        line = JSON.parse(text)
      } catch {
        line = { level: 'text', msg: text }
      }
      lines.push(line)
      for (const w of [...waiters]) {
        if (w.match(line)) {
          waiters.splice(waiters.indexOf(w), 1)
          w.resolve(line)
        }
      }
    }
  })
  child.stderr!.on('data', (d) => {
    err += d
  })
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  )
  const waitFor = (match: (l: LogLine) => boolean, what = 'a log line', since = 0) => {
    const seen = lines.slice(since).find(match)
    if (seen) return Promise.resolve(seen)
    return new Promise<LogLine>((resolve, reject) => {
      waiters.push({ match, resolve })
      exited.then(({ code, signal }) => {
        // A line printed just before the exit is matched first (stdout is read before 'exit' resolves this).
        setImmediate(() =>
          reject(new Error(`instance exited (${code ?? signal}) before ${what}: ${err}\n${JSON.stringify(lines)}`)),
        )
      })
    })
  }
  const listening = await waitFor((l) => /listening on https?:\/\//.test(l.msg), 'listening')
  const url = String(listening.url)
  return {
    url,
    dataDir: dir,
    adminKey: existsSync(join(dir, 'admin.key')) ? readFileSync(join(dir, 'admin.key'), 'utf8').trim() : '',
    pid: child.pid!,
    child,
    logs: () => [...lines],
    stderr: () => err,
    waitFor,
    signal: (sig) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig)
    },
    exited,
    async kill9() {
      let children: number[] = []
      try {
        children = readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8')
          .split(' ')
          .filter(Boolean)
          .map(Number)
      } catch {}
      for (const pid of [child.pid!, ...children]) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {}
      }
      await exited
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
    auditLines: () => {
      try {
        return readFileSync(join(dir, 'audit.log'), 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      } catch {
        return []
      }
    },
  }
}

/** Pids of the workers serving now, from the instance's own log (`worker serving` lines not followed by a stop). */
export function workerPids(instance: Instance): number[] {
  const pids = new Map<number, number>()
  for (const l of instance.logs()) {
    if (l.msg === 'worker serving') pids.set(Number(l.worker), Number(l.pid))
    if (l.msg === 'worker stopped: starting another') pids.delete(Number(l.worker))
  }
  return [...pids.values()]
}
