// The demo's storage service: keeps what the browser uploads (envelope messages, their EDEKs inside) and never
// sees a key or plaintext. A submission is a folder of objects under <dataDir>/storage/<tenant>/<id>/: `fields`
// (the encrypted form fields and file names) and `file-<n>` (each attached file, its own message).
//
// Uploads come in parts of at most 16 MiB, each written at the offset the client names, so a browser can upload
// a file of any size with constant memory (Chromium streams request bodies only over HTTP/2), several parts at
// once and in any order (within a window past what has arrived in full), and a retried part is harmless. A
// submission stays in <tenant>/.pending/ until committed, and commits only when every object arrived whole, so an
// interrupted upload never shows up as a submission, and one discarded or cut off never touches those stored.
//
// `npm start` runs it as a process of its own: `node scripts/demo-storage.mjs '<settings as JSON>'`, the identity
// service's public key as `verifyJwk`.
//
// Callers present the demo identity service's JWT. A tenant lists, uploads and commits only its own
// submissions; reading an object is open to any signed-in user, on purpose: it is ciphertext, and the demo
// shows that the key proxy, not storage, is what keeps another tenant out.
import {
  createReadStream,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { importJWK, jwtVerify } from 'jose'
import { createLocalServer } from './lib/local-http.mjs'

const PART_BYTES = 16 * 2 ** 20
const OBJECT_BYTES = 2 ** 31 // 2 GiB per object
// A part may start at most this far past the end of what has arrived in full: parts in flight, not holes.
const WINDOW_BYTES = 4 * PART_BYTES
const MAX_RANGES = 16 // separate received stretches of one object (its parts in flight)
const MAX_OBJECTS = 101
const ID = /^[a-z0-9]{1,16}-[a-f0-9]{8}$/
const OBJECT = /^(fields|file-\d{1,3})$/
const TENANT = /^[a-z0-9-]{1,64}$/

/** Uploads never committed (a tab closed mid-upload) are dropped a day after they began; submissions never are. */
function dropAbandonedUploads(root, maxAgeMs = 86_400_000) {
  for (const tenant of readdirSync(root)) {
    const pending = `${root}/${tenant}/.pending`
    if (!existsSync(pending)) continue
    for (const id of readdirSync(pending)) {
      let created = 0
      try {
        created = Date.parse(JSON.parse(readFileSync(`${pending}/${id}/meta.json`, 'utf8')).created)
      } catch {}
      if (!(Date.now() - created < maxAgeMs)) rmSync(`${pending}/${id}`, { recursive: true, force: true })
    }
  }
}

/** Starts the storage service; `verifyKey` and `issuer`/`audience` check the caller's JWT. */
export function startStorage({ host, port, dataDir, origin, verifyKey, issuer, audience }) {
  const root = `${dataDir}/storage`
  mkdirSync(root, { recursive: true, mode: 0o700 })
  dropAbandonedUploads(root)

  /** The caller's tenant and subject, from a valid JWT; undefined otherwise. */
  async function callerOf(req) {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    if (!token) return undefined
    try {
      const { payload } = await jwtVerify(token, verifyKey, { issuer, audience, algorithms: ['ES256'] })
      if (typeof payload.tenant !== 'string' || !TENANT.test(payload.tenant)) return undefined
      return { tenant: payload.tenant, sub: typeof payload.sub === 'string' ? payload.sub.slice(0, 256) : undefined }
    } catch {
      return undefined
    }
  }

  const send = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  const refuse = (res, status, code, message) => send(res, status, { error: { code, message } })

  function describeSubmission(dir, id) {
    const meta = JSON.parse(readFileSync(`${dir}/meta.json`, 'utf8'))
    const objects = readdirSync(dir)
      .filter((f) => OBJECT.test(f))
      .map((name) => ({ name, bytes: statSync(`${dir}/${name}`).size }))
    return { id, created: meta.created, by: meta.by, objects }
  }

  // Which stretches of an object have arrived, as sorted, merged [start, end) pairs in a file beside it (an
  // object without one arrived in order, as a whole file). Changed one request at a time per object.
  const rangesFile = (file) => `${file}.ranges`
  const saveRanges = (file, ranges) => {
    writeFileSync(`${rangesFile(file)}.tmp`, JSON.stringify(ranges), { mode: 0o600 })
    renameSync(`${rangesFile(file)}.tmp`, rangesFile(file))
  }
  const readRanges = (file) =>
    existsSync(rangesFile(file))
      ? JSON.parse(readFileSync(rangesFile(file), 'utf8'))
      : existsSync(file)
        ? [[0, statSync(file).size]]
        : []
  const prefix = (ranges) => (ranges[0]?.[0] === 0 ? ranges[0][1] : 0) // bytes arrived in full from the start
  function withRange(ranges, start, end) {
    const all = [...ranges, [start, end]].sort((a, b) => a[0] - b[0])
    const merged = []
    for (const [s, e] of all) {
      const last = merged.at(-1)
      if (last && s <= last[1]) last[1] = Math.max(last[1], e)
      else merged.push([s, e])
    }
    return merged
  }
  const locks = new Map()
  /** Runs `fn` after every earlier call for the same `file` finished. */
  function serialized(file, fn) {
    const run = (locks.get(file) ?? Promise.resolve()).then(fn)
    const done = run.catch(() => {})
    locks.set(file, done)
    done.then(() => locks.get(file) === done && locks.delete(file))
    return run
  }

  /**
   * Writes one part at `offset`, which may be anywhere up to WINDOW_BYTES past the end of what has arrived in
   * full: parts come in any order, several at once. A part cut off is not counted as arrived, so the client sends
   * it again; a part sent twice is written twice, harmlessly.
   */
  async function writePart(req, res, file, offset) {
    const length = Number(req.headers['content-length'])
    if (!(Number.isInteger(length) && length > 0 && length <= PART_BYTES))
      return refuse(res, 413, 'ERR_PART_TOO_LARGE', 'a part is 1 byte to 16 MiB, with a content-length')
    if (offset + length > OBJECT_BYTES) return refuse(res, 413, 'ERR_OBJECT_TOO_LARGE', 'at most 2 GiB an object')
    const before = await serialized(file, () => {
      const ranges = readRanges(file)
      if (!existsSync(rangesFile(file))) saveRanges(file, ranges) // before the object's file grows holes
      if (!existsSync(file)) writeFileSync(file, '', { mode: 0o600 })
      return ranges
    })
    if (offset > prefix(before) + WINDOW_BYTES || withRange(before, offset, offset + length).length > MAX_RANGES) {
      return send(res, 409, { error: { code: 'ERR_OFFSET', message: 'offset too far ahead' }, size: prefix(before) })
    }
    try {
      const out = createWriteStream(file, { flags: 'r+', start: offset })
      await pipeline(req, out)
      if (out.bytesWritten !== length) throw new Error('short part')
    } catch {
      return refuse(res, 400, 'ERR_UPLOAD_INCOMPLETE', 'the part was cut off; send it again')
    }
    const after = await serialized(file, () => {
      const ranges = withRange(readRanges(file), offset, offset + length)
      saveRanges(file, ranges)
      return ranges
    })
    send(res, 200, { size: prefix(after) })
  }

  /** Every object of an upload whole (one stretch from 0), trimmed to it; false when one is not. */
  function completeObjects(dir) {
    const objects = readdirSync(dir).filter((f) => OBJECT.test(f))
    const extents = objects.map((name) => readRanges(`${dir}/${name}`))
    if (!extents.every((r) => r.length === 1 && r[0][0] === 0)) return false
    objects.forEach((name, i) => {
      truncateSync(`${dir}/${name}`, extents[i][0][1]) // bytes of a part cut off past the end go
      rmSync(rangesFile(`${dir}/${name}`), { force: true })
    })
    return true
  }

  const server = createLocalServer(async (req, res, url) => {
    res.setHeader('access-control-allow-origin', origin)
    res.setHeader('access-control-allow-headers', 'authorization, content-type')
    res.setHeader('access-control-allow-methods', 'GET, POST, PUT, DELETE')
    if (req.method === 'OPTIONS') return res.writeHead(204).end()
    const caller = await callerOf(req)
    if (!caller) return refuse(res, 401, 'ERR_UNAUTHENTICATED', 'sign in first')
    const { tenant } = caller
    const mine = `${root}/${tenant}`
    const pending = `${mine}/.pending`
    mkdirSync(pending, { recursive: true })
    const path = url.pathname.split('/').slice(1)
    const route = `${req.method} ${path.map((p, i) => (i % 2 === 1 ? ':' : p)).join('/')}`
    const [, id, , name] = path

    if (route === 'POST submissions') {
      const made = `${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`
      mkdirSync(`${pending}/${made}`)
      // In clear, as storage sees them anyway: when, and who (the caller's verified sign-in).
      const meta = { created: new Date().toISOString(), by: caller.sub }
      writeFileSync(`${pending}/${made}/meta.json`, JSON.stringify(meta))
      return send(res, 201, { id: made })
    }
    if (route === 'GET submissions') {
      const list = readdirSync(mine)
        .filter((d) => ID.test(d))
        .sort()
        .reverse()
        .map((d) => describeSubmission(`${mine}/${d}`, d))
      return send(res, 200, { submissions: list })
    }
    if (route === 'PUT submissions/:/objects/:' && ID.test(id) && OBJECT.test(name)) {
      const dir = `${pending}/${id}`
      if (!existsSync(dir)) return refuse(res, 404, 'ERR_NOT_FOUND', 'no such upload in progress')
      const offset = Number(url.searchParams.get('offset'))
      if (!Number.isSafeInteger(offset) || offset < 0) return refuse(res, 400, 'ERR_BAD_REQUEST', 'offset?')
      if (!existsSync(`${dir}/${name}`) && readdirSync(dir).filter((f) => OBJECT.test(f)).length >= MAX_OBJECTS)
        return refuse(res, 413, 'ERR_TOO_MANY_OBJECTS', `at most ${MAX_OBJECTS - 1} files`)
      return writePart(req, res, `${dir}/${name}`, offset)
    }
    if (route === 'POST submissions/:/commit' && ID.test(id)) {
      const dir = `${pending}/${id}`
      if (!existsSync(`${dir}/fields`)) return refuse(res, 404, 'ERR_NOT_FOUND', 'no such upload, or no fields')
      const whole = await serialized(dir, () => completeObjects(dir))
      if (!whole) return refuse(res, 409, 'ERR_UPLOAD_INCOMPLETE', 'a part of an object is missing')
      renameSync(dir, `${mine}/${id}`)
      return send(res, 200, describeSubmission(`${mine}/${id}`, id))
    }
    if (route === 'DELETE submissions/:' && ID.test(id)) {
      // Only an upload in progress is discarded; stored submissions stay.
      rmSync(`${pending}/${id}`, { recursive: true, force: true })
      return res.writeHead(204).end()
    }
    if (route === 'GET tenants/:/submissions/:/objects/:') {
      const [, owner, , sid, , object] = path
      const file = `${root}/${owner}/${sid}/${object}`
      if (!TENANT.test(owner) || !ID.test(sid) || !OBJECT.test(object) || !existsSync(file))
        return refuse(res, 404, 'ERR_NOT_FOUND', 'no such submission')
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': statSync(file).size })
      return pipeline(createReadStream(file), res).catch(() => {})
    }
    refuse(res, 404, 'ERR_NOT_FOUND', 'no such route')
  })
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)))
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { verifyJwk, ...settings } = JSON.parse(process.argv[2])
  await startStorage({ ...settings, verifyKey: await importJWK(verifyJwk, 'ES256') })
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(0))
}
