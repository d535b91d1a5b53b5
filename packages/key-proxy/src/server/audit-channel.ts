/**
 * With `--workers` and the file audit store, the primary writes every tenant audit line of the instance: a
 * worker's store (file-store.ts, with a `writer`) sends each group of its lines, already encoded, over the
 * cluster's IPC channel, and the primary's store chains and writes them in order and answers with their links.
 * One message each way per group, where an instance lock cost three messages and a re-read of the tenant's file
 * ends per group (a third of a single unwrap's CPU with workers); the primary keeps each chain's head in memory.
 * Checkpoints and pruning go the same way; workers read the files themselves.
 *
 * A write the primary cannot make, or a primary gone, is `ERR_AUDIT_UNAVAILABLE` in the worker: no DEK leaves.
 * @module
 */
import type { Worker } from 'node:cluster'
import type { ChainLink, Checkpoint } from '../audit/chain.ts'
import type { AuditWriter, FileAuditStore } from '../audit/file-store.ts'
import { PROXY_ERRORS, ProxyError, type ProxyErrorCode } from '../errors.ts'
import { isName } from '../names.ts'

type Ask =
  | { op: 'append'; tenant: string; lines: readonly string[] }
  | { op: 'checkpoint'; tenant: string }
  | { op: 'prune'; before: string }
type Request = Ask & { type: 'envelope:audit'; id: number }

/** The answer to a request: the links of appended lines (`seq` and `prev` of the first, then every hash). */
type Reply = {
  type: 'envelope:audit-done'
  id: number
  seq?: number
  prev?: string
  hashes?: readonly string[]
  checkpoint?: Checkpoint | null
  error?: { code: string; message: string }
}

const unavailable = (why: string) => new ProxyError('ERR_AUDIT_UNAVAILABLE', `the audit log cannot be written: ${why}`)

/** A worker's side: the {@link AuditWriter} its file audit store sends its writes to. */
export function workerAuditWriter(channel: NodeJS.Process = process): AuditWriter {
  let next = 0
  const waiting = new Map<number, { resolve: (r: Reply) => void; reject: (err: Error) => void }>()
  channel.on('message', (m: Reply) => {
    if (m?.type !== 'envelope:audit-done') return
    const w = waiting.get(m.id)
    if (!w) return
    waiting.delete(m.id)
    if (!m.error) w.resolve(m)
    else
      w.reject(
        Object.hasOwn(PROXY_ERRORS, m.error.code)
          ? new ProxyError(m.error.code as ProxyErrorCode, m.error.message)
          : unavailable(m.error.message),
      )
  })
  channel.on('disconnect', () => {
    for (const w of waiting.values()) w.reject(unavailable("the instance's primary is gone"))
    waiting.clear()
  })
  const ask = (request: Ask) =>
    new Promise<Reply>((resolve, reject) => {
      if (!channel.connected || !channel.send) return reject(unavailable("the instance's primary is gone"))
      const id = next++
      waiting.set(id, { resolve, reject })
      channel.send({ ...request, type: 'envelope:audit', id }, undefined, undefined, (err: Error | null) => {
        if (err && waiting.delete(id)) reject(unavailable("the instance's primary cannot be reached"))
      })
    })
  return {
    async appendLines(tenant, lines) {
      const r = await ask({ op: 'append', tenant, lines })
      const hashes = r.hashes ?? []
      if (hashes.length !== lines.length || typeof r.seq !== 'number' || typeof r.prev !== 'string')
        throw unavailable("the instance's primary answered out of turn")
      return hashes.map((hash, i): ChainLink => ({ seq: r.seq! + i, prev: i === 0 ? r.prev! : hashes[i - 1]!, hash }))
    },
    async checkpoint(tenant) {
      return (await ask({ op: 'checkpoint', tenant })).checkpoint ?? undefined
    },
    async prune(before) {
      await ask({ op: 'prune', before })
    },
  }
}

/** The primary's side: writes what `worker` sends to `store` (the instance's one writing audit store). */
export function serveAuditWrites(worker: Worker, store: FileAuditStore): void {
  const answer = (m: Reply) => {
    if (worker.isConnected()) worker.send(m)
  }
  worker.on('message', (m: Request) => {
    if (m?.type !== 'envelope:audit' || typeof m.id !== 'number') return
    const id = m.id
    const done = (work: Promise<Omit<Reply, 'type' | 'id'>>) =>
      work.then(
        (r) => answer({ type: 'envelope:audit-done', id, ...r }),
        (err: unknown) => {
          const e = err instanceof ProxyError ? err : unavailable('the write failed')
          answer({ type: 'envelope:audit-done', id, error: { code: e.code, message: e.message } })
        },
      )
    if (m.op === 'prune') {
      void done(typeof m.before === 'string' ? store.prune(m.before).then(() => ({})) : Promise.reject())
      return
    }
    // A tenant names a folder under the store's: only a well-formed name (the workers check them too).
    if (!isName(m.tenant)) return void done(Promise.reject())
    if (m.op === 'checkpoint') {
      void done(store.checkpoint(m.tenant).then((checkpoint) => ({ checkpoint: checkpoint ?? null })))
    } else if (m.op === 'append' && Array.isArray(m.lines) && m.lines.length > 0) {
      void done(
        store.appendLines(m.tenant, m.lines).then((links) => ({
          seq: links[0]!.seq,
          prev: links[0]!.prev,
          hashes: links.map((l) => l.hash),
        })),
      )
    } else void done(Promise.reject())
  })
}
