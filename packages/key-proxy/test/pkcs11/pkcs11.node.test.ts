// The PKCS#11 backend against a real SoftHSM2: what the key objects are in the HSM, the PIN, lost sessions and a
// lost library, the session pool, and the HSM admin's changes applying at once. The acceptance suite is in
// acceptance.node.test.ts, disaster recovery in recovery.node.test.ts.
import { writeFileSync } from 'node:fs'
import { inspect } from 'node:util'
import { afterAll, afterEach, describe, expect, test } from 'vitest'
import { ConfigError } from '../../src/errors.ts'
import type { WrapContext } from '../../src/kms/cmk.ts'
import { Pkcs11Cmk, type Pkcs11CmkOptions } from '../../src/kms/pkcs11/index.ts'
import { hsmAdmin, p11, rawSession, startSoftHsm } from './softhsm.ts'

const TOKEN = 'backend'
const PIN_TOKEN = 'pin-change' // a token whose PIN a test changes
const hsm = startSoftHsm([TOKEN, PIN_TOKEN])
afterAll(() => hsm.close())
// Pool tests read the PIN from variables of their own: another PIN source is another pool of the token.
process.env.ENVELOPE_POOL_PIN_A = hsm.pin
process.env.ENVELOPE_POOL_PIN_B = hsm.pin

const ctx: WrapContext = { tenant: 'acme', purpose: 'dek', ctx: 'x' }
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'resolved',
    (e) => (e as { code?: string }).code ?? `untyped: ${String(e)}`,
  )
let n = 0
const options = (extra: Partial<Pkcs11CmkOptions> = {}): Pkcs11CmkOptions => ({
  module: hsm.module,
  tokenLabel: TOKEN,
  pinFile: hsm.pinFile,
  key: `t${++n}/default`,
  ...extra,
})
// Every client a test opens is closed after it, also when it fails (a client left open keeps the token logged in).
const clients: Pkcs11Cmk[] = []
afterEach(async () => {
  for (const c of clients.splice(0)) await c.close()
})
async function opened(extra: Partial<Pkcs11CmkOptions> = {}) {
  const cmk = await Pkcs11Cmk.open(options(extra))
  clients.push(cmk)
  return cmk
}
async function created(extra: Partial<Pkcs11CmkOptions> = {}) {
  const o = options(extra)
  const cmk = await opened(o)
  await cmk.create()
  return { cmk, key: o.key }
}
const bool = (b: Buffer) => b[0] === 1
const ulong = (b: Buffer) => Number(b.readBigUInt64LE(0))

