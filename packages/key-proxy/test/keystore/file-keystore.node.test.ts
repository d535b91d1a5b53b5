// The file keystore on real files in a temp folder: the keystore contract (keystore.ts) — atomic updates that
// lose nothing, no write when nothing changes, durable and frozen records, change notifications — and the
// processes of one instance sharing one file through a sync (each re-reads under the instance's lock).
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { FileKeystore, type FileKeystoreSync } from '../../src/keystore/file-keystore.ts'
import type { KeystoreChange } from '../../src/keystore/keystore.ts'
import type { LeaseRecord, TenantRecord } from '../../src/keystore/records.ts'
import { codeOf } from '../proxy-process.ts'

const open: FileKeystore[] = []
afterEach(async () => {
  for (const k of open.splice(0)) await k.close()
})

function keystore(file = join(mkdtempSync(join(tmpdir(), 'envelope-keystore-')), 'keys.json'), extra = {}) {
  const k = FileKeystore.open({ file, ...extra })
  open.push(k)
  return k
}

const tenant = (primary: string): TenantRecord => ({
  primary,
  entries: [{ id: primary, provider: 'local', mode: 'direct', settings: {}, created: '2026-01-01T00:00:00Z' }],
})
const lease = (n: number): LeaseRecord => ({
  tenant: 'acme',
  entry: 'hsm',
  provider: 'pkcs11',
  cmkVersion: `v${n}`,
  wrapped: 'AAAA',
  created: '2026-01-01T00:00:00Z',
})

describe('file keystore', () => {
  test('get, list (with a prefix), update and delete; records survive a reopen and are frozen', async () => {
    const ks = keystore()
    expect(await ks.get('tenant', 'acme')).toBeUndefined()
    expect(await ks.update('tenant', 'acme', () => tenant('default'))).toEqual(tenant('default'))
    await ks.update('lease', 'acme/hsm/l1', () => lease(1))
    await ks.update('lease', 'acme/hsm/l2', () => lease(2))
    await ks.update('lease', 'globex/hsm/l3', () => lease(3))
    expect((await ks.list('lease', 'acme/')).map(([k]) => k).sort()).toEqual(['acme/hsm/l1', 'acme/hsm/l2'])
    expect(await ks.list('lease')).toHaveLength(3)
    const got = (await ks.get('tenant', 'acme'))!
    expect(Object.isFrozen(got) && Object.isFrozen(got.entries[0])).toBe(true)
    expect(await ks.update('lease', 'acme/hsm/l1', () => null)).toBeUndefined()
    expect(await ks.get('lease', 'acme/hsm/l1')).toBeUndefined()

    await ks.close()
    open.pop()
    const again = keystore(ks.path)
    expect(await again.get('tenant', 'acme')).toEqual(tenant('default'))
    expect((await again.list('lease')).map(([k]) => k).sort()).toEqual(['acme/hsm/l2', 'globex/hsm/l3'])
    const file = JSON.parse(readFileSync(ks.path, 'utf8'))
    expect(file).toMatchObject({ format: 'envelope-keystore/1', records: { tenant: { acme: tenant('default') } } })
  })

  test('concurrent read-modify-writes of one record lose nothing', async () => {
    const ks = keystore()
    await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        ks.update('tenant', 'acme', async (t) => {
          await new Promise((r) => setImmediate(r)) // async work inside the change
          const entries = [...(t?.entries ?? []), { ...tenant(`e${i}`).entries[0]! }]
          return { primary: t?.primary ?? `e${i}`, entries }
        }),
      ),
    )
    expect((await ks.get('tenant', 'acme'))!.entries).toHaveLength(50)
  })

  test('a change that returns the record unchanged writes nothing and tells no one; a throwing change stores nothing', async () => {
    const ks = keystore()
    const changes: KeystoreChange[] = []
    const stop = ks.watch((c) => changes.push(c))
    await ks.update('tenant', 'acme', () => tenant('default'))
    const before = readFileSync(ks.path, 'utf8')
    await ks.update('tenant', 'acme', (t) => t)
    await ks.update('tenant', 'nobody', () => undefined)
    expect(
      await codeOf(
        ks.update('tenant', 'acme', () => {
          throw Object.assign(new Error('no'), { code: 'ERR_KEY_EXISTS' })
        }),
      ),
    ).toBe('ERR_KEY_EXISTS')
    expect(readFileSync(ks.path, 'utf8')).toBe(before)
    expect(changes).toEqual([{ kind: 'tenant', key: 'acme' }])
    stop()
    await ks.update('tenant', 'acme', () => tenant('other'))
    expect(changes).toHaveLength(1)
  })

  test('keys that are names of object members are ordinary keys', async () => {
    const ks = keystore()
    for (const name of ['__proto__', 'constructor', 'toString']) await ks.update('tenant', name, () => tenant(name))
    await ks.close()
    open.pop()
    const again = keystore(ks.path)
    for (const name of ['__proto__', 'constructor', 'toString']) {
      expect((await again.get('tenant', name))?.primary).toBe(name)
    }
    expect(Object.getPrototypeOf(await again.get('tenant', '__proto__'))).toBe(Object.prototype)
  })

  test('a second keystore on the folder is refused while the first holds it', async () => {
    const ks = keystore()
    await ks.update('tenant', 'acme', () => tenant('default'))
    expect(() => FileKeystore.open({ file: ks.path })).toThrow(expect.objectContaining({ code: 'ERR_DATA_DIR_LOCKED' }))
  })

  test('processes of one instance share the file through a sync: each change re-reads, the others are told', async () => {
    // Two keystores on one file, as two processes of one instance: one lock for both, and each told of the
    // other's writes (what the server's instance sync does over IPC).
    let tail: Promise<unknown> = Promise.resolve()
    const appliers: Array<() => void | Promise<void>> = []
    const sync = (me: number): FileKeystoreSync => ({
      shared: true,
      exclusive(write) {
        const run = tail.then(write)
        tail = run.catch(() => {})
        return run
      },
      async publish() {
        await Promise.all(appliers.filter((_, i) => i !== me).map((apply) => apply()))
      },
      onChange(apply) {
        appliers[me] = apply
      },
    })
    const a = keystore(undefined, { sync: sync(0) })
    const b = keystore(a.path, { sync: sync(1), lock: false })
    const seenByB: KeystoreChange[] = []
    b.watch((c) => seenByB.push(c))
    await a.update('tenant', 'acme', () => tenant('default'))
    expect(seenByB).toEqual([{ kind: 'tenant', key: 'acme' }])
    expect(await b.get('tenant', 'acme')).toEqual(tenant('default'))
    // Interleaved writers on both: nothing lost.
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        (i % 2 ? a : b).update('tenant', 'acme', (t) => ({
          ...t!,
          entries: [...t!.entries, tenant(`e${i}`).entries[0]!],
        })),
      ),
    )
    expect((await a.get('tenant', 'acme'))!.entries).toHaveLength(21)
    expect((await b.get('tenant', 'acme'))!.entries).toHaveLength(21)
  })
})
