// The file audit store on its own: one chain per tenant across segments and restarts, bounded reads, retention
// that keeps what remains verifiable from a signed checkpoint, and verifyExport's report of every kind of tampering.
import { appendFileSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, test } from 'vitest'
import { type AuditRecord, type Checkpoint, GENESIS, verifyExport } from '../../src/audit/chain.ts'
import { FileAuditStore } from '../../src/audit/file-store.ts'
import { openAuditSigner } from '../../src/audit/signer.ts'
import { auditStoreAcceptance, entry, exportAll } from './store-acceptance.ts'

function setup(options: { segmentLines?: number; maxScan?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'envelope-audit-'))
  const signer = openAuditSigner(join(dir, 'audit-signing.key'))
  const open = () => FileAuditStore.open({ dir: join(dir, 'audit'), signer, checkpointIntervalMs: 0, ...options })
  return { dir, signer, open }
}

/**
 * Two stores on one folder as two workers of one instance (`--workers`): both hand their writes to a third, the
 * primary's, which alone writes the folder; they read the files themselves.
 */
function workerPair(options: { segmentLines?: number; maxScan?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'envelope-audit-'))
  const signer = openAuditSigner(join(dir, 'audit-signing.key'))
  const primary = FileAuditStore.open({ dir: join(dir, 'audit'), signer, checkpointIntervalMs: 0, ...options })
  const open = () => FileAuditStore.open({ dir: join(dir, 'audit'), signer, ...options, writer: primary })
  const a = open()
  const b = open()
  const close = async () => void (await Promise.all([a.close(), b.close(), primary.close()]))
  return { dir, signer, primary, a, b, close }
}

