// The local KMS's keys as CMK clients pass the shared CMK acceptance suite, on a real file keystore.
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileKeystore } from '../../src/keystore/file-keystore.ts'
import { LocalKms } from '../../src/kms/local-kms.ts'
import { defineCmkAcceptance } from './acceptance.ts'

defineCmkAcceptance('local KMS', async () => {
  const keystore = FileKeystore.open({ file: join(mkdtempSync(join(tmpdir(), 'envelope-local-cmk-')), 'keys.json') })
  const kms = new LocalKms({ keystore, rootKey: crypto.getRandomValues(new Uint8Array(32)), minDeletionDays: 0 })
  const client = kms.cmk('acme', 'default')
  await client.create()
  return {
    client,
    control: {
      disable: async () => void (await client.setEnabled(false)),
      enable: async () => void (await client.setEnabled(true)),
      rotate: async () => void (await client.rotate()),
      destroy: async () => void (await client.destroy()),
    },
    close: async () => {
      kms.close()
      await keystore.close()
    },
  }
})
