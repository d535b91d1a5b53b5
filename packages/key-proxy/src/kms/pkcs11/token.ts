/**
 * One token of a PKCS#11 library, logged in as its user: finds the token by label (or slot id), logs in with the
 * PIN (read from a file or an environment variable at each login, never kept in options, logs or errors), lends
 * sessions from a bounded pool, and reconnects once after a lost session. Keys of one token share it (and its
 * sessions and login, which PKCS#11 keeps per process and token).
 * @module
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { ConfigError, ProxyError } from '../../errors.ts'
import { CKR, call, ckrOf, classify, PIN_REFUSED, Pkcs11CallError, type Pkcs11Failure, toProxyError } from './errors.ts'
import { type Handle, Pkcs11Module } from './module.ts'
import { SessionPool } from './session-pool.ts'

export interface Pkcs11TokenOptions {
  /** Path of the vendor's PKCS#11 library, e.g. `/usr/lib/softhsm/libsofthsm2.so`. */
  readonly module: string
  /** The token's label (CKA_LABEL of the token, as `softhsm2-util --init-token --label` set it)… */
  readonly tokenLabel?: string
  /** …or its slot id (a number from C_GetSlotList). Exactly one of the two. */
  readonly slot?: number
  /** A file holding the user PIN (one trailing newline ignored), read at each login… */
  readonly pinFile?: string
  /** …or the name of an environment variable holding it. Exactly one of the two. */
  readonly pinEnv?: string
  /** Sessions open at most (default 4). HSMs limit sessions: CloudHSM, Luna and YubiHSM count them per client. */
  readonly maxSessions?: number
  /** Calls waiting for a session at most before ERR_KMS_THROTTLED (default 1,000). */
  readonly maxWaiting?: number
}

const MAX_PIN_CHARS = 256

export class Pkcs11Token {
  static readonly #open = new Map<string, Promise<Pkcs11Token>>()

