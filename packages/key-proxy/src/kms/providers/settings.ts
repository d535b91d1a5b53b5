/**
 * Checking a provider's settings: known fields of known types only, so an unknown field (a `pin`, a
 * `secretAccessKey`) is refused rather than stored. Messages name the field, never its value.
 * @module
 */
import { ProxyError } from '../../errors.ts'

export type FieldKind = 'string' | 'integer' | 'object' | 'boolean'

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The object's fields, checked: each known and of its kind; `what` names it in messages (`settings`). */
export function checkFields(
  value: unknown,
  fields: Readonly<Record<string, FieldKind>>,
  what: string,
  secretsHint = '',
): Record<string, unknown> {
  if (value === undefined) return {}
  if (!isObject(value)) throw new ProxyError('ERR_BAD_REQUEST', `${what} must be an object`)
  for (const [k, v] of Object.entries(value)) {
    const kind = fields[k]
    if (!kind || !Object.hasOwn(fields, k)) {
      throw new ProxyError('ERR_BAD_REQUEST', `${what}.${k.slice(0, 64)} is not a setting${secretsHint}`)
    }
    const ok =
      kind === 'string'
        ? typeof v === 'string' && v.length > 0 && v.length <= 2048
        : kind === 'integer'
          ? Number.isSafeInteger(v) && (v as number) >= 0
          : kind === 'boolean'
            ? typeof v === 'boolean'
            : isObject(v)
    if (!ok) {
      throw new ProxyError(
        'ERR_BAD_REQUEST',
        `${what}.${k} must be ${kind === 'string' ? 'a string of 1 to 2048 characters' : kind === 'integer' ? 'a whole number ≥ 0' : `a${kind === 'object' ? 'n' : ''} ${kind}`}`,
      )
    }
  }
  return value
}

/** `settings` with only the fields that are set (undefined dropped), as stored. */
export function compact<T extends Record<string, unknown>>(settings: T): T {
  return Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)) as T
}
