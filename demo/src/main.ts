// The demo SPA: sign in as a member (key user), key administrator or auditor of a demo tenant; as a member, submit
// a form whose fields and files are encrypted in this browser (in a Web Worker) before upload, and open
// submissions (decrypted as streams, data keys through the IndexedDB cache); as a key administrator, rotate,
// disable, re-enable or shred the tenant's key and edit its key policy (but open nothing: separation of duties);
// as a key administrator or auditor, watch the tenant's own audit log live. Views are plain sections switched by
// the URL hash.
import {
  type AuditLineInfo,
  describeKey,
  disableKey,
  enableKey,
  getPolicy,
  type KeyInfo,
  type PolicyInfo,
  putPolicy,
  readAudit,
  rotateKey,
  shredKey,
} from './admin.ts'
import { explain } from './explain.ts'
import { count, formatBytes, timeElement } from './format.ts'
import { MAX_LISTED, openTitles } from './list.ts'
import { openFields, openFile } from './open.ts'
import { deleteOwnMaterial, describeOwnKey, importOwnMaterial, newMaterialFile, setRotation } from './own-key.ts'
import { currentSession, DEK_CACHE_TTL_MS, dekCache, type Role, type Session, signIn, signOut } from './session.ts'
import type { Submission } from './storage-api.ts'
import { type Manifest, storageFor, submit } from './submit.ts'
import { ROLES, renderTour } from './tour.ts'

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T
const VIEWS = ['sign-in', 'new', 'submissions', 'submission', 'admin'] as const
const submissionHref = (owner: string, id: string) => `#/submissions/${owner}/${id}`
/** A submission's title as its owner wrote it (older submissions have none). */
const titleOf = (manifest: Manifest) => {
  const title = manifest.fields?.title
  return (typeof title === 'string' && title.trim()) || 'Untitled submission'
}
const filesOf = (manifest: Manifest) => (Array.isArray(manifest.files) ? manifest.files : [])

/** Sets a status line: plain text, or text with elements (a link) in it. */
function say(id: string, text: string | (string | Node)[], kind: 'ok' | 'error' | 'busy' = 'ok') {
  const el = $(id)
  if (typeof text === 'string') el.textContent = text
  else el.replaceChildren(...text)
  el.className = kind
}

function rows(list: HTMLElement, entries: [string, string][]) {
  list.replaceChildren(
    ...entries.flatMap(([k, v]) => {
      const dt = document.createElement('dt')
      const dd = document.createElement('dd')
      dt.textContent = k
      dd.textContent = v
      return [dt, dd]
    }),
  )
}

function show(view: (typeof VIEWS)[number]) {
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== view
}

/** The signed-in user's name, as the demo identity service gives it (the `sub` of its tokens). */
const USERS = { member: 'demo-user', admin: 'demo-admin', auditor: 'demo-auditor' } as const
const userOf = (session: Session) => `${USERS[session.role]}@${session.tenant}`

// --- routing ---
async function route() {
  stopAudit()
  const session = currentSession()
  $('nav').hidden = !session
  if (!session) return show('sign-in')
  $('who').textContent = `${userOf(session)} · ${ROLES.find((r) => r.role === session.role)?.name}`
  // Members use the key (make and open submissions); key administrators and auditors see the tenant key view.
  $('nav-new').hidden = session.role !== 'member'
  $('nav-admin').hidden = session.role === 'member'
  const [, page, owner, id] = location.hash.split('/')
  if (page === 'submissions' && owner && id) {
    show('submission')
    return openSubmission(session, owner, id)
  }
  if (page === 'submissions') {
    show('submissions')
    return listSubmissions(session)
  }
  if ((page === 'admin' || page === 'new' || !page) && session.role !== 'member') {
    show('admin')
    return showKey(session)
  }
  show('new')
}

// --- sign-in, and the guided tour ---
function enter(tenant: string, role: Role) {
  signIn({ tenant, role })
  const home = role === 'member' ? '#/new' : '#/admin'
  if (location.hash === home) void route()
  else location.hash = home
}
const signInForm = $<HTMLFormElement>('sign-in')
const tenantSelect = signInForm.elements.namedItem('tenant') as HTMLSelectElement
renderTour(signInForm.elements.namedItem('role') as HTMLSelectElement, $('tour'), (role) =>
  enter(tenantSelect.value, role),
)
signInForm.addEventListener('submit', (event) => {
  event.preventDefault()
  const form = new FormData(signInForm)
  enter(String(form.get('tenant')), String(form.get('role')) as Role)
})
$('sign-out').addEventListener('click', async () => {
  try {
    await signOut()
  } finally {
    location.hash = ''
    void route()
  }
})

