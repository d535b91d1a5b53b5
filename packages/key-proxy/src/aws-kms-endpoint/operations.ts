/**
 * The TrentService (AWS KMS) operations the endpoint serves, with AWS's request validation, key-state rules,
 * errors and response shapes (blobs in base64, dates in epoch seconds). Symmetric SYMMETRIC_DEFAULT keys only.
 *
 * Key states as AWS KMS: crypto operations need an Enabled key (Disabled → DisabledException, PendingDeletion →
 * KMSInvalidStateException); Enable/DisableKey refuse a key pending deletion; CancelKeyDeletion leaves the key
 * Disabled; at the end of the waiting period the key and its material are gone (NotFoundException).
 * @module
 */
import { randomBytes } from 'node:crypto'
import { KmsApiError } from './api-error.ts'
import { type EncryptionContext, MAX_CONTEXT_BYTES, openBlob, readBlob, sealBlob } from './ciphertext.ts'
import type { KeyStore, StoredKey } from './key-store.ts'

export interface KmsScope {
  readonly region: string
  readonly accountId: string
  readonly store: KeyStore
}

type Json = Record<string, unknown>
type Operation = (input: Input, scope: KmsScope) => Json

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const ALIAS_NAME = /^alias\/[a-zA-Z0-9/_-]{1,250}$/
/** At most this many on-demand rotations per key, as AWS KMS. */
export const MAX_ON_DEMAND_ROTATIONS = 10

const camel = (s: string) => s[0]!.toLowerCase() + s.slice(1)
const invalid = (field: string, constraint: string) =>
  new KmsApiError(
    'ValidationException',
    `1 validation error detected: Value at '${camel(field)}' failed to satisfy constraint: ${constraint}`,
  )

/** Typed, validated access to one request's JSON members. */
class Input {
  private readonly raw: Json
  constructor(raw: Json) {
    this.raw = raw
  }
  private value(name: string, required: boolean): unknown {
    const v = this.raw[name]
    if ((v === undefined || v === null) && required) throw invalid(name, 'Member must not be null')
    return v ?? undefined
  }
  string(name: string, required: true, max?: number): string
  string(name: string, required?: false, max?: number): string | undefined
  string(name: string, required = false, max = 2048): string | undefined {
    const v = this.value(name, required)
    if (v === undefined) return undefined
    if (typeof v !== 'string') throw new KmsApiError('SerializationException', `${name} must be a string`)
    if (v.length < 1 || v.length > max) throw invalid(name, `Member must have length between 1 and ${max}`)
    return v
  }
  blob(name: string, max: number): Buffer
  blob(name: string, max: number, required: false): Buffer | undefined
  blob(name: string, max: number, required = true): Buffer | undefined {
    const v = this.value(name, required)
    if (v === undefined) return undefined
    if (typeof v !== 'string' || v.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(v)) {
      throw new KmsApiError('SerializationException', `${name} must be base64`)
    }
    const b = Buffer.from(v, 'base64')
    if (b.length < 1 || b.length > max) throw invalid(name, `Member must have length between 1 and ${max}`)
    return b
  }
  integer(name: string, min: number, max: number): number | undefined {
    const v = this.value(name, false)
    if (v === undefined) return undefined
    if (typeof v !== 'number' || !Number.isInteger(v))
      throw new KmsApiError('SerializationException', `${name} must be an integer`)
    if (v < min) throw invalid(name, `Member must have value greater than or equal to ${min}`)
    if (v > max) throw invalid(name, `Member must have value less than or equal to ${max}`)
    return v
  }
  boolean(name: string): boolean {
    const v = this.value(name, false)
    if (v !== undefined && typeof v !== 'boolean')
      throw new KmsApiError('SerializationException', `${name} must be a boolean`)
    return v === true
  }
  oneOf<T extends string>(name: string, values: readonly T[]): T | undefined {
    const v = this.string(name, false, 64)
    if (v !== undefined && !values.includes(v as T)) {
      throw invalid(name, `Member must satisfy enum value set: [${values.join(', ')}]`)
    }
    return v as T | undefined
  }
  /** An EncryptionContext: a map of strings to strings, empty when absent. */
  context(name: string): EncryptionContext {
    const v = this.value(name, false)
    if (v === undefined) return {}
    if (typeof v !== 'object' || Array.isArray(v)) {
      throw new KmsApiError('SerializationException', `${name} must be a map of strings`)
    }
    let size = 0
    for (const [k, s] of Object.entries(v as Json)) {
      if (typeof s !== 'string') throw new KmsApiError('SerializationException', `${name} must be a map of strings`)
      size += Buffer.byteLength(k) + Buffer.byteLength(s) + 4
    }
    if (size > MAX_CONTEXT_BYTES - 2) throw invalid(name, `Member must be at most ${MAX_CONTEXT_BYTES} bytes`)
    return v as EncryptionContext
  }
  has(name: string): boolean {
    return this.raw[name] !== undefined && this.raw[name] !== null
  }
  /** DryRun: AWS answers DryRunOperationException where the call would have succeeded. */
  dryRun(): boolean {
    return this.boolean('DryRun')
  }
}

