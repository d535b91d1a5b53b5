// A real load balancer for the multi-instance tests: Debian's nginx, run by the test in the foreground
// (`daemon off;`) with a configuration of its own in a temporary folder (`nginx -p <tmp> -c <tmp>/nginx.conf`),
// on a free loopback port, in front of several key proxy instances. A connection refused, a timeout or a 502/503
// from one instance moves the request to the next (POSTs too: key requests are safe to repeat). `.ci/run`
// installs the `nginx` package when it is missing.
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './postgres.ts'

export interface RunningNginx {
  readonly url: string
  readonly dir: string
  /** nginx's error log so far (upstream failures it saw). */
  errorLog(): string
  stop(): Promise<void>
}

/**
 * The `Host` nginx sends upstream (its upstream's name, nginx's default `$proxy_host`): instances behind it list
 * it in `allowedHosts`, as a deployment lists the name its load balancer sends.
 */
export const NGINX_UPSTREAM_HOST = 'envelope-proxies'

/** `upstreams`: base URLs of the instances (`http://127.0.0.1:<port>`). */
export async function startNginx(upstreams: readonly string[]): Promise<RunningNginx> {
  const dir = mkdtempSync(join(tmpdir(), 'envelope-nginx-'))
  for (const t of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, t))
  const port = await freePort()
  const servers = upstreams.map((u) => `    server ${new URL(u).host} max_fails=1 fail_timeout=2s;`).join('\n')
  const conf = `# written by the test (packages/key-proxy/test/harness/nginx.ts)
daemon off;
${process.getuid?.() === 0 ? 'user root;' : ''}
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  client_max_body_size 8m;
  upstream ${NGINX_UPSTREAM_HOST} {
${servers}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://${NGINX_UPSTREAM_HOST};
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_connect_timeout 2s;
      proxy_read_timeout 30s;
      proxy_next_upstream error timeout http_502 http_503 non_idempotent;
      proxy_next_upstream_tries ${upstreams.length};
    }
  }
}
`
  writeFileSync(join(dir, 'nginx.conf'), conf)
  const child: ChildProcess = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr!.on('data', (d) => {
    stderr += d
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  // Up when its port accepts a connection.
  for (let attempt = 0; ; attempt++) {
    if (child.exitCode !== null) throw new Error(`nginx did not start: ${stderr}`)
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => {
        s.destroy()
        resolve(true)
      })
      s.once('error', () => resolve(false))
    })
    if (up) break
    if (attempt > 500) throw new Error(`nginx did not listen: ${stderr}`)
    await new Promise((r) => setTimeout(r, 10))
  }
  return {
    url: `http://127.0.0.1:${port}`,
    dir,
    errorLog: () => {
      try {
        return readFileSync(join(dir, 'error.log'), 'utf8')
      } catch {
        return ''
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGQUIT') // graceful: finish requests, then exit
      await exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
