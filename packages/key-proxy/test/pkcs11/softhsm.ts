// A real SoftHSM2 for a test file: a temporary token directory, its own softhsm2.conf (SOFTHSM2_CONF, read by the
// library at C_Initialize), tokens made with softhsm2-util, and a raw PKCS#11 session of the test's own (pkcs11js
// directly, no envelope code) to look at and change the token behind the client's back.
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type * as Pkcs11js from 'pkcs11js'

export const p11 = createRequire(import.meta.url)('pkcs11js') as typeof Pkcs11js

const MODULES = ['/usr/lib/softhsm/libsofthsm2.so', '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so']

export interface SoftHsm {
  readonly dir: string
  readonly conf: string
  readonly module: string
  readonly pin: string
  readonly soPin: string
  /** A file holding the user PIN (with a trailing newline, as `echo` writes it). */
  readonly pinFile: string
  /** Environment for a child process that uses the same tokens. */
  readonly env: NodeJS.ProcessEnv
  close(): void
}

/**
 * Tokens `labels` in a new token directory. Call before the first PKCS#11 client of the test file opens: SoftHSM2
 * reads its configuration and lists tokens when the library is initialized.
 */
export function startSoftHsm(labels: readonly string[], pin = '246813'): SoftHsm {
  const module = MODULES.find((m) => existsSync(m))
  if (!module) throw new Error('SoftHSM2 is not installed (apt-get install -y softhsm2; .ci/run does it)')
  const dir = mkdtempSync(join(tmpdir(), 'envelope-softhsm-'))
  const conf = join(dir, 'softhsm2.conf')
  mkdirSync(join(dir, 'tokens'))
  writeFileSync(conf, `directories.tokendir = ${join(dir, 'tokens')}\nobjectstore.backend = file\nlog.level = ERROR\n`)
  const env = { ...process.env, SOFTHSM2_CONF: conf }
  const soPin = '97531864'
  for (const label of labels) {
    execFileSync('softhsm2-util', ['--init-token', '--free', '--label', label, '--pin', pin, '--so-pin', soPin], {
      env,
      stdio: 'ignore',
    })
  }
  process.env.SOFTHSM2_CONF = conf
  const pinFile = join(dir, 'user.pin')
  writeFileSync(pinFile, `${pin}\n`, { mode: 0o600 })
  return { dir, conf, module, pin, soPin, pinFile, env, close: () => rmSync(dir, { recursive: true, force: true }) }
}

export interface RawSession {
  readonly api: Pkcs11js.PKCS11
  readonly slot: Buffer
  readonly session: Buffer
  /** Handles of the objects matching `template`. */
  find(template: Pkcs11js.Template): Buffer[]
  /** The object labelled `label` (throws if not exactly one). */
  one(label: string): Buffer
  close(): void
}

/**
 * A session of the test's own on token `label`, logged in, in this process (so the same library instance as the
 * client's: what it does to sessions and login, the client sees). Never C_Finalize through it unless that is the
 * point.
 */
export function rawSession(hsm: SoftHsm, label: string, pin = hsm.pin): RawSession {
  const api = new p11.PKCS11()
  api.load(hsm.module)
  try {
    api.C_Initialize({ flags: p11.CKF_OS_LOCKING_OK })
  } catch (e) {
    if (!String((e as Error).message).includes('CKR_CRYPTOKI_ALREADY_INITIALIZED')) throw e
  }
  const slot = api.C_GetSlotList(true).find((s) => api.C_GetTokenInfo(s).label.trimEnd() === label)
  if (!slot) throw new Error(`no token ${label}`)
  const session = api.C_OpenSession(slot, p11.CKF_SERIAL_SESSION | p11.CKF_RW_SESSION)
  try {
    api.C_Login(session, p11.CKU_USER, pin)
  } catch (e) {
    if (!String((e as Error).message).includes('CKR_USER_ALREADY_LOGGED_IN')) throw e
  }
  const find = (template: Pkcs11js.Template) => {
    api.C_FindObjectsInit(session, template)
    const found = api.C_FindObjects(session, 1000)
    api.C_FindObjectsFinal(session)
    return found
  }
  return {
    api,
    slot,
    session,
    find,
    one(label: string) {
      const found = find([{ type: p11.CKA_LABEL, value: label }])
      if (found.length !== 1) throw new Error(`${found.length} objects labelled ${label}`)
      return found[0]!
    },
    close() {
      try {
        api.C_CloseSession(session)
      } catch {}
    },
  }
}

/** Runs test/pkcs11/hsm-admin.mjs: the customer's HSM admin, another process with a session of its own. */
export function hsmAdmin(hsm: SoftHsm, token: string, ...args: string[]): string {
  return execFileSync(process.execPath, [new URL('./hsm-admin.mjs', import.meta.url).pathname, token, ...args], {
    env: { ...hsm.env, HSM_MODULE: hsm.module, HSM_PIN: hsm.pin },
    encoding: 'utf8',
  })
}
