/**
 * Tenant and key names: one pattern for every route, the admin CLI, the configuration, JWT tenant claims and
 * the names inside EDEKs (docs/key-proxy-api.md, "Names"). 1 to 64 characters of `A-Z a-z 0-9 _ . -`, the first
 * a letter, a digit or `_`, so a name is safe in a URL path segment, a file name and a command line. Names such
 * as `constructor` or `__proto__` are ordinary names: everything keyed by a name is a `Map`, never a plain object.
 * @module
 */
import { ProxyError } from './errors.ts'

/**
 * What a tenant or key name must match: 1 to 64 characters of `A-Z a-z 0-9 _ . -`, the first a letter, a digit or `_`.
 *
 * @example
 * ```ts
 * NAME_PATTERN.test('acme-eu.1') // true
 * NAME_PATTERN.test('../etc') // false
 * ```
 */
export const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/

/** Words for messages: what {@link NAME_PATTERN} allows. */
export const NAME_RULE = '1 to 64 characters of A-Z a-z 0-9 _ . - (the first a letter, a digit or _)'

/**
 * Whether `value` is a valid tenant or key name ({@link NAME_PATTERN}).
 *
 * @example
 * ```ts
 * if (!isName(tenant)) throw new Error(`not a tenant name: ${JSON.stringify(tenant).slice(0, 66)}`)
 * ```
 * @throws Never.
 */
export function isName(value: unknown): value is string {
  return typeof value === 'string' && NAME_PATTERN.test(value)
}

/** `value` when it is a name; otherwise `ERR_BAD_REQUEST` naming the field (never echoing the value). */
export function checkName(value: unknown, what: string): string {
  if (!isName(value)) throw new ProxyError('ERR_BAD_REQUEST', `${what} must be ${NAME_RULE}`)
  return value
}
