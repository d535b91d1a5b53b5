// The CMK acceptance suite against a real SoftHSM2 token, twice: with the proxy administering the key (its own
// CmkLifecycle), and with the customer's HSM admin acting in the token from another process (hsm-admin.mjs), which
// the client must see at once: the token is the only place a key's versions and state live.
import { afterAll } from 'vitest'
import { Pkcs11Cmk } from '../../src/kms/pkcs11/index.ts'
import { defineCmkAcceptance } from '../cmk/acceptance.ts'
import { hsmAdmin, startSoftHsm } from './softhsm.ts'

const TOKEN = 'acceptance'
const hsm = startSoftHsm([TOKEN])
afterAll(() => hsm.close())

let n = 0
const open = (key: string, versionCacheMs?: number) =>
  Pkcs11Cmk.open({ module: hsm.module, tokenLabel: TOKEN, pinFile: hsm.pinFile, key, versionCacheMs })

defineCmkAcceptance('pkcs11 (SoftHSM2), administered by the proxy', async () => {
  const client = await open(`tenant-${++n}/default`)
  await client.create()
  return {
    client,
    control: {
      disable: async () => void (await client.setEnabled(false)),
      enable: async () => void (await client.setEnabled(true)),
      rotate: async () => void (await client.rotate()),
      destroy: async () => void (await client.destroy()),
    },
    close: async () => {},
  }
})

// versionCacheMs 0: a version the admin makes is the primary at the next wrap (disable and removal apply at once
// with any cache; the other tests show that).
defineCmkAcceptance('pkcs11 (SoftHSM2), the HSM admin acts in the token', async () => {
  const key = `tenant-${++n}/default`
  const client = await open(key, 0)
  await client.create()
  return {
    client,
    control: {
      disable: async () => void hsmAdmin(hsm, TOKEN, 'disable', key),
      enable: async () => void hsmAdmin(hsm, TOKEN, 'enable', key),
      rotate: async () => void hsmAdmin(hsm, TOKEN, 'rotate', key),
      destroy: async () => void hsmAdmin(hsm, TOKEN, 'destroy', key),
    },
    close: async () => {},
  }
})
