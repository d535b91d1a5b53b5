// The unwrap work of the key proxy with nothing around it: open each EDEK with the tenant's KMS (its entry looked
// up, then the local KMS: the CMK version unsealed once, AES-GCM through node:crypto) and wrap its DEK to the
// client's delivery key, bound to its request (the proxy's own delivery-node.ts), in batches, in this one process.
// No HTTP, JSON, auth or audit: bench-proxy.mjs sets the proxy's figures against this.
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  edekFromJson,
  fromBase64url,
  importDeliveryPublicKey,
  newNonce,
  readNonce,
} from '../../packages/fetch-client/src/protocol.ts'
import { createNodeDelivery } from '../../packages/key-proxy/src/delivery-node.ts'
import { FileKeystore } from '../../packages/key-proxy/src/keystore/file-keystore.ts'
import { LocalKms } from '../../packages/key-proxy/src/kms/local-kms.ts'
import { TenantKms } from '../../packages/key-proxy/src/kms/tenant-kms.ts'

export interface BareOptions {
  /** The benchmarked proxy's data folder (its keys.json and root.key are copied, not shared). */
  readonly dataDir: string
  readonly tenant: string
  readonly items: ReadonlyArray<{ edeks: unknown[]; context: Record<string, string> }>
  readonly clientKey: JsonWebKey
  readonly batch: number
}

/** Ready to run: `run(total)` unwraps `total` EDEKs in batches and says how long it took. */
export async function prepareBare(o: BareOptions) {
  const dir = mkdtempSync(join(tmpdir(), 'envelope-bench-bare-'))
  copyFileSync(join(o.dataDir, 'keys.json'), join(dir, 'keys.json'))
  const rootKey = fromBase64url(readFileSync(join(o.dataDir, 'root.key'), 'utf8').trim())!
  const keystore = FileKeystore.open({ file: join(dir, 'keys.json') })
  // What the proxy runs: the tenant's KMS entry looked up, then the local KMS opens the EDEK.
  const kms = new TenantKms({ keystore, localKms: new LocalKms({ keystore, rootKey }) })
  const delivery = await createNodeDelivery((await importDeliveryPublicKey(o.clientKey))!)
  const edeks = o.items.map((it) => edekFromJson(it.edeks[0])!)
  const nonce = readNonce(newNonce())!
  const one = async (i: number) => {
    const n = i % edeks.length
    const edek = edeks[n]!
    const context = o.items[n]!.context
    const { dek } = await kms.unwrap(o.tenant, edek, context)
    try {
      await delivery.wrap(dek, { nonce, tenant: o.tenant, edek, context })
    } finally {
      dek.fill(0)
    }
  }
  await Promise.all(Array.from({ length: o.batch }, (_, i) => one(i))) // warm: versions unsealed
  return {
    async run(total: number): Promise<{ items: number; seconds: number; latencies: number[] }> {
      const t0 = performance.now()
      for (let done = 0; done < total; done += o.batch) {
        await Promise.all(Array.from({ length: Math.min(o.batch, total - done) }, (_, i) => one(done + i)))
      }
      return { items: total, seconds: (performance.now() - t0) / 1000, latencies: [] }
    },
  }
}
