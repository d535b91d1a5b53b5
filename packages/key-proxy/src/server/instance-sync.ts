/**
 * One instance, several processes: with `--workers N` the primary and its workers are one proxy instance on one
 * data folder. The primary holds the folder's lock; the workers share the file keystore through this:
 *
 * - {@link InstanceSync.exclusive}: one write at a time across the instance (a lock the primary grants in
 *   order over IPC, released when the holder dies), so each write re-reads the file under it and loses nothing;
 * - {@link InstanceSync.publish}: after a write, every other worker has applied it (re-read the file, dropped
 *   key material it no longer holds) before the write is acknowledged. A worker that does not confirm within
 *   the bound is killed (and restarted), so a destroyed key leaves every process's memory or the process goes.
 *
 * In one process (no workers) the file keystore uses its own promise chain instead (file-keystore.ts).
 * @module
 */
import type { Worker } from 'node:cluster'

export interface InstanceSync {
  /** Runs `write` while no other process of the instance runs one. */
  exclusive<T>(write: () => Promise<T>): Promise<T>
  /** After a write (inside `exclusive`): resolves once every other process of the instance has applied it. */
  publish(): Promise<void>
  /** How this process applies another's write (re-read, drop material); the confirmation waits for it. */
  onChange(apply: () => void | Promise<void>): void
  /** True when other processes share the keystore (they write it too: re-read before each write). */
  readonly shared: boolean
}

type Msg =
  | { type: 'envelope:hello' }
  | { type: 'envelope:lock'; id: number }
  | { type: 'envelope:unlock'; id: number }
  | { type: 'envelope:publish'; id: number }
  | { type: 'envelope:locked'; id: number }
  | { type: 'envelope:published'; id: number; error?: string }
  | { type: 'envelope:apply'; id: number }
  | { type: 'envelope:applied'; id: number }

const isMsg = (m: unknown): m is Msg =>
  typeof m === 'object' && m !== null && typeof (m as Msg).type === 'string' && (m as Msg).type.startsWith('envelope:')

/** A cluster worker's side: asks the primary (over the cluster's IPC channel). */
export function workerSync(channel: NodeJS.Process = process): InstanceSync {
  if (!channel.send) throw new Error('workerSync needs an IPC channel (a cluster worker)')
  let next = 0
  const waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>()
  let apply: () => void | Promise<void> = () => {}
  let local: Promise<unknown> = Promise.resolve()

  const ask = (type: 'envelope:lock' | 'envelope:publish') =>
    new Promise<void>((resolve, reject) => {
      const id = next++
      waiting.set(id, { resolve, reject })
      channel.send!({ type, id } satisfies Msg, undefined, undefined, (err: Error | null) => {
        if (err && waiting.delete(id)) reject(err)
      })
    })
  channel.on('message', (m: unknown) => {
    if (!isMsg(m)) return
    if (m.type === 'envelope:locked' || m.type === 'envelope:published') {
      const w = waiting.get(m.id)
      waiting.delete(m.id)
      if (m.type === 'envelope:published' && m.error) w?.reject(new Error(m.error))
      else w?.resolve()
    } else if (m.type === 'envelope:apply') {
      Promise.resolve()
        .then(apply)
        .then(
          () => channel.send?.({ type: 'envelope:applied', id: m.id } satisfies Msg),
          () => {}, // not confirmed: the primary's bound kills this process, which is the safe outcome
        )
    }
  })
  channel.on('disconnect', () => {
    for (const w of waiting.values()) w.reject(new Error('the primary is gone'))
    waiting.clear()
  })
  // From now on the primary tells this process of every change; what it read before this, it reads after.
  channel.send({ type: 'envelope:hello' } satisfies Msg)

  return {
    shared: true,
    exclusive(write) {
      // One request for the instance lock at a time from this process; the primary orders the processes.
      const run = local.then(async () => {
        await ask('envelope:lock')
        try {
          return await write()
        } finally {
          channel.send?.({ type: 'envelope:unlock', id: 0 } satisfies Msg)
        }
      })
      local = run.catch(() => {})
      return run
    },
    publish: () => ask('envelope:publish'),
    onChange(fn) {
      apply = fn
    },
  }
}

export interface PrimarySyncOptions {
  /** How long a worker has to confirm it applied a change before it is killed. Default 5000 ms. */
  readonly applyTimeoutMs?: number
  /** Told when a worker is killed for not confirming. */
  readonly onUnconfirmed?: (worker: Worker) => void
}

/** The primary's side: grants the instance lock in order and relays changes; call `add` for each worker forked. */
export function primarySync(options: PrimarySyncOptions = {}) {
  const applyTimeoutMs = options.applyTimeoutMs ?? 5000
  /** Workers that said hello: they are told of changes (before it, they had not read the keystore yet). */
  const workers = new Set<Worker>()
  let holder: Worker | undefined
  const queue: Array<{ worker: Worker; id: number }> = []
  let nextApply = 0

  const send = (w: Worker, m: Msg) => {
    if (w.isConnected()) w.send(m)
  }
  function grant(): void {
    while (!holder && queue.length) {
      const { worker, id } = queue.shift()!
      if (worker.isDead() || !worker.isConnected()) continue
      holder = worker
      send(worker, { type: 'envelope:locked', id })
    }
  }

  /** Tells every other worker to apply a change; resolves when all confirmed (or were killed for not doing so). */
  async function relay(from: Worker): Promise<void> {
    const others = [...workers].filter((w) => w !== from && w.isConnected())
    await Promise.all(
      others.map(
        (w) =>
          new Promise<void>((resolve) => {
            const id = nextApply++
            const timer = setTimeout(() => {
              cleanup()
              options.onUnconfirmed?.(w)
              w.process.kill('SIGKILL') // it may still hold material a destroy removed: the process goes
              resolve()
            }, applyTimeoutMs)
            const onMessage = (m: unknown) => {
              if (isMsg(m) && m.type === 'envelope:applied' && m.id === id) {
                cleanup()
                resolve()
              }
            }
            const onExit = () => {
              cleanup()
              resolve() // gone: nothing of it is left in memory
            }
            const cleanup = () => {
              clearTimeout(timer)
              w.off('message', onMessage)
              w.off('exit', onExit)
            }
            w.on('message', onMessage)
            w.once('exit', onExit)
            send(w, { type: 'envelope:apply', id })
          }),
      ),
    )
  }

  return {
    add(worker: Worker): void {
      worker.on('message', (m: unknown) => {
        if (!isMsg(m)) return
        if (m.type === 'envelope:hello') workers.add(worker)
        else if (m.type === 'envelope:lock') {
          queue.push({ worker, id: m.id })
          grant()
        } else if (m.type === 'envelope:unlock' && holder === worker) {
          holder = undefined
          grant()
        } else if (m.type === 'envelope:publish') {
          relay(worker).then(
            () => send(worker, { type: 'envelope:published', id: m.id }),
            (err) => send(worker, { type: 'envelope:published', id: m.id, error: String(err) }),
          )
        }
      })
      worker.once('exit', () => {
        workers.delete(worker)
        if (holder === worker) holder = undefined // a write cut off by a crash: the file is whole (rename)
        grant()
      })
    },
  }
}
