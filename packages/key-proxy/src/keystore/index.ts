/**
 * The keystore (keystore.ts: the interface and its contract; records.ts: what it stores) and the embedded file
 * keystore. A PostgreSQL keystore implements the same interface.
 * @module
 */
export { FileKeystore, type FileKeystoreOptions, type FileKeystoreSync, KEYSTORE_FORMAT } from './file-keystore.ts'
export type { Keystore, KeystoreChange, KeystoreUpdate } from './keystore.ts'
export {
  type ImportParamsRecord,
  type JsonValue,
  KEYSTORE_KINDS,
  type KeystoreKind,
  type KeystoreRecords,
  type KmsEntryRecord,
  type KmsMode,
  type LeaseRecord,
  type LocalKeyRecord,
  type LockRecord,
  MAX_ROTATION_HISTORY,
  type RotationEvent,
  type TenantRecord,
} from './records.ts'
