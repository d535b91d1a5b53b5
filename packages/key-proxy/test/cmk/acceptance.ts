// The acceptance suite every CMK client (src/kms/cmk.ts) passes: wrap and unwrap bound to a wrap context, state
// reported, and the customer's controls (disable, enable, rotate, destroy) taking effect. A backend's test file
// calls defineCmkAcceptance with a setup that makes a fresh CMK in a real KMS (SoftHSM2, the AWS KMS endpoint…).
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import type { CmkClient, WrapContext } from '../../src/kms/cmk.ts'

/** What the customer does to its own CMK, in its own KMS (an HSM's admin, the AWS console, …). */
export interface CmkControl {
  disable(): Promise<void>
  enable(): Promise<void>
  /** New primary version (AWS: RotateKeyOnDemand); old ones still unwrap. */
  rotate(): Promise<void>
  /** Destroys the material (or schedules it and lets the waiting period pass). */
  destroy(): Promise<void>
}

export interface CmkFixture {
  readonly client: CmkClient
  readonly control: CmkControl
  /** Stops whatever setup started. */
  close(): Promise<void>
}

const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e) => (e as { code?: string }).code ?? `untyped: ${String(e)}`,
  )

const ctx = (extra: Record<string, string> = {}): WrapContext => ({
  tenant: 'acme',
  purpose: 'dek',
  ctx: 'x',
  ...extra,
})

export function defineCmkAcceptance(name: string, setup: () => Promise<CmkFixture>): void {
  describe(`CMK acceptance: ${name}`, () => {
    let f: CmkFixture
    beforeAll(async () => {
      f = await setup()
    })
    afterAll(async () => {
      await f?.client.close()
      await f?.close()
    })

    test('wrap then unwrap gives the same 32 bytes; the ciphertext holds no plaintext', async () => {
      const key = crypto.getRandomValues(new Uint8Array(32))
      const wrapped = await f.client.wrap(key, ctx())
      expect(Buffer.from(wrapped.ciphertext).includes(Buffer.from(key))).toBe(false)
      expect(await f.client.unwrap(wrapped, ctx())).toEqual(key)
    })

    test('generate gives a random key that its own wrap opens to', async () => {
      const a = await f.client.generate(ctx())
      const b = await f.client.generate(ctx())
      expect(a.key).toHaveLength(32)
      expect(a.key).not.toEqual(b.key)
      expect(await f.client.unwrap(a, ctx())).toEqual(a.key)
    })

    test('another wrap context, another tenant, or an altered ciphertext: ERR_EDEK_INVALID', async () => {
      const wrapped = await f.client.wrap(new Uint8Array(32).fill(7), ctx())
      expect(await codeOf(f.client.unwrap(wrapped, ctx({ ctx: 'y' })))).toBe('ERR_EDEK_INVALID')
      expect(await codeOf(f.client.unwrap(wrapped, ctx({ tenant: 'globex' })))).toBe('ERR_EDEK_INVALID')
      expect(await codeOf(f.client.unwrap(wrapped, { tenant: 'acme', purpose: 'dek' }))).toBe('ERR_EDEK_INVALID')
      const altered = wrapped.ciphertext.slice()
      altered[altered.length - 1]! ^= 1
      expect(await codeOf(f.client.unwrap({ ...wrapped, ciphertext: altered }, ctx()))).toBe('ERR_EDEK_INVALID')
      expect(await codeOf(f.client.unwrap({ ...wrapped, ciphertext: altered.subarray(0, 5) }, ctx()))).toBe(
        'ERR_EDEK_INVALID',
      )
    })

    test('describe says enabled, names the key, never its material', async () => {
      const s = await f.client.describe()
      expect(s.state).toBe('enabled')
      expect(typeof s.keyRef).toBe('string')
      expect(['proxy', 'customer']).toContain(s.managedBy)
    })

    test('rotation: old wraps still unwrap; where versions show, new wraps use the new primary', async () => {
      const before = await f.client.wrap(new Uint8Array(32).fill(1), ctx())
      await f.control.rotate()
      const after = await f.client.wrap(new Uint8Array(32).fill(2), ctx())
      expect(await f.client.unwrap(before, ctx())).toEqual(new Uint8Array(32).fill(1))
      expect(await f.client.unwrap(after, ctx())).toEqual(new Uint8Array(32).fill(2))
      const status = await f.client.describe()
      if (status.versions) {
        expect(after.version).not.toBe(before.version)
        expect(status.primaryVersion).toBe(after.version)
        expect(status.versions).toContain(before.version)
      } else {
        expect(after.version).toBe(before.version) // a KMS without visible versions (AWS) reports none
      }
    })

    test('the customer disables its CMK: wrap and unwrap refused at once; enabled again, both work', async () => {
      const wrapped = await f.client.wrap(new Uint8Array(32).fill(3), ctx())
      await f.control.disable()
      expect(await codeOf(f.client.wrap(new Uint8Array(32), ctx()))).toBe('ERR_KEY_DISABLED')
      expect(await codeOf(f.client.unwrap(wrapped, ctx()))).toBe('ERR_KEY_DISABLED')
      expect((await f.client.describe()).state).toBe('disabled')
      await f.control.enable()
      expect(await f.client.unwrap(wrapped, ctx())).toEqual(new Uint8Array(32).fill(3))
    })

    test('the customer destroys its CMK: nothing it wrapped opens again', async () => {
      const wrapped = await f.client.wrap(new Uint8Array(32).fill(4), ctx())
      await f.control.destroy()
      const code = await codeOf(f.client.unwrap(wrapped, ctx()))
      expect(['ERR_KEY_DESTROYED', 'ERR_KEY_PENDING_DELETION', 'ERR_KEY_NOT_FOUND']).toContain(code)
      expect(await codeOf(f.client.wrap(new Uint8Array(32), ctx()))).not.toBe('resolved')
    })
  })
}