// --- new submission ---
$('submit').addEventListener('submit', async (event) => {
  event.preventDefault()
  const session = currentSession()
  if (!session) return
  const form = event.target as HTMLFormElement
  const data = new FormData(form)
  const fields = {
    title: String(data.get('title')),
    name: String(data.get('name')),
    email: String(data.get('email')),
    message: String(data.get('message')),
  }
  const files = [...((form.elements.namedItem('files') as HTMLInputElement).files ?? [])]
  const button = form.querySelector('button') as HTMLButtonElement
  const progress = $<HTMLProgressElement>('submit-progress')
  button.disabled = true
  progress.hidden = false
  progress.value = 0
  say('submit-status', 'Getting data keys from the key proxy…', 'busy')
  try {
    const id = await submit(
      session,
      fields,
      files,
      (done, total) => {
        progress.value = total ? done / total : 1
        say(
          'submit-status',
          `Encrypting in a Web Worker and uploading ciphertext: ${Math.floor(100 * progress.value)}% (${formatBytes(done)} of ${formatBytes(total)})`,
          'busy',
        )
      },
      (scope) => {
        document.body.dataset.sealedIn = scope
      },
    )
    progress.value = 1
    const link = document.createElement('a')
    link.href = submissionHref(session.tenant, id)
    link.textContent = fields.title
    const size = formatBytes(files.reduce((n, f) => n + f.size, 0))
    say('submit-status', [
      'Stored submission “',
      link,
      `”: its fields and ${count(files.length, 'file')} (${size}), encrypted in this browser under data keys of ${session.tenant}; storage received ciphertext only. The form is cleared for the next one.`,
    ])
    // Cleared, not reset: a reset would bring back the sample values and invite sending the same thing twice.
    for (const input of form.querySelectorAll<HTMLInputElement | HTMLTextAreaElement>('input, textarea')) {
      input.value = ''
    }
  } catch (err) {
    say('submit-status', explain(err, { doing: 'submit', tenant: session.tenant }), 'error')
  } finally {
    button.disabled = false
  }
})

// --- submissions ---
/** One line of the list: what storage says in clear, then the title once decrypted here. */
function submissionRow(owner: string, s: Submission) {
  const li = document.createElement('li')
  li.dataset.id = s.id
  const title = document.createElement('span')
  title.className = 'title busy'
  title.textContent = 'Decrypting the title…'
  const meta = document.createElement('span')
  meta.className = 'meta muted'
  const stored = s.objects.reduce((n, o) => n + o.bytes, 0)
  const size = document.createElement('span')
  size.textContent = `${count(s.objects.length - 1, 'file')}, ${formatBytes(stored)} of ciphertext`
  meta.append(timeElement(s.created), ` · ${s.by ?? 'uploader not recorded'} · `, size)
  li.append(title, meta)
  return {
    li,
    opened(result: { manifest: Manifest } | { error: { code: string } }) {
      if ('manifest' in result) {
        const files = filesOf(result.manifest)
        const a = document.createElement('a')
        a.href = submissionHref(owner, s.id)
        a.textContent = titleOf(result.manifest)
        a.className = 'title'
        title.replaceWith(a)
        const bytes = files.reduce((n, f) => n + f.size, 0)
        size.textContent = files.length ? `${count(files.length, 'file')}, ${formatBytes(bytes)}` : 'no files'
      } else if (result.error.code === 'ERR_KEY_DESTROYED') {
        // Nothing to open, ever: no link.
        title.className = 'title error'
        title.textContent = `Shredded: can never be opened, by anyone (${result.error.code})`
      } else {
        const a = document.createElement('a')
        a.href = submissionHref(owner, s.id)
        a.textContent = `Submission ${s.id}`
        a.className = 'title'
        const why = document.createElement('span')
        why.className = 'error'
        why.textContent = ` title not decrypted (${result.error.code})`
        title.replaceWith(a, why)
      }
    },
  }
}