  /**
   * The token `options` name, logged in (shared with every other key of the same token, PIN source and library:
   * call {@link release} once per `open`). Throws ConfigError for bad options, ERR_KMS_UNAVAILABLE (library
   * missing, no such token), ERR_KMS_ACCESS_DENIED (PIN refused).
   */
  static async open(options: Pkcs11TokenOptions): Promise<Pkcs11Token> {
    checkOptions(options)
    const id = JSON.stringify([options.module, options.tokenLabel, options.slot, options.pinFile, options.pinEnv])
    let opening = Pkcs11Token.#open.get(id)
    if (opening) {
      const token = await opening
      token.#users++
      return token
    }
    opening = (async () => {
      const token = new Pkcs11Token(id, options, Pkcs11Module.open(options.module))
      try {
        await token.withSession(async () => undefined) // finds the token and logs in: a bad PIN fails here
      } catch (e) {
        token.#pool.close()
        token.module.release()
        throw e
      }
      return token
    })()
    Pkcs11Token.#open.set(id, opening)
    opening.catch(() => Pkcs11Token.#open.delete(id))
    return opening
  }

  readonly module: Pkcs11Module
  /** `token=<label>` or `slot-id=<n>`, as in a PKCS#11 URI (RFC 7512). */
  readonly uriPart: string
  readonly #id: string
  readonly #o: Pkcs11TokenOptions
  readonly #pool: SessionPool<Handle>
  #slot: Handle | undefined
  #refusedPin: string | undefined // SHA-256 of a PIN the HSM refused: never tried again
  #users = 1 // the opener

  private constructor(id: string, options: Pkcs11TokenOptions, module: Pkcs11Module) {
    this.#id = id
    this.#o = options
    this.module = module
    this.uriPart =
      options.tokenLabel !== undefined ? `token=${uriEncode(options.tokenLabel)}` : `slot-id=${options.slot}`
    this.#pool = new SessionPool<Handle>({
      open: () => this.#openSession(),
      close: (s) => {
        try {
          this.module.api.C_CloseSession(s)
        } catch {
          // already gone with the connection
        }
      },
      max: options.maxSessions ?? 4,
      maxWaiting: options.maxWaiting ?? 1000,
    })
  }

  /** Changes whenever the sessions were lost and reopened (cached object handles may be stale then). */
  get generation(): number {
    return this.#pool.generation
  }

  /** Sessions open now. */
  get sessions(): number {
    return this.#pool.size
  }

  /**
   * Runs `fn` with a session of its own. A lost session, login or library (CKR_SESSION_HANDLE_INVALID,
   * CKR_SESSION_CLOSED, CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, CKR_USER_NOT_LOGGED_IN,
   * CKR_CRYPTOKI_NOT_INITIALIZED…) reconnects and runs `fn` once more (`attempt` 1), as do a session in a bad
   * state and a stale object handle; a second failure is mapped (lost: ERR_KMS_UNAVAILABLE). Every error is a
   * ProxyError. The signal aborts the wait for a session and the wait for the result (ERR_KMS_TIMEOUT); a native
   * call already running finishes in the background and its session returns to the pool then.
   */
  withSession<T>(fn: (session: Handle, attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    const run = this.#attempts(fn, signal)
    if (!signal) return run
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new ProxyError('ERR_KMS_TIMEOUT', 'PKCS#11 call cancelled (timeout)'))
      if (signal.aborted) onAbort()
      signal.addEventListener('abort', onAbort, { once: true })
      run.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort))
    })
  }

  async #attempts<T>(fn: (session: Handle, attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const retry = (kind: Pkcs11Failure) => attempt === 0 && kind !== 'fatal' && !signal?.aborted
      let entry: Awaited<ReturnType<SessionPool<Handle>['acquire']>>
      try {
        entry = await this.#pool.acquire(signal)
      } catch (e) {
        const kind = classify(e)
        if (retry(kind)) {
          if (kind === 'lost') this.#reconnect(e, this.#pool.generation)
          continue
        }
        throw toProxyError(e, 'C_OpenSession')
      }
      let kind: Pkcs11Failure | undefined
      try {
        return await fn(entry.session, attempt)
      } catch (e) {
        kind = classify(e)
        if (retry(kind)) {
          if (kind === 'lost') this.#reconnect(e, entry.generation)
          continue
        }
        throw toProxyError(e, 'call')
      } finally {
        this.#pool.release(entry, kind === 'lost' || kind === 'broken')
      }
    }
  }

  /** Every session of the token is gone: reopen from scratch (the library too, if it was finalized). */
  #reconnect(e: unknown, generation: number): void {
    if (generation !== this.#pool.generation) return // another call already reconnected
    this.#pool.discardAll()
    this.#slot = undefined // the token may come back in another slot
    if (ckrOf(e) === CKR.CRYPTOKI_NOT_INITIALIZED) {
      try {
        this.module.reinitialize()
      } catch {
        // the next C_OpenSession fails and says why
      }
    }
  }

  #openSession(): Handle {
    const api = this.module.api
    this.#slot ??= this.#findSlot()
    const slot = this.#slot
    const flags = this.module.p11.CKF_SERIAL_SESSION | this.module.p11.CKF_RW_SESSION
    const session = call('C_OpenSession', () => api.C_OpenSession(slot, flags))
    try {
      this.#login(session)
    } catch (e) {
      try {
        api.C_CloseSession(session)
      } catch {}
      throw e
    }
    return session
  }

  #findSlot(): Handle {
    const api = this.module.api
    const slots = call('C_GetSlotList', () => api.C_GetSlotList(true))
    if (this.#o.slot !== undefined) {
      const want = BigInt(this.#o.slot)
      const found = slots.find((s) => slotId(s) === want)
      if (!found) throw new ProxyError('ERR_KMS_UNAVAILABLE', `no PKCS#11 token in slot ${this.#o.slot}`)
      return found
    }
    const label = this.#o.tokenLabel
    const found = slots.filter((s) => call('C_GetTokenInfo', () => api.C_GetTokenInfo(s)).label.trimEnd() === label)
    if (found.length === 0) throw new ProxyError('ERR_KMS_UNAVAILABLE', `no PKCS#11 token labelled "${label}"`)
    if (found.length > 1) {
      throw new ProxyError(
        'ERR_KMS_UNAVAILABLE',
        `${found.length} PKCS#11 tokens are labelled "${label}": give the slot`,
      )
    }
    return found[0]!
  }

  // Login is per process and token in PKCS#11: the first session logs in, later ones find it done. A PIN the HSM
  // refused is never sent again (HSMs lock the user, some wipe the partition, after a few wrong PINs): the
  // customer changed it, and only a new PIN in the file or environment is tried.
  #login(session: Handle): void {
    const pin = this.#readPin()
    const digest = createHash('sha256').update(pin).digest('hex')
    if (digest === this.#refusedPin) {
      throw new ProxyError('ERR_KMS_ACCESS_DENIED', 'the HSM refused this PIN; it is not tried again until it changes')
    }
    try {
      this.module.api.C_Login(session, this.module.p11.CKU_USER, pin)
    } catch (e) {
      const rv = ckrOf(e)
      if (rv === CKR.USER_ALREADY_LOGGED_IN) return
      if (rv !== undefined && PIN_REFUSED.has(rv)) {
        this.#refusedPin = digest
        throw toProxyError(e, 'C_Login')
      }
      throw new Pkcs11CallError('C_Login', e)
    }
  }

  #readPin(): string {
    let pin: string | undefined
    if (this.#o.pinFile !== undefined) {
      try {
        pin = readFileSync(this.#o.pinFile, 'utf8').replace(/\r?\n$/, '')
      } catch {
        throw new ProxyError('ERR_KMS_UNAVAILABLE', `the PIN file ${this.#o.pinFile} cannot be read`)
      }
    } else {
      pin = process.env[this.#o.pinEnv!]
    }
    if (!pin) throw new ProxyError('ERR_KMS_ACCESS_DENIED', `no PIN in ${this.#pinSource()}`)
    if (pin.length > MAX_PIN_CHARS) {
      throw new ProxyError('ERR_KMS_ACCESS_DENIED', `the PIN in ${this.#pinSource()} is too long`)
    }
    return pin
  }

  #pinSource(): string {
    return this.#o.pinFile !== undefined ? `the PIN file ${this.#o.pinFile}` : `$${this.#o.pinEnv}`
  }

  /** Done with the token: the last user closes its sessions (and the library, if nothing else uses it). */
  release(): void {
    if (--this.#users > 0) return
    Pkcs11Token.#open.delete(this.#id)
    this.#pool.close()
    this.module.release()
  }
}

