/**
 * The file keystore's file (`keys.json`): JSON written atomically (temp file, fsync, rename, fsync of the folder), so a crash
 * at any moment leaves either the old file or the new one, never a torn one, and an acknowledged write is on
 * disk. One process owns the folder (folder-lock.ts): the file is read once, then only this process writes it
(or, with `lock: false`, the processes of one instance whose primary holds the lock, one write at a time).
 *
 * A write cut off by a crash leaves its temp file (`keys.json.<id>.tmp`, a copy of the key file with sealed key
 * material in it); with the folder locked no other process writes temp files, so every one found at open is an
 * orphan and is removed, as is every one left when a write fails. {@link KeyFile.removeTemps} runs again before
 * a `destroy` is acknowledged: after it, no file of the folder holds the destroyed key's material.
 * @module
 */
import { randomUUID } from 'node:crypto'
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { ProxyError } from '../errors.ts'
import { type FolderLock, instanceLock, lockFolder } from './folder-lock.ts'

export class KeyFile {
  readonly path: string
  private readonly dir: string
  private readonly lock: FolderLock

  /**
   * Locks the folder (or throws `ERR_DATA_DIR_LOCKED`) and removes orphaned temp files. `lock: false`: a process
   * of an instance whose primary process holds the lock (and removes orphans); it checks that the lock is its
   * instance's, and writes only under the instance's write lock (server/instance-sync.ts).
   */
  constructor(path: string, options: { readonly lock?: boolean } = {}) {
    this.path = path
    this.dir = dirname(path)
    if (options.lock === false) {
      this.lock = instanceLock(this.dir)
      return
    }
    this.lock = lockFolder(this.dir)
    try {
      this.removeTemps()
    } catch (err) {
      this.lock.release()
      throw err
    }
  }

  /** The file's contents as JSON; undefined when there is no file yet. */
  read(): unknown {
    let text: string
    try {
      text = readFileSync(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new ProxyError('ERR_KEYSTORE_UNAVAILABLE', `the key file ${this.path} cannot be read`, { cause: err })
    }
    try {
      return JSON.parse(text)
    } catch (err) {
      throw new ProxyError('ERR_KEYSTORE_UNAVAILABLE', `the key file ${this.path} is not JSON`, { cause: err })
    }
  }

  /** Replaces the file's contents durably; on failure nothing changed and no temp file is left. */
  write(value: unknown): void {
    this.lock.check()
    const tmp = `${this.path}.${randomUUID()}.tmp`
    try {
      const fd = openSync(tmp, 'w', 0o600)
      try {
        const bytes = Buffer.from(JSON.stringify(value, null, 2))
        for (let at = 0; at < bytes.length; ) at += writeSync(fd, bytes, at)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(tmp, this.path)
    } catch (err) {
      try {
        unlinkSync(tmp)
      } catch {}
      const code = (err as NodeJS.ErrnoException).code ?? 'error'
      throw new ProxyError('ERR_KEYSTORE_UNAVAILABLE', `the key file cannot be written (${code})`, { cause: err })
    }
    this.syncFolder() // the rename itself must survive a crash
  }

  /** Removes every temp file of this key file (each may hold a copy of sealed key material). */
  removeTemps(): void {
    const prefix = `${basename(this.path)}.`
    let removed = false
    for (const name of readdirSync(this.dir)) {
      if (name.startsWith(prefix) && name.endsWith('.tmp')) {
        unlinkSync(join(this.dir, name))
        removed = true
      }
    }
    if (removed) this.syncFolder()
  }

  /** Releases the folder lock. */
  close(): void {
    this.lock.release()
  }

  private syncFolder(): void {
    const dir = openSync(this.dir, 'r')
    try {
      fsyncSync(dir)
    } finally {
      closeSync(dir)
    }
  }
}
