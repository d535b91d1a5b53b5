/**
 * The policy routes: `GET` and `PUT /v1/admin/tenants/:tenant/policy`, for the tenant's key administrators and
 * the operator (the caller's role was checked before the body was read, app.ts). A change is audited with the
 * policy before and after.
 * @module
 */
import type { Context, Hono } from 'hono'
import type { Audited, Vars } from '../app.ts'
import type { Caller } from '../auth.ts'
import type { PolicyStore } from './authorize.ts'
import { GRANTS, type TenantPolicy } from './policy.ts'

/** What the policy routes need of the app. */
export interface PolicyRouteDeps {
  readonly policies: PolicyStore
  readonly audited: Audited
  readonly adminBody: (c: Context<Vars>) => Promise<Record<string, unknown>>
  readonly who: (c: Context<Vars>) => Caller
}

/** The policy without who changed it when (kept out of audit lines: the line says that already). */
const bare = (p: TenantPolicy) => ({ jwtRoles: p.jwtRoles, logContext: p.logContext })

/** What a policy answer says besides the policy: the roles each permission takes, for a UI to show. */
const answer = async (policies: PolicyStore, tenant: string, policy: TenantPolicy) => ({
  tenant,
  policy,
  isDefault: !(await policies.isSet(tenant)),
  grants: GRANTS,
})

export function policyRoutes(app: Hono<Vars>, deps: PolicyRouteDeps): void {
  const { policies, audited } = deps
  app.get('/v1/admin/tenants/:tenant/policy', async (c) => {
    const tenant = c.req.param('tenant')
    const policy = await audited(c, { action: 'admin.policy', tenant }, () => policies.get(tenant))
    return c.json(await answer(policies, tenant, policy))
  })
  app.put('/v1/admin/tenants/:tenant/policy', async (c) => {
    const tenant = c.req.param('tenant')
    const body = await deps.adminBody(c)
    const { policy } = await audited(c, { action: 'admin.set-policy', tenant }, async (note) => {
      const change = await policies.set(tenant, body, deps.who(c).id)
      note({ policy: { old: bare(change.old), new: bare(change.policy) } })
      return change
    })
    return c.json(await answer(policies, tenant, policy))
  })
}