async function listSubmissions(session: Session) {
  const list = $('submission-list')
  list.replaceChildren()
  try {
    const all = await storageFor(session).list()
    const shown = all.slice(0, MAX_LISTED)
    const rows = new Map(shown.map((s) => [s.id, submissionRow(session.tenant, s)]))
    list.replaceChildren(...[...rows.values()].map((r) => r.li))
    if (all.length > shown.length) {
      const more = document.createElement('li')
      more.className = 'muted'
      more.textContent = `and ${count(all.length - shown.length, 'older submission')}, not shown`
      list.append(more)
    }
    if (!all.length) list.textContent = `No submissions for ${session.tenant} yet.`
    await openTitles(session, session.tenant, shown, (s, result) => rows.get(s.id)?.opened(result))
  } catch (err) {
    list.textContent = explain(err, { doing: 'open', tenant: session.tenant })
  }
}

async function openSubmission(session: Session, owner: string, id: string) {
  $('submission-id').textContent = id
  $('submission-title').textContent = 'Submission'
  $('submission-fields').replaceChildren()
  $('submission-files').replaceChildren()
  say('save-status', '')
  say('open-status', 'Downloading and decrypting…', 'busy')
  try {
    const { manifest, keyId } = await openFields(session, owner, id)
    say('open-status', `Decrypted in this browser. Encrypted under ${keyId}.`)
    const { title: _title, ...fields } = manifest.fields
    $('submission-title').textContent = titleOf(manifest)
    rows($('submission-fields'), Object.entries(fields))
    $('submission-files').replaceChildren(
      ...filesOf(manifest).map((f, index) => {
        const li = document.createElement('li')
        const button = document.createElement('button')
        button.type = 'button'
        button.textContent = `Save ${f.name}`
        button.addEventListener('click', () => saveFile(session, owner, id, index, f.name, f.type))
        li.append(button, ` ${formatBytes(f.size)}`)
        return li
      }),
    )
  } catch (err) {
    say('open-status', explain(err, { doing: 'open', tenant: session.tenant, owner }), 'error')
  }
}

async function saveFile(session: Session, owner: string, id: string, index: number, name: string, type: string) {
  say('save-status', `Decrypting ${name}…`, 'busy')
  try {
    const blob = await openFile(
      session,
      owner,
      id,
      index,
      type,
      (bytes) => say('save-status', `Decrypting ${name} in a Web Worker: ${formatBytes(bytes)} verified…`, 'busy'),
      (scope) => {
        document.body.dataset.openedIn = scope
      },
    )
    const url = URL.createObjectURL(blob)
    const a = document.createElement('a')
    a.href = url
    a.download = name
    a.click()
    setTimeout(() => URL.revokeObjectURL(url), 60_000) // the download has its own reference by then
    say('save-status', `Saved ${name}: ${formatBytes(blob.size)} (${blob.size} bytes), every frame verified.`)
  } catch (err) {
    say('save-status', explain(err, { doing: 'open', tenant: session.tenant, owner }), 'error')
  }
}

// --- tenant key administration ---
function showKeyInfo(info: KeyInfo) {
  const destroyed = info.state === 'destroyed'
  rows(
    $('key-state'),
    destroyed
      ? [
          ['key', `${info.tenant}/${info.keyName}`],
          ['state', 'destroyed (shredded): nothing can restore it'],
          ['versions', `none left (${info.versions.length} erased)`],
        ]
      : [
          ['key', `${info.tenant}/${info.keyName}`],
          ['state', info.state.replace('_', ' ')],
          ['primary version', String(info.primaryVersion)],
          ['versions', info.versions.join(', ')],
        ],
  )
  // Only the actions that apply to the key as it is: no dead buttons.
  const applies = {
    rotate: info.state === 'enabled',
    disable: info.state === 'enabled',
    enable: info.state === 'disabled',
  }
  for (const [id, yes] of Object.entries(applies)) $(id).hidden = !yes
  $('key-actions').hidden = !Object.values(applies).some(Boolean)
  $('shred').hidden = destroyed
  showRotation(info)
}

// --- rotation schedule and the tenant's own key material ---
const when = (iso: string) => new Date(iso).toLocaleString()

