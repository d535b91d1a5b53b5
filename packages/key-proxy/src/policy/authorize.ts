/**
 * The authorization step every key-use, admin and audit request passes once the caller is authenticated and the
 * tenant it acts for is known: the operator (an admin API key), then the tenant check, then the caller's roles
 * under the tenant's policy. Each refusal has its own code: `ERR_TENANT_FORBIDDEN` (another tenant's),
 * `ERR_ROLE_FORBIDDEN` (this tenant's caller, without the role), `ERR_ADMIN_REQUIRED` (only the operator's admin
 * key does that).
 * @module
 */
import type { Caller } from '../auth.ts'
import { ProxyError } from '../errors.ts'
import type { Keystore } from '../keystore/keystore.ts'
import { checkPolicy, GRANTS, jwtRolesOf, permissionOf, type Role, type TenantPolicy } from './policy.ts'

/**
 * Where tenants' policies live (the keystore, kind `policy`), with the default for a tenant that has none.
 *
 * @example
 * ```ts
 * const policies = new PolicyStore(keystore, defaultPolicy(config.jwt?.keyAdminRole))
 * const acme = await policies.get('acme')
 * ```
 */
export class PolicyStore {
  readonly #keystore: Keystore | undefined
  readonly #fallback: TenantPolicy
  readonly #memory = new Map<string, TenantPolicy>()

  /** `keystore` undefined: policies are kept in memory only (an app without a keystore, in tests). */
  constructor(keystore: Keystore | undefined, fallback: TenantPolicy) {
    this.#keystore = keystore
    this.#fallback = fallback
  }

  /** The tenant's policy, or the default. @throws `ERR_KEYSTORE_UNAVAILABLE` */
  async get(tenant: string): Promise<TenantPolicy> {
    const stored = this.#keystore ? await this.#keystore.get('policy', tenant) : this.#memory.get(tenant)
    return stored ?? this.#fallback
  }

  /** Whether the tenant has a policy of its own (else it has the default). */
  async isSet(tenant: string): Promise<boolean> {
    return (this.#keystore ? await this.#keystore.get('policy', tenant) : this.#memory.get(tenant)) !== undefined
  }

  /**
   * Replaces the tenant's policy; resolves with the old one (the default when it had none) and the new.
   * @throws `ERR_BAD_REQUEST` (a bad policy), `ERR_KEYSTORE_UNAVAILABLE`
   */
  async set(tenant: string, value: unknown, by: string): Promise<{ old: TenantPolicy; policy: TenantPolicy }> {
    const policy: TenantPolicy = { ...checkPolicy(value), updated: new Date().toISOString(), updatedBy: by }
    let old: TenantPolicy = this.#fallback
    if (this.#keystore) {
      await this.#keystore.update('policy', tenant, (current) => {
        old = current ?? this.#fallback
        return policy
      })
    } else {
      old = this.#memory.get(tenant) ?? this.#fallback
      this.#memory.set(tenant, policy)
    }
    return { old, policy }
  }
}

/**
 * Whether `caller` may take `action` (an audit action name) for `tenant`; resolves with the roles it holds there.
 *
 * @example
 * ```ts
 * await authorize(caller, 'acme', 'unwrap', { policies, tenantKmsAdmin: false }) // or throws
 * ```
 * @throws {ProxyError} `ERR_TENANT_FORBIDDEN`, `ERR_ROLE_FORBIDDEN`, `ERR_ADMIN_REQUIRED`
 */
export async function authorize(
  caller: Caller,
  /** Undefined: an API key of several tenants before its body named one (its scopes are the same for each). */
  tenant: string | undefined,
  action: string,
  options: { readonly policies: PolicyStore; readonly tenantKmsAdmin?: boolean },
): Promise<ReadonlySet<Role> | 'operator'> {
  const permission = permissionOf(action)
  if (caller.admin) {
    if (permission === 'use') {
      throw new ProxyError('ERR_ROLE_FORBIDDEN', 'the operator’s admin key does not use data keys: a key user does')
    }
    return 'operator'
  }
  if (tenant !== undefined && caller.tenants !== '*' && !caller.tenants.includes(tenant)) {
    throw new ProxyError('ERR_TENANT_FORBIDDEN', `not allowed to act for tenant "${tenant}"`)
  }
  if (!permission) return new Set()
  const roles: ReadonlySet<Role> = caller.scopes
    ? new Set(caller.scopes)
    : tenant === undefined
      ? new Set()
      : jwtRolesOf(await options.policies.get(tenant), caller.claimRoles ?? [])
  if (permission === 'kms-entry' && !options.tenantKmsAdmin) {
    throw new ProxyError('ERR_ADMIN_REQUIRED', `only the operator’s admin key may ${action.slice(6)} keys of a tenant`)
  }
  if (!GRANTS[permission].some((r) => roles.has(r))) {
    const held = roles.size ? [...roles].join(', ') : 'no role'
    throw new ProxyError(
      'ERR_ROLE_FORBIDDEN',
      `${held} of tenant "${tenant ?? '*'}" may not ${action.replace(/^admin\./, '')}: it takes ${GRANTS[permission].join(' or ')}`,
    )
  }
  return roles
}