const arnOf = (s: KmsScope, keyId: string) => `arn:aws:kms:${s.region}:${s.accountId}:key/${keyId}`
const aliasArnOf = (s: KmsScope, alias: string) => `arn:aws:kms:${s.region}:${s.accountId}:${alias}`
const seconds = (ms: number) => ms / 1000
const b64 = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')
const current = (k: StoredKey) => k.materials[k.materials.length - 1]!

/** The key a KeyId names: key id, key ARN, alias name or alias ARN (not an alias where `keysOnly`). */
function resolveKey(s: KmsScope, id: string, keysOnly = false): StoredKey {
  const shown = id.slice(0, 256)
  let keyId: string | undefined
  const arn = /^arn:aws:kms:([^:]+):(\d{12}):(key\/.+|alias\/.+)$/.exec(id)
  const local = arn ? (arn[1] === s.region && arn[2] === s.accountId ? arn[3]! : undefined) : id
  if (local === undefined) throw new KmsApiError('NotFoundException', `Invalid arn ${s.region} ${shown}`)
  if (local.startsWith('key/')) keyId = local.slice(4)
  else if (local.startsWith('alias/')) {
    if (keysOnly) throw new KmsApiError('NotFoundException', `Invalid keyId ${shown}`)
    const alias = s.store.alias(local)
    if (!alias) throw new KmsApiError('NotFoundException', `Alias ${aliasArnOf(s, local.slice(0, 256))} is not found.`)
    keyId = alias.target
  } else keyId = local
  if (!UUID.test(keyId)) throw new KmsApiError('NotFoundException', `Invalid keyId '${shown}'`)
  const key = s.store.key(keyId)
  if (!key) throw new KmsApiError('NotFoundException', `Key '${arnOf(s, keyId)}' does not exist`)
  return key
}

/** Crypto operations need an Enabled key. */
function usable(s: KmsScope, k: StoredKey): StoredKey {
  if (k.state === 'Disabled') throw new KmsApiError('DisabledException', `${arnOf(s, k.keyId)} is disabled.`)
  if (k.state === 'PendingDeletion') {
    throw new KmsApiError('KMSInvalidStateException', `${arnOf(s, k.keyId)} is pending deletion.`)
  }
  return k
}

function checkAlgorithm(input: Input, name: string): void {
  const alg = input.string(name, false, 64)
  if (alg !== undefined && alg !== 'SYMMETRIC_DEFAULT') {
    throw new KmsApiError('InvalidKeyUsageException', `${alg} is not a valid encryption algorithm for a symmetric key.`)
  }
}

function dryRunDone(): never {
  throw new KmsApiError('DryRunOperationException', 'The request would have succeeded, but the DryRun option is set.')
}

function metadata(s: KmsScope, k: StoredKey): Json {
  return {
    AWSAccountId: s.accountId,
    KeyId: k.keyId,
    Arn: arnOf(s, k.keyId),
    CreationDate: seconds(k.created),
    Enabled: k.state === 'Enabled',
    Description: k.description,
    KeyUsage: 'ENCRYPT_DECRYPT',
    KeyState: k.state,
    ...(k.deletionDate !== undefined
      ? { DeletionDate: seconds(k.deletionDate), PendingDeletionWindowInDays: k.pendingWindowInDays }
      : {}),
    Origin: 'AWS_KMS',
    KeyManager: 'CUSTOMER',
    CustomerMasterKeySpec: 'SYMMETRIC_DEFAULT',
    KeySpec: 'SYMMETRIC_DEFAULT',
    EncryptionAlgorithms: ['SYMMETRIC_DEFAULT'],
    MultiRegion: false,
    CurrentKeyMaterialId: current(k).id,
  }
}

function encryptUnder(s: KmsScope, k: StoredKey, plaintext: Uint8Array, context: EncryptionContext) {
  const m = current(k)
  const blob = sealBlob(s.store.material(k, m.id)!, { keyId: k.keyId, materialId: m.id }, plaintext, context)
  return { CiphertextBlob: b64(blob), KeyId: arnOf(s, k.keyId), KeyMaterialId: m.id }
}

