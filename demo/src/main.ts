// The demo SPA: sign in as a member or key administrator of a demo tenant, submit a form whose fields and files
// are encrypted in this browser (in a Web Worker) before upload, open submissions (decrypted as streams, data
// keys through the IndexedDB cache), and, as a key administrator, rotate, disable, re-enable or shred the
// tenant's key. Views are plain sections switched by the URL hash.
import { describeKey, disableKey, enableKey, type KeyInfo, rotateKey, shredKey } from './admin.ts'
import { explain } from './explain.ts'
import { openFields, openFile } from './open.ts'
import { currentSession, DEK_CACHE_TTL_MS, dekCache, type Role, type Session, signIn, signOut } from './session.ts'
import { storageFor, submit } from './submit.ts'

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T
const VIEWS = ['sign-in', 'new', 'submissions', 'submission', 'admin'] as const
const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(bytes < 2 ** 20 ? 2 : 1)

function say(id: string, text: string, kind: 'ok' | 'error' | 'busy' = 'ok') {
  const el = $(id)
  el.textContent = text
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

// --- routing ---
async function route() {
  const session = currentSession()
  $('nav').hidden = !session
  if (!session) return show('sign-in')
  $('who').textContent =
    session.role === 'admin'
      ? `demo-admin@${session.tenant} · key administrator`
      : `demo-user@${session.tenant} · member`
  $('nav-admin').hidden = session.role !== 'admin'
  const [, page, owner, id] = location.hash.split('/')
  if (page === 'submissions' && owner && id) {
    show('submission')
    return openSubmission(session, owner, id)
  }
  if (page === 'submissions') {
    show('submissions')
    return listSubmissions(session)
  }
  if (page === 'admin' && session.role === 'admin') {
    show('admin')
    return showKey(session)
  }
  show('new')
}

// --- sign-in ---
$('sign-in').addEventListener('submit', (event) => {
  event.preventDefault()
  const form = new FormData(event.target as HTMLFormElement)
  signIn({ tenant: String(form.get('tenant')), role: String(form.get('role')) as Role })
  if (location.hash === '#/new') void route()
  else location.hash = '#/new'
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
          `Encrypting in a Web Worker and uploading ciphertext: ${Math.floor(100 * progress.value)}% (${mib(done)} of ${mib(total)} MiB)`,
          'busy',
        )
      },
      (scope) => {
        document.body.dataset.sealedIn = scope
      },
    )
    progress.value = 1
    say(
      'submit-status',
      `Stored submission ${id}: the fields and ${files.length} file(s), ${mib(files.reduce((n, f) => n + f.size, 0))} MiB, encrypted in this browser under data keys of ${session.tenant}; storage received ciphertext only.`,
    )
    ;(form.elements.namedItem('files') as HTMLInputElement).value = ''
  } catch (err) {
    say('submit-status', explain(err, { doing: 'submit', tenant: session.tenant }), 'error')
  } finally {
    button.disabled = false
  }
})

// --- submissions ---
async function listSubmissions(session: Session) {
  const list = $('submission-list')
  try {
    const submissions = await storageFor(session).list()
    list.replaceChildren(
      ...submissions.map((s) => {
        const li = document.createElement('li')
        const a = document.createElement('a')
        a.href = `#/submissions/${session.tenant}/${s.id}`
        a.textContent = `Open ${s.id}`
        const files = s.objects.filter((o) => o.name !== 'fields').length
        const bytes = s.objects.reduce((n, o) => n + o.bytes, 0)
        li.append(
          a,
          ` ${new Date(s.created).toLocaleString()}: fields and ${files} file(s), ${mib(bytes)} MiB of ciphertext`,
        )
        return li
      }),
    )
    if (!submissions.length) list.textContent = `No submissions for ${session.tenant} yet.`
  } catch (err) {
    list.textContent = explain(err, { doing: 'open', tenant: session.tenant })
  }
}

