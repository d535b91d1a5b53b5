// The backend acceptance suite on a real SoftHSM2 token behind a real proxy, in direct and leased modes. The key
// is registered through the admin API (made in the HSM, then a test wrap and unwrap); the customer's HSM admin
// disables and enables it in the token from a process of its own (hsm-admin.mjs); rotation and destruction go
// through the proxy's lifecycle routes, which act in the HSM (a new object; C_DestroyObject).
import { afterAll } from 'vitest'
import { hsmAdmin, startSoftHsm } from '../pkcs11/softhsm.ts'
import { defineBackendAcceptance } from './backend-acceptance.ts'
import { startKmsProxy } from './kms-fixtures.ts'

const TOKEN = 'kms-acceptance'
const hsm = startSoftHsm([TOKEN])
afterAll(() => hsm.close())

for (const mode of ['direct', 'leased'] as const) {
  defineBackendAcceptance('pkcs11 (SoftHSM2)', mode, async () => {
    const tenant = mode === 'direct' ? 'acme' : 'initech'
    const { proxy, apiKey } = await startKmsProxy({ tenants: ['globex'], pkcs11Modules: [hsm.module] })
    const registered = await proxy.adminApi('PUT', `${tenant}/keys/hsm`, {
      provider: 'pkcs11',
      settings: { module: hsm.module, tokenLabel: TOKEN, pinFile: hsm.pinFile, versionCacheMs: 0 },
      mode,
      primary: true,
      create: true,
    })
    if (registered.status !== 200) throw new Error(`register: ${JSON.stringify(registered.body)}`)
    const act = async (action: string, body?: unknown) => {
      const r = await proxy.adminApi('POST', `${tenant}/keys/hsm/${action}`, body)
      if (r.status !== 200) throw new Error(`${action}: ${r.status} ${r.code}`)
    }
    return {
      proxy,
      tenant,
      key: 'hsm',
      other: 'globex',
      apiKey,
      providerId: 'envelope-pkcs11',
      provider: 'pkcs11',
      managedBy: 'proxy',
      versions: true,
      rotationMakesLease: true,
      wrongContext: mode === 'direct' ? 'ERR_EDEK_INVALID' : 'ERR_EDEK_CONTEXT_MISMATCH',
      destroyedCodes: ['ERR_KEY_DESTROYED'],
      control: {
        disable: async () => void hsmAdmin(hsm, TOKEN, 'disable', `${tenant}/hsm`),
        enable: async () => void hsmAdmin(hsm, TOKEN, 'enable', `${tenant}/hsm`),
        rotate: () => act('rotate'),
        destroy: async () => {
          await act('schedule-deletion', { waitingDays: 0 })
          await act('destroy')
        },
      },
      close: () => proxy.stop(),
    }
  })
}
