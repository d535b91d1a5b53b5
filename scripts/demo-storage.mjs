// The demo's storage service: keeps submissions as the ciphertext the browser sent (envelope messages, their
// EDEKs inside), one file each under <dataDir>/storage/<tenant>/, and never sees a key or plaintext. Callers
// present the demo identity service's JWT; a tenant lists and reads only its own submissions.
import { createReadStream, createWriteStream, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import { pipeline } from 'node:stream/promises'
import { jwtVerify } from 'jose'

const MAX_BYTES = 2 ** 31 // 2 GiB per submission

/** Starts the storage service; `verifyKey` and `issuer`/`audience` check the caller's JWT. */
export function startStorage({ host, port, dataDir, origin, verifyKey, issuer, audience }) {
  const root = `${dataDir}/storage`
  mkdirSync(root, { recursive: true, mode: 0o700 })

  async function tenantOf(req) {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1]
    if (!token) return undefined
    try {
      const { payload } = await jwtVerify(token, verifyKey, { issuer, audience, algorithms: ['ES256'] })
      return typeof payload.tenant === 'string' && /^[a-z0-9-]{1,64}$/.test(payload.tenant) ? payload.tenant : undefined
    } catch {
      return undefined
    }
  }

  const send = (res, status, body) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }

  const server = createServer(async (req, res) => {
    res.setHeader('access-control-allow-origin', origin)
    res.setHeader('access-control-allow-headers', 'authorization, content-type')
    res.setHeader('access-control-allow-methods', 'GET, POST')
    if (req.method === 'OPTIONS') return res.writeHead(204).end()
    const tenant = await tenantOf(req)
    if (!tenant) return send(res, 401, { error: { code: 'ERR_UNAUTHENTICATED', message: 'sign in first' } })
    const dir = `${root}/${tenant}`
    mkdirSync(dir, { recursive: true })
    const url = new URL(req.url ?? '/', 'http://storage')
    const id = /^\/submissions\/([A-Za-z0-9_-]{1,64})$/.exec(url.pathname)?.[1]

    if (req.method === 'POST' && url.pathname === '/submissions') {
      const declared = Number(req.headers['content-length'])
      if (!(declared > 0 && declared <= MAX_BYTES))
        return send(res, 413, { error: { code: 'ERR_BODY_TOO_LARGE', message: 'at most 2 GiB' } })
      const name = `${Date.now().toString(36)}-${crypto.randomUUID().slice(0, 8)}`
      const tmp = `${dir}/.${name}.part`
      try {
        await pipeline(req, createWriteStream(tmp, { mode: 0o600 })) // streamed to disk, never held whole
        renameSync(tmp, `${dir}/${name}.env`) // an interrupted upload never shows up as a submission
      } catch {
        return send(res, 400, { error: { code: 'ERR_UPLOAD_INCOMPLETE', message: 'the upload was cut off' } })
      }
      return send(res, 201, { id: name })
    }
    if (req.method === 'GET' && url.pathname === '/submissions') {
      const list = readdirSync(dir)
        .filter((f) => f.endsWith('.env'))
        .map((f) => ({ id: f.slice(0, -4), bytes: statSync(`${dir}/${f}`).size }))
      return send(res, 200, { submissions: list.reverse() })
    }
    if (req.method === 'GET' && id) {
      let size
      try {
        size = statSync(`${dir}/${id}.env`).size
      } catch {
        // Another tenant's submission is simply not there for this caller.
        return send(res, 404, { error: { code: 'ERR_NOT_FOUND', message: 'no such submission for this tenant' } })
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': size })
      return pipeline(createReadStream(`${dir}/${id}.env`), res).catch(() => {})
    }
    send(res, 404, { error: { code: 'ERR_NOT_FOUND', message: 'no such route' } })
  })
  return new Promise((resolve) => server.listen(port, host, () => resolve(server)))
}
