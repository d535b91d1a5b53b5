// Disaster recovery with the customer's KMS alone: the proxy wraps a key through the AWS KMS backend; later,
// without any envelope code, the customer's plain SDK Decrypt (what `aws kms decrypt --ciphertext-blob …
// --encryption-context …` sends) recovers it from the CiphertextBlob and its EncryptionContext, naming no key.
// The endpoint runs as its own process from the built entry (dist/aws-kms-endpoint/serve-node.mjs), and is
// restarted in between on the same data folder.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms'
import { fromIni } from '@aws-sdk/credential-providers'
import { afterAll, expect, test } from 'vitest'
import { createAwsKmsCmk } from '../../src/kms/aws-kms/index.ts'
import { buildProxy } from '../proxy-process.ts'

const entry = fileURLToPath(new URL('../../dist/aws-kms-endpoint/serve-node.mjs', import.meta.url))
const running = new Set<ChildProcess>()
afterAll(() => {
  for (const child of running) child.kill('SIGKILL')
})

/** Starts the endpoint process; resolves with what it printed. */
function startProcess(args: string[]): Promise<{ child: ChildProcess; url: string; out: string }> {
  const child = spawn(process.execPath, [entry, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`endpoint did not start: ${out}`)), 15_000)
    const seen = () => {
      const url = /listening on (http:\/\/[\d.]+:\d+)/.exec(out)?.[1]
      if (url && (!args.includes('--create-key') || /alias\/\S+: arn:/.test(out))) {
        clearTimeout(timer)
        resolve({ child, url, out })
      }
    }
    child.stdout!.on('data', (d) => {
      out += d
      seen()
    })
    child.stderr!.on('data', (d) => {
      out += d
    })
    child.on('exit', (code) => {
      clearTimeout(timer)
      running.delete(child)
      reject(new Error(`endpoint exited with ${code}: ${out}`))
    })
  })
}

const stop = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => {
    child.removeAllListeners('exit')
    child.once('exit', (code) => {
      running.delete(child)
      resolve(code)
    })
    child.kill('SIGTERM')
  })

test('the customer recovers a wrapped key with its own KMS alone: plain Decrypt, no KeyId, no envelope code', async () => {
  buildProxy()
  const dataDir = mkdtempSync(join(tmpdir(), 'envelope-aws-kms-dr-'))
  const first = await startProcess(['--port', '0', '--data-dir', dataDir, '--create-key', 'alias/acme'])
  const arn = /alias\/acme: (arn:\S+)/.exec(first.out)![1]!
  const credentialsFile = /AWS_SHARED_CREDENTIALS_FILE=(\S+)/.exec(first.out)![1]!
  expect(credentialsFile).toBe(join(dataDir, 'aws-kms-credentials'))

  // the proxy makes a lease key under the tenant's CMK; the EDEK keeps the blob and the wrap context
  const cmk = createAwsKmsCmk({
    keyId: arn,
    endpoint: first.url,
    credentials: { source: 'profile', profile: 'default', file: credentialsFile },
  })
  const context = { tenant: 'acme', purpose: 'lease' }
  const { key, ciphertext } = await cmk.generate(context)
  await cmk.close()
  expect(await stop(first.child)).toBe(0)

  // later: the envelope proxy is gone; the customer has the blob, its context, and its KMS
  const again = await startProcess(['--port', '0', '--data-dir', dataDir])
  const kms = new KMSClient({
    region: 'us-east-1',
    endpoint: again.url,
    credentials: fromIni({ filepath: credentialsFile }),
  })
  try {
    const out = await kms.send(new DecryptCommand({ CiphertextBlob: ciphertext, EncryptionContext: context }))
    expect(out.Plaintext).toEqual(key)
    expect(out.KeyId).toBe(arn) // the blob named its key
  } finally {
    kms.destroy()
    expect(await stop(again.child)).toBe(0)
  }
})

test('the entry refuses a bad option with its usage (exit 2)', async () => {
  buildProxy()
  const child = spawn(process.execPath, [entry, '--no-such-option'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  child.stderr!.on('data', (d) => {
    err += d
  })
  const code = await new Promise((resolve) => child.on('exit', resolve))
  expect(code).toBe(2)
  expect(err).toMatch(/unknown option --no-such-option[\s\S]*Usage: aws-kms-endpoint/)
})
