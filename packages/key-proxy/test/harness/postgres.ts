// A real PostgreSQL for the tests that need one: Debian's server binaries (/usr/lib/postgresql/<v>/bin), a
// cluster of the test's own on a temporary data folder and a free loopback port, stopped at the end. PostgreSQL
// refuses to run as root, so as root (CI) it runs as the `postgres` user; otherwise as the current user.
// `.ci/run` installs the `postgresql` package when it is missing.
import { execFileSync } from 'node:child_process'
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface RunningPostgres {
  /** `postgres://envelope@127.0.0.1:<port>/postgres` (trust authentication: loopback, a throwaway cluster). */
  readonly url: string
  readonly port: number
  readonly dir: string
  /** Runs SQL through psql, as the cluster's superuser; returns its output. */
  psql(sql: string): string
  /** Stops the server (fast shutdown), keeping its data: the database is unreachable until `resume()`. */
  halt(): void
  /** Starts it again on the same port and data. */
  resume(): void
  /** Fast shutdown, then the folder is removed. */
  stop(): Promise<void>
}

/** The newest installed PostgreSQL server's bin folder. */
export function postgresBin(): string {
  const root = '/usr/lib/postgresql'
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : []
  if (!versions.length) throw new Error('no PostgreSQL server in /usr/lib/postgresql (apt-get install postgresql)')
  return join(root, versions[0]!, 'bin')
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

export interface PostgresOptions {
  /** `fsync=off` for speed where the test never crashes PostgreSQL itself. Default: on, as in production. */
  readonly fsync?: boolean
}

export async function startPostgres(options: PostgresOptions = {}): Promise<RunningPostgres> {
  const bin = postgresBin()
  const dir = mkdtempSync(join(tmpdir(), 'envelope-pg-'))
  const asRoot = process.getuid?.() === 0
  const run = (tool: string, args: string[]) =>
    asRoot
      ? execFileSync('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args], { stdio: 'pipe', encoding: 'utf8' })
      : execFileSync(join(bin, tool), args, { stdio: 'pipe', encoding: 'utf8' })
  if (asRoot) chownSync(dir, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()), -1)
  const data = join(dir, 'data')
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'envelope', '--no-sync', '--no-instructions', '-E', 'UTF8'])
  const port = await freePort()
  const settings = [
    `-p ${port}`,
    `-k ${dir}`,
    '-c listen_addresses=127.0.0.1',
    '-c max_connections=200',
    options.fsync === false ? '-c fsync=off -c synchronous_commit=off' : '',
  ].join(' ')
  const start = () => run('pg_ctl', ['-D', data, '-o', settings, '-l', join(dir, 'log'), '-w', '-t', '60', 'start'])
  start()
  let stopped = false
  return {
    url: `postgres://envelope@127.0.0.1:${port}/postgres`,
    port,
    dir,
    psql: (sql) =>
      run('psql', [
        '-h',
        '127.0.0.1',
        '-p',
        String(port),
        '-U',
        'envelope',
        '-d',
        'postgres',
        '-At',
        '-v',
        'ON_ERROR_STOP=1',
        '-c',
        sql,
      ]),
    halt: () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']),
    resume: start,
    async stop() {
      if (stopped) return
      stopped = true
      try {
        run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop'])
      } catch {
        // already stopped (halted)
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
}