describe('file audit store', () => {
  auditStoreAcceptance({
    async open() {
      const { a, b, signer, close } = workerPair({ segmentLines: 10, maxScan: 25 })
      return { a, b, signer, close }
    },
  })

  test('one chain per tenant, across segments and a restart; a torn last line is cut off', async () => {
    const { dir, signer, open } = setup({ segmentLines: 4 })
    let store = open()
    for (let i = 1; i <= 10; i++) await store.append('acme', entry(i))
    await store.append('globex', entry(1))
    await store.close()
    // A crash mid-write left half a line at the end of acme's last segment.
    const acmeDir = join(dir, 'audit', 'acme')
    const last = readdirSync(acmeDir)
      .filter((n) => n.endsWith('.ndjson') && n !== 'checkpoints.ndjson')
      .sort()
      .at(-1)!
    appendFileSync(join(acmeDir, last), '{"seq":11,"time":"2026')
    store = open()
    const r11 = await store.append('acme', entry(11))
    expect(r11.seq).toBe(11)
    const all = (await store.query('acme', { limit: 1000 })).records
    expect(all.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11])
    expect(all[0]!.prev).toBe(GENESIS)
    for (let i = 1; i < all.length; i++) expect(all[i]!.prev).toBe(all[i - 1]!.hash)
    // globex's chain is its own.
    expect((await store.query('globex', {})).records.map((r) => [r.seq, r.tenant])).toEqual([[1, 'globex']])
    expect(verifyExport((await exportAll(store, 'acme')).join('\n'), signer.publicJwk)).toMatchObject({
      ok: true,
      lines: 11,
    })
    await store.close()
  })

  test('the workers of one instance extend one chain per tenant, written by the primary', async () => {
    const { a, b, signer, close } = workerPair({ segmentLines: 3 })
    await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).append('acme', entry(i + 1))))
    const seqs = (await a.query('acme', { limit: 1000 })).records.map((r) => r.seq)
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    expect(verifyExport((await exportAll(b, 'acme')).join('\n'), signer.publicJwk)).toMatchObject({
      ok: true,
      lines: 20,
    })
    // Two writers would each extend a chain of their own from the same head.
    await close()
  })

  test("--workers: a group of lines reads none of the tenant's files, and a read only their ends, however long the log", async () => {
    // Every group once re-read the tenant's head under the instance lock, and at first the whole last segment and
    // the whole checkpoints file (which only grows) each time: a write slowed with the log's age. The primary now
    // keeps the head; a worker's read still re-reads the ends of the files.
    const { dir, signer, a, b, close } = workerPair()
    for (let i = 1; i <= 400; i++) await a.append('acme', entry(i)) // most of a 500-line segment
    const checkpoint = (await a.checkpoint('acme'))!
    // As long a checkpoints file as an old log's: 2 MB (here copies of the last checkpoint, which stay valid).
    const line = `${JSON.stringify(checkpoint)}\n`
    appendFileSync(join(dir, 'audit', 'acme', 'checkpoints.ndjson'), line.repeat(Math.ceil((2 << 20) / line.length)))
    const bytesRead = () => Number(/rchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))![1])
    const before = bytesRead()
    for (let i = 401; i <= 440; i++) {
      await (i % 2 ? a : b).append('acme', entry(i)) // 40 groups, two workers
      expect((await b.bounds('acme'))?.last).toBe(i)
    }
    const read = bytesRead() - before
    expect(read).toBeLessThan(2 << 20) // reading the whole files each time: 40 × (2 MB + the segment)
    expect(verifyExport((await exportAll(b, 'acme')).join('\n'), signer.publicJwk)).toMatchObject({
      ok: true,
      lines: 440,
    })
    await close()
  })

  test('a worker reading while a line is being written neither cuts it off nor returns it; the writer goes on', async () => {
    // A reader once opened the last segment to write and cut off what followed the last newline, as it does after
    // a crash: on a line the primary was writing at that moment, that would tear the log.
    const { dir, signer, primary, a, close } = workerPair({ segmentLines: 100 })
    for (let i = 1; i <= 5; i++) await a.append('acme', entry(i))
    const acmeDir = join(dir, 'audit', 'acme')
    const segment = join(acmeDir, readdirSync(acmeDir).find((n) => /^\d{12}-/.test(n))!)
    const whole = readFileSync(segment, 'utf8')
    const next = `${whole
      .split('\n')
      .at(-2)!
      .replace(/"seq":5\b/, '"seq":6')}\n`
    appendFileSync(segment, next.slice(0, 40)) // the first bytes of the line being written
    expect((await a.query('acme', { limit: 100 })).records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5])
    expect(await a.bounds('acme')).toEqual({ first: 1, last: 5 })
    expect(readFileSync(segment, 'utf8')).toBe(whole + next.slice(0, 40)) // not cut off by the reader
    // The writer's own next line goes where its head says, after the whole lines (a writer that opens the log
    // after a crash cuts the torn tail off: the restart test above).
    await primary.close()
    const restarted = FileAuditStore.open({ dir: join(dir, 'audit'), signer, checkpointIntervalMs: 0 })
    await restarted.append('acme', entry(6))
    expect((await restarted.query('acme', { limit: 100 })).records.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6])
    await restarted.close()
    await close()
  })

  test('a store that only reads refuses lines to write, and the writer refuses what is not an audit line', async () => {
    const { primary, a, close } = workerPair()
    await expect(a.appendLines('acme', ['"time":"2026-01-01T00:00:00.000Z"'])).rejects.toMatchObject({
      code: 'ERR_AUDIT_UNAVAILABLE',
    })
    for (const bad of ['"seq":1,"time":"x"', '"time":"2026-01-01T00:00:00.000Z","a":1}\n{"b":2'])
      await expect(primary.appendLines('acme', [bad])).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' })
    expect(await primary.bounds('acme')).toBeUndefined()
    await close()
  })

  test('reads are bounded: at most maxScan lines per query, then a position to go on from', async () => {
    const { open } = setup({ segmentLines: 10, maxScan: 25 })
    const store = open()
    for (let i = 1; i <= 100; i++)
      await store.append('acme', entry(i, { caller: i === 90 ? 'jwt:carol' : 'jwt:alice' }))
    const first = await store.query('acme', { caller: 'jwt:carol' })
    expect(first.records).toEqual([])
    expect(first.next).toBe(25)
    let next: number | undefined = 0
    const found: AuditRecord[] = []
    let pages = 0
    while (next !== undefined) {
      const page = await store.query('acme', { caller: 'jwt:carol', after: next })
      found.push(...page.records)
      next = page.next
      pages++
    }
    expect(found.map((r) => r.seq)).toEqual([90])
    expect(pages).toBe(4)
    // Newest first, with a time range: only segments in range are opened, lines outside it are not returned.
    const desc = await store.query('acme', { order: 'desc', limit: 5, from: entry(50).time, to: entry(60).time })
    expect(desc.records.map((r) => r.seq)).toEqual([60, 59, 58, 57, 56])
    const rest = await store.query('acme', {
      order: 'desc',
      limit: 50,
      after: desc.next,
      from: entry(50).time,
      to: entry(60).time,
    })
    expect(rest.records.map((r) => r.seq)).toEqual([55, 54, 53, 52, 51, 50])
    expect(rest.next).toBeUndefined()
    // Filters: refusals only; one action; one caller.
    const refused = await store.query('acme', { outcome: 'refused', limit: 1000 })
    expect(refused.records.map((r) => r.seq)).toEqual([5, 10, 15, 20, 25]) // 25 lines read, then a position
    expect(refused.next).toBe(25)
    await store.close()
  })

  test('retention drops whole old segments and what remains verifies from the signed checkpoint before it', async () => {
    const { dir, signer, open } = setup({ segmentLines: 10 })
    const store = open()
    for (let i = 1; i <= 35; i++) await store.append('acme', entry(i))
    await store.prune(entry(25).time) // lines 1–20 are in segments wholly before line 25's segment
    expect((await store.bounds('acme'))?.first).toBe(21)
    const lines = await exportAll(store, 'acme')
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'checkpoint', seq: 20 })
    expect(verifyExport(lines.join('\n'), signer.publicJwk)).toMatchObject({ ok: true, firstSeq: 21, lastSeq: 35 })
    expect(readdirSync(join(dir, 'audit', 'acme')).filter((n) => /^\d{12}-/.test(n))).toHaveLength(2)
    // Without its anchor the same lines are reported as starting mid-log.
    expect(verifyExport(lines.slice(1).join('\n'), signer.publicJwk).problems.join()).toContain('unanchored')
    await store.close()
  })

  test('verify reports a dropped, altered, reordered or inserted line, a forged checkpoint and a cut tail', async () => {
    const { dir, signer, open } = setup({ segmentLines: 5 })
    const store = open()
    for (let i = 1; i <= 12; i++) await store.append('acme', entry(i))
    const good = await exportAll(store, 'acme')
    expect(verifyExport(good.join('\n'), signer.publicJwk)).toMatchObject({ ok: true, lines: 12, checkpoints: 3 })
    const at = (seq: number) => good.findIndex((l) => JSON.parse(l).seq === seq && !JSON.parse(l).type)
    const problems = (lines: string[]) => verifyExport(lines.join('\n'), signer.publicJwk).problems.join('\n')

    const dropped = good.filter((_, i) => i !== at(7))
    expect(problems(dropped)).toMatch(/seq 8 after seq 6: 1 line\(s\) missing \(dropped\)/)

    const altered = [...good]
    altered[at(3)] = altered[at(3)]!.replace('"outcome":"ok"', '"outcome":"ERR_KEY_DISABLED"')
    expect(problems(altered)).toMatch(/seq 3: its hash does not match its content \(altered\)/)

    const reordered = [...good]
    ;[reordered[at(8)], reordered[at(9)]] = [reordered[at(9)]!, reordered[at(8)]!]
    expect(problems(reordered)).toMatch(/seq 8 after seq 9 \(reordered or repeated\)/)

    // An inserted line, well formed and hashed, renumbering nothing: its prev gives it away.
    const forged = { ...JSON.parse(good[at(8)]!), requestId: 'forged', prev: 'f'.repeat(64) } as AuditRecord
    const { createHash } = await import('node:crypto')
    const { hash: _, ...rest } = forged
    const inserted = [...good]
    inserted[at(8)] = JSON.stringify({ ...rest, hash: createHash('sha256').update(JSON.stringify(rest)).digest('hex') })
    expect(problems(inserted)).toMatch(/seq 8: its prev is not the hash of the line before \(inserted or altered\)/)

    const cp = good.findIndex((l) => JSON.parse(l).type === 'checkpoint')
    const badSig = [...good]
    const c = JSON.parse(badSig[cp]!) as Checkpoint
    badSig[cp] = JSON.stringify({ ...c, time: '2030-01-01T00:00:00.000Z' })
    expect(problems(badSig)).toMatch(/checkpoint at seq 5: bad signature/)
    const otherKey = openAuditSigner(join(dir, 'other.key'))
    expect(verifyExport(good.join('\n'), otherKey.publicJwk).problems.join()).toContain('another signing key')

    const cut = good.slice(0, at(12)) // the last line and its checkpoint gone: the rest is covered up to seq 10
    expect(problems(cut)).toMatch(/the lines after seq 10 are covered by no checkpoint/)
    const otherTenant = [...good, good[at(2)]!.replace('"tenant":"acme"', '"tenant":"globex"')]
    expect(problems(otherTenant)).toContain('a line of another tenant')
    await store.close()
  })
})
