/**
 * One process per data folder. The local KMS reads its whole key file, changes it and writes it back, so two
 * processes on one folder would silently undo each other's acknowledged writes (a rotation on one reverting a
 * `disable` or a `destroy` made on the other). The folder's lock file `proxy.lock` names its holder (pid, host,
 * start); a second instance refuses to start and names it. A lock whose holder is gone (killed, crashed) is taken
 * over at the next start: on the same host a pid that no longer runs, or that now belongs to another process
 * (its start time differs), is gone. A holder on another host cannot be checked: its lock is never taken over.
 * Several instances belong on a shared database, not on one folder.
 * @module
 */
import { randomUUID } from 'node:crypto'
import { existsSync, linkSync, readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'
import { DataDirLockedError } from '../errors.ts'

export const LOCK_FILE = 'proxy.lock'

interface Holder {
  readonly id: string
  readonly pid: number
  readonly host: string
  readonly since: string
  /** The process's start time on Linux (/proc/<pid>/stat), to tell a reused pid from the holder. */
  readonly start?: string
}

/** Locks held by this process: a second lock of the same folder in one process is refused too. */
const heldHere = new Set<string>()

// On Linux, /proc tells whether a pid runs and since when. Deno refuses /proc without --allow-all: there the pid
// is checked with a signal 0, which needs --allow-run (without it a lock is never taken over: see lockedBy).
const hasProc = (() => {
  try {
    return existsSync(`/proc/${process.pid}/stat`)
  } catch {
    return false
  }
})()

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]
  } catch {
    return undefined
  }
}

const UNREADABLE: Holder = { id: '?', pid: -1, host: '?', since: '?' }

/** The lock's holder; undefined when there is no lock file. */
function readHolder(path: string): Holder | undefined {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
  try {
    const h = JSON.parse(text) as Holder
    if (typeof h?.id === 'string' && Number.isInteger(h.pid) && typeof h.host === 'string') return h
  } catch {}
  return UNREADABLE
}

function isGone(h: Holder): boolean {
  if (h.host !== hostname() || h.pid <= 0) return false
  if (h.pid === process.pid) return !heldHere.has(h.id) // an earlier life with our pid (pid 1 in a container)
  if (hasProc) {
    const start = startTimeOf(h.pid)
    return start === undefined || (h.start !== undefined && start !== h.start)
  }
  try {
    process.kill(h.pid, 0)
    return false
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH' // EPERM: it runs; no permission to ask: unknown
  }
}

export interface FolderLock {
  /** Throws when the lock file is no longer this process's (removed or replaced by hand). */
  check(): void
  release(): void
}

/**
 * Takes the folder's lock, or throws {@link DataDirLockedError} naming the holder. Released by `release()` or
 * when the process exits.
 */
export function lockFolder(dir: string): FolderLock {
  const path = join(dir, LOCK_FILE)
  const me: Holder = {
    id: randomUUID(),
    pid: process.pid,
    host: hostname(),
    since: new Date().toISOString(),
    start: startTimeOf(process.pid),
  }
  // Written in full under a private name, then linked: the lock file appears complete or not at all.
  const mine = join(dir, `${LOCK_FILE}.${me.id}`)
  writeFileSync(mine, `${JSON.stringify(me)}\n`, { mode: 0o600 })
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(mine, path)
        break
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      }
      const holder = readHolder(path)
      if (attempt >= 5 || (holder && !isGone(holder))) throw lockedBy(dir, path, holder ?? UNREADABLE)
      if (holder) takeOver(path, holder, dir)
    }
  } finally {
    unlinkSync(mine)
  }
  heldHere.add(me.id)
  const ours = () => readHolder(path)?.id === me.id
  if (!ours()) throw lockedBy(dir, path, readHolder(path) ?? me)
  const release = () => {
    if (!heldHere.delete(me.id)) return
    process.off('exit', release)
    if (ours()) unlinkSync(path)
  }
  process.on('exit', release)
  return {
    check() {
      if (!ours()) throw new DataDirLockedError(`the lock of data folder ${dir} is no longer this process's (${path})`)
    },
    release,
  }
}

/** Moves a gone holder's lock aside; if a racing start replaced it meanwhile, puts that one back. */
function takeOver(path: string, gone: Holder, dir: string): void {
  const aside = join(dir, `${LOCK_FILE}.${randomUUID()}.stale`)
  try {
    renameSync(path, aside)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (readHolder(aside)?.id !== gone.id) {
    try {
      linkSync(aside, path)
    } catch {}
  }
  unlinkSync(aside)
}

function lockedBy(dir: string, path: string, h: Holder): DataDirLockedError {
  if (h === UNREADABLE) {
    return new DataDirLockedError(
      `data folder ${dir} is locked by ${path}, which names no holder; if no key proxy runs on this folder, remove it`,
    )
  }
  return new DataDirLockedError(
    `data folder ${dir} is in use by another key proxy (pid ${h.pid} on ${h.host}, since ${h.since}); ` +
      `one proxy per data folder (several instances need a shared database). If that process is gone, remove ${path}`,
  )
}

/**
 * The folder's lock as a process of an instance holds it that did not take it: a `--workers` worker, whose
 * primary (its parent) took it with {@link lockFolder}, or a second keystore of this process. Throws
 * {@link DataDirLockedError} when the lock is neither the parent's nor this process's.
 */
export function instanceLock(dir: string): FolderLock {
  const path = join(dir, LOCK_FILE)
  const ours = () => {
    const h = readHolder(path)
    return h !== undefined && (h.pid === process.ppid || h.pid === process.pid) && h.host === hostname()
  }
  const check = () => {
    if (!ours()) throw new DataDirLockedError(`the lock of data folder ${dir} is not this instance's (${path})`)
  }
  check()
  return { check, release() {} }
}
