// The file keystore on real files in a temp folder: the keystore acceptance suite (acceptance.ts, which the
// PostgreSQL keystore runs too), with the processes of one instance sharing one file through a sync as the
// peers (each re-reads under the instance's lock, as the server's instance sync does over IPC); then what is
// the file's own: the file's format, no write when nothing changes, the data folder's lock.
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, test } from 'vitest'
import { FileKeystore, type FileKeystoreSync } from '../../src/keystore/file-keystore.ts'
import type { Keystore, KeystoreChange } from '../../src/keystore/keystore.ts'
import type { TenantRecord } from '../../src/keystore/records.ts'
import { codeOf } from '../proxy-process.ts'
import { keystoreAcceptance } from './acceptance.ts'

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

/**
 * The processes of one instance on one file: one lock for all, and each told of the others' writes before a
 * write resolves (what the server's instance sync does over IPC, server/instance-sync.ts).
 */
function instanceOf() {
  let tail: Promise<unknown> = Promise.resolve()
  const appliers = new Map<number, () => void | Promise<void>>()
  let next = 0
  return (): FileKeystoreSync => {
    const me = next++
    return {
      shared: true,
      exclusive(write) {
        const run = tail.then(write)
        tail = run.catch(() => {})
        return run
      },
      async publish() {
        await Promise.all([...appliers].filter(([i]) => i !== me).map(([, apply]) => apply()))
      },
      onChange(apply) {
        appliers.set(me, apply)
      },
    }
  }
}

const syncs = new Map<Keystore, () => FileKeystoreSync>()
keystoreAcceptance('file', () => ({
  async open() {
    const sync = instanceOf()
    const ks = keystore(undefined, { sync: sync() })
    syncs.set(ks, sync)
    return ks
  },
  async peer(of) {
    const ks = keystore((of as FileKeystore).path, { sync: syncs.get(of)!(), lock: false })
    syncs.set(ks, syncs.get(of)!)
    return ks
  },
  async reopen(of) {
    open.splice(open.indexOf(of as FileKeystore), 1)
    return keystore((of as FileKeystore).path)
  },
  settled: async () => {}, // a write resolves once every peer applied it
}))

describe('file keystore', () => {
  test('the file: one JSON object of records by kind and key, written at each change', async () => {
    const ks = keystore()
    await ks.update('tenant', 'acme', () => tenant('default'))
    const file = JSON.parse(readFileSync(ks.path, 'utf8'))
    expect(file).toMatchObject({ format: 'envelope-keystore/1', records: { tenant: { acme: tenant('default') } } })
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

  test('a second keystore on the folder is refused while the first holds it', async () => {
    const ks = keystore()
    await ks.update('tenant', 'acme', () => tenant('default'))
    expect(() => FileKeystore.open({ file: ks.path })).toThrow(expect.objectContaining({ code: 'ERR_DATA_DIR_LOCKED' }))
  })
})
