// Disaster recovery of a DEK from one EDEK with the customer's own KMS alone: no envelope code, no proxy, no
// keystore — only jose (any JOSE library), pkcs11js, @aws-sdk/client-kms and node:crypto, following
// docs/kms-backends.md ("Recovering a DEK without the proxy"). Prints the DEK in hex.
//
//   node recover-dek.mjs '<EDEK JSON: providerId, keyId, keyVersion, ciphertext (base64url)>' '<context JSON>'
//
// The context is the message's encryption context (its header holds it). Per KMS, from the environment:
//   local:   DATA_DIR (the proxy's data folder: root.key and keys.json)
//   pkcs11:  SOFTHSM2_CONF (SoftHSM2 only), HSM_MODULE, HSM_TOKEN, HSM_PIN
//   aws-kms: AWS_ENDPOINT_URL_KMS (the endpoint here; unset for AWS), AWS_REGION and the SDK's usual credentials
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms'
import { compactDecrypt, decodeProtectedHeader } from 'jose'

const [edekJson, contextJson] = process.argv.slice(2)
const edek = JSON.parse(edekJson)
const context = JSON.parse(contextJson)
const ciphertext = Buffer.from(edek.ciphertext, 'base64url')
const [tenant] = edek.keyId.split('/')

// ctx: base64url SHA-256 of the canonical encoding of the context (docs/format.md §4): a 2-byte pair count, then
// per pair (sorted by the key's UTF-8 bytes) 2-byte length + key, 2-byte length + value.
function canonical(ctx) {
  const pairs = Object.entries(ctx)
    .map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')])
    .sort((a, b) => Buffer.compare(a[0], b[0]))
  const u16 = (n) => Buffer.from([n >> 8, n & 255])
  return Buffer.concat([u16(pairs.length), ...pairs.flatMap(([k, v]) => [u16(k.length), k, u16(v.length), v])])
}
const ctx = createHash('sha256').update(canonical(context)).digest('base64url')

// --- each KMS opens a wrap made under its CMK with a wrap context ---

/** The local KMS: the version's key from keys.json, unsealed with root.key; the wrap is a JWE under it. */
async function localOpen(jweBytes) {
  const jwe = Buffer.from(jweBytes).toString('utf8')
  const kid = decodeProtectedHeader(jwe).kid // <tenant>/<key>#<version>
  const [, id, version] = /^(.+)#(\d+)$/.exec(kid)
  const keys = JSON.parse(readFileSync(`${process.env.DATA_DIR}/keys.json`, 'utf8'))
  const sealed = Buffer.from(keys.records['local-key'][id].versions[version].sealed, 'base64url')
  const root = Buffer.from(readFileSync(`${process.env.DATA_DIR}/root.key`, 'utf8').trim(), 'base64url')
  const rootKey = await crypto.subtle.importKey('raw', root, 'AES-GCM', false, ['decrypt'])
  const aad = new TextEncoder().encode(`envelope-local-kms/1 ${kid}`)
  const params = { name: 'AES-GCM', iv: sealed.subarray(0, 12), additionalData: aad }
  const cmk = new Uint8Array(await crypto.subtle.decrypt(params, rootKey, sealed.subarray(12)))
  return (await compactDecrypt(jwe, cmk)).plaintext
}

/** PKCS#11: AES-GCM decryption in the HSM with the version object (label `envelope/<key>/<version>`). */
function pkcs11Open(wrapped, label, wrapContext) {
  const p11 = createRequire(import.meta.url)('pkcs11js')
  const pairs = Object.keys(wrapContext)
    .sort()
    .map((k) => [k, wrapContext[k]])
  const aad = Buffer.from(JSON.stringify(['envelope-pkcs11/1', label, ...pairs]), 'utf8')
  const api = new p11.PKCS11()
  api.load(process.env.HSM_MODULE)
  api.C_Initialize()
  try {
    const slot = api.C_GetSlotList(true).find((s) => api.C_GetTokenInfo(s).label.trimEnd() === process.env.HSM_TOKEN)
    const session = api.C_OpenSession(slot, p11.CKF_SERIAL_SESSION)
    api.C_Login(session, p11.CKU_USER, process.env.HSM_PIN)
    api.C_FindObjectsInit(session, [
      { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
      { type: p11.CKA_LABEL, value: label },
    ])
    const [object] = api.C_FindObjects(session, 2)
    api.C_FindObjectsFinal(session)
    const iv = wrapped.subarray(0, 12)
    const mechanism = {
      mechanism: p11.CKM_AES_GCM,
      parameter: { type: p11.CK_PARAMS_GCM, iv, aad, ivBits: 96, tagBits: 128 },
    }
    api.C_DecryptInit(session, mechanism, object)
    return new Uint8Array(api.C_Decrypt(session, wrapped.subarray(12), Buffer.alloc(48)))
  } finally {
    api.C_Finalize()
  }
}

/** AWS KMS: Decrypt of the blob with its encryption context (what `aws kms decrypt` sends); the blob names its key. */
async function awsOpen(blob, encryptionContext) {
  const kms = new KMSClient({})
  try {
    return (await kms.send(new DecryptCommand({ CiphertextBlob: blob, EncryptionContext: encryptionContext })))
      .Plaintext
  } finally {
    kms.destroy()
  }
}

// --- the EDEK ---
let dek
if (edek.keyVersion.startsWith('lease:')) {
  // Leased: a JWE under the lease key; its protected header carries the KMS's wrap of the lease key.
  const jwe = ciphertext.toString('utf8')
  const { lease } = decodeProtectedHeader(jwe)
  const leaseId = edek.keyVersion.slice('lease:'.length)
  const wrapContext = { tenant, purpose: 'lease', lease: leaseId }
  const wrapped = Buffer.from(lease.ct, 'base64url')
  let leaseKey
  if (lease.kms === 'local') leaseKey = await localOpen(wrapped)
  else if (lease.kms === 'pkcs11') {
    // lease.key: pkcs11:token=<token>;object=<the key's label prefix>; the version object is <prefix>/<ver>
    const object = decodeURIComponent(/object=([^;]+)/.exec(lease.key)[1])
    leaseKey = pkcs11Open(wrapped, `${object}/${lease.ver}`, wrapContext)
  } else if (lease.kms === 'aws-kms') leaseKey = await awsOpen(wrapped, wrapContext)
  dek = (await compactDecrypt(jwe, leaseKey)).plaintext
} else {
  // Direct: the KMS's own wrap of the DEK, with the wrap context {tenant, purpose: 'dek', ctx}.
  const wrapContext = { tenant, purpose: 'dek', ctx }
  if (edek.providerId === 'envelope-local-kms') dek = await localOpen(ciphertext)
  else if (edek.providerId === 'envelope-pkcs11') {
    // the key's label prefix: envelope/<keyLabel>, by default the EDEK's key id
    dek = pkcs11Open(ciphertext, `envelope/${process.env.HSM_KEY_LABEL ?? edek.keyId}/${edek.keyVersion}`, wrapContext)
  } else if (edek.providerId === 'envelope-aws-kms') dek = await awsOpen(ciphertext, wrapContext)
}
process.stdout.write(Buffer.from(dek).toString('hex'))
