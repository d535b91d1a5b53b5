/**
 * The audit log's file: one append-only descriptor for the process (the data folder is locked, so this process
 * is its only writer). Each line is written whole before the response goes out; a line cut short (a full disk)
 * is cut back off, so the file never holds a torn line, and the write throws for the app's policy (audit.ts).
 * @module
 */
import { fstatSync, ftruncateSync, openSync, writeSync } from 'node:fs'
import type { AuditSink } from './audit.ts'

export function openAuditFile(path: string): AuditSink {
  const fd = openSync(path, 'a', 0o600)
  let size = fstatSync(fd).size
  return (line) => {
    const text = `${JSON.stringify(line)}\n`
    const length = Buffer.byteLength(text)
    try {
      let at = writeSync(fd, text)
      if (at < length) {
        const bytes = Buffer.from(text) // a short write (the disk filling up): the rest, or a throw
        while (at < length) at += writeSync(fd, bytes, at)
      }
    } catch (err) {
      try {
        ftruncateSync(fd, size)
      } catch {}
      throw err
    }
    size += length
  }
}
