// The PostgreSQL keystore on a real server (a cluster of the test's own, test/harness/postgres.ts): the keystore
// acceptance suite, then what is its own: migrations that instances starting at once apply exactly once, changes
// that reach other instances through LISTEN/NOTIFY and, when notifications are lost, through the poll; reads
// refused (and caches told to drop everything) when the database cannot be reached; a shred that leaves no dead
// row holding the material it removed.
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { Keystore, KeystoreChange } from '../../src/keystore/keystore.ts'
import { PostgresKeystore } from '../../src/keystore/postgres-keystore.ts'
import { LocalKms } from '../../src/kms/local-kms.ts'
import { TenantKms } from '../../src/kms/tenant-kms.ts'
import { type RunningPostgres, startPostgres } from '../harness/postgres.ts'
import { codeOf } from '../proxy-process.ts'
import { keystoreAcceptance, tenantRecord } from './acceptance.ts'

let server: RunningPostgres
let admin: pg.Client
let databases = 0
const opened: PostgresKeystore[] = []

beforeAll(async () => {
  server = await startPostgres({ fsync: false })
  admin = connectAdmin()
  await admin.connect()
})
/** The test's own connection (a halted server ends it: that is expected, not an error of the test). */
function connectAdmin(url?: string) {
  const c = new pg.Client({ connectionString: url ?? server.url })
  c.on('error', () => {})
  return c
}
afterAll(async () => {
  for (const k of opened) await k.close()
  await admin?.end()
  await server?.stop()
})

/** A database of its own for each test: an empty store. */
async function freshDatabase(): Promise<string> {
  const name = `ks_${++databases}`
  await admin.query(`create database ${name}`)
  return server.url.replace(/\/postgres$/, `/${name}`)
}

const urlOf = new Map<Keystore, string>()
async function open(url: string, options: Partial<Parameters<typeof PostgresKeystore.open>[0]> = {}) {
  const ks = await PostgresKeystore.open({ url, pollMs: 100, ...options })
  opened.push(ks)
  urlOf.set(ks, url)
  return ks
}

keystoreAcceptance('PostgreSQL', () => ({
  open: async () => open(await freshDatabase()),
  peer: (of) => open(urlOf.get(of)!),
  reopen: (of) => open(urlOf.get(of)!),
  settled: (of) => (of as PostgresKeystore).catchUp(),
}))