function showRotation(info: KeyInfo) {
  $('rotation').hidden = info.state === 'destroyed'
  const history = info.rotations ?? []
  rows($('rotation-state'), [
    ['schedule', info.rotation ? `every ${info.rotation.periodDays} days` : 'off'],
    ...(info.rotation ? ([['next rotation', when(info.rotation.nextRotation)]] as [string, string][]) : []),
    [
      'rotations',
      history.length
        ? history
            .slice(-5)
            .map((r) => `v${r.version} ${when(r.time)} by ${r.by === 'schedule' ? 'the schedule' : r.by}`)
            .join('; ')
        : 'none yet',
    ],
  ])
  const days = ($('rotation') as HTMLFormElement).elements.namedItem('days') as HTMLInputElement
  if (info.rotation && document.activeElement !== days) days.value = String(info.rotation.periodDays)
  $('rotation-off').hidden = !info.rotation
}

let expiryTimer: ReturnType<typeof setTimeout> | undefined
function showOwnKey(info: KeyInfo) {
  const imported = info.state !== 'pending_import'
  rows($('own-state'), [
    ['key', `${info.tenant}/${info.keyName}`],
    ['state', imported ? info.state.replace('_', ' ') : 'pending import: no key material (import yours)'],
    ...((imported && info.importedAt ? [['imported', when(info.importedAt)]] : []) as [string, string][]),
    ...((imported ? [['deleted after', info.validTo ? when(info.validTo) : 'never (no expiry)']] : []) as [
      string,
      string,
    ][]),
  ])
  $('own-delete').hidden = !imported
  // The proxy deletes expired material; the view says so as soon as it has.
  clearTimeout(expiryTimer)
  if (imported && info.validTo) {
    const ms = Math.min(Date.parse(info.validTo) - Date.now() + 500, 2 ** 31 - 1)
    expiryTimer = setTimeout(() => void refreshOwnKey(info.validTo), Math.max(ms, 0))
  }
}

/** Shows the own key; `expired`: its validTo, when this is the view's look at it once that time passed. */
async function refreshOwnKey(expired?: string) {
  const session = currentSession()
  if (session?.role !== 'admin') return
  try {
    const info = await describeOwnKey(session)
    showOwnKey(info)
    if (expired && info.state === 'pending_import') {
      say(
        'own-status',
        `Expired: the key proxy deleted ${info.tenant}/${info.keyName}’s material at ${when(expired)}. The key refuses every use until you import the same file again.`,
      )
    }
  } catch (err) {
    say('own-status', explain(err, { doing: 'admin', tenant: session.tenant }), 'error')
  }
}

$('rotation').addEventListener('submit', (event) => {
  event.preventDefault()
  const days = Number((($('rotation') as HTMLFormElement).elements.namedItem('days') as HTMLInputElement).value)
  void administer(
    'rotation-status',
    (s) => setRotation(s, days),
    (i) => `Saved: the key rotates every ${i.rotation?.periodDays} days, next on ${when(i.rotation!.nextRotation)}.`,
  )
})
$('rotation-off').addEventListener('click', () =>
  administer(
    'rotation-status',
    (s) => setRotation(s, null),
    () => 'The schedule is off: the key rotates only by hand.',
  ),
)

async function ownKeyAction(run: (s: Session) => Promise<KeyInfo>, done: (i: KeyInfo) => string) {
  const session = currentSession()
  if (!session) return
  say('own-status', 'Asking the key proxy…', 'busy')
  try {
    const info = await run(session)
    showOwnKey(info)
    say('own-status', done(info))
  } catch (err) {
    say('own-status', explain(err, { doing: 'admin', tenant: session.tenant }), 'error')
  }
}

$('own-key').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = $('own-key') as HTMLFormElement
  const file = (form.elements.namedItem('material') as HTMLInputElement).files?.[0]
  const validTo = (form.elements.namedItem('validTo') as HTMLInputElement).value
  if (!file) return
  void ownKeyAction(
    async (s) =>
      importOwnMaterial(
        s,
        new Uint8Array(await file.arrayBuffer()),
        validTo ? new Date(validTo).toISOString() : undefined,
      ),
    (i) =>
      `Imported: ${i.tenant}/${i.keyName} is ${i.state} with your material${i.validTo ? `, until ${when(i.validTo)}` : ''}. Only a wrap of it was sent.`,
  )
  form.reset()
})
$('own-delete').addEventListener('click', () =>
  ownKeyAction(
    deleteOwnMaterial,
    (i) => `Deleted: ${i.tenant}/${i.keyName} holds no material now. Import the same file to bring it back.`,
  ),
)
$('own-new').addEventListener('click', () => {
  const a = document.createElement('a')
  a.href = URL.createObjectURL(newMaterialFile())
  a.download = 'own-key-material.bin'
  a.click()
  setTimeout(() => URL.revokeObjectURL(a.href), 60_000)
  say('own-status', 'Saved own-key-material.bin: 32 random bytes made in this browser. Keep it: it is your key.')
})