describe('key objects in the HSM', () => {
  test('each version is an AES-256 token object, sensitive, never extractable, encrypt/decrypt only', async () => {
    const { cmk, key } = await created()
    await cmk.rotate()
    const raw = rawSession(hsm, TOKEN)
    try {
      for (const v of ['v1', 'v2']) {
        const attrs = raw.api.C_GetAttributeValue(raw.session, raw.one(`envelope/${key}/${v}`), [
          { type: p11.CKA_CLASS },
          { type: p11.CKA_KEY_TYPE },
          { type: p11.CKA_VALUE_LEN },
          { type: p11.CKA_TOKEN },
          { type: p11.CKA_PRIVATE },
          { type: p11.CKA_SENSITIVE },
          { type: p11.CKA_ALWAYS_SENSITIVE },
          { type: p11.CKA_EXTRACTABLE },
          { type: p11.CKA_NEVER_EXTRACTABLE },
          { type: p11.CKA_LOCAL },
          { type: p11.CKA_ENCRYPT },
          { type: p11.CKA_DECRYPT },
          { type: p11.CKA_WRAP },
          { type: p11.CKA_UNWRAP },
          { type: p11.CKA_SIGN },
          { type: p11.CKA_DERIVE },
          { type: p11.CKA_ID },
        ])
        const [
          cls,
          type,
          len,
          token,
          priv,
          sens,
          alwaysSens,
          extr,
          neverExtr,
          local,
          enc,
          dec,
          wrap,
          unwrap,
          sign,
          derive,
          id,
        ] = attrs.map((a) => a.value)
        expect([ulong(cls!), ulong(type!), ulong(len!)]).toEqual([p11.CKO_SECRET_KEY, p11.CKK_AES, 32])
        expect([token, priv, sens, alwaysSens, neverExtr, local, enc, dec].map((b) => bool(b!))).toEqual(
          Array(8).fill(true),
        )
        expect([extr, wrap, unwrap, sign, derive].map((b) => bool(b!))).toEqual(Array(5).fill(false))
        expect(id!.toString()).toBe(`envelope/${key}`)
      }
    } finally {
      raw.close()
    }
  })

  test('the key material cannot be read or wrapped out, and its protection cannot be loosened', async () => {
    const { key } = await created()
    const raw = rawSession(hsm, TOKEN)
    try {
      const object = raw.one(`envelope/${key}/v1`)
      const refused = (f: () => unknown) => {
        try {
          f()
          return 'allowed'
        } catch (e) {
          return (e as Error).message
        }
      }
      expect(refused(() => raw.api.C_GetAttributeValue(raw.session, object, [{ type: p11.CKA_VALUE }]))).toBe(
        'CKR_ATTRIBUTE_SENSITIVE',
      )
      expect(
        refused(() => raw.api.C_SetAttributeValue(raw.session, object, [{ type: p11.CKA_EXTRACTABLE, value: true }])),
      ).toMatch(/^CKR_ATTRIBUTE_READ_ONLY/)
      expect(
        refused(() => raw.api.C_SetAttributeValue(raw.session, object, [{ type: p11.CKA_SENSITIVE, value: false }])),
      ).toMatch(/^CKR_ATTRIBUTE_READ_ONLY/)
      // a wrapping key of the attacker's own, in the same token: the CMK still does not leave
      const kek = raw.api.C_GenerateKey(raw.session, { mechanism: p11.CKM_AES_KEY_GEN }, [
        { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
        { type: p11.CKA_KEY_TYPE, value: p11.CKK_AES },
        { type: p11.CKA_VALUE_LEN, value: 32 },
        { type: p11.CKA_WRAP, value: true },
        { type: p11.CKA_TOKEN, value: false },
      ])
      expect(
        refused(() =>
          raw.api.C_WrapKey(raw.session, { mechanism: p11.CKM_AES_KEY_WRAP_PAD }, kek, object, Buffer.alloc(128)),
        ),
      ).toBe('CKR_KEY_UNEXTRACTABLE')
    } finally {
      raw.close()
    }
  })

  test("a wrap names the version that made it, and that version's object opens it after a rotation", async () => {
    const { cmk, key } = await created()
    const k = new Uint8Array(32).fill(5)
    const first = await cmk.wrap(k, ctx)
    expect(first.version).toBe('v1')
    expect(first.ciphertext).toHaveLength(60) // iv ‖ ct ‖ tag
    await cmk.rotate()
    const second = await cmk.wrap(k, ctx)
    expect(second.version).toBe('v2')
    expect(await cmk.unwrap(first, ctx)).toEqual(k)
    // the version is bound: v1's ciphertext presented as v2 does not open
    expect(await codeOf(cmk.unwrap({ ...first, version: 'v2' }, ctx))).toBe('ERR_EDEK_INVALID')
    expect(await cmk.describe()).toMatchObject({
      state: 'enabled',
      primaryVersion: 'v2',
      versions: ['v1', 'v2'],
      managedBy: 'proxy',
      keyRef: `pkcs11:token=${TOKEN};object=envelope%2F${key.replace('/', '%2F')}`,
    })
  })

  test('not a version, or a version the key never had: typed refusals without an HSM call failing', async () => {
    const { cmk } = await created()
    const wrapped = await cmk.wrap(new Uint8Array(32), ctx)
    for (const version of ['', 'v0', 'v01', '1', 'v1e3', 'v1/../v2']) {
      expect(await codeOf(cmk.unwrap({ ...wrapped, version }, ctx))).toBe('ERR_EDEK_INVALID')
    }
    expect(await codeOf(cmk.unwrap({ ...wrapped, version: 'v9' }, ctx))).toBe('ERR_KEY_NOT_FOUND')
    expect(await codeOf(cmk.wrap(new Uint8Array(31), ctx))).toBe('ERR_BAD_REQUEST')
    const big = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']))
    expect(await codeOf(cmk.wrap(new Uint8Array(32), big))).toBe('ERR_BAD_REQUEST')
    expect(await codeOf(cmk.wrap(new Uint8Array(32), { tenant: 'x'.repeat(9000) }))).toBe('ERR_BAD_REQUEST')
  })

  test('destroy: C_DestroyObject of every version, the labels find nothing, the key stays destroyed', async () => {
    const { cmk, key } = await created()
    await cmk.rotate()
    const wrapped = await cmk.wrap(new Uint8Array(32).fill(9), ctx)
    expect(await cmk.destroy()).toMatchObject({ state: 'destroyed', versions: [] })
    const raw = rawSession(hsm, TOKEN)
    try {
      for (const v of ['v1', 'v2'])
        expect(raw.find([{ type: p11.CKA_LABEL, value: `envelope/${key}/${v}` }])).toEqual([])
      expect(raw.find([{ type: p11.CKA_ID, value: Buffer.from(`envelope/${key}`) }])).toEqual([])
    } finally {
      raw.close()
    }
    expect(await codeOf(cmk.unwrap(wrapped, ctx))).toBe('ERR_KEY_DESTROYED')
    expect(await codeOf(cmk.wrap(new Uint8Array(32), ctx))).toBe('ERR_KEY_DESTROYED')
    expect(await codeOf(cmk.rotate())).toBe('ERR_KEY_DESTROYED')
    expect(await codeOf(cmk.setEnabled(true))).toBe('ERR_KEY_DESTROYED')
    expect(await codeOf(cmk.create())).toBe('ERR_KEY_EXISTS')
    // another client (a restarted proxy) reads the same from the token
    const again = await opened({ key })
    expect((await again.describe()).state).toBe('destroyed')
  })

  test('a key never made: ERR_KEY_NOT_FOUND; create twice: ERR_KEY_EXISTS', async () => {
    const cmk = await opened()
    expect(await codeOf(cmk.describe())).toBe('ERR_KEY_NOT_FOUND')
    expect(await codeOf(cmk.wrap(new Uint8Array(32), ctx))).toBe('ERR_KEY_NOT_FOUND')
    expect(await codeOf(cmk.rotate())).toBe('ERR_KEY_NOT_FOUND')
    expect(await codeOf(cmk.destroy())).toBe('ERR_KEY_NOT_FOUND')
    expect((await cmk.create()).primaryVersion).toBe('v1')
    expect(await codeOf(cmk.create())).toBe('ERR_KEY_EXISTS')
  })

  test('an object under our label that can leave the HSM is never used: ERR_KEY_STATE', async () => {
    const key = `t${++n}/planted`
    const raw = rawSession(hsm, TOKEN)
    try {
      raw.api.C_GenerateKey(raw.session, { mechanism: p11.CKM_AES_KEY_GEN }, [
        { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
        { type: p11.CKA_KEY_TYPE, value: p11.CKK_AES },
        { type: p11.CKA_VALUE_LEN, value: 32 },
        { type: p11.CKA_TOKEN, value: true },
        { type: p11.CKA_SENSITIVE, value: false },
        { type: p11.CKA_EXTRACTABLE, value: true },
        { type: p11.CKA_ENCRYPT, value: true },
        { type: p11.CKA_DECRYPT, value: true },
        { type: p11.CKA_LABEL, value: `envelope/${key}/v1` },
        { type: p11.CKA_ID, value: Buffer.from(`envelope/${key}`) },
      ])
    } finally {
      raw.close()
    }
    const cmk = await opened({ key })
    expect(await codeOf(cmk.wrap(new Uint8Array(32), ctx))).toBe('ERR_KEY_STATE')
    expect(await codeOf(cmk.describe())).toBe('ERR_KEY_STATE')
  })
})

describe("the HSM admin's changes apply at once, whatever the client cached", () => {
  test('use attributes cleared by another session: refused at once with ERR_KEY_DISABLED', async () => {
    const { cmk, key } = await created({ versionCacheMs: 3_600_000 })
    const wrapped = await cmk.wrap(new Uint8Array(32).fill(1), ctx)
    hsmAdmin(hsm, TOKEN, 'clear', key, 'v1', 'decrypt')
    expect(await codeOf(cmk.unwrap(wrapped, ctx))).toBe('ERR_KEY_DISABLED')
    expect((await cmk.describe()).state).toBe('disabled')
    hsmAdmin(hsm, TOKEN, 'enable', key)
    expect(await cmk.unwrap(wrapped, ctx)).toEqual(new Uint8Array(32).fill(1))
    hsmAdmin(hsm, TOKEN, 'clear', key, 'v1', 'encrypt')
    expect(await codeOf(cmk.wrap(new Uint8Array(32), ctx))).toBe('ERR_KEY_DISABLED')
    expect(await codeOf(cmk.rotate())).toBe('ERR_KEY_DISABLED')
  })

  test('a version object removed by another session: its wraps refused at once (ERR_KEY_DESTROYED), others open', async () => {
    const { cmk, key } = await created({ versionCacheMs: 3_600_000 })
    const old = await cmk.wrap(new Uint8Array(32).fill(2), ctx)
    await cmk.rotate()
    const current = await cmk.wrap(new Uint8Array(32).fill(3), ctx)
    hsmAdmin(hsm, TOKEN, 'remove', key, 'v1')
    expect(await codeOf(cmk.unwrap(old, ctx))).toBe('ERR_KEY_DESTROYED')
    expect(await cmk.unwrap(current, ctx)).toEqual(new Uint8Array(32).fill(3))
    expect((await cmk.describe()).versions).toEqual(['v2'])
    hsmAdmin(hsm, TOKEN, 'remove', key, 'v2')
    expect(await codeOf(cmk.unwrap(current, ctx))).toBe('ERR_KEY_NOT_FOUND')
    expect(await codeOf(cmk.wrap(new Uint8Array(32), ctx))).toBe('ERR_KEY_NOT_FOUND')
  })
})

describe('PIN', () => {
  test('a wrong PIN: ERR_KMS_ACCESS_DENIED at open, and neither PIN anywhere in the error', async () => {
    const wrong = '80801357'
    const pinFile = `${hsm.dir}/wrong.pin`
    writeFileSync(pinFile, wrong)
    const e = await Pkcs11Cmk.open(options({ pinFile })).then(
      () => undefined,
      (err: unknown) => err as Error & { code: string },
    )
    expect(e?.code).toBe('ERR_KMS_ACCESS_DENIED')
    const everything = [String(e), e!.stack, JSON.stringify(e), inspect(e, { depth: 10, showHidden: true })].join()
    expect(everything).toContain('CKR_PIN_INCORRECT')
    expect(everything).not.toContain(wrong)
    expect(everything).not.toContain(hsm.pin)
  })

  test('a PIN from an environment variable; the client holds no PIN in what it shows', async () => {
    process.env.ENVELOPE_TEST_HSM_PIN = hsm.pin
    const { cmk } = await created({ pinFile: undefined, pinEnv: 'ENVELOPE_TEST_HSM_PIN' })
    await cmk.wrap(new Uint8Array(32), ctx)
    const shown = [
      inspect(cmk, { depth: 10, showHidden: true }),
      JSON.stringify(cmk),
      JSON.stringify(await cmk.describe()),
    ]
    expect(shown.join()).not.toContain(hsm.pin)
    await cmk.close()
    delete process.env.ENVELOPE_TEST_HSM_PIN
    expect(await codeOf(Pkcs11Cmk.open(options({ pinFile: undefined, pinEnv: 'ENVELOPE_TEST_HSM_PIN' })))).toBe(
      'ERR_KMS_ACCESS_DENIED',
    )
  })

  test('the customer changes the PIN: refused, the refused PIN is never sent again, a new PIN file is used', async () => {
    const pinFile = `${hsm.dir}/changing.pin`
    writeFileSync(pinFile, hsm.pin)
    const { cmk } = await created({ tokenLabel: PIN_TOKEN, pinFile })
    const k = new Uint8Array(32).fill(4)
    const wrapped = await cmk.wrap(k, ctx)
    const setPin = (from: string, to: string) => {
      const raw = rawSession(hsm, PIN_TOKEN, from)
      raw.api.C_SetPIN(raw.session, from, to)
      raw.api.C_CloseAllSessions(raw.slot) // the client's too: the login is gone, it must log in again
    }
    setPin(hsm.pin, '11112222')
    expect(await codeOf(cmk.unwrap(wrapped, ctx))).toBe('ERR_KMS_ACCESS_DENIED')
    // the HSM takes the old PIN again, but the client does not retry a PIN the HSM refused (lockout)
    setPin('11112222', hsm.pin)
    expect(await codeOf(cmk.unwrap(wrapped, ctx))).toBe('ERR_KMS_ACCESS_DENIED')
    setPin(hsm.pin, '33334444')
    writeFileSync(pinFile, '33334444\n')
    expect(await cmk.unwrap(wrapped, ctx)).toEqual(k)
  })
})

describe('connection', () => {
  test('the module missing, no such token, bad options: typed errors at open', async () => {
    expect(await codeOf(Pkcs11Cmk.open(options({ module: '/nonexistent/libpkcs11.so' })))).toBe('ERR_KMS_UNAVAILABLE')
    expect(await codeOf(Pkcs11Cmk.open(options({ module: '/etc/hostname' })))).toBe('ERR_KMS_UNAVAILABLE')
    expect(await codeOf(Pkcs11Cmk.open(options({ tokenLabel: 'no-such-token' })))).toBe('ERR_KMS_UNAVAILABLE')
    expect(await codeOf(Pkcs11Cmk.open(options({ tokenLabel: undefined, slot: 987654 })))).toBe('ERR_KMS_UNAVAILABLE')
    expect(await codeOf(Pkcs11Cmk.open(options({ pinFile: `${hsm.dir}/missing.pin` })))).toBe('ERR_KMS_UNAVAILABLE')
    for (const bad of [
      { key: '../x' },
      { key: 'a//b' },
      { key: '' },
      { tokenLabel: undefined },
      { pinEnv: 'X' },
      { maxSessions: 0 },
      { versionCacheMs: -1 },
    ]) {
      await expect(Pkcs11Cmk.open(options(bad))).rejects.toBeInstanceOf(ConfigError)
    }
  })

  test('all sessions closed behind its back: the client logs in again and carries on', async () => {
    const { cmk } = await created()
    const k = new Uint8Array(32).fill(6)
    const wrapped = await cmk.wrap(k, ctx)
    const raw = rawSession(hsm, TOKEN)
    raw.api.C_CloseAllSessions(raw.slot)
    expect(await cmk.unwrap(wrapped, ctx)).toEqual(k)
    expect(await cmk.unwrap(await cmk.wrap(k, ctx), ctx)).toEqual(k)
  })

  test('the library finalized behind its back: initialized again; while it stays down, ERR_KMS_UNAVAILABLE', async () => {
    const { cmk } = await created()
    const k = new Uint8Array(32).fill(7)
    const wrapped = await cmk.wrap(k, ctx)
    const raw = rawSession(hsm, TOKEN)
    raw.api.C_Finalize()
    expect(await cmk.unwrap(wrapped, ctx)).toEqual(k)
    // finalized again, and SoftHSM2 cannot start (its configuration is gone): one reconnect, then unavailable
    const again = rawSession(hsm, TOKEN)
    again.api.C_Finalize()
    process.env.SOFTHSM2_CONF = `${hsm.dir}/missing.conf`
    try {
      expect(await codeOf(cmk.unwrap(wrapped, ctx))).toBe('ERR_KMS_UNAVAILABLE')
      expect(await codeOf(cmk.wrap(k, ctx))).toBe('ERR_KMS_UNAVAILABLE')
    } finally {
      process.env.SOFTHSM2_CONF = hsm.conf
    }
    // the HSM is back: the next call reconnects
    expect(await cmk.unwrap(wrapped, ctx)).toEqual(k)
  })
})

describe('session pool', () => {
  test('concurrent wraps and unwraps share at most maxSessions sessions and all come back right', async () => {
    const { cmk } = await created({ maxSessions: 3, pinFile: undefined, pinEnv: 'ENVELOPE_POOL_PIN_A' })
    const keys = Array.from({ length: 200 }, () => crypto.getRandomValues(new Uint8Array(32)))
    const wrapped = await Promise.all(keys.map((k, i) => cmk.wrap(k, { ...ctx, i: String(i) })))
    const opened = await Promise.all(wrapped.map((w, i) => cmk.unwrap(w, { ...ctx, i: String(i) })))
    expect(opened).toEqual(keys)
    expect(cmk.openSessions).toBe(3) // SoftHSM2 does not count sessions (C_GetTokenInfo): the pool does
  })

  test('a full wait queue: ERR_KMS_THROTTLED; an aborted wait: ERR_KMS_TIMEOUT; the rest complete', async () => {
    const { cmk } = await created({ maxSessions: 1, maxWaiting: 2, pinFile: undefined, pinEnv: 'ENVELOPE_POOL_PIN_B' })
    const k = new Uint8Array(32)
    const running = cmk.wrap(k, ctx) // holds the only session
    const waiting = [cmk.wrap(k, ctx), cmk.wrap(k, ctx)]
    expect(await codeOf(cmk.wrap(k, ctx))).toBe('ERR_KMS_THROTTLED')
    for (const w of await Promise.all([running, ...waiting])) expect(await cmk.unwrap(w, ctx)).toEqual(k)
    const busy = cmk.wrap(k, ctx)
    const abort = new AbortController()
    const gaveUp = codeOf(cmk.wrap(k, ctx, { signal: abort.signal }))
    abort.abort()
    expect(await gaveUp).toBe('ERR_KMS_TIMEOUT')
    expect(await codeOf(cmk.wrap(k, ctx, { signal: AbortSignal.abort() }))).toBe('ERR_KMS_TIMEOUT')
    expect(await cmk.unwrap(await busy, ctx)).toEqual(k)
    await cmk.close()
    expect(await codeOf(cmk.wrap(k, ctx))).toBe('ERR_KMS_UNAVAILABLE') // closed
  })
})
