// The guided tour on the sign-in page, as data: the steps to try, and one entry per role one can sign in as.
// The role list of the sign-in form is made from ROLES too, so a new role (a key user, an auditor) is one entry
// here (and its claims in the identity service), and the tour and the form stay in step.
import type { Role } from './session.ts'

export interface TourRole {
  /** What the identity service is asked for (`/token?role=`). */
  readonly role: Role
  /** The role's name, as the page says it: "key administrator". */
  readonly name: string
  /** The role in a few words, after its name in the sign-in form's list. */
  readonly summary: string
  /** What this role sees and may do. */
  readonly shows: string
  /** Something to try as this role. */
  readonly tryThis: string
}

/** What to try, in order. */
export const STEPS: readonly string[] = [
  'Sign in as a member of acme and send the form with a file: it is encrypted in this page, and storage receives ciphertext only.',
  'Open it from Submissions: its title, fields and file are decrypted here. After a reload its data keys come from this browser’s cache, without asking the key proxy.',
  'Copy the submission’s address, sign in as a member of globex and open it: storage hands over the ciphertext, but the key proxy refuses acme’s key to globex.',
  'Sign in as acme’s key administrator and open Tenant key: rotate, disable and re-enable the key, and see what each means for opening submissions. Shredding erases it for good. A key administrator manages the key but cannot open submissions: try one.',
  'In Tenant key, the key administrator (or the auditor) sees acme’s own audit log, live: every open of a submission, by whom, with its submission’s name, and every refusal. The key administrator edits who may do what (the key policy).',
]

export const ROLES: readonly TourRole[] = [
  {
    role: 'member',
    name: 'key user',
    summary: 'submits and opens',
    shows:
      'New submission and Submissions: sends forms encrypted in this page, and opens the tenant’s submissions (the tenant’s key policy makes members its key users).',
    tryThis: 'Attach a large file and watch it being encrypted and uploaded in parts.',
  },
  {
    role: 'admin',
    name: 'key administrator',
    summary: 'manages the key only',
    shows:
      'Tenant key: the customer’s own control over its data key (rotate, disable, re-enable, shred), who may do what (the key policy), and the tenant’s audit log. Separation of duties: it cannot open or make submissions.',
    tryThis: 'Disable the key, then, as a key user, open a submission: it is refused until you re-enable the key.',
  },
  {
    role: 'auditor',
    name: 'auditor',
    summary: 'reads the tenant’s audit log',
    shows: 'Tenant key, the audit log only: every use of the tenant’s key, by whom, when, and every refusal.',
    tryThis: 'Filter the log to refusals, then sign in as the key administrator and try to open a submission.',
  },
]

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, text?: string) => {
  const e = document.createElement(tag)
  if (text !== undefined) e.textContent = text
  return e
}

/** Fills the sign-in form's role list and the tour; `onTry(role)` signs in as that role. */
export function renderTour(select: HTMLSelectElement, tour: HTMLElement, onTry: (role: Role) => void): void {
  select.replaceChildren(
    ...ROLES.map((r) => {
      const option = el('option', `${r.name[0]!.toUpperCase()}${r.name.slice(1)}: ${r.summary}`)
      option.value = r.role
      return option
    }),
  )
  const steps = el('ol')
  steps.append(...STEPS.map((s) => el('li', s)))
  const roles = ROLES.map((r) => {
    const entry = el('div')
    entry.className = 'tour-role'
    entry.dataset.role = r.role
    const button = el('button', `Try as ${r.name}`)
    button.type = 'button'
    button.addEventListener('click', () => onTry(r.role))
    const tryThis = el('p', `Try: ${r.tryThis}`)
    tryThis.className = 'muted'
    entry.append(el('h3', `As a ${r.name}`), el('p', r.shows), tryThis, button)
    return entry
  })
  const title = el('h2', 'Guided tour')
  title.id = 'tour-title' // names the tour's region (aria-labelledby in index.html)
  tour.replaceChildren(title, el('p', 'What to try, in a few minutes:'), steps, ...roles)
}
