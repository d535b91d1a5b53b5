// The PostgreSQL harness the shared keystore's tests stand on: a real server on a temporary folder and a free
// port, reached with the `pg` driver: a transaction, a row lock, and LISTEN/NOTIFY between two connections.
import pg from 'pg'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { type RunningPostgres, startPostgres } from '../harness/postgres.ts'

let server: RunningPostgres
beforeAll(async () => {
  server = await startPostgres({ fsync: false })
})
afterAll(() => server?.stop())

test('a throwaway cluster on loopback: transactions, row locks and LISTEN/NOTIFY work through pg', async () => {
  expect(server.psql('select 1')).toBe('1\n')
  const a = new pg.Client({ connectionString: server.url })
  const b = new pg.Client({ connectionString: server.url })
  await a.connect()
  await b.connect()
  try {
    await a.query('create table t (id text primary key, n int not null)')
    await a.query("insert into t values ('k', 0)")
    // Two transactions incrementing one row under FOR UPDATE: both increments land.
    await a.query('begin')
    await b.query('begin')
    await a.query("select n from t where id = 'k' for update")
    const bWaits = b.query("select n from t where id = 'k' for update")
    await a.query("update t set n = n + 1 where id = 'k'")
    await a.query('commit')
    const seen = await bWaits
    expect(seen.rows[0].n).toBe(1)
    await b.query("update t set n = n + 1 where id = 'k'")
    await b.query('commit')
    expect((await a.query("select n from t where id = 'k'")).rows[0].n).toBe(2)

    const heard = new Promise<string>((resolve) => b.once('notification', (m) => resolve(String(m.payload))))
    await b.query('listen envelope_test')
    await a.query("select pg_notify('envelope_test', 'rotated')")
    expect(await heard).toBe('rotated')
  } finally {
    await a.end()
    await b.end()
  }
})
