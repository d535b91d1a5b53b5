/**
 * The admin routes of bring-your-own-key and of rotation on a schedule, declared through the app's `admin`
 * helper like every admin route (the same credentials, tenant check, audit line and refusal codes):
 *
 * - `GET  …/keys/:key/import-parameters[?wrappingKeySpec=RSA_3072|RSA_4096]` → `admin.import-parameters`
 * - `POST …/keys/:key/import` `{ importToken, encryptedKeyMaterial, validTo? }` → `admin.import`
 * - `POST …/keys/:key/delete-imported-material` → `admin.delete-imported-material`
 * - `POST …/keys/:key/rotation-schedule` `{ periodDays: N | null }` → `admin.rotation-schedule`
 * - `POST …/keys/:key/min-decryption-version` `{ version: N }` → `admin.min-decryption-version`
 * @module
 */
import type { Context, Hono } from 'hono'
import type { KmsBackend } from '../kms/backend.ts'

/** What the routes borrow from the app (app.ts). */
export interface AdminRouteKit<C extends Context> {
  readonly admin: (
    c: C,
    action: string,
    run: (tenant: string, key: string, by: string) => Promise<unknown>,
  ) => Promise<Response>
  readonly adminBody: (c: C) => Promise<Record<string, unknown>>
  readonly kms: KmsBackend
}

/** Declares the routes on the app. */
// biome-ignore lint/suspicious/noExplicitAny: the app's own Hono variables, passed through
export function byokRoutes(app: Hono<any>, { admin, adminBody, kms }: AdminRouteKit<any>): void {
  const key = '/v1/admin/tenants/:tenant/keys/:key'
  app.get(`${key}/import-parameters`, (c) =>
    admin(c, 'import-parameters', (t, k) => kms.importParameters(t, k, c.req.query('wrappingKeySpec') ?? 'RSA_3072')),
  )
  app.post(`${key}/import`, async (c) => {
    const body = await adminBody(c)
    return admin(c, 'import', (t, k) =>
      kms.importMaterial(t, k, {
        importToken: body.importToken,
        encryptedKeyMaterial: body.encryptedKeyMaterial,
        validTo: body.validTo,
      }),
    )
  })
  app.post(`${key}/delete-imported-material`, (c) =>
    admin(c, 'delete-imported-material', (t, k) => kms.deleteImportedMaterial(t, k)),
  )
  app.post(`${key}/min-decryption-version`, async (c) => {
    const body = await adminBody(c)
    return admin(c, 'min-decryption-version', (t, k) => kms.setMinDecryptionVersion(t, k, body.version))
  })
  app.post(`${key}/rotation-schedule`, async (c) => {
    const body = await adminBody(c)
    return admin(c, 'rotation-schedule', (t, k) => kms.setRotationSchedule(t, k, body.periodDays))
  })
}