describe('PostgreSQL keystore', () => {
  test('migrations are versioned and idempotent: instances starting at once apply each exactly once', async () => {
    const url = await freshDatabase()
    const all = await Promise.all(Array.from({ length: 5 }, () => open(url)))
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    try {
      const rows = (await c.query('select version from envelope_keystore_migrations order by version')).rows
      expect(rows.map((r) => r.version)).toEqual([1, 2])
      await all[0]!.update('tenant', 'acme', () => tenantRecord('default'))
      const again = await open(url) // a later start: nothing to apply, the data kept
      expect(await again.get('tenant', 'acme')).toEqual(tenantRecord('default'))
      expect((await c.query('select count(*)::int as n from envelope_keystore_migrations')).rows[0].n).toBe(2)
      // A store of an older version (only migration 1): the next open applies what it lacks, data kept.
      await c.query('drop table envelope_keystore_meta; delete from envelope_keystore_migrations where version = 2')
      const upgraded = await open(url)
      expect(await upgraded.agree('probe', 'x')).toBe('x')
      expect(await upgraded.get('tenant', 'acme')).toEqual(tenantRecord('default'))
      expect((await c.query('select version from envelope_keystore_migrations order by version')).rows).toEqual([
        { version: 1 },
        { version: 2 },
      ])
    } finally {
      await c.end()
    }
  })

  test('another instance is told of a change through NOTIFY, and through the poll when notifications are lost', async () => {
    const url = await freshDatabase()
    const a = await open(url)
    const b = await open(url, { pollMs: 100 })
    const told = (ks: Keystore, key: string) =>
      new Promise<void>((resolve) => {
        const stop = ks.watch((c: KeystoreChange) => {
          if ('key' in c && c.key === key) {
            stop()
            resolve()
          }
        })
      })
    const first = told(b, 'one')
    await a.update('tenant', 'one', () => tenantRecord('default'))
    await first
    expect(await b.get('tenant', 'one')).toEqual(tenantRecord('default'))
    // Every LISTEN connection cut: the change still arrives, by the poll.
    await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where query ilike 'listen %'`)
    const second = told(b, 'two')
    await a.update('tenant', 'two', () => tenantRecord('default'))
    await second
    expect(await b.get('tenant', 'two')).toEqual(tenantRecord('default'))
  })

  test('an unreachable database: reads and writes are refused, caches are told to drop everything; then it recovers', async () => {
    const url = await freshDatabase()
    const ks = await open(url, { pollMs: 50, staleAfterMs: 200 })
    await ks.update('tenant', 'acme', () => tenantRecord('default'))
    const dropAll = new Promise<void>((resolve) => ks.watch((c) => c.kind === '*' && resolve()))
    server.halt()
    try {
      await dropAll
      expect(await codeOf(ks.get('tenant', 'acme'))).toBe('ERR_KEYSTORE_UNAVAILABLE')
      expect(await codeOf(ks.update('tenant', 'acme', () => tenantRecord('other')))).toBe('ERR_KEYSTORE_UNAVAILABLE')
      expect(ks.healthy).toBe(false)
    } finally {
      server.resume()
      await admin.end().catch(() => {})
      admin = connectAdmin()
      await admin.connect()
    }
    await ks.catchUp()
    expect(ks.healthy).toBe(true)
    expect(await ks.get('tenant', 'acme')).toEqual(tenantRecord('default'))
  })

  test('shred rewrites the table: no data file still holds a value the last write removed', async () => {
    const url = await freshDatabase()
    const ks = await open(url)
    const marker = `SEALED-MATERIAL-${Math.random().toString(36).slice(2)}`
    const sealed = { created: '2026-01-01T00:00:00Z', sealed: marker }
    await ks.update('local-key', 'acme/default', () => ({ state: 'enabled', primary: 1, versions: { '1': sealed } }))
    await ks.update('local-key', 'acme/default', () => ({
      state: 'destroyed',
      primary: 1,
      versions: { '1': { created: sealed.created } },
    }))
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    await c.query('checkpoint') // the table's pages on disk
    const tableFiles = async () => {
      const { rows } = await c.query(`select pg_relation_filepath('envelope_keystore_records') as path`)
      const base = join(server.dir, 'data', rows[0].path)
      const dir = join(base, '..')
      const name = base.split('/').at(-1)!
      return readdirSync(dir)
        .filter((f) => f === name || f.startsWith(`${name}.`) || f.startsWith(`${name}_`))
        .map((f) => join(dir, f))
    }
    const holds = async () => (await tableFiles()).some((f) => statSync(f).size > 0 && readFileSync(f).includes(marker))
    expect(await holds()).toBe(true) // the dead row, before the shred
    await ks.shred()
    await c.query('checkpoint')
    expect(await holds()).toBe(false)
    await c.end()
  })
})

test('an EDEK of a version another instance just made opens here before the change has arrived (one catch-up)', async () => {
  const url = await freshDatabase()
  const rootKey = crypto.getRandomValues(new Uint8Array(32))
  const aStore = await open(url)
  const a = new LocalKms({ keystore: aStore, rootKey })
  const ta = new TenantKms({ keystore: aStore, localKms: a })
  // B hears of nothing by itself for a minute: no LISTEN (cut below, and not again within pollMs), no poll.
  const bStore = await open(url, { pollMs: 60_000, staleAfterMs: 120_000 })
  const b = new LocalKms({ keystore: bStore, rootKey })
  const tb = new TenantKms({ keystore: bStore, localKms: b })
  await ta.configure(['acme'])
  await bStore.catchUp()
  expect((await b.describe('acme', 'default')).primaryVersion).toBe(1)
  await admin.query(`select pg_terminate_backend(pid) from pg_stat_activity where query ilike 'listen %'`)
  await a.rotate('acme', 'default')
  expect((await b.describe('acme', 'default')).primaryVersion).toBe(1) // not arrived: B's copy is old
  const { dek, edek } = await ta.generate('acme', { doc: '1' })
  expect(edek.keyVersion).toBe('2')
  const opened = await tb.unwrap('acme', edek, { doc: '1' })
  expect(Buffer.from(opened.dek).equals(Buffer.from(dek))).toBe(true)
  await ta.close()
  await tb.close()
  a.close()
  b.close()
})
