/**
 * The audit log's file: one append-only descriptor per process. Each line is written whole before the response
 * goes out; a line cut short (a full disk) is cut back off, so the file never holds a torn line, and the write
 * throws for the app's policy (audit.ts). The processes of one `--workers` instance append to the same file:
 * O_APPEND puts each write at the end, and what is cut back is this line's own bytes at the end (on a full disk
 * no other line fits after them).
 * @module
 */
import { closeSync, fstatSync, fsyncSync, ftruncateSync, openSync, writeSync } from 'node:fs'
import type { AuditSink } from './audit.ts'

/** The sink, and `close()`: flushes the file to disk (fsync) and closes it, after the last request. */
export function openAuditFile(path: string): AuditSink & { close(): void } {
  const fd = openSync(path, 'a', 0o600)
  const sink: AuditSink = (line) => {
    const text = `${JSON.stringify(line)}\n`
    const length = Buffer.byteLength(text)
    let at = 0
    try {
      at = writeSync(fd, text)
      if (at < length) {
        const bytes = Buffer.from(text) // a short write (the disk filling up): the rest, or a throw
        while (at < length) at += writeSync(fd, bytes, at)
      }
    } catch (err) {
      try {
        if (at > 0) ftruncateSync(fd, fstatSync(fd).size - at)
      } catch {}
      throw err
    }
  }
  return Object.assign(sink, {
    close() {
      fsyncSync(fd)
      closeSync(fd)
    },
  })
}
