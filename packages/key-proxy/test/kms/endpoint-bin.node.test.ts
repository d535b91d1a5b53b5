// `envelope-proxy --aws-kms-endpoint`: the proxy's own entry runs the offline AWS KMS for development, with the
// endpoint's options after the flag; the real AWS SDK, configured as the endpoint prints, uses it as AWS.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DecryptCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms'
import { fromIni } from '@aws-sdk/credential-providers'
import { afterAll, expect, test } from 'vitest'
import { buildProxy } from '../proxy-process.ts'

const entry = fileURLToPath(new URL('../../dist/serve-node.mjs', import.meta.url))
let child: ChildProcess | undefined
afterAll(() => child?.kill('SIGKILL'))

test('envelope-proxy --aws-kms-endpoint: an offline AWS KMS the SDK uses as AWS', async () => {
  buildProxy()
  const help = spawnSync(process.execPath, [entry, '--aws-kms-endpoint', '--help'], { encoding: 'utf8' })
  expect(help.status).toBe(0)
  expect(help.stdout).toContain('envelope-proxy --aws-kms-endpoint')
  expect(help.stdout).toContain('--latency-ms')

  const dataDir = mkdtempSync(join(tmpdir(), 'envelope-endpoint-bin-'))
  child = spawn(
    process.execPath,
    [entry, '--aws-kms-endpoint', '--port', '0', '--data-dir', dataDir, '--create-key', 'alias/dev'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )
  const out = await new Promise<string>((resolve, reject) => {
    let text = ''
    child!.stdout!.on('data', (d) => {
      text += d
      if (/alias\/dev: arn:/.test(text)) resolve(text)
    })
    child!.stderr!.on('data', (d) => {
      text += d
    })
    child!.on('exit', (code) => reject(new Error(`exited ${code}: ${text}`)))
  })
  const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!
  const credentialsFile = /AWS_SHARED_CREDENTIALS_FILE=(\S+)/.exec(out)![1]!
  const kms = new KMSClient({ endpoint: url, region: 'us-east-1', credentials: fromIni({ filepath: credentialsFile }) })
  const made = await kms.send(
    new GenerateDataKeyCommand({ KeyId: 'alias/dev', KeySpec: 'AES_256', EncryptionContext: { tenant: 'acme' } }),
  )
  const back = await kms.send(
    new DecryptCommand({ CiphertextBlob: made.CiphertextBlob, EncryptionContext: { tenant: 'acme' } }),
  )
  expect(back.Plaintext).toEqual(made.Plaintext)
  kms.destroy()
  const exited = new Promise((resolve) => child!.once('exit', resolve))
  child.kill('SIGTERM')
  expect(await exited).toBe(0)
  child = undefined
})
