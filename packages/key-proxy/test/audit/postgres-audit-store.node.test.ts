// The PostgreSQL audit store on a real server (test/harness/postgres.ts): the audit store acceptance suite with two
// stores on one database (two instances), and the signing key every instance on one keystore agrees on.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { PostgresAuditStore } from '../../src/audit/postgres-store.ts'
import { agreedAuditSigner } from '../../src/audit/signer.ts'
import { type RunningPostgres, startPostgres } from '../harness/postgres.ts'
import { auditStoreAcceptance } from './store-acceptance.ts'

let server: RunningPostgres
let databases = 0
beforeAll(async () => {
  server = await startPostgres({ fsync: false })
})
afterAll(() => server?.stop())

/** A database of its own: an empty store. */
async function database(): Promise<string> {
  const name = `audit_${++databases}`
  const c = new pg.Client({ connectionString: server.url })
  await c.connect()
  await c.query(`create database ${name}`)
  await c.end()
  const url = server.url.replace(/\/[^/]*$/, `/${name}`)
  const d = new pg.Client({ connectionString: url })
  await d.connect()
  await d.query('create table meta (name text primary key, value text not null)')
  await d.end()
  return url
}

/** The keystore's agreement on one value per name, as a table (PostgresKeystore.agree does the same). */
function agreeIn(url: string) {
  return async (name: string, value: string) => {
    const c = new pg.Client({ connectionString: url })
    await c.connect()
    try {
      const { rows } = await c.query<{ value: string }>(
        'insert into meta values ($1, $2) on conflict (name) do update set name = excluded.name returning value',
        [name, value],
      )
      return rows[0]!.value
    } finally {
      await c.end()
    }
  }
}

describe('PostgreSQL audit store', () => {
  const rootKey = crypto.getRandomValues(new Uint8Array(32))
  auditStoreAcceptance({
    async open() {
      const url = await database()
      const signer = await agreedAuditSigner(agreeIn(url), rootKey)
      const [a, b] = await Promise.all([
        PostgresAuditStore.open({ url, signer, checkpointEvery: 10, maxScan: 25 }),
        PostgresAuditStore.open({ url, signer, checkpointEvery: 10, maxScan: 25 }),
      ])
      return { a, b, signer, close: async () => void (await Promise.all([a.close(), b.close()])) }
    },
  })

  test('every instance on one keystore signs with the same key; another root key cannot open it', async () => {
    const url = await database()
    const [one, two] = await Promise.all([
      agreedAuditSigner(agreeIn(url), rootKey),
      agreedAuditSigner(agreeIn(url), rootKey),
    ])
    expect(one.kid).toBe(two.kid)
    await expect(agreedAuditSigner(agreeIn(url), crypto.getRandomValues(new Uint8Array(32)))).rejects.toThrow()
  })

  test('a database that cannot be reached: appends refused with ERR_AUDIT_UNAVAILABLE, then they work again', async () => {
    const url = await database()
    const signer = await agreedAuditSigner(agreeIn(url), rootKey)
    const store = await PostgresAuditStore.open({ url, signer })
    const { entry } = await import('./store-acceptance.ts')
    await store.append('acme', entry(1))
    server.halt()
    try {
      await expect(store.append('acme', entry(2))).rejects.toMatchObject({ code: 'ERR_AUDIT_UNAVAILABLE' })
    } finally {
      server.resume()
    }
    let last: unknown
    for (let i = 0; i < 50; i++) {
      try {
        expect((await store.append('acme', entry(2))).seq).toBe(2) // the chain goes on where it was
        last = undefined
        break
      } catch (err) {
        last = err // the pool reconnects on the next call
      }
    }
    expect(last).toBeUndefined()
    await store.close()
  })
})
