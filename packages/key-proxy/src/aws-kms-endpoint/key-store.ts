/**
 * The endpoint's keys and aliases, kept in memory and persisted in one JSON file of its data folder. Each key
 * material is sealed with AES-256-GCM under the endpoint's root key (additional data: key id and material id),
 * so the file alone reveals no key. Every change is written atomically (temp file, fsync, rename, fsync of the
 * folder) before it takes effect in memory: a crash leaves the old file or the new one, never a torn one.
 * A key whose deletion date has passed is erased from the file (material included) the next time keys are read,
 * as AWS KMS deletes a key at the end of its waiting period.
 * @module
 */
import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject, randomBytes, randomUUID } from 'node:crypto'
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'

export type AwsKeyState = 'Enabled' | 'Disabled' | 'PendingDeletion'

export interface StoredMaterial {
  /** 64 hex digits, as AWS's KeyMaterialId. */
  readonly id: string
  /** Epoch ms. */
  readonly created: number
  /** Set on materials made by a rotation (not on the key's first). */
  readonly rotationType?: 'ON_DEMAND'
  /** base64url(IV ‖ AES-256-GCM(root key, material) ‖ tag). */
  readonly sealed: string
}

export interface StoredKey {
  readonly keyId: string
  readonly created: number
  readonly description: string
  readonly state: AwsKeyState
  readonly deletionDate?: number
  readonly pendingWindowInDays?: number
  readonly onDemandRotations: number
  /** Oldest first; the last one is current. */
  readonly materials: readonly StoredMaterial[]
}

export interface StoredAlias {
  readonly target: string
  readonly created: number
  readonly updated: number
}

interface StoredFile {
  readonly format: 'envelope-aws-kms-endpoint/1'
  readonly keys: Readonly<Record<string, StoredKey>>
  readonly aliases: Readonly<Record<string, StoredAlias>>
}

const FORMAT = 'envelope-aws-kms-endpoint/1' as const

