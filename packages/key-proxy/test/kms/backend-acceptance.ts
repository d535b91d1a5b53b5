// The backend acceptance suite: what every KMS backend does behind a real key proxy process, in direct and in
// leased mode — generate, unwrap, rewrap (rekey), describe, another tenant, another context, rotation keeping old
// versions, the customer disabling its CMK in its own KMS (refused at once in direct mode, within leaseTtl in
// leased mode: polled with a bound, never slept for), and destroying it. A backend's test file starts the real
// KMS (SoftHSM2, the AWS KMS endpoint, the local KMS), a proxy, and calls defineBackendAcceptance per mode.
import { decrypt, decryptToString, type Edek, encrypt, readHeader, replaceEdeks } from '@envelope/core'
import { createKeyProxyClient, type KeyProxyClient } from '@envelope/fetch-client'
import { afterAll, beforeAll, describe, expect, test } from 'vitest'
import { codeOf, type RunningProxy } from '../proxy-process.ts'

/** What the customer does to its CMK in its own KMS (its HSM's admin, its AWS account), or the operator's routes. */
export interface BackendControl {
  disable(): Promise<void>
  enable(): Promise<void>
  /** A new CMK version; old ones still unwrap. */
  rotate(): Promise<void>
  /** The CMK's material gone (after a deletion waiting period where the KMS has one). */
  destroy(): Promise<void>
}

export interface BackendFixture {
  readonly proxy: RunningProxy
  /** The tenant under test: its primary key is the backend's, in the mode under test. */
  readonly tenant: string
  readonly key: string
  /** Another tenant of the proxy (a local one). */
  readonly other: string
  /** An API key allowed both tenants. */
  readonly apiKey: string
  readonly control: BackendControl
  /** The EDEK provider id, and what describe says. */
  readonly providerId: string
  readonly provider: string
  readonly managedBy: 'proxy' | 'customer'
  /** Whether the KMS shows versions (local, PKCS#11: yes; AWS: no). */
  readonly versions: boolean
  /** Whether a rotation through `control` makes a new lease (through the proxy: yes; in the customer's KMS: at the lease's age). */
  readonly rotationMakesLease: boolean
  /** The code of an EDEK presented with another context. */
  readonly wrongContext: string
  /** Codes of a use after `destroy` (the KMS's: destroyed, pending deletion, or no such key). */
  readonly destroyedCodes: readonly string[]
  close(): Promise<void>
}

const POLL_BOUND_MS = 30_000

