// Disaster recovery: a customer opens a wrap with its HSM alone. recover-key.mjs (pkcs11js and nothing of
// envelope, in a process of its own) follows the recipe of docs/kms-backends.md: the version object's label, the
// IV at the front of the ciphertext, the additional data rebuilt from the wrap context.
import { execFileSync } from 'node:child_process'
import { afterAll, expect, test } from 'vitest'
import { Pkcs11Cmk } from '../../src/kms/pkcs11/index.ts'
import { startSoftHsm } from './softhsm.ts'

const TOKEN = 'recovery'
const hsm = startSoftHsm([TOKEN])
afterAll(() => hsm.close())

const recover = (label: string, ciphertext: Uint8Array, context: Record<string, string>) =>
  execFileSync(
    process.execPath,
    [
      new URL('./recover-key.mjs', import.meta.url).pathname,
      TOKEN,
      label,
      Buffer.from(ciphertext).toString('hex'),
      JSON.stringify(context),
    ],
    {
      env: { ...hsm.env, HSM_MODULE: hsm.module, HSM_PIN: hsm.pin },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  )

test('a wrapped key, under an old and the current version, is recovered with the HSM alone', async () => {
  const cmk = await Pkcs11Cmk.open({ module: hsm.module, tokenLabel: TOKEN, pinFile: hsm.pinFile, key: 'acme/default' })
  try {
    await cmk.create()
    // keys in any order, a value with JSON escapes: the recipe sorts and encodes exactly as the proxy does
    const context = { tenant: 'acme', purpose: 'dek', ctx: 'q8yZ-_x', note: 'a "quoted" \\ é\n' }
    const old = await cmk.generate(context)
    await cmk.rotate()
    const current = await cmk.generate(context)
    expect(recover(`envelope/acme/default/${old.version}`, old.ciphertext, context)).toBe(
      Buffer.from(old.key).toString('hex'),
    )
    expect(recover('envelope/acme/default/v2', current.ciphertext, context)).toBe(
      Buffer.from(current.key).toString('hex'),
    )
    // the recipe is the binding: another context or another version's object does not open it
    expect(() => recover('envelope/acme/default/v2', current.ciphertext, { ...context, tenant: 'globex' })).toThrow()
    expect(() => recover('envelope/acme/default/v1', current.ciphertext, context)).toThrow()
  } finally {
    await cmk.close()
  }
})