function checkOptions(o: Pkcs11TokenOptions): void {
  if (typeof o.module !== 'string' || o.module === '') {
    throw new ConfigError('pkcs11: module (library path) is required')
  }
  if ((o.tokenLabel === undefined) === (o.slot === undefined)) {
    throw new ConfigError('pkcs11: give exactly one of tokenLabel and slot')
  }
  if (o.tokenLabel !== undefined && (typeof o.tokenLabel !== 'string' || !/^[\x20-\x7e]{1,32}$/.test(o.tokenLabel))) {
    throw new ConfigError('pkcs11: tokenLabel must be 1-32 printable ASCII characters')
  }
  if (o.slot !== undefined && !(Number.isSafeInteger(o.slot) && o.slot >= 0)) {
    throw new ConfigError('pkcs11: slot must be a slot id (a non-negative integer)')
  }
  if ((o.pinFile === undefined) === (o.pinEnv === undefined)) {
    throw new ConfigError('pkcs11: give exactly one of pinFile and pinEnv')
  }
  if (o.pinEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(o.pinEnv)) {
    throw new ConfigError('pkcs11: pinEnv must be an environment variable name')
  }
  for (const [name, value, max] of [
    ['maxSessions', o.maxSessions, 1024],
    ['maxWaiting', o.maxWaiting, 1_000_000],
  ] as const) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 1 && value <= max)) {
      throw new ConfigError(`pkcs11: ${name} must be an integer from 1 to ${max}`)
    }
  }
}

/** A slot handle (pkcs11js: the CK_SLOT_ID's bytes, little-endian) as a number. */
function slotId(h: Handle): bigint {
  return h.length >= 8 ? h.readBigUInt64LE(0) : BigInt(h.readUInt32LE(0))
}

/** Percent-encodes a PKCS#11 URI attribute value (RFC 7512 pk11-pchar). */
export function uriEncode(value: string): string {
  return Array.from(new TextEncoder().encode(value), (b) => {
    const c = String.fromCharCode(b)
    return /[A-Za-z0-9\-._~:[\]@!$'()*+,=&]/.test(c) && b < 0x80
      ? c
      : `%${b.toString(16).toUpperCase().padStart(2, '0')}`
  }).join('')
}
