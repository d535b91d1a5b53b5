// Starts a real key proxy process for the benchmarks: built from source, on 127.0.0.1, a free port, a temporary
// data folder, and the given settings. (Tests have the same in TypeScript: packages/key-proxy/test/proxy-process.ts.)
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('../..', import.meta.url))

export async function sha256Hex(text) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text)))
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * Returns `{ url, dataDir, stop, exited }`; `nodeArgs` go to the proxy's node (e.g. `--cpu-prof`), `workers` to
 * `--workers` (0: one process serving alone; default: the proxy's, one per core).
 */
export async function startProxyProcess(settings, nodeArgs = [], { workers } = {}) {
  await import(`${root}packages/key-proxy/build.mjs`)
  const dataDir = mkdtempSync(join(os.tmpdir(), 'envelope-bench-proxy-'))
  writeFileSync(join(dataDir, 'config.json'), JSON.stringify({ port: 0, dataDir, ...settings }))
  const child = spawn(
    process.execPath,
    [
      ...nodeArgs,
      `${root}packages/key-proxy/dist/serve-node.mjs`,
      '--config',
      join(dataDir, 'config.json'),
      ...(workers === undefined ? [] : ['--workers', String(workers)]),
    ],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  )
  const url = await new Promise((resolve, reject) => {
    let out = ''
    const onData = (d) => {
      out += d
      const m = /listening on (https?:\/\/[\d.]+:\d+)/.exec(out)
      if (m) {
        child.stdout.off('data', onData)
        resolve(m[1])
      }
    }
    child.stdout.on('data', onData)
    child.on('exit', (code) => reject(new Error(`proxy exited ${code}: ${out}`)))
  })
  // Keep reading (and dropping) its log, a line per request: a pipe left full would stall the proxy.
  child.stdout.resume()
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return {
    url,
    dataDir,
    pid: child.pid,
    stop: () => {
      child.kill('SIGTERM')
      return exited
    },
    exited,
  }
}

/**
 * CPU time (user + system, ms) of a process and all its descendants (Linux /proc): a proxy with its workers.
 * With the wall time of a run, how many cores it kept busy.
 */
export function processTreeCpuMs(pid) {
  let ms = 0
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    ms = (Number(fields[11]) + Number(fields[12])) * 10 // utime, stime in clock ticks of 10 ms
  } catch {
    return 0
  }
  let children = []
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean)
  } catch {}
  return children.reduce((n, child) => n + processTreeCpuMs(Number(child)), ms)
}

// One keep-alive agent per proxy: the load client's own CPU is small next to the proxy's on the shared cores
// (node:http costs about a quarter of what fetch does per request here, 0.5 against 2 ms).
const agents = new Map()

/** POSTs a JSON body (already a string) to `${baseUrl}/v1${path}` with an API key; the answer as text. */
export function postText(baseUrl, apiKey, path, body) {
  const url = new URL(`${baseUrl}/v1${path}`)
  let agent = agents.get(url.origin)
  if (!agent) {
    agent = new (url.protocol === 'https:' ? https : http).Agent({ keepAlive: true, maxSockets: 64 })
    agents.set(url.origin, agent)
  }
  return new Promise((resolve, reject) => {
    const request = (url.protocol === 'https:' ? https : http).request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          authorization: `ApiKey ${apiKey}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (chunk) => {
          text += chunk
        })
        res.on('end', () => {
          if (res.statusCode >= 200 && res.statusCode < 300) resolve(text)
          else reject(new Error(`${path}: ${res.statusCode} ${text.slice(0, 300)}`))
        })
        res.on('error', reject)
      },
    )
    request.on('error', reject)
    request.end(body)
  })
}