/** Polls `probe` until it gives `done`; fails after a bound (a revocation that never takes effect). */
async function until<T>(probe: () => Promise<T>, done: (v: T) => boolean, what: string): Promise<T> {
  const start = Date.now()
  for (;;) {
    const v = await probe()
    if (done(v)) return v
    if (Date.now() - start > POLL_BOUND_MS) throw new Error(`${what}: still ${JSON.stringify(v)}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

export function defineBackendAcceptance(name: string, mode: 'direct' | 'leased', setup: () => Promise<BackendFixture>) {
  describe(`backend acceptance: ${name}, ${mode}`, () => {
    let f: BackendFixture
    let client: KeyProxyClient
    const fresh = (tenant = f.tenant) =>
      createKeyProxyClient({ baseUrl: f.proxy.url, apiKey: f.apiKey, tenant, retries: 0 })
    beforeAll(async () => {
      f = await setup()
      client = fresh()
    })
    afterAll(async () => {
      await f?.close()
    })
    const seal = async (text: string, context: Record<string, string>) => {
      const message = await encrypt(text, { provider: client, context })
      return { message, edek: readHeader(message).edeks[0]! }
    }

    test('generate: the EDEK names the provider, the key and its version or lease; unwrap opens it', async () => {
      const context = { tenant: f.tenant, doc: 'a' }
      const { message, edek } = await seal('hello', context)
      expect(edek).toMatchObject({ providerId: f.providerId, keyId: `${f.tenant}/${f.key}` })
      if (mode === 'leased') expect(edek.keyVersion).toMatch(/^lease:[A-Za-z0-9_-]{22}$/)
      else if (f.versions) expect(edek.keyVersion).toMatch(/^v?1$/)
      expect(await decryptToString(message, { provider: fresh(), expectedContext: context })).toBe('hello')
      const line = f.proxy
        .auditLines()
        .filter((l) => l.action === 'generate' && l.tenant === f.tenant)
        .at(-1)
      expect(line).toMatchObject({ outcome: 'ok', keyId: `${f.tenant}/${f.key}`, keyVersion: edek.keyVersion })
    })

    test('describe: state, provider, who manages it, mode; never material', async () => {
      const d = await f.proxy.adminApi('GET', `${f.tenant}/keys/${f.key}`)
      expect(d).toMatchObject({
        status: 200,
        body: { state: 'enabled', provider: f.provider, managedBy: f.managedBy, mode, primary: true },
      })
      expect(typeof d.body.keyRef).toBe('string')
      const t = await f.proxy.adminApi('GET', f.tenant)
      expect(t.body).toMatchObject({ primary: f.key, entries: [{ id: f.key, provider: f.provider, mode }] })
    })

    test('rewrap: rekey to the same tenant and to another, the DEK never returned; the body untouched', async () => {
      const context = { doc: 'rekey' }
      const { message, edek } = await seal('moved', context)
      const again = await client.rekey!([edek], context)
      expect(again.keyId).toBe(`${f.tenant}/${f.key}`)
      expect(await decryptToString(replaceEdeks(message, [again]), { provider: fresh() })).toBe('moved')
      const toOther = await client.rekey!([edek], context, { toTenant: f.other })
      expect(toOther.keyId).toBe(`${f.other}/default`)
      expect(await decryptToString(replaceEdeks(message, [toOther]), { provider: fresh(f.other) })).toBe('moved')
    })

    test('another tenant’s EDEK is refused; so is an EDEK with its key id moved to another tenant', async () => {
      const { message, edek } = await seal('mine', { doc: 't' })
      expect(await codeOf(decrypt(message, { provider: fresh(f.other) }))).toBe('ERR_TENANT_FORBIDDEN')
      const moved: Edek = { ...edek, keyId: `${f.other}/${f.key}` }
      expect(await codeOf(fresh(f.other).unwrapDataKey([moved], { doc: 't' }))).toMatch(
        /^ERR_(KEY_NOT_FOUND|EDEK_INVALID)$/,
      )
    })

    test('another context: refused', async () => {
      const { edek } = await seal('ctx', { doc: 'one' })
      expect(await codeOf(fresh().unwrapDataKey([edek], { doc: 'two' }))).toBe(f.wrongContext)
      const altered = edek.ciphertext.slice()
      altered[altered.length - 3]! ^= 1
      expect(await codeOf(fresh().unwrapDataKey([{ ...edek, ciphertext: altered }], { doc: 'one' }))).toMatch(
        /^ERR_EDEK_(INVALID|CONTEXT_MISMATCH)$/,
      )
    })

    test('rotation: old EDEKs still unwrap; new ones name the new version (or a new lease)', async () => {
      const before = await seal('before', { doc: 'r' })
      await f.control.rotate()
      const after = await seal('after', { doc: 'r' })
      expect(await decryptToString(before.message, { provider: fresh() })).toBe('before')
      expect(await decryptToString(after.message, { provider: fresh() })).toBe('after')
      const d = (await f.proxy.adminApi('GET', `${f.tenant}/keys/${f.key}`)).body
      if (mode === 'direct' && f.versions) {
        expect(after.edek.keyVersion).not.toBe(before.edek.keyVersion)
        expect(String(d.primaryVersion)).toBe(after.edek.keyVersion)
        expect(d.versions.map(String)).toContain(before.edek.keyVersion)
      } else if (mode === 'leased' && f.rotationMakesLease) {
        expect(after.edek.keyVersion).not.toBe(before.edek.keyVersion)
        expect(d.lease.id).toBe(after.edek.keyVersion.slice('lease:'.length))
      } else {
        expect(after.edek.keyVersion).toBe(before.edek.keyVersion) // AWS: its ciphertexts name their material
      }
    })

    test(`the customer disables the CMK in its KMS: refused ${mode === 'direct' ? 'at once' : 'within leaseTtl'}; enabled again, it works`, async () => {
      const old = await seal('kept', { doc: 'd' })
      await f.control.disable()
      const generate = () => codeOf(fresh().generateDataKey({ doc: 'new' }))
      const unwrap = () => codeOf(fresh().unwrapDataKey([old.edek], { doc: 'd' }))
      if (mode === 'direct') {
        expect(await generate()).toBe('ERR_KEY_DISABLED')
        expect(await unwrap()).toBe('ERR_KEY_DISABLED')
      } else {
        expect(await until(generate, (c) => c !== undefined, 'generate after disable')).toBe('ERR_KEY_DISABLED')
        expect(await until(unwrap, (c) => c !== undefined, 'unwrap after disable')).toBe('ERR_KEY_DISABLED')
      }
      expect((await f.proxy.adminApi('GET', `${f.tenant}/keys/${f.key}`)).body.state).toBe('disabled')
      await f.control.enable()
      expect(await decryptToString(old.message, { provider: fresh() })).toBe('kept')
      expect(await generate()).toBeUndefined()
    })

    test('the CMK destroyed: nothing it wrapped opens again, nothing new is made', async () => {
      const old = await seal('gone', { doc: 'x' })
      await f.control.destroy()
      const unwrap = () => codeOf(fresh().unwrapDataKey([old.edek], { doc: 'x' }))
      const code = await until(unwrap, (c) => c !== undefined, 'unwrap after destroy')
      expect(f.destroyedCodes).toContain(code)
      expect(f.destroyedCodes).toContain(await codeOf(fresh().generateDataKey({ doc: 'y' })))
    })
  })
}
