/**
 * The local KMS's key file: JSON written atomically (temp file, fsync, rename, fsync of the folder), so a crash
 * at any moment leaves either the old file or the new one, never a torn one, and an acknowledged write is on
 * disk. Readers re-read when the file changed, so several proxy processes can share one data folder.
 * @module
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'

export class KeyFile<T> {
  private cached: { mtimeMs: number; size: number; ino: number; value: T } | undefined
  readonly path: string
  private readonly empty: () => T

  constructor(path: string, empty: () => T) {
    this.path = path
    this.empty = empty
  }

  /** The current contents (re-read when the file changed since the last read). */
  read(): T {
    let st: ReturnType<typeof statSync>
    try {
      st = statSync(this.path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.empty()
      throw err
    }
    const c = this.cached
    if (c && c.mtimeMs === st.mtimeMs && c.size === st.size && c.ino === st.ino) return c.value
    const value = JSON.parse(readFileSync(this.path, 'utf8')) as T
    this.cached = { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino, value }
    return value
  }

  /** Replaces the file's contents durably. */
  write(value: T): void {
    const tmp = `${this.path}.${process.pid}.${Date.now()}.tmp`
    const fd = openSync(tmp, 'w', 0o600)
    try {
      writeSync(fd, JSON.stringify(value, null, 2))
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, this.path)
    const dir = openSync(dirname(this.path), 'r')
    try {
      fsyncSync(dir) // the rename itself must survive a crash
    } finally {
      closeSync(dir)
    }
    this.cached = undefined
  }
}
