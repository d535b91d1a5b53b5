/**
 * What the Node entry runs: a cluster primary with `workers` ≥ 1 (cluster.ts), one of its workers, or, with
 * `workers: 0`, one process serving alone (serve.ts). Logs are JSON lines on stdout (log.ts), written in chunks of
 * whole lines at most 50 ms late; a start failure is one line on stderr and exit code 1.
 * @module
 */
import cluster from 'node:cluster'
import { resolveConfig } from '../config.ts'
import { batchedLines, createLogger } from '../log.ts'
import { readSettings } from '../startup.ts'
import { runPrimary } from './cluster.ts'
import { serve } from './serve.ts'
import { resolveServerConfig } from './server-config.ts'

export async function main(argv: readonly string[], env: Record<string, string | undefined>): Promise<void> {
  try {
    const settings = readSettings(argv, env)
    const server = resolveServerConfig(settings, env, resolveConfig(settings, env).host)
    const out = batchedLines((chunk) => process.stdout.write(chunk))
    process.on('exit', () => out.flush()) // what the last turn logged, before the process is gone
    const log = createLogger({ level: server.logLevel, write: out.line })
    if (cluster.isWorker) {
      await serve({ argv, env, server, log: log.child({ worker: cluster.worker?.id ?? 0 }), worker: true })
    } else if (server.workers === 0) {
      await serve({ argv, env, server, log })
    } else {
      await runPrimary({ argv, env, server, log })
    }
  } catch (err) {
    const e = err as { code?: string; message?: string }
    console.error(`key proxy did not start: ${e?.code ? `${e.code}: ` : ''}${e?.message ?? err}`)
    process.exit(1)
  }
}
