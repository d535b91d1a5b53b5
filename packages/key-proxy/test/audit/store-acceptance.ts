// The acceptance suite every audit store passes (the file store, the PostgreSQL store): one chain per tenant
// however many writers (two stores on one folder or database, appending at once), isolation between tenants,
// bounded paging in both orders with filters, checkpoints that verify an export, retention from a checkpoint.
import { expect, test } from 'vitest'
import { type AuditEntry, verifyExport } from '../../src/audit/chain.ts'
import type { AuditSigner } from '../../src/audit/signer.ts'
import type { AuditStore } from '../../src/audit/store.ts'

export const entry = (i: number, over: Partial<AuditEntry> = {}): AuditEntry => ({
  time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  requestId: `r${i}`,
  caller: i % 2 ? 'jwt:alice' : 'jwt:bob',
  action: i % 3 ? 'unwrap' : 'generate',
  keyId: 'acme/default',
  keyVersion: '1',
  contextHash: 'ab'.repeat(32),
  outcome: i % 5 ? 'ok' : 'ERR_ROLE_FORBIDDEN',
  ...over,
})

/** The whole log as the proxy exports it: the anchor checkpoint, the lines, each checkpoint after its line. */
export async function exportAll(store: AuditStore, tenant: string): Promise<string[]> {
  const head = await store.checkpoint(tenant)
  const bounds = (await store.bounds(tenant))!
  const cps = [...(await store.checkpoints(tenant, 0, head!.seq))]
  const out: string[] = []
  const anchor = cps.filter((c) => c.seq < bounds.first).at(-1)
  if (anchor) out.push(JSON.stringify(anchor))
  let after = anchor?.seq ?? 0
  for (;;) {
    const page = await store.query(tenant, { after, limit: 1000 })
    for (const r of page.records) {
      out.push(JSON.stringify(r))
      for (const c of cps.filter((c) => c.seq === r.seq)) out.push(JSON.stringify(c))
      after = r.seq
    }
    if (page.next === undefined) break
    after = page.next
  }
  return out
}

export interface AuditStoreSetup {
  /** Two stores on one backing (two processes or instances), a checkpoint every 10 lines, queries reading 25. */
  readonly open: () => Promise<{ a: AuditStore; b: AuditStore; signer: AuditSigner; close: () => Promise<void> }>
}

export function auditStoreAcceptance(setup: AuditStoreSetup): void {
  test('two writers at once extend one chain per tenant; tenants are apart; the export verifies', async () => {
    const { a, b, signer, close } = await setup.open()
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).append(i % 4 === 3 ? 'globex' : 'acme', entry(i + 1))),
    )
    const acme = (await exportAll(a, 'acme')).map((l) => JSON.parse(l)).filter((r) => r.type !== 'checkpoint')
    expect(acme.map((r) => r.seq)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1))
    expect(acme.every((r) => r.tenant === 'acme')).toBe(true)
    const globex = (await exportAll(b, 'globex')).map((l) => JSON.parse(l)).filter((r) => r.type !== 'checkpoint')
    expect(globex.map((r) => [r.seq, r.tenant])).toEqual(Array.from({ length: 10 }, (_, i) => [i + 1, 'globex']))
    expect(verifyExport((await exportAll(b, 'acme')).join('\n'), signer.publicJwk)).toMatchObject({
      ok: true,
      lines: 30,
    })
    await close()
  })

  test('a batch of 4000 lines at once from two writers (two big unwrap batches): every one written, one chain', async () => {
    const { a, b, signer, close } = await setup.open()
    const records = await Promise.all(
      Array.from({ length: 4000 }, (_, i) => (i % 2 ? a : b).append('acme', entry(i + 1))),
    )
    expect(new Set(records.map((r) => r.seq)).size).toBe(4000)
    expect((await b.bounds('acme'))?.last).toBe(4000)
    expect(verifyExport((await exportAll(a, 'acme')).join('\n'), signer.publicJwk)).toMatchObject({
      ok: true,
      lines: 4000,
    })
    await close()
  })

  test('pages in both orders, with filters, each reading a bounded window, never a gap or a repeat', async () => {
    const { a, close } = await setup.open()
    for (let i = 1; i <= 100; i++) await a.append('acme', entry(i, { caller: i === 90 ? 'jwt:carol' : 'jwt:alice' }))
    const all = async (q: Parameters<AuditStore['query']>[1]) => {
      const seqs: number[] = []
      let after: number | undefined
      let pages = 0
      do {
        const page = await a.query('acme', { ...q, ...(after !== undefined ? { after } : {}) })
        seqs.push(...page.records.map((r) => r.seq))
        after = page.next
        pages++
      } while (after !== undefined && pages < 100)
      return { seqs, pages }
    }
    expect(await all({ caller: 'jwt:carol' })).toEqual({ seqs: [90], pages: 4 }) // 25 lines a window
    expect((await all({ limit: 7 })).seqs).toEqual(Array.from({ length: 100 }, (_, i) => i + 1))
    expect((await all({ limit: 7, order: 'desc' })).seqs).toEqual(Array.from({ length: 100 }, (_, i) => 100 - i))
    expect((await all({ outcome: 'refused', limit: 1000 })).seqs).toEqual(
      Array.from({ length: 20 }, (_, i) => 5 * (i + 1)),
    )
    const range = await all({ from: entry(50).time, to: entry(60).time, order: 'desc', limit: 5 })
    expect(range.seqs).toEqual(Array.from({ length: 11 }, (_, i) => 60 - i))
    expect((await all({ action: 'generate', limit: 1000 })).seqs.every((s) => s % 3 === 0)).toBe(true)
    await close()
  })

  test('retention drops old lines and what remains verifies from the checkpoint before it', async () => {
    const { a, signer, close } = await setup.open()
    for (let i = 1; i <= 35; i++) await a.append('acme', entry(i))
    await a.prune(entry(25).time)
    const first = (await a.bounds('acme'))!.first
    expect(first).toBe(21)
    const lines = await exportAll(a, 'acme')
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'checkpoint', seq: 20 })
    expect(verifyExport(lines.join('\n'), signer.publicJwk)).toMatchObject({ ok: true, firstSeq: 21, lastSeq: 35 })
    await close()
  })
}
