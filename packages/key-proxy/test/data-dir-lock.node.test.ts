// One proxy per data folder: the local KMS reads, changes and rewrites its whole key file, so a second process on
// the same folder would undo the first one's acknowledged writes. A second instance refuses to start and names
// the holder; a holder killed with SIGKILL does not keep the folder locked; a stopped one releases it.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, test } from 'vitest'
import { type RunningProxy, startProxy } from './proxy-process.ts'

const serveNode = fileURLToPath(new URL('../dist/serve-node.mjs', import.meta.url))
const running: RunningProxy[] = []
afterAll(async () => {
  for (const p of running) await p.stop()
})

/** Starts a second proxy on the folder; it must exit on its own (a proxy that starts is killed after 15 s). */
function secondInstance(dataDir: string) {
  return spawnSync(process.execPath, [serveNode, '--config', join(dataDir, 'test-config.json')], {
    encoding: 'utf8',
    timeout: 15_000,
  })
}

test('a second proxy on the same data folder refuses to start and names the one that holds it', async () => {
  const first = await startProxy({ tenants: ['acme'] })
  running.push(first)
  const r = secondInstance(first.dataDir)
  expect(r.signal).toBeNull() // it exited by itself, it was not killed as a proxy that started
  expect(r.status).toBe(1)
  expect(r.stderr).toContain('key proxy did not start: ERR_DATA_DIR_LOCKED')
  expect(r.stderr).toContain(`pid ${first.pid}`)
  expect(r.stderr).toContain(first.dataDir)
  // The holder is untouched and still serves.
  expect(JSON.parse(first.admin('describe', 'acme').stdout)).toMatchObject({ state: 'enabled' })
})

test('a holder killed with SIGKILL leaves no lock behind that stops the next start; a stopped one releases it', async () => {
  const proxy = await startProxy({ tenants: ['acme'] })
  running.push(proxy)
  const killed = proxy.pid
  await proxy.kill9()
  await proxy.restart() // the lock names a process that is gone: taken over
  expect(proxy.pid).not.toBe(killed)
  expect(JSON.parse(proxy.admin('describe', 'acme').stdout)).toMatchObject({ state: 'enabled' })
  expect(secondInstance(proxy.dataDir).stderr).toContain(`pid ${proxy.pid}`)
  await proxy.stop()
  expect(existsSync(join(proxy.dataDir, 'proxy.lock'))).toBe(false)
  await proxy.restart()
})
