/**
 * The embedded keystore: every record in one JSON file (`keys.json` in the data folder), kept in memory and
 * written whole, atomically (key-file.ts: temp file, fsync, rename, fsync of the folder), at every change. One
 * process owns the data folder (its lock, `proxy.lock`), so the file is read once and memory is the truth.
 *
 * The file: `{ "format": "envelope-keystore/1", "records": { "<kind>": { "<key>": <record>, … }, … } }`. A key file
 * of earlier versions (`envelope-local-kms/1`) is read as records (legacy-key-file.ts) and written in this
 * format at the first change.
 *
 * Several processes of one instance (`--workers`) share the file through a {@link FileKeystoreSync}: each update
 * re-reads the file under the instance's lock, and the other processes re-read it when told of a change.
 * @module
 */
import { ProxyError } from '../errors.ts'
import { KeyFile } from './key-file.ts'
import type { Keystore, KeystoreChange, KeystoreUpdate } from './keystore.ts'
import { fromLegacyKeyFile, LEGACY_FORMAT } from './legacy-key-file.ts'
import { KEYSTORE_KINDS, type KeystoreKind, type KeystoreRecords } from './records.ts'

/**
 * The `format` field of a file keystore's JSON file.
 *
 * @example
 * ```ts
 * if (JSON.parse(readFileSync(file, 'utf8')).format !== KEYSTORE_FORMAT) throw new Error('not a keystore file')
 * ```
 */
export const KEYSTORE_FORMAT = 'envelope-keystore/1'

/**
 * How the processes of one instance share the file (the shape of the server's instance sync): one write at a time
 * across them, and each told of the others' writes. Without one, this process is the file's only user.
 *
 * @example
 * ```ts
 * const keystore = FileKeystore.open({ file, sync: workerSync }) // the primary and its workers: one instance
 * ```
 */
export interface FileKeystoreSync {
  /** True when other processes write the file too: re-read it before each change. */
  readonly shared: boolean
  /** Runs `write` while no other process of the instance runs one. */
  exclusive<T>(write: () => Promise<T>): Promise<T>
  /** After a write (inside `exclusive`): resolves once every other process has applied it. */
  publish(): Promise<void>
  /** How this process applies another's write. */
  onChange(apply: () => void | Promise<void>): void
}

/**
 * Options of {@link FileKeystore.open}.
 *
 * @example
 * ```ts
 * const keystore = FileKeystore.open({ file: '/var/lib/envelope-proxy/keys.json' })
 * ```
 */
export interface FileKeystoreOptions {
  /** Path of the JSON file (the folder is locked: one keystore per folder). */
  readonly file: string
  /** Shared by the processes of one instance; default this process alone. */
  readonly sync?: FileKeystoreSync
  /** Take the data folder's lock (default true); false only where another process of the instance holds it. */
  readonly lock?: boolean
}

type Records = Map<KeystoreKind, Map<string, unknown>>

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}

function emptyRecords(): Records {
  return new Map(KEYSTORE_KINDS.map((k) => [k, new Map()]))
}

/** The records of the file's JSON (either format); empty when there is no file yet. */
function parse(json: unknown, path: string): Records {
  if (json === undefined) return emptyRecords()
  const f = json as { format?: unknown; records?: unknown }
  if (f?.format === LEGACY_FORMAT) return fromLegacyKeyFile(json, path)
  const isObject = (v: unknown): v is Record<string, unknown> =>
    typeof v === 'object' && v !== null && !Array.isArray(v)
  if (!isObject(f) || f.format !== KEYSTORE_FORMAT || !isObject(f.records)) {
    throw new ProxyError('ERR_KEYSTORE_UNAVAILABLE', `the key file ${path} is not an ${KEYSTORE_FORMAT} file`)
  }
  const records = emptyRecords()
  for (const kind of KEYSTORE_KINDS) {
    const byKey = f.records[kind]
    // Object.entries: own properties only, so a key such as `__proto__` is an ordinary key here.
    if (isObject(byKey))
      for (const [key, value] of Object.entries(byKey)) records.get(kind)!.set(key, deepFreeze(value))
  }
  return records
}

function serialize(records: Records): unknown {
  // Object.fromEntries defines own data properties, whatever the key (`__proto__` included).
  return {
    format: KEYSTORE_FORMAT,
    records: Object.fromEntries([...records].map(([kind, byKey]) => [kind, Object.fromEntries(byKey)])),
  }
}

