/**
 * A tenant's key policy: who may use its keys, who may manage them, who may read its audit log (separation of
 * duties, as AWS KMS's default key policy: administrators who cannot use the key, users who cannot manage it).
 *
 * Three roles. **Key administrators** describe, rotate, disable and enable, schedule and cancel deletion, destroy,
 * test, edit the policy and read the audit log, and manage the tenant's KMS entries where the operator allows it
 * (`tenantKmsAdmin`); never generate, unwrap or rekey. **Key users** generate, unwrap and rekey; nothing else.
 * **Auditors** read the audit log; nothing else. The operator (an admin API key) does everything but key use.
 *
 * Who holds a role: a JWT by the values of its roles claim, mapped per tenant by the policy (`jwtRoles`); a service
 * API key by its `scopes` in the proxy's configuration (role names; default `["key-user"]`). In `jwtRoles`, the
 * value `*` means "any token of the tenant that holds no value mapped to another role".
 * @module
 */
import { ProxyError } from '../errors.ts'

/**
 * A role of a tenant's key policy.
 *
 * @example
 * ```ts
 * const role: Role = 'key-user'
 * ```
 */
export type Role = 'key-admin' | 'key-user' | 'auditor'

/** Every role, in the order the docs list them. */
export const ROLES: readonly Role[] = ['key-admin', 'key-user', 'auditor']

/**
 * A tenant's key policy, stored in the keystore (kind `policy`, key `<tenant>`).
 *
 * @example
 * ```ts
 * const policy: TenantPolicy = {
 *   jwtRoles: { 'key-admin': ['security-team'], 'key-user': ['*'], auditor: ['compliance'] },
 *   logContext: ['submission'],
 * }
 * ```
 */
export interface TenantPolicy {
  /** Role → the JWT role-claim values that give it (`*`: any token holding no value mapped to another role). */
  readonly jwtRoles: { readonly [R in Role]: readonly string[] }
  /** Encryption-context fields the tenant's audit lines show in clear (their values cut at 128 characters). */
  readonly logContext: readonly string[]
  /** When and by whom it was last changed (set by the proxy). */
  readonly updated?: string
  readonly updatedBy?: string
}

/** Most claim values per role, and most logged context fields. */
export const MAX_POLICY_VALUES = 16
const VALUE = /^[\x21-\x7e]{1,64}$/ // printable ASCII, no spaces (a roles claim may be space-separated)

/**
 * The policy a tenant has until its key administrators or the operator set one: JWT key administrators are the
 * tokens with `jwt.keyAdminRole` (none when unset, as before policies existed), every other token of the tenant
 * is a key user, there is no JWT auditor, and no context field is logged in clear. The operator may set another
 * default with the `defaultPolicy` setting.
 *
 * @example
 * ```ts
 * defaultPolicy('key-admin') // { jwtRoles: { 'key-admin': ['key-admin'], 'key-user': ['*'], auditor: [] }, logContext: [] }
 * ```
 */
export function defaultPolicy(keyAdminRole?: string): TenantPolicy {
  return {
    jwtRoles: { 'key-admin': keyAdminRole ? [keyAdminRole] : [], 'key-user': ['*'], auditor: [] },
    logContext: [],
  }
}

/**
 * Checks a policy sent to `PUT …/policy` (or the `defaultPolicy` setting) and returns it in canonical form.
 *
 * @example
 * ```ts
 * const policy = checkPolicy(await request.json()) // ERR_BAD_REQUEST naming the bad field
 * ```
 * @throws {ProxyError} `ERR_BAD_REQUEST`: not an object, an unknown field or role, too many or bad values.
 */
export function checkPolicy(value: unknown): TenantPolicy {
  const bad = (message: string): never => {
    throw new ProxyError('ERR_BAD_REQUEST', `policy: ${message}`)
  }
  if (!isObject(value)) bad('must be a JSON object')
  const v = value as Record<string, unknown>
  for (const k of Object.keys(v))
    if (!['jwtRoles', 'logContext', 'updated', 'updatedBy'].includes(k)) bad(`unknown field "${k.slice(0, 32)}"`)
  const roles = v.jwtRoles ?? {}
  if (!isObject(roles)) bad('"jwtRoles" must be an object of role → claim values')
  for (const k of Object.keys(roles as object))
    if (!ROLES.includes(k as Role)) bad(`unknown role "${k.slice(0, 32)}" (${ROLES.join(', ')})`)
  const list = (field: string, x: unknown, pattern: RegExp): string[] => {
    if (x === undefined) return []
    if (!Array.isArray(x) || x.length > MAX_POLICY_VALUES || !x.every((s) => typeof s === 'string' && pattern.test(s)))
      bad(`${field} must be an array of at most ${MAX_POLICY_VALUES} strings of 1 to 64 printable ASCII characters`)
    return [...new Set(x as string[])]
  }
  const r = roles as Record<string, unknown>
  return {
    jwtRoles: {
      'key-admin': list('"jwtRoles.key-admin"', r['key-admin'], VALUE),
      'key-user': list('"jwtRoles.key-user"', r['key-user'], VALUE),
      auditor: list('"jwtRoles.auditor"', r.auditor, VALUE),
    },
    logContext: list('"logContext"', v.logContext, VALUE),
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/**
 * The roles a JWT's role-claim values give under a policy.
 *
 * @example
 * ```ts
 * jwtRolesOf(policy, ['security-team']) // Set { 'key-admin' }
 * ```
 */
export function jwtRolesOf(policy: TenantPolicy, claimValues: readonly string[]): Set<Role> {
  const held = new Set<Role>()
  for (const role of ROLES) {
    if (policy.jwtRoles[role].some((v) => v !== '*' && claimValues.includes(v))) held.add(role)
  }
  for (const role of ROLES) {
    // `*`: a token with no value mapped to another role (so a key administrator is never a user by default).
    if (policy.jwtRoles[role].includes('*') && ![...held].some((h) => h !== role)) held.add(role)
  }
  return held
}

/**
 * What each route needs: key use, key management, KMS entries (the operator's unless `tenantKmsAdmin`), the
 * policy, or the audit log.
 */
export type Permission = 'use' | 'manage' | 'kms-entry' | 'policy' | 'audit'

/**
 * The permission an audited action needs, by its audit action name (undefined: not a tenant's action).
 *
 * @example
 * ```ts
 * permissionOf('unwrap') // 'use'
 * permissionOf('admin.rotate') // 'manage'
 * ```
 */
export function permissionOf(action: string): Permission | undefined {
  if (action === 'generate' || action === 'unwrap' || action === 'rekey') return 'use'
  if (action === 'admin.policy' || action === 'admin.set-policy') return 'policy'
  if (action === 'audit.read') return 'audit'
  if (['admin.create', 'admin.register', 'admin.primary', 'admin.retire', 'admin.reactivate'].includes(action))
    return 'kms-entry'
  if (action.startsWith('admin.')) return 'manage'
  return undefined
}

/** The roles that hold each permission (the operator holds every one but `use`). */
export const GRANTS: { readonly [P in Permission]: readonly Role[] } = {
  use: ['key-user'],
  manage: ['key-admin'],
  'kms-entry': ['key-admin'], // only where the operator allows it (tenantKmsAdmin)
  policy: ['key-admin'],
  audit: ['key-admin', 'auditor'],
}
