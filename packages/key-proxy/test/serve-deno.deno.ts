// The proxy's Deno entry, run for real as a Deno process: a data key made and unwrapped through it.
import { decryptToString, encrypt } from '@envelope/core'
import { createKeyProxyClient } from '@envelope/fetch-client'
import { hashKey } from './proxy-process.ts'

Deno.test('the key proxy runs on Deno (serve-deno.ts) and serves the fetch client', async () => {
  const dataDir = await Deno.makeTempDir({ prefix: 'envelope-proxy-deno-' })
  const config = `${dataDir}/config.json`
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      port: 0,
      dataDir,
      tenants: ['acme'],
      apiKeys: [{ id: 'd', sha256: await hashKey('deno-key'), tenants: ['acme'] }],
    }),
  )
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      'run',
      '--allow-net=127.0.0.1',
      '--allow-read',
      '--allow-write',
      '--allow-env',
      '--allow-sys=hostname', // the data folder's lock names its host
      new URL('../src/serve-deno.ts', import.meta.url).pathname,
      '--config',
      config,
    ],
    stdout: 'piped',
    stderr: 'inherit',
  }).spawn()
  try {
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader()
    let out = ''
    let url: string | undefined
    while (!url) {
      const { value, done } = await reader.read()
      if (done) throw new Error(`proxy exited: ${out}`)
      out += value
      url = /listening on (http:\/\/[\d.]+:\d+)/.exec(out)?.[1]
    }
    reader.releaseLock()
    const provider = createKeyProxyClient({ baseUrl: url, apiKey: 'deno-key', tenant: 'acme' })
    const message = await encrypt('served by Deno', { provider, context: { runtime: 'deno' } })
    if ((await decryptToString(message, { provider })) !== 'served by Deno') throw new Error('round trip failed')
  } finally {
    child.kill('SIGTERM')
    await child.status
    await child.stdout.cancel().catch(() => {})
  }
})