async function showKey(session: Session) {
  $('admin-tenant').textContent = session.tenant
  say('admin-status', '')
  say('shred-status', '')
  say('rotation-status', '')
  say('own-status', '')
  say('policy-status', '')
  const admin = session.role === 'admin'
  const note = $('role-note')
  note.hidden = false
  note.textContent = admin
    ? `You are ${session.tenant}’s key administrator: you manage its key and its key policy, and see its audit log. You cannot open or make ${session.tenant}’s submissions: under its key policy only key users use the key (separation of duties).`
    : `You are ${session.tenant}’s auditor: you see its audit log, every use of its key. You cannot manage the key or open submissions.`
  for (const id of ['key-state', 'key-actions', 'rotation', 'own-key', 'shred', 'policy']) $(id).hidden = !admin
  $('audit').hidden = false
  startAudit(session)
  if (!admin) return
  try {
    showKeyInfo(await describeKey(session))
  } catch (err) {
    say('admin-status', explain(err, { doing: 'admin', tenant: session.tenant }), 'error')
  }
  await refreshOwnKey()
  try {
    showPolicy(await getPolicy(session))
  } catch (err) {
    say('policy-status', explain(err, { doing: 'admin', tenant: session.tenant }), 'error')
  }
}

// --- the key policy (key administrators edit it) ---
const policyForm = $<HTMLFormElement>('policy')
const policyInput = (name: string) => policyForm.elements.namedItem(name) as HTMLInputElement
const listOf = (text: string) =>
  text
    .split(',')
    .map((v) => v.trim())
    .filter(Boolean)

function showPolicy(info: PolicyInfo) {
  const { jwtRoles, logContext, updatedBy } = info.policy
  for (const role of ['key-admin', 'key-user', 'auditor'] as const) policyInput(role).value = jwtRoles[role].join(', ')
  policyInput('logContext').value = logContext.join(', ')
  $('policy-default').textContent = info.isDefault ? '(the default policy)' : `(set by ${updatedBy ?? 'the operator'})`
}

policyForm.addEventListener('submit', async (event) => {
  event.preventDefault()
  const session = currentSession()
  if (!session) return
  say('policy-status', 'Saving…', 'busy')
  try {
    const info = await putPolicy(session, {
      jwtRoles: {
        'key-admin': listOf(policyInput('key-admin').value),
        'key-user': listOf(policyInput('key-user').value),
        auditor: listOf(policyInput('auditor').value),
      },
      logContext: listOf(policyInput('logContext').value),
    })
    showPolicy(info)
    say('policy-status', 'Saved: the key proxy applies it to the next request of every user of this tenant.')
    void refreshAudit(session)
  } catch (err) {
    say('policy-status', explain(err, { doing: 'admin', tenant: session.tenant }), 'error')
  }
})

// --- the tenant's own audit log, live ---
let auditTimer: ReturnType<typeof setInterval> | undefined
function stopAudit() {
  if (auditTimer !== undefined) clearInterval(auditTimer)
  auditTimer = undefined
}
function startAudit(session: Session) {
  stopAudit()
  void refreshAudit(session)
  auditTimer = setInterval(() => void refreshAudit(session), 2000)
}
$('audit-filter').addEventListener('change', () => {
  const session = currentSession()
  if (session) void refreshAudit(session)
})

const ACTION_NAMES: Readonly<Record<string, string>> = {
  'admin.policy': 'read policy',
  'admin.set-policy': 'edit policy',
}

