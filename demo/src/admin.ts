// The tenant admin view's calls: the key proxy's admin routes, with the key administrator's own JWT (the proxy
// lets a key-admin token manage its own tenant's key, never another's). Errors carry the proxy's codes.
import { EnvelopeError } from '@envelope/core'
import { PROXY_URL, type Session, tokenFor } from './session.ts'

export interface KeyInfo {
  readonly tenant: string
  readonly keyName: string
  readonly state: 'enabled' | 'disabled' | 'pending_deletion' | 'destroyed' | 'pending_import'
  readonly primaryVersion: number
  readonly versions: readonly number[]
  readonly deletionDate?: string
  /** `external`: the tenant's own key material, imported (key `own`). */
  readonly origin?: 'external'
  readonly importedAt?: string
  readonly validTo?: string
  readonly rotation?: { readonly periodDays: number; readonly nextRotation: string }
  readonly rotations?: readonly { readonly time: string; readonly version: string; readonly by: string }[]
}

export async function call<T = KeyInfo>(
  session: Session,
  action: string,
  body?: object,
  key = 'default',
  method = action && action !== 'import-parameters' ? 'POST' : 'GET',
): Promise<T> {
  return request<T>(session, method, `keys/${key}${action ? `/${action}` : ''}`, body)
}

export const describeKey = (s: Session) => call(s, '')
export const rotateKey = (s: Session) => call(s, 'rotate')
export const disableKey = (s: Session) => call(s, 'disable')
export const enableKey = (s: Session) => call(s, 'enable')

/** Crypto-shredding: deletion with no waiting period (the demo proxy allows it), then destruction. */
export async function shredKey(s: Session): Promise<KeyInfo> {
  const info = await describeKey(s)
  if (info.state !== 'pending_deletion' && info.state !== 'destroyed') {
    await call(s, 'schedule-deletion', { waitingDays: 0 })
  }
  return call(s, 'destroy')
}

/** The tenant's key policy, and the roles each permission takes (GET …/policy). */
export interface PolicyInfo {
  readonly tenant: string
  readonly isDefault: boolean
  readonly policy: {
    readonly jwtRoles: { readonly 'key-admin': string[]; readonly 'key-user': string[]; readonly auditor: string[] }
    readonly logContext: string[]
    readonly updated?: string
    readonly updatedBy?: string
  }
  readonly grants: Readonly<Record<string, readonly string[]>>
}

/** One line of the tenant's own audit log (docs/key-proxy-api.md, "The tenant's audit log"). */
export interface AuditLineInfo {
  readonly seq: number
  readonly time: string
  readonly caller: string | null
  readonly action: string
  readonly keyId: string | null
  readonly keyVersion: string | null
  readonly contextHash: string | null
  readonly context?: Readonly<Record<string, string>>
  readonly reason?: string
  readonly outcome: string
  readonly requestId: string | null
}

async function request<T>(session: Session, method: string, path: string, body?: object): Promise<T> {
  let r: Response
  try {
    r = await fetch(`${PROXY_URL}/v1/admin/tenants/${session.tenant}/${path}`, {
      method,
      headers: { authorization: `Bearer ${await tokenFor(session)}`, 'content-type': 'application/json' },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(5000),
    })
  } catch (err) {
    const code = (err as Error).name === 'TimeoutError' ? 'ERR_PROXY_TIMEOUT' : 'ERR_PROXY_UNAVAILABLE'
    throw new EnvelopeError(code, 'the key proxy cannot be reached', { cause: err })
  }
  const json = (await r.json().catch(() => ({}))) as T & { error?: { code: string; message: string } }
  if (!r.ok)
    throw new EnvelopeError(json.error?.code ?? 'ERR_PROXY', json.error?.message ?? `proxy answered ${r.status}`)
  return json
}

export const getPolicy = (s: Session) => request<PolicyInfo>(s, 'GET', 'policy')
export const putPolicy = (s: Session, policy: { jwtRoles: object; logContext: string[] }) =>
  request<PolicyInfo>(s, 'PUT', 'policy', policy)
/** The newest 15 lines of the tenant’s audit log, with the route's filters (`caller`, `action`, `outcome`). */
export const readAudit = (s: Session, filters: Record<string, string>) =>
  request<{ records: AuditLineInfo[] }>(
    s,
    'GET',
    `audit?${new URLSearchParams({ order: 'desc', limit: '15', ...filters })}`,
  )
