// The backend acceptance suite on the embedded local KMS, behind a real proxy, in direct and leased modes. The
// local KMS is the proxy's own: "the customer's controls" are the operator's admin routes.
import { defineBackendAcceptance } from './backend-acceptance.ts'
import { startKmsProxy } from './kms-fixtures.ts'

for (const mode of ['direct', 'leased'] as const) {
  defineBackendAcceptance('local', mode, async () => {
    const key = mode === 'direct' ? 'default' : 'vault'
    const { proxy, apiKey } = await startKmsProxy({
      tenants: ['globex', { id: 'acme', kms: [{ id: key, provider: 'local', mode }] }],
    })
    const act = async (action: string, body?: unknown) => {
      const r = await proxy.adminApi('POST', `acme/keys/${key}/${action}`, body)
      if (r.status !== 200) throw new Error(`${action}: ${r.status} ${r.code}`)
    }
    return {
      proxy,
      tenant: 'acme',
      key,
      other: 'globex',
      apiKey,
      providerId: 'envelope-local-kms',
      provider: 'local',
      managedBy: 'proxy',
      versions: true,
      rotationMakesLease: true,
      wrongContext: 'ERR_EDEK_CONTEXT_MISMATCH',
      destroyedCodes: ['ERR_KEY_DESTROYED'],
      control: {
        disable: () => act('disable'),
        enable: () => act('enable'),
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