/** What a line says in a few words: who, what, on which key and resource, the outcome. */
function auditRow(line: AuditLineInfo) {
  const tr = document.createElement('tr')
  tr.dataset.seq = String(line.seq)
  const resource = line.context
    ? Object.entries(line.context)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ')
    : line.contextHash
      ? `context ${line.contextHash.slice(0, 8)}…`
      : ''
  const cells = [
    new Date(line.time).toLocaleTimeString(),
    line.caller ?? '',
    ACTION_NAMES[line.action] ?? line.action.replace(/^admin\./, ''),
    line.keyId ? `${line.keyId}${line.keyVersion ? ` v${line.keyVersion}` : ''}` : '',
    resource + (line.reason ? ` (reason: ${line.reason})` : ''),
    line.outcome,
  ]
  for (const [i, text] of cells.entries()) {
    const td = document.createElement('td')
    td.textContent = text
    if (i === 5 && line.outcome !== 'ok') td.className = 'refused'
    if (i === 0) td.title = `${line.time} · request ${line.requestId ?? '-'}`
    tr.append(td)
  }
  return tr
}

async function refreshAudit(session: Session) {
  const filter = ($('audit-filter') as HTMLSelectElement).value
  const filters: Record<string, string> =
    filter === 'opens'
      ? { action: 'unwrap', caller: `jwt:${USERS.member}@${session.tenant}` }
      : filter === 'refused'
        ? { outcome: 'refused' }
        : {}
  try {
    const { records } = await readAudit(session, filters)
    $('audit-lines')
      .querySelector('tbody')!
      .replaceChildren(...records.map(auditRow))
    say('audit-status', records.length ? '' : 'No line matches yet.')
  } catch (err) {
    say('audit-status', explain(err, { doing: 'admin', tenant: session.tenant }), 'error')
  }
}

/**
 * Runs a key action; what happens is said in `statusId`, next to where the action was, and its outcome in
 * `doneId` (the shred box is gone once the key is, so a shred's outcome shows with the key's state).
 */
async function administer(
  statusId: string,
  action: (s: Session) => Promise<KeyInfo>,
  done: (info: KeyInfo, s: Session) => string,
  doneId = statusId,
) {
  const session = currentSession()
  if (!session) return
  say('admin-status', '')
  say('shred-status', '')
  say(statusId, 'Asking the key proxy…', 'busy')
  try {
    const info = await action(session)
    // Refusing this tenant's keys should take effect in this browser at once: drop its cached data keys.
    if (info.state !== 'enabled') await dekCache.clearPartition(session.tenant)
    showKeyInfo(info)
    say(statusId, '')
    say(doneId, done(info, session))
  } catch (err) {
    say(statusId, explain(err, { doing: 'admin', tenant: session.tenant }), 'error')
  }
}

$('rotate').addEventListener('click', () =>
  administer(
    'admin-status',
    rotateKey,
    (i) => `Rotated: new submissions use version ${i.primaryVersion}; submissions under older versions still open.`,
  ),
)
$('disable').addEventListener('click', () =>
  administer(
    'admin-status',
    disableKey,
    (_, s) =>
      `Disabled: new submissions, and opening ${s.tenant}’s submissions in any browser without a cached data key, are refused now. Browsers that cached data keys keep them until they expire (at most ${DEK_CACHE_TTL_MS / 60_000} minutes); this browser dropped its own.`,
  ),
)
$('enable').addEventListener('click', () =>
  administer(
    'admin-status',
    enableKey,
    (_, s) => `Re-enabled: ${s.tenant}’s submissions can be made and opened again.`,
  ),
)
$('shred').addEventListener('submit', (event) => {
  event.preventDefault()
  const session = currentSession()
  const input = ($('shred') as HTMLFormElement).elements.namedItem('confirm') as HTMLInputElement
  if (!session || input.value !== session.tenant) {
    say('shred-status', 'Type the tenant’s name exactly to confirm shredding.', 'error')
    return
  }
  input.value = ''
  return administer(
    'shred-status',
    shredKey,
    (_, s) =>
      `Shredded: every version of ${s.tenant}’s key is erased. ${s.tenant}’s submissions can never be opened again, by anyone.`,
    'admin-status',
  )
})

// Never a blank page: anything unexpected is said plainly.
const unexpected = (reason: unknown) => {
  const el = $('app-error')
  el.hidden = false
  el.textContent = explain(reason, { doing: 'open', tenant: currentSession()?.tenant ?? '' })
}
window.addEventListener('error', (e) => unexpected(e.error ?? e.message))
window.addEventListener('unhandledrejection', (e) => unexpected(e.reason))

window.addEventListener('hashchange', () => void route())
await route()
document.body.dataset.ready = 'true'
