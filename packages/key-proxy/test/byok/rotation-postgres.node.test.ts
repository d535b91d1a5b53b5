// Rotation on a schedule with two real proxy instances on one PostgreSQL keystore (a real server of the test's
// own): keys made due by moving their schedules' start back in the database (as if the period had passed; the
// instances see it through the keystore's notifications) are rotated exactly once, by whichever instance holds
// the rotation lock; the holder killed (SIGKILL), the other takes the lock once it expires and rotates what
// falls due next. Both check every second; every wait is for a state, never for a time.
import { afterAll, beforeAll, expect, test } from 'vitest'
import { admin } from '../harness/http.ts'
import { type Instance, startInstance } from '../harness/instance.ts'
import { type RunningPostgres, startPostgres } from '../harness/postgres.ts'
import { hashKey } from '../proxy-process.ts'

const ADMIN_KEY = 'rotation-pg-admin-key'
const ROOT_KEY = 'IiEgHx4dHBsaGRgXFhUUExIREA8ODQwLCgkIBwYFBAM'
const TENANTS = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6']
let pg: RunningPostgres
let a: Instance
let b: Instance

beforeAll(async () => {
  pg = await startPostgres({ fsync: false })
  const config = {
    rootKey: ROOT_KEY,
    tenants: TENANTS,
    adminKeys: [{ id: 'ops', sha256: await hashKey(ADMIN_KEY) }],
    keystore: { url: pg.url, pollMs: 100 },
    rotationCheckMs: 1000,
  }
  a = await startInstance({ workers: 1, config })
  b = await startInstance({ workers: 1, config })
})
afterAll(async () => {
  await Promise.all([a, b].map((i) => i?.stop()))
  await pg?.stop()
})

type Info = { primaryVersion: number; rotations?: { by: string; version: string }[] }
const describeOn = async (i: Instance, tenant: string) => (await admin(i.url, ADMIN_KEY, tenant)).json<Info>()

/** Asks `check` until it holds, at most `tries` times, 50 ms apart: a bounded wait for a state. */
async function eventually(check: () => Promise<boolean>, tries = 400): Promise<boolean> {
  for (let n = 0; n < tries; n++) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, 50))
  }
  return false
}

/** Moves the schedules' start of `tenants` back two days, in the database, as the keystore writes a change. */
function makeDue(tenants: readonly string[]) {
  const list = tenants.map((t) => `'${t}'`).join(',')
  pg.psql(
    `update envelope_keystore_records set value = jsonb_set(value, '{entries,0,rotation,since}', '"2000-01-01T00:00:00.000Z"'),
       version = version + 1, seq = nextval('envelope_keystore_seq'), changed_at = clock_timestamp()
     where kind = 'tenant' and key in (${list}); select pg_notify('envelope_keystore', '0');`,
  )
}

test('two instances: keys due are rotated once each, by the lock holder; a killed holder is replaced', async () => {
  for (const t of TENANTS) {
    const r = await admin(a.url, ADMIN_KEY, t, 'rotation-schedule', { periodDays: 1 })
    expect(r.status).toBe(200)
  }
  makeDue(TENANTS.slice(0, 3))
  for (const t of TENANTS.slice(0, 3)) {
    expect(await eventually(async () => (await describeOn(b, t)).primaryVersion === 2)).toBe(true)
  }
  for (const t of TENANTS.slice(0, 3)) {
    const d = await describeOn(a, t)
    expect(d.rotations).toEqual([expect.objectContaining({ by: 'schedule', version: '2' })]) // once
  }
  const rotatedBy = (i: Instance) =>
    i.auditLines().filter((l) => l.action === 'admin.rotate' && l.caller === 'schedule')
  const holder = rotatedBy(a).length > 0 ? a : b
  const other = holder === a ? b : a
  expect(rotatedBy(holder)).toHaveLength(3)
  expect(rotatedBy(other)).toHaveLength(0)

  await holder.kill9()
  makeDue(TENANTS.slice(3))
  for (const t of TENANTS.slice(3)) {
    expect(await eventually(async () => (await describeOn(other, t)).primaryVersion === 2)).toBe(true)
    expect((await describeOn(other, t)).rotations).toHaveLength(1)
  }
  expect(rotatedBy(other)).toHaveLength(3)
})