/** Opens a blob: the key it names (and, if given, must be `keyIdParam`), that key's state, then the AEAD. */
function decryptBlob(s: KmsScope, blob: Buffer, context: EncryptionContext, keyIdParam: string | undefined) {
  const parts = readBlob(blob)
  const notOurs = () =>
    new KmsApiError(
      'InvalidCiphertextException',
      'The ciphertext is invalid, or was made under another key, key material or encryption context.',
    )
  if (!parts) throw notOurs()
  if (keyIdParam !== undefined && resolveKey(s, keyIdParam).keyId !== parts.keyId) {
    throw new KmsApiError(
      'IncorrectKeyException',
      'The key ID in the request does not identify a KMS key that can perform this operation.',
    )
  }
  const key = s.store.key(parts.keyId)
  if (!key) throw new KmsApiError('NotFoundException', `Key '${arnOf(s, parts.keyId)}' does not exist`)
  usable(s, key)
  const material = s.store.material(key, parts.materialId)
  const plaintext = material && openBlob(material, blob, context)
  if (!plaintext) throw notOurs()
  return { key, materialId: parts.materialId, plaintext }
}

function dataKeyLength(input: Input): number {
  const spec = input.oneOf('KeySpec', ['AES_128', 'AES_256'] as const)
  const n = input.integer('NumberOfBytes', 1, 1024)
  if (spec === undefined && n === undefined) {
    throw new KmsApiError('ValidationException', 'Please specify either number of bytes or key spec.')
  }
  if (spec !== undefined && n !== undefined) {
    throw new KmsApiError('ValidationException', 'Please specify either number of bytes or key spec, not both.')
  }
  return n ?? (spec === 'AES_128' ? 16 : 32)
}

function page<T>(items: readonly T[], input: Input): { items: readonly T[]; more: Json } {
  const limit = input.integer('Limit', 1, 1000) ?? 100
  const marker = input.string('Marker', false, 1024)
  let start = 0
  if (marker !== undefined) {
    start = Number(Buffer.from(marker, 'base64url').toString('latin1').replace(/^o/, ''))
    if (!Number.isInteger(start) || start < 0 || start > items.length || !marker.length) {
      throw new KmsApiError('InvalidMarkerException', 'The marker is not valid.')
    }
  }
  const end = Math.min(items.length, start + limit)
  const truncated = end < items.length
  return {
    items: items.slice(start, end),
    more: { Truncated: truncated, ...(truncated ? { NextMarker: Buffer.from(`o${end}`).toString('base64url') } : {}) },
  }
}

