// The keystore contract (src/keystore/keystore.ts), one suite for every implementation: the file keystore and
// the PostgreSQL keystore run it unchanged. A `Harness` opens keystores on one store: `open()` a first one,
// `peer()` another on the same store as another process or instance would, `reopen()` after a close.
import { describe, expect, test } from 'vitest'
import type { Keystore, KeystoreChange } from '../../src/keystore/keystore.ts'
import type { LeaseRecord, TenantRecord } from '../../src/keystore/records.ts'
import { codeOf } from '../proxy-process.ts'

export interface KeystoreHarness {
  /** A keystore on a fresh, empty store. */
  open(): Promise<Keystore>
  /** Another keystore on the same store as `of`, as another process (or instance) sharing it. */
  peer(of: Keystore): Promise<Keystore>
  /** After `of` is closed: a keystore on the same store again. */
  reopen(of: Keystore): Promise<Keystore>
  /** Resolves once `of` has applied every change committed by its peers (a bounded wait, for `watch`). */
  settled(of: Keystore): Promise<void>
}

export const tenantRecord = (primary: string, n = 1): TenantRecord => ({
  primary,
  entries: Array.from({ length: n }, (_, i) => ({
    id: i === 0 ? primary : `${primary}-${i}`,
    provider: 'local',
    mode: 'direct' as const,
    settings: {},
    created: '2026-01-01T00:00:00Z',
  })),
})
export const leaseRecord = (n: number): LeaseRecord => ({
  tenant: 'acme',
  entry: 'hsm',
  provider: 'pkcs11',
  cmkVersion: `v${n}`,
  wrapped: 'AAAA',
  created: '2026-01-01T00:00:00Z',
})

/** Appends one entry to the tenant's record (a read-modify-write whose losses a test can count). */
const appendEntry =
  (id: string) =>
  (t: TenantRecord | undefined): TenantRecord => ({
    primary: t?.primary ?? id,
    entries: [...(t?.entries ?? []), { ...tenantRecord(id).entries[0]! }],
  })

export function keystoreAcceptance(name: string, harness: () => KeystoreHarness): void {
  describe(`keystore acceptance: ${name}`, () => {
    test('get, list (with a prefix), update and delete; records are frozen and survive a reopen', async () => {
      const h = harness()
      const ks = await h.open()
      expect(await ks.get('tenant', 'acme')).toBeUndefined()
      expect(await ks.update('tenant', 'acme', () => tenantRecord('default'))).toEqual(tenantRecord('default'))
      await ks.update('lease', 'acme/hsm/l1', () => leaseRecord(1))
      await ks.update('lease', 'acme/hsm/l2', () => leaseRecord(2))
      await ks.update('lease', 'globex/hsm/l3', () => leaseRecord(3))
      expect((await ks.list('lease', 'acme/')).map(([k]) => k).sort()).toEqual(['acme/hsm/l1', 'acme/hsm/l2'])
      expect(await ks.list('lease')).toHaveLength(3)
      const got = (await ks.get('tenant', 'acme'))!
      expect(Object.isFrozen(got) && Object.isFrozen(got.entries) && Object.isFrozen(got.entries[0])).toBe(true)
      expect(await ks.update('lease', 'acme/hsm/l1', () => null)).toBeUndefined()
      expect(await ks.get('lease', 'acme/hsm/l1')).toBeUndefined()
      await ks.close()
      const again = await h.reopen(ks)
      expect(await again.get('tenant', 'acme')).toEqual(tenantRecord('default'))
      expect((await again.list('lease')).map(([k]) => k).sort()).toEqual(['acme/hsm/l2', 'globex/hsm/l3'])
      await again.close()
    })

    test('concurrent read-modify-writes of one record lose nothing', async () => {
      const ks = await harness().open()
      await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          ks.update('tenant', 'acme', async (t) => {
            await new Promise((r) => setImmediate(r)) // async work inside the change
            return appendEntry(`e${i}`)(t)
          }),
        ),
      )
      expect((await ks.get('tenant', 'acme'))!.entries).toHaveLength(40)
      await ks.close()
    })

    test('an unchanged record writes nothing and tells no one; a throwing change stores nothing', async () => {
      const ks = await harness().open()
      const changes: KeystoreChange[] = []
      const stop = ks.watch((c) => changes.push(c))
      await ks.update('tenant', 'acme', () => tenantRecord('default'))
      await ks.update('tenant', 'acme', (t) => t)
      await ks.update('tenant', 'nobody', () => undefined)
      const refused = ks.update('tenant', 'acme', () => {
        throw Object.assign(new Error('no'), { code: 'ERR_KEY_EXISTS' })
      })
      expect(await codeOf(refused)).toBe('ERR_KEY_EXISTS')
      expect(await ks.get('tenant', 'acme')).toEqual(tenantRecord('default'))
      expect(await ks.get('tenant', 'nobody')).toBeUndefined()
      expect(changes).toEqual([{ kind: 'tenant', key: 'acme' }])
      stop()
      await ks.update('tenant', 'acme', () => tenantRecord('other'))
      expect(changes).toHaveLength(1)
      await ks.close()
    })

    test('keys that are names of object members, and odd characters, are ordinary keys', async () => {
      const h = harness()
      const ks = await h.open()
      const names = ['__proto__', 'constructor', 'toString', "o'brien", 'a/b/c', 'ünï']
      for (const n of names) await ks.update('tenant', n, () => tenantRecord('default'))
      await ks.close()
      const again = await h.reopen(ks)
      for (const n of names) expect((await again.get('tenant', n))?.primary).toBe('default')
      expect(Object.getPrototypeOf(await again.get('tenant', '__proto__'))).toBe(Object.prototype)
      await again.close()
    })

    test('two processes on one store: writes from both at once lose nothing; each sees and is told the other’s', async () => {
      const h = harness()
      const a = await h.open()
      const b = await h.peer(a)
      const seenByB: KeystoreChange[] = []
      b.watch((c) => seenByB.push(c))
      await a.update('tenant', 'acme', () => tenantRecord('default'))
      await h.settled(b)
      expect(seenByB).toContainEqual({ kind: 'tenant', key: 'acme' })
      expect(await b.get('tenant', 'acme')).toEqual(tenantRecord('default'))
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).update('tenant', 'acme', appendEntry(`e${i}`))),
      )
      await h.settled(a)
      await h.settled(b)
      expect((await a.get('tenant', 'acme'))!.entries).toHaveLength(31)
      expect((await b.get('tenant', 'acme'))!.entries).toHaveLength(31)
      // A delete on one is a delete on the other.
      await b.update('tenant', 'acme', () => null)
      await h.settled(a)
      expect(await a.get('tenant', 'acme')).toBeUndefined()
      await b.close()
      await a.close()
    })
  })
}
