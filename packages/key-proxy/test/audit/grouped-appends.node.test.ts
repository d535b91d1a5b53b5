// GroupedAppends on its own: what queues while a group is written goes as the next group, at most `concurrency`
// groups of a tenant are in flight, and a group that fails fails its own lines only.
import { expect, test } from 'vitest'
import type { AuditEntry, AuditRecord } from '../../src/audit/chain.ts'
import { GroupedAppends } from '../../src/audit/store.ts'

const entry = (i: number) => ({ requestId: `r${i}` }) as unknown as AuditEntry

/** A store's write whose answers the test releases one group at a time; it records the groups and the most in flight. */
function heldWrites(fail: (group: number) => boolean = () => false) {
  const groups: string[][] = []
  const release: Array<() => void> = []
  let inFlight = 0
  let most = 0
  const write = (_tenant: string, entries: readonly AuditEntry[]) => {
    const n = groups.push(entries.map((e) => e.requestId!)) - 1
    most = Math.max(most, ++inFlight)
    return new Promise<AuditRecord[]>((resolve, reject) => {
      release[n] = () => {
        inFlight--
        if (fail(n)) reject(new Error(`group ${n} failed`))
        else resolve(entries.map((e) => ({ requestId: e.requestId }) as AuditRecord))
      }
    })
  }
  return { write, groups, release, most: () => most }
}

const settled = (ps: Promise<unknown>[]) => Promise.allSettled(ps).then((r) => r.map((x) => x.status))
const turn = () => new Promise((resolve) => setImmediate(resolve))

test('one group in flight by default; what queued meanwhile is the next group, in order', async () => {
  const w = heldWrites()
  const appends = new GroupedAppends(w.write, 500)
  const first = [1, 2, 3].map((i) => appends.append('acme', entry(i)))
  await turn()
  const second = [4, 5].map((i) => appends.append('acme', entry(i)))
  await turn()
  expect(w.groups).toEqual([['r1', 'r2', 'r3']]) // the second waits for the first
  w.release[0]!()
  await turn()
  await turn()
  expect(w.groups).toEqual([
    ['r1', 'r2', 'r3'],
    ['r4', 'r5'],
  ])
  w.release[1]!()
  expect(await settled([...first, ...second])).toEqual(Array(5).fill('fulfilled'))
  expect(w.most()).toBe(1)
})

test('concurrency 2: two groups in flight, never three; a failed group fails its own lines only', async () => {
  const w = heldWrites((n) => n === 0)
  const appends = new GroupedAppends(w.write, 2, 2)
  const lines = [1, 2, 3, 4, 5, 6].map((i) => appends.append('acme', entry(i)))
  const outcomes = settled(lines)
  await turn()
  await turn()
  expect(w.groups).toEqual([
    ['r1', 'r2'],
    ['r3', 'r4'],
  ])
  w.release[0]!()
  await turn()
  await turn()
  expect(w.groups.at(-1)).toEqual(['r5', 'r6'])
  w.release[1]!()
  w.release[2]!()
  expect(await outcomes).toEqual(['rejected', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled', 'fulfilled'])
  expect(w.most()).toBe(2)
  // Another tenant's lines are a queue of their own.
  const other = appends.append('globex', entry(7))
  await turn()
  expect(w.groups.at(-1)).toEqual(['r7'])
  w.release[3]!()
  expect(await other).toMatchObject({ requestId: 'r7' })
})