async function openSubmission(session: Session, owner: string, id: string) {
  $('submission-id').textContent = id
  $('submission-fields').replaceChildren()
  $('submission-files').replaceChildren()
  say('save-status', '')
  say('open-status', 'Downloading and decrypting…', 'busy')
  try {
    const { manifest, keyId } = await openFields(session, owner, id)
    say('open-status', `Decrypted in this browser. Encrypted under ${keyId}.`)
    rows($('submission-fields'), Object.entries(manifest.fields))
    $('submission-files').replaceChildren(
      ...manifest.files.map((f, index) => {
        const li = document.createElement('li')
        const button = document.createElement('button')
        button.type = 'button'
        button.textContent = `Save ${f.name}`
        button.addEventListener('click', () => saveFile(session, owner, id, index, f.name, f.type))
        li.append(button, ` ${mib(f.size)} MiB`)
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
      (bytes) => say('save-status', `Decrypting ${name} in a Web Worker: ${mib(bytes)} MiB verified…`, 'busy'),
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
    say('save-status', `Saved ${name}: ${blob.size} bytes, every frame verified.`)
  } catch (err) {
    say('save-status', explain(err, { doing: 'open', tenant: session.tenant, owner }), 'error')
  }
}

// --- tenant key administration ---
function showKeyInfo(info: KeyInfo) {
  rows($('key-state'), [
    ['key', `${info.tenant}/${info.keyName}`],
    ['state', info.state.replace('_', ' ')],
    ['primary version', String(info.primaryVersion)],
    ['versions', info.versions.join(', ')],
  ])
  const live = info.state === 'enabled' || info.state === 'disabled'
  $<HTMLButtonElement>('rotate').disabled = info.state !== 'enabled'
  $<HTMLButtonElement>('disable').disabled = info.state !== 'enabled'
  $<HTMLButtonElement>('enable').disabled = info.state !== 'disabled'
  $('shred').hidden = !live
}

async function showKey(session: Session) {
  $('admin-tenant').textContent = session.tenant
  say('admin-status', '')
  try {
    showKeyInfo(await describeKey(session))
  } catch (err) {
    say('admin-status', explain(err, { doing: 'admin', tenant: session.tenant }), 'error')
  }
}

async function administer(action: (s: Session) => Promise<KeyInfo>, done: (info: KeyInfo, s: Session) => string) {
  const session = currentSession()
  if (!session) return
  try {
    const info = await action(session)
    // Refusing this tenant's keys should take effect in this browser at once: drop its cached data keys.
    if (info.state !== 'enabled') await dekCache.clearPartition(session.tenant)
    showKeyInfo(info)
    say('admin-status', done(info, session))
  } catch (err) {
    say('admin-status', explain(err, { doing: 'admin', tenant: session.tenant }), 'error')
  }
}

$('rotate').addEventListener('click', () =>
  administer(
    rotateKey,
    (i) => `Rotated: new submissions use version ${i.primaryVersion}; submissions under older versions still open.`,
  ),
)
$('disable').addEventListener('click', () =>
  administer(
    disableKey,
    (_, s) =>
      `Disabled: new submissions, and opening ${s.tenant}’s submissions in any browser without a cached data key, are refused now. Browsers that cached data keys keep them until they expire (at most ${DEK_CACHE_TTL_MS / 60_000} minutes); this browser dropped its own.`,
  ),
)
$('enable').addEventListener('click', () =>
  administer(enableKey, (_, s) => `Re-enabled: ${s.tenant}’s submissions can be made and opened again.`),
)
$('shred').addEventListener('submit', (event) => {
  event.preventDefault()
  const session = currentSession()
  const input = ($('shred') as HTMLFormElement).elements.namedItem('confirm') as HTMLInputElement
  if (!session || input.value !== session.tenant) {
    say('admin-status', 'Type the tenant’s name exactly to confirm shredding.', 'error')
    return
  }
  return administer(
    shredKey,
    (_, s) =>
      `Shredded: every version of ${s.tenant}’s key is erased. ${s.tenant}’s submissions can never be opened again, by anyone.`,
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
