// The proxy's KMS layer in this process (TenantKms on a real file keystore and a real SoftHSM2 token), so the
// test can take the HSM's sessions away behind its back: every session of the token closed mid-use, in direct
// mode and in leased mode (a lease made before the loss, then one made after it), and the library finalized. The
// proxy reconnects and carries on; every EDEK made before opens after (nothing stored is lost).
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { FileKeystore } from '../../src/keystore/file-keystore.ts'
import { LocalKms } from '../../src/kms/local-kms.ts'
import { TenantKms } from '../../src/kms/tenant-kms.ts'
import { rawSession, startSoftHsm } from '../pkcs11/softhsm.ts'

const TOKEN = 'session-lost'
const hsm = startSoftHsm([TOKEN])
let keystore: FileKeystore
let local: LocalKms
let kms: TenantKms

beforeAll(async () => {
  keystore = FileKeystore.open({ file: join(mkdtempSync(join(tmpdir(), 'envelope-hsm-lost-')), 'keys.json') })
  local = new LocalKms({ keystore, rootKey: crypto.getRandomValues(new Uint8Array(32)) })
  // leaseTtl 0 ms (1 ms): every leased DEK asks the HSM for the lease key again, so the loss is seen there too
  kms = new TenantKms({
    keystore,
    localKms: local,
    leases: { ttlMs: 1, refreshAheadMs: 0 },
    policy: { pkcs11Modules: [hsm.module], awsKmsEndpoints: [] },
  })
  const settings = { module: hsm.module, tokenLabel: TOKEN, pinFile: hsm.pinFile }
  for (const mode of ['direct', 'leased'] as const) {
    await kms.register(mode, 'hsm', {
      provider: 'pkcs11',
      settings: { ...settings, keyLabel: `${mode}/hsm` },
      mode,
      create: true,
    })
  }
})
afterAll(async () => {
  await kms?.close()
  local?.close()
  await keystore?.close()
  hsm.close()
})

test('all of the token’s sessions closed behind the proxy’s back: it logs in again, direct and leased', async () => {
  const made = []
  for (const tenant of ['direct', 'leased']) made.push({ tenant, ...(await kms.generate(tenant, { doc: tenant })) })
  const raw = rawSession(hsm, TOKEN)
  raw.api.C_CloseAllSessions(raw.slot)
  for (const m of made) {
    expect((await kms.unwrap(m.tenant, m.edek, { doc: m.tenant })).dek).toEqual(m.dek)
    const again = await kms.generate(m.tenant, { doc: 'after' })
    expect((await kms.unwrap(m.tenant, again.edek, { doc: 'after' })).dek).toEqual(again.dek)
  }
  raw.api.C_CloseAllSessions(raw.slot)
  raw.api.C_Finalize() // the library itself, under the proxy: initialized again at the next call
  for (const m of made) expect((await kms.unwrap(m.tenant, m.edek, { doc: m.tenant })).dek).toEqual(m.dek)
})