const OPERATIONS: Readonly<Record<string, Operation>> = {
  CreateKey(input, s) {
    const description = input.string('Description', false, 8192) ?? ''
    const usage = input.string('KeyUsage', false, 64) ?? 'ENCRYPT_DECRYPT'
    const spec = input.string('KeySpec', false, 64) ?? input.string('CustomerMasterKeySpec', false, 64)
    const origin = input.string('Origin', false, 64) ?? 'AWS_KMS'
    if (
      usage !== 'ENCRYPT_DECRYPT' ||
      (spec ?? 'SYMMETRIC_DEFAULT') !== 'SYMMETRIC_DEFAULT' ||
      origin !== 'AWS_KMS' ||
      input.boolean('MultiRegion') ||
      input.string('CustomKeyStoreId', false) !== undefined
    ) {
      throw new KmsApiError(
        'UnsupportedOperationException',
        'This endpoint makes only single-Region SYMMETRIC_DEFAULT ENCRYPT_DECRYPT keys with AWS_KMS origin.',
      )
    }
    return { KeyMetadata: metadata(s, s.store.create(description)) }
  },

  DescribeKey(input, s) {
    return { KeyMetadata: metadata(s, resolveKey(s, input.string('KeyId', true))) }
  },

  ListKeys(input, s) {
    const { items, more } = page(s.store.keys(), input)
    return { Keys: items.map((k) => ({ KeyId: k.keyId, KeyArn: arnOf(s, k.keyId) })), ...more }
  },

  EnableKey(input, s) {
    const k = resolveKey(s, input.string('KeyId', true), true)
    if (k.state === 'PendingDeletion') {
      throw new KmsApiError('KMSInvalidStateException', `${arnOf(s, k.keyId)} is pending deletion.`)
    }
    if (k.state !== 'Enabled') s.store.update({ ...k, state: 'Enabled' })
    return {}
  },

  DisableKey(input, s) {
    const k = resolveKey(s, input.string('KeyId', true), true)
    if (k.state === 'PendingDeletion') {
      throw new KmsApiError('KMSInvalidStateException', `${arnOf(s, k.keyId)} is pending deletion.`)
    }
    if (k.state !== 'Disabled') s.store.update({ ...k, state: 'Disabled' })
    return {}
  },

  ScheduleKeyDeletion(input, s) {
    const k = resolveKey(s, input.string('KeyId', true), true)
    const days = input.integer('PendingWindowInDays', 7, 30) ?? 30
    if (k.state === 'PendingDeletion') {
      throw new KmsApiError('KMSInvalidStateException', `${arnOf(s, k.keyId)} is pending deletion.`)
    }
    const deletionDate = s.store.now() + days * 86_400_000
    s.store.update({ ...k, state: 'PendingDeletion', deletionDate, pendingWindowInDays: days })
    return {
      KeyId: arnOf(s, k.keyId),
      DeletionDate: seconds(deletionDate),
      KeyState: 'PendingDeletion',
      PendingWindowInDays: days,
    }
  },

  CancelKeyDeletion(input, s) {
    const k = resolveKey(s, input.string('KeyId', true), true)
    if (k.state !== 'PendingDeletion') {
      throw new KmsApiError('KMSInvalidStateException', `${arnOf(s, k.keyId)} is not pending deletion.`)
    }
    const { deletionDate: _d, pendingWindowInDays: _p, ...rest } = k
    s.store.update({ ...rest, state: 'Disabled' })
    return { KeyId: arnOf(s, k.keyId) }
  },

  RotateKeyOnDemand(input, s) {
    const k = usable(s, resolveKey(s, input.string('KeyId', true), true))
    if (k.onDemandRotations >= MAX_ON_DEMAND_ROTATIONS) {
      throw new KmsApiError(
        'LimitExceededException',
        `${arnOf(s, k.keyId)} has reached its limit of ${MAX_ON_DEMAND_ROTATIONS} on-demand rotations.`,
      )
    }
    s.store.rotate(k)
    return { KeyId: arnOf(s, k.keyId) }
  },

  ListKeyRotations(input, s) {
    const k = resolveKey(s, input.string('KeyId', true), true)
    const all =
      input.oneOf('IncludeKeyMaterial', ['ALL_KEY_MATERIAL', 'ROTATIONS_ONLY'] as const) === 'ALL_KEY_MATERIAL'
    const cur = current(k).id
    const materials = k.materials.filter((m) => all || m.rotationType)
    const { items, more } = page(materials, input)
    return {
      Rotations: items.map((m) => ({
        KeyId: k.keyId,
        KeyMaterialId: m.id,
        KeyMaterialState: m.id === cur ? 'CURRENT' : 'NON_CURRENT',
        ...(m.rotationType ? { RotationDate: seconds(m.created), RotationType: m.rotationType } : {}),
      })),
      ...more,
    }
  },

  Encrypt(input, s) {
    const k = resolveKey(s, input.string('KeyId', true))
    const plaintext = input.blob('Plaintext', 4096)
    const context = input.context('EncryptionContext')
    checkAlgorithm(input, 'EncryptionAlgorithm')
    usable(s, k)
    if (input.dryRun()) dryRunDone()
    const { KeyMaterialId: _, ...out } = encryptUnder(s, k, plaintext, context) // AWS's Encrypt does not name it
    return { ...out, EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' }
  },

  Decrypt(input, s) {
    const blob = input.blob('CiphertextBlob', 6144)
    const context = input.context('EncryptionContext')
    const keyId = input.string('KeyId', false)
    checkAlgorithm(input, 'EncryptionAlgorithm')
    if (input.has('Recipient')) {
      throw new KmsApiError('UnsupportedOperationException', 'Recipient (Nitro Enclaves) is not supported here.')
    }
    const { key, materialId, plaintext } = decryptBlob(s, blob, context, keyId)
    if (input.dryRun()) dryRunDone()
    return {
      KeyId: arnOf(s, key.keyId),
      Plaintext: b64(plaintext),
      EncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      KeyMaterialId: materialId,
    }
  },

  GenerateDataKey(input, s) {
    const k = resolveKey(s, input.string('KeyId', true))
    const length = dataKeyLength(input)
    const context = input.context('EncryptionContext')
    usable(s, k)
    if (input.dryRun()) dryRunDone()
    const plaintext = randomBytes(length)
    return { ...encryptUnder(s, k, plaintext, context), Plaintext: b64(plaintext) }
  },

  GenerateDataKeyWithoutPlaintext(input, s) {
    const k = resolveKey(s, input.string('KeyId', true))
    const length = dataKeyLength(input)
    const context = input.context('EncryptionContext')
    usable(s, k)
    if (input.dryRun()) dryRunDone()
    const plaintext = randomBytes(length)
    const out = encryptUnder(s, k, plaintext, context)
    plaintext.fill(0)
    return out
  },

  ReEncrypt(input, s) {
    const blob = input.blob('CiphertextBlob', 6144)
    const sourceContext = input.context('SourceEncryptionContext')
    const sourceKeyId = input.string('SourceKeyId', false)
    const destination = resolveKey(s, input.string('DestinationKeyId', true))
    const destinationContext = input.context('DestinationEncryptionContext')
    checkAlgorithm(input, 'SourceEncryptionAlgorithm')
    checkAlgorithm(input, 'DestinationEncryptionAlgorithm')
    const { key, materialId, plaintext } = decryptBlob(s, blob, sourceContext, sourceKeyId)
    try {
      usable(s, destination)
      if (input.dryRun()) dryRunDone()
      const out = encryptUnder(s, destination, plaintext, destinationContext)
      return {
        CiphertextBlob: out.CiphertextBlob,
        SourceKeyId: arnOf(s, key.keyId),
        KeyId: out.KeyId,
        SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
        SourceKeyMaterialId: materialId,
        DestinationKeyMaterialId: out.KeyMaterialId,
      }
    } finally {
      plaintext.fill(0) // never leaves the KMS
    }
  },

  GenerateRandom(input) {
    const n = input.integer('NumberOfBytes', 1, 1024)
    if (n === undefined) throw invalid('NumberOfBytes', 'Member must not be null')
    return { Plaintext: b64(randomBytes(n)) }
  },

  CreateAlias(input, s) {
    const name = aliasName(input)
    const k = resolveKey(s, input.string('TargetKeyId', true), true)
    if (s.store.alias(name)) {
      throw new KmsApiError('AlreadyExistsException', `An alias with the name ${aliasArnOf(s, name)} already exists`)
    }
    if (k.state === 'PendingDeletion') {
      throw new KmsApiError('KMSInvalidStateException', `${arnOf(s, k.keyId)} is pending deletion.`)
    }
    s.store.setAlias(name, k.keyId)
    return {}
  },

  UpdateAlias(input, s) {
    const name = aliasName(input)
    const k = resolveKey(s, input.string('TargetKeyId', true), true)
    if (!s.store.alias(name)) throw new KmsApiError('NotFoundException', `Alias ${aliasArnOf(s, name)} is not found.`)
    s.store.setAlias(name, k.keyId)
    return {}
  },

  DeleteAlias(input, s) {
    const name = aliasName(input)
    if (!s.store.alias(name)) throw new KmsApiError('NotFoundException', `Alias ${aliasArnOf(s, name)} is not found.`)
    s.store.deleteAlias(name)
    return {}
  },

  ListAliases(input, s) {
    const keyId = input.string('KeyId', false)
    const target = keyId === undefined ? undefined : resolveKey(s, keyId, true).keyId
    const all = s.store.aliases().filter(([, a]) => target === undefined || a.target === target)
    const { items, more } = page(all, input)
    return {
      Aliases: items.map(([name, a]) => ({
        AliasName: name,
        AliasArn: aliasArnOf(s, name),
        TargetKeyId: a.target,
        CreationDate: seconds(a.created),
        LastUpdatedDate: seconds(a.updated),
      })),
      ...more,
    }
  },
}

function aliasName(input: Input): string {
  const name = input.string('AliasName', true, 256)
  if (!ALIAS_NAME.test(name) || name.startsWith('alias/aws/')) {
    throw new KmsApiError(
      'InvalidAliasNameException',
      `Alias must start with 'alias/', use only [a-zA-Z0-9/_-], and not start with 'alias/aws/'.`,
    )
  }
  return name
}

/** The names of the operations served (others answer UnsupportedOperationException). */
export const KMS_OPERATIONS: readonly string[] = Object.keys(OPERATIONS)

/**
 * Runs one TrentService operation on its parsed JSON input.
 * @throws KmsApiError with AWS's type and message
 */
export function runKmsOperation(name: string, body: unknown, scope: KmsScope): Json {
  const op = OPERATIONS[name]
  if (!op) {
    throw new KmsApiError(
      'UnsupportedOperationException',
      `TrentService.${name.slice(0, 64)} is not served by this endpoint.`,
    )
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new KmsApiError('SerializationException', 'The request body must be a JSON object.')
  }
  return op(new Input(body as Json), scope)
}
