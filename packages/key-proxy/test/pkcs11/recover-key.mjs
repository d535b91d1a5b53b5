// Disaster recovery with the HSM alone: opens a PKCS#11 wrap of the key proxy with pkcs11js and nothing of
// envelope, following docs/kms-backends.md ("Recovering a key with the HSM alone"). Prints the key in hex.
//   node recover-key.mjs <token> <object label> <ciphertext hex> '<wrap context JSON>'
// Environment: SOFTHSM2_CONF (SoftHSM2 only), HSM_MODULE (the vendor's PKCS#11 library), HSM_PIN.
import { createRequire } from 'node:module'

const p11 = createRequire(import.meta.url)('pkcs11js')
const [token, label, hex, contextJson] = process.argv.slice(2)

// 1. The additional data: the format tag, the version object's label, then the context's pairs sorted by key.
const context = JSON.parse(contextJson)
const pairs = Object.keys(context)
  .sort()
  .map((k) => [k, context[k]])
const aad = Buffer.from(JSON.stringify(['envelope-pkcs11/1', label, ...pairs]), 'utf8')

// 2. The ciphertext: 12-byte IV, then the AES-GCM ciphertext and its 16-byte tag.
const wrapped = Buffer.from(hex, 'hex')
const iv = wrapped.subarray(0, 12)
const ctAndTag = wrapped.subarray(12)

// 3. The HSM decrypts with the version's key object, found by its label.
const api = new p11.PKCS11()
api.load(process.env.HSM_MODULE)
api.C_Initialize()
try {
  const slot = api.C_GetSlotList(true).find((s) => api.C_GetTokenInfo(s).label.trimEnd() === token)
  const session = api.C_OpenSession(slot, p11.CKF_SERIAL_SESSION)
  api.C_Login(session, p11.CKU_USER, process.env.HSM_PIN)
  api.C_FindObjectsInit(session, [
    { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
    { type: p11.CKA_LABEL, value: label },
  ])
  const [keyObject] = api.C_FindObjects(session, 2)
  api.C_FindObjectsFinal(session)
  api.C_DecryptInit(
    session,
    { mechanism: p11.CKM_AES_GCM, parameter: { type: p11.CK_PARAMS_GCM, iv, aad, ivBits: 96, tagBits: 128 } },
    keyObject,
  )
  const key = api.C_Decrypt(session, ctAndTag, Buffer.alloc(ctAndTag.length))
  process.stdout.write(key.toString('hex'))
} finally {
  api.C_Finalize()
}
