// The customer's HSM admin, acting in the token from a process of its own with pkcs11js alone (no envelope code),
// on a key laid out as docs/kms-backends.md says (versions `envelope/<key>/v<n>`, CKA_ID `envelope/<key>`).
//   node hsm-admin.mjs <token> disable|enable|rotate|destroy <key>
//   node hsm-admin.mjs <token> remove <key> <vN>            destroy one version's object
//   node hsm-admin.mjs <token> clear <key> <vN> encrypt|decrypt
// Environment: SOFTHSM2_CONF, HSM_MODULE (the library), HSM_PIN.
import { createRequire } from 'node:module'

const p11 = createRequire(import.meta.url)('pkcs11js')
const [token, op, key, version, attr] = process.argv.slice(2)
const api = new p11.PKCS11()
api.load(process.env.HSM_MODULE)
api.C_Initialize()
try {
  const slot = api.C_GetSlotList(true).find((s) => api.C_GetTokenInfo(s).label.trimEnd() === token)
  const session = api.C_OpenSession(slot, p11.CKF_SERIAL_SESSION | p11.CKF_RW_SESSION)
  api.C_Login(session, p11.CKU_USER, process.env.HSM_PIN)
  api.C_FindObjectsInit(session, [
    { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
    { type: p11.CKA_ID, value: Buffer.from(`envelope/${key}`) },
  ])
  const handles = api.C_FindObjects(session, 1000)
  api.C_FindObjectsFinal(session)
  const versions = new Map(
    handles.map((h) => {
      const label = api.C_GetAttributeValue(session, h, [{ type: p11.CKA_LABEL }])[0].value.toString()
      return [label.slice(`envelope/${key}/`.length), h]
    }),
  )
  const set = (h, template) => api.C_SetAttributeValue(session, h, template)
  if (op === 'disable' || op === 'enable') {
    for (const h of versions.values()) {
      set(h, [
        { type: p11.CKA_ENCRYPT, value: op === 'enable' },
        { type: p11.CKA_DECRYPT, value: op === 'enable' },
      ])
    }
  } else if (op === 'rotate') {
    const next = Math.max(0, ...[...versions.keys()].map((v) => Number(v.slice(1)))) + 1
    api.C_GenerateKey(session, { mechanism: p11.CKM_AES_KEY_GEN }, [
      { type: p11.CKA_CLASS, value: p11.CKO_SECRET_KEY },
      { type: p11.CKA_KEY_TYPE, value: p11.CKK_AES },
      { type: p11.CKA_VALUE_LEN, value: 32 },
      { type: p11.CKA_TOKEN, value: true },
      { type: p11.CKA_PRIVATE, value: true },
      { type: p11.CKA_SENSITIVE, value: true },
      { type: p11.CKA_EXTRACTABLE, value: false },
      { type: p11.CKA_ENCRYPT, value: true },
      { type: p11.CKA_DECRYPT, value: true },
      { type: p11.CKA_LABEL, value: `envelope/${key}/v${next}` },
      { type: p11.CKA_ID, value: Buffer.from(`envelope/${key}`) },
    ])
  } else if (op === 'destroy') {
    for (const h of versions.values()) api.C_DestroyObject(session, h)
  } else if (op === 'remove') {
    api.C_DestroyObject(session, versions.get(version))
  } else if (op === 'clear') {
    set(versions.get(version), [{ type: attr === 'encrypt' ? p11.CKA_ENCRYPT : p11.CKA_DECRYPT, value: false }])
  } else {
    throw new Error(`unknown operation ${op}`)
  }
} finally {
  api.C_Finalize()
}