/** Writes `text` to `path` durably: a crash leaves the old file or the new one. */
export function writeFileAtomic(path: string, text: string): void {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
  const fd = openSync(tmp, 'w', 0o600)
  try {
    writeSync(fd, text)
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
  renameSync(tmp, path)
  const dir = openSync(dirname(path), 'r')
  try {
    fsyncSync(dir) // the rename itself must survive a crash
  } finally {
    closeSync(dir)
  }
}

function earliestDeletion(data: StoredFile): number {
  let min = Number.POSITIVE_INFINITY
  for (const k of Object.values(data.keys)) {
    if (k.state === 'PendingDeletion' && k.deletionDate !== undefined) min = Math.min(min, k.deletionDate)
  }
  return min
}

export class KeyStore {
  private data: StoredFile
  /** The earliest deletion date of a key pending deletion (Infinity when none): sweeps are free until then. */
  private nextDeletion = Number.POSITIVE_INFINITY
  private readonly path: string
  private readonly root: KeyObject
  /** The lifecycle clock (deletion dates), epoch ms. */
  readonly now: () => number
  // sealed material → its key, unsealed once; dropped when the key is deleted
  private readonly unsealed = new Map<string, KeyObject>()

  /** @throws Error when the file exists but cannot be read: a damaged store is never overwritten. */
  constructor(options: { readonly file: string; readonly rootKey: Uint8Array; readonly now: () => number }) {
    this.path = options.file
    this.root = createSecretKey(Buffer.from(options.rootKey))
    this.now = options.now
    let text: string | undefined
    try {
      text = readFileSync(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    }
    const parsed = text === undefined ? { format: FORMAT, keys: {}, aliases: {} } : (JSON.parse(text) as StoredFile)
    if (parsed.format !== FORMAT) throw new Error(`${this.path} is not an ${FORMAT} file`)
    this.data = parsed
    this.nextDeletion = earliestDeletion(parsed)
  }

  private sealMaterial(keyId: string, materialId: string, material: Buffer): string {
    const iv = randomBytes(12)
    const c = createCipheriv('aes-256-gcm', this.root, iv)
    c.setAAD(Buffer.from(`${FORMAT} ${keyId} ${materialId}`))
    const out = Buffer.concat([iv, c.update(material), c.final(), c.getAuthTag()])
    return out.toString('base64url')
  }

  /** The key object of one material, unsealed once. @throws Error when it does not open under the root key. */
  material(key: StoredKey, materialId: string): KeyObject | undefined {
    const m = key.materials.find((x) => x.id === materialId)
    if (!m) return undefined
    const hit = this.unsealed.get(m.sealed)
    if (hit) return hit
    const b = Buffer.from(m.sealed, 'base64url')
    const d = createDecipheriv('aes-256-gcm', this.root, b.subarray(0, 12))
    d.setAAD(Buffer.from(`${FORMAT} ${key.keyId} ${m.id}`))
    d.setAuthTag(b.subarray(b.length - 16))
    const raw = Buffer.concat([d.update(b.subarray(12, b.length - 16)), d.final()])
    const object = createSecretKey(raw)
    raw.fill(0)
    this.unsealed.set(m.sealed, object)
    return object
  }

  /** Replaces the stored data: written to disk first, then used. */
  private commit(next: StoredFile): void {
    writeFileAtomic(this.path, JSON.stringify(next, null, 1))
    this.data = next
    this.nextDeletion = earliestDeletion(next)
  }

  /** Erases keys whose deletion waiting period is over (and the aliases that name them). */
  private sweep(): void {
    const now = this.now()
    if (now < this.nextDeletion) return
    const expired = Object.values(this.data.keys).filter(
      (k) => k.state === 'PendingDeletion' && k.deletionDate !== undefined && k.deletionDate <= now,
    )
    if (!expired.length) return
    const gone = new Set(expired.map((k) => k.keyId))
    const keys = Object.fromEntries(Object.entries(this.data.keys).filter(([id]) => !gone.has(id)))
    const aliases = Object.fromEntries(Object.entries(this.data.aliases).filter(([, a]) => !gone.has(a.target)))
    this.commit({ ...this.data, keys, aliases })
    for (const k of expired) for (const m of k.materials) this.unsealed.delete(m.sealed)
  }

  key(keyId: string): StoredKey | undefined {
    this.sweep()
    return this.data.keys[keyId]
  }

  keys(): readonly StoredKey[] {
    this.sweep()
    return Object.values(this.data.keys)
  }

  alias(name: string): StoredAlias | undefined {
    this.sweep()
    return this.data.aliases[name]
  }

  aliases(): ReadonlyArray<readonly [string, StoredAlias]> {
    this.sweep()
    return Object.entries(this.data.aliases)
  }

  private newMaterial(keyId: string, rotationType?: 'ON_DEMAND'): StoredMaterial {
    const id = randomBytes(32).toString('hex')
    const raw = randomBytes(32)
    const sealed = this.sealMaterial(keyId, id, raw)
    raw.fill(0)
    return { id, created: this.now(), ...(rotationType ? { rotationType } : {}), sealed }
  }

  create(description: string): StoredKey {
    const keyId = randomUUID()
    const key: StoredKey = {
      keyId,
      created: this.now(),
      description,
      state: 'Enabled',
      onDemandRotations: 0,
      materials: [this.newMaterial(keyId)],
    }
    this.commit({ ...this.data, keys: { ...this.data.keys, [keyId]: key } })
    return key
  }

  /** Stores a changed key (same id). */
  update(key: StoredKey): StoredKey {
    this.commit({ ...this.data, keys: { ...this.data.keys, [key.keyId]: key } })
    return key
  }

  rotate(key: StoredKey): StoredKey {
    return this.update({
      ...key,
      onDemandRotations: key.onDemandRotations + 1,
      materials: [...key.materials, this.newMaterial(key.keyId, 'ON_DEMAND')],
    })
  }

  setAlias(name: string, target: string): void {
    const now = this.now()
    const created = this.data.aliases[name]?.created ?? now
    this.commit({ ...this.data, aliases: { ...this.data.aliases, [name]: { target, created, updated: now } } })
  }

  deleteAlias(name: string): void {
    const { [name]: _, ...aliases } = this.data.aliases
    this.commit({ ...this.data, aliases })
  }
}
