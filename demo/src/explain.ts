// Every failure as a person should read it: what happened, what it means for their data, what to do. The code
// stays in the text, so support (and the end-to-end tests) can tell the cases apart.
import { EnvelopeError } from '@envelope/core'

export interface Situation {
  /** What was being done: `submit` keeps the form and stores nothing; `open` shows nothing of the submission. */
  readonly doing: 'submit' | 'open' | 'admin'
  /** The signed-in tenant. */
  readonly tenant: string
  /** The tenant that owns the submission being opened. */
  readonly owner?: string
}

const ALTERED = new Set([
  'ERR_AUTHENTICATION_FAILED',
  'ERR_COMMITMENT_MISMATCH',
  'ERR_CONTEXT_MISMATCH',
  'ERR_MALFORMED',
  'ERR_TRUNCATED',
  'ERR_EDEK_INVALID',
])

export function explain(err: unknown, { doing, tenant, owner = tenant }: Situation): string {
  const code = err instanceof EnvelopeError ? err.code : 'ERR_UNEXPECTED'
  const after =
    doing === 'submit'
      ? 'Nothing was stored; your form is kept, so you can try again.'
      : doing === 'open'
        ? 'Nothing of this submission is shown.'
        : 'The key is unchanged.'
  const why: Record<string, string> = {
    ERR_PROXY_UNAVAILABLE: `The key proxy cannot be reached, so no data key could be ${doing === 'submit' ? 'made' : 'unwrapped'}. ${after}`,
    ERR_PROXY_TIMEOUT: `The key proxy did not answer in time. ${after}`,
    ERR_STORAGE_UNAVAILABLE: `The storage service cannot be reached. ${after}`,
    ERR_IDENTITY_UNAVAILABLE: `The identity service cannot be reached to sign you in. ${after}`,
    ERR_TOKEN_EXPIRED: 'Your sign-in has expired. Sign in again.',
    ERR_UNAUTHENTICATED: 'Your sign-in was not accepted. Sign in again.',
    ERR_TENANT_FORBIDDEN: `This submission belongs to tenant ${owner}. Its data key is wrapped by ${owner}’s master key, and the key proxy refuses to unwrap it for a user of ${tenant}. ${after}`,
    ERR_ADMIN_REQUIRED: `Only the service’s operator can do this.`,
    ERR_ROLE_FORBIDDEN:
      doing === 'admin'
        ? `Your role in ${tenant} does not allow this: under ${tenant}’s key policy, only its key administrators manage its key and policy.`
        : `You are signed in as a key administrator or auditor of ${tenant}: under ${tenant}’s key policy you may manage or audit its key, but not use it, so you cannot ${doing === 'submit' ? 'make' : 'open'} submissions (separation of duties: its key users do). ${doing === 'submit' ? 'Nothing was stored.' : 'Nothing of this submission is shown.'}`,
    ERR_KEY_DISABLED: `${owner}’s key is disabled by its key administrator: submissions cannot be made or opened until it is re-enabled. ${after}`,
    ERR_KEY_PENDING_DELETION:
      doing === 'submit'
        ? `${owner}’s key is scheduled for deletion: nothing can be encrypted under it unless its key administrator cancels the deletion. Nothing was stored and your form is kept.`
        : `${owner}’s key is scheduled for deletion: its submissions cannot be opened unless its key administrator cancels the deletion. ${after}`,
    ERR_LIMIT_EXCEEDED: `The stored data is larger than this page accepts for it: storage holds something other than what was submitted. ${after}`,
    ERR_KEY_DESTROYED:
      doing === 'submit'
        ? `${owner}’s key was shredded: this tenant cannot encrypt anything any more. Nothing was stored and your form is kept, but sending it again cannot work: a shredded key is gone for good.`
        : `${owner}’s key was shredded: this submission can never be opened again, by anyone.`,
    ERR_KEY_STATE: `The key’s state does not allow that: ${err instanceof Error ? err.message : ''}.`,
    ERR_KEY_PENDING_IMPORT: `${owner}’s key holds no key material now (it expired or was deleted): import the same material again. ${after}`,
    ERR_IMPORT_MATERIAL_MISMATCH:
      'This is not the material the key had: only the same material can be imported again, so that what it encrypted opens. The key is unchanged.',
    ERR_IMPORT_MATERIAL_SIZE: `Key material is 32 bytes (AES-256): ${err instanceof Error ? err.message : ''}. The key is unchanged.`,
    ERR_NOT_FOUND: `There is no such submission. ${after}`,
  }
  const text = ALTERED.has(code)
    ? `This submission was altered after it was stored: it failed authentication. ${after}`
    : (why[code] ?? `Something went wrong: ${err instanceof Error ? err.message : String(err)}. ${after}`)
  return `${text.trim()} (${code})`
}