/**
 * The file keystore.
 * @example
 * ```ts
 * const keystore = FileKeystore.open({ file: '.envelope-data/keys.json' })
 * await keystore.update('local-key', 'acme/default', (k) => k ?? newKey())
 * await keystore.close()
 * ```
 * @throws DataDirLockedError (`ERR_DATA_DIR_LOCKED`) from `open` when another process holds the folder;
 * `ERR_KEYSTORE_UNAVAILABLE` when the file cannot be read, is not a keystore file, or cannot be written
 */
export class FileKeystore implements Keystore {
  /** Opens (and locks) the keystore of a file; the file is made at the first change. */
  static open(options: FileKeystoreOptions): FileKeystore {
    const file = new KeyFile(options.file, { lock: options.lock })
    try {
      return new FileKeystore(file, parse(file.read(), options.file), options.sync)
    } catch (err) {
      file.close()
      throw err
    }
  }

  readonly path: string
  readonly #file: KeyFile
  #records: Records
  readonly #sync: FileKeystoreSync
  readonly #listeners = new Set<(change: KeystoreChange) => void>()
  #closed = false

  private constructor(file: KeyFile, records: Records, sync?: FileKeystoreSync) {
    this.path = file.path
    this.#file = file
    this.#records = records
    this.#sync = sync ?? oneProcess()
    this.#sync.onChange(() => this.#reload())
  }

  async get<K extends KeystoreKind>(kind: K, key: string): Promise<KeystoreRecords[K] | undefined> {
    return this.#records.get(kind)?.get(key) as KeystoreRecords[K] | undefined
  }

  async list<K extends KeystoreKind>(kind: K, prefix = '') {
    const out: [string, KeystoreRecords[K]][] = []
    for (const [key, value] of this.#records.get(kind) ?? []) {
      if (key.startsWith(prefix)) out.push([key, value as KeystoreRecords[K]])
    }
    return out
  }

  update<K extends KeystoreKind>(
    kind: K,
    key: string,
    change: (current: KeystoreRecords[K] | undefined) => KeystoreUpdate<K> | Promise<KeystoreUpdate<K>>,
  ): Promise<KeystoreRecords[K] | undefined> {
    if (this.#closed) return Promise.reject(new ProxyError('ERR_KEYSTORE_UNAVAILABLE', 'the keystore is closed'))
    if (!KEYSTORE_KINDS.includes(kind)) return Promise.reject(new TypeError(`not a keystore kind: ${kind}`))
    return this.#sync.exclusive(async () => {
      if (this.#sync.shared) this.#records = parse(this.#file.read(), this.path) // another process may have written
      const current = this.#records.get(kind)!.get(key) as KeystoreRecords[K] | undefined
      const next = await change(current)
      if (next === current || (next == null && current === undefined)) return current
      const records: Records = new Map(this.#records)
      const byKey = new Map(records.get(kind))
      if (next == null) byKey.delete(key)
      else byKey.set(key, deepFreeze(structuredClone(next)))
      records.set(kind, byKey)
      this.#file.write(serialize(records)) // throws ERR_KEYSTORE_UNAVAILABLE: memory stays as it was
      this.#records = records
      this.#tell({ kind, key })
      if (this.#sync.shared) await this.#sync.publish()
      return byKey.get(key) as KeystoreRecords[K] | undefined
    })
  }

  watch(listener: (change: KeystoreChange) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async shred(): Promise<void> {
    // Under the instance's lock: no other process of the instance is writing a temp file meanwhile.
    await this.#sync.exclusive(async () => this.#file.removeTemps())
  }

  async close(): Promise<void> {
    this.#closed = true
    this.#listeners.clear()
    this.#file.close()
  }

  /** Another process of the instance wrote the file: read it, and tell of every record that differs. */
  #reload(): void {
    const before = this.#records
    const after = parse(this.#file.read(), this.path)
    this.#records = after
    for (const kind of KEYSTORE_KINDS) {
      const a = before.get(kind)!
      const b = after.get(kind)!
      for (const [key, value] of b) if (JSON.stringify(a.get(key)) !== JSON.stringify(value)) this.#tell({ kind, key })
      for (const key of a.keys()) if (!b.has(key)) this.#tell({ kind, key })
    }
  }

  #tell(change: KeystoreChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change)
      } catch (err) {
        console.error(`[key-proxy] keystore listener failed: ${(err as Error)?.message ?? err}`)
      }
    }
  }
}

/** This process alone: writes one at a time, and no one else to tell. */
function oneProcess(): FileKeystoreSync {
  let tail: Promise<unknown> = Promise.resolve()
  return {
    shared: false,
    exclusive(write) {
      const run = tail.then(write)
      tail = run.catch(() => {})
      return run
    },
    publish: () => Promise.resolve(),
    onChange() {},
  }
}
