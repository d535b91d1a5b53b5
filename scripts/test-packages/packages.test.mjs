// What `npm install @envelope/…` gives a user, checked from the tarballs `npm pack` makes (the ones that would be
// published), installed into a fresh project outside the repository: the README examples in Node, Deno and Bun,
// the proxy's programs from npx, Deno and Bun, CommonJS, a Vite build in Chromium, a consumer's tsc, publint,
// arethetypeswrong, and bundle sizes. Run by scripts/test-packages.mjs (`npm run test:packages`).
import assert from 'node:assert/strict'
import { cpSync, lstatSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { gzipSync } from 'node:zlib'
import { chromium } from '@playwright/test'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { build } from 'rolldown'
import { chromiumArgs, chromiumPath } from '../lib/chromium.mjs'
import { bin, installProject, PACKAGES, packAll, readmeExamples, root, run, startServer } from './project.mjs'

const CORE_GOAL_BYTES = 8 * 1024 // min+gzip of everything @envelope/core exports
const deno = bin('deno')
const bunBin = bin('bun')
const readme = (pkg) => join(root, 'packages', pkg, 'README.md')
const example = (pkg, file) => {
  const code = readmeExamples(readme(pkg)).get(file)
  assert.ok(code, `packages/${pkg}/README.md has no \`\`\` block named ${file}`)
  return code
}

let packed // npm pack's report per package (with the tarball's path)
let dir // the temporary folder: project/ and the proxies' data folders
let project // the fresh project with the tarballs installed
let page // { origin, server } serving the Vite build
let identity // { privateKey, publicJwk } signing the page's JWT
const servers = []

/** Starts `envelope-proxy` (from the installed package) in a runtime; resolves { url, dataLine, adminKeyFile, stop }. */
async function startProxy(runtime, name) {
  const data = join(dir, `proxy-data-${name}`)
  const cmd = {
    node: ['npx', ['envelope-proxy', '--config', 'proxy.json']],
    deno: [
      deno,
      [
        'run',
        '--allow-net',
        '--allow-read',
        '--allow-write',
        '--allow-env',
        '--allow-sys=hostname',
        'npm:@envelope/key-proxy/envelope-proxy',
        '--config',
        'proxy.json',
      ],
    ],
    bun: [bunBin, ['--bun', 'x', 'envelope-proxy', '--config', 'proxy.json']],
  }[runtime]
  const server = await startServer(cmd[0], cmd[1], {
    cwd: project,
    // The README's command as written; the port and data folder come from the environment (a free port here).
    env: { ENVELOPE_PROXY_PORT: '0', ENVELOPE_DATA_DIR: data },
    ready: READY,
  })
  servers.push(server)
  return { url: server.match[1], dataLine: server.match[2], adminKeyFile: join(data, 'admin.key'), stop: server.stop }
}

/** The proxy's first two log lines (JSON): where it listens, then its data folder. */
const READY =
  /"msg":"envelope key proxy listening on (http:\/\/127\.0\.0\.1:\d+)"[^\n]*\n[^\n]*"msg":"(data: [^"]*)"[^\n]*\n/

/** Runs a README example file in a runtime from the project; returns its stdout (asserting exit 0). */
function runExample(runtime, file, env = {}) {
  const [cmd, args] = {
    node: [process.execPath, [file]],
    deno: [deno, ['run', '--allow-net', '--allow-env', '--allow-read', file]],
    bun: [bunBin, [file]],
  }[runtime]
  const r = run(cmd, args, { cwd: project, env: { ...process.env, ...env } })
  assert.equal(r.status, 0, `${runtime} ${file} exited ${r.status}:\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

before(async () => {
  // The tarballs stay in .ci-out/packages/ (what would be published); the project is a new temporary folder.
  const tarballs = join(root, '.ci-out', 'packages')
  rmSync(tarballs, { recursive: true, force: true })
  packed = packAll(tarballs)
  ;({ dir, project } = installProject(packed.map((p) => p.path)))
  console.log(`fresh project: ${project}`)
  cpSync(join(root, 'scripts/test-packages/page'), join(project, 'page'), { recursive: true })
  cpSync(join(root, 'scripts/test-packages/consumer'), join(project, 'consumer'), { recursive: true })
  for (const [pkg, file] of [
    ['core', 'quick-start.mjs'],
    ['idb-cache', 'dek-cache.mjs'],
    ['fetch-client', 'proxy-round-trip.mjs'],
  ]) {
    writeFileSync(join(project, file), example(pkg, file))
  }

  // The page's origin must be known before the proxy starts (its CORS list), so its server starts first and
  // serves the build once it exists.
  const pageServer = createServer((req, res) => {
    const path = new URL(req.url, 'http://x').pathname
    const file = join(project, 'page/dist', path === '/' ? 'index.html' : path)
    try {
      const body = readFileSync(file)
      const type = file.endsWith('.js') ? 'text/javascript' : file.endsWith('.html') ? 'text/html' : 'text/plain'
      res.writeHead(200, { 'content-type': type }).end(body)
    } catch {
      res.writeHead(404).end()
    }
  })
  await new Promise((ok) => pageServer.listen(0, '127.0.0.1', ok))
  page = { server: pageServer, origin: `http://127.0.0.1:${pageServer.address().port}` }

  // The proxy configuration, as the key-proxy README writes it: the API key from `envelope-admin new-api-key`
  // into the README's proxy.json, plus the page's origin and a JWKS for its JWT.
  const made = run('npx', ['envelope-admin', 'new-api-key', 'acme'], { cwd: project })
  assert.equal(made.status, 0, made.stderr)
  const apiKey = /^key: +(\S+)/m.exec(made.stdout)?.[1]
  const entry = JSON.parse(/^config: (\{.*?\})/m.exec(made.stdout)?.[1] ?? 'null')
  assert.ok(apiKey && entry?.sha256, made.stdout)
  const config = JSON.parse(
    example('key-proxy', 'proxy.json').replace('<sha256 printed by envelope-admin new-api-key>', entry.sha256),
  )
  assert.deepEqual(config.apiKeys, [entry])
  const { privateKey, publicKey } = await generateKeyPair('ES256')
  identity = { privateKey, apiKey }
  config.corsOrigins = [page.origin]
  config.jwt = {
    jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256' }] },
    issuer: 'https://id.example',
    audience: 'envelope-packages-test',
  }
  writeFileSync(join(project, 'proxy.json'), JSON.stringify(config, null, 2))
})

after(async () => {
  for (const s of servers) await s.stop()
  page?.server.close()
  if (project && !process.env.KEEP_PACKAGES_PROJECT) rmSync(dir, { recursive: true, force: true })
})

test('every tarball holds dist/ (ESM, .d.ts, declaration and source maps), src/, README, LICENSE, CHANGELOG; no tests', () => {
  assert.deepEqual(
    packed.map((p) => p.name),
    PACKAGES.map((p) => `@envelope/${p}`),
  )
  for (const p of packed) {
    const files = p.files.map((f) => f.path)
    for (const required of [
      'package.json',
      'README.md',
      'LICENSE',
      'CHANGELOG.md',
      'dist/index.js',
      'dist/index.d.ts',
    ]) {
      assert.ok(files.includes(required), `${p.name} lacks ${required}`)
    }
    for (const js of files.filter((f) => f.startsWith('dist/') && f.endsWith('.js'))) {
      assert.ok(files.includes(`${js}.map`), `${p.name}: ${js} has no source map`)
      assert.ok(files.includes(js.replace(/\.js$/, '.d.ts')), `${p.name}: ${js} has no .d.ts`)
      assert.ok(files.includes(js.replace(/\.js$/, '.d.ts.map')), `${p.name}: ${js} has no declaration map`)
    }
    const unwanted = files.filter((f) => /(^|\/)test\/|\.test\.|\.spec\.|\.mjs$|tsbuildinfo|tsconfig/.test(f))
    assert.deepEqual(unwanted, [], `${p.name} ships files it should not`)
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules', p.name, 'package.json'), 'utf8'))
    assert.ok(manifest.engines?.node && manifest.license && manifest.repository?.url && manifest.keywords?.length)
    assert.ok('sideEffects' in manifest, `${p.name} has no sideEffects`)
  }
})

test('the project has real copies of the packages from the tarballs, not links into the repository', () => {
  const tree = JSON.parse(run('npm', ['ls', '--all', '--json'], { cwd: project }).stdout)
  for (const p of packed) {
    const installed = join(project, 'node_modules', p.name)
    assert.ok(!lstatSync(installed).isSymbolicLink(), `${p.name} is a link`)
    assert.ok(!realpathSync(installed).startsWith(root), `${p.name} resolves into the repository`)
    assert.equal(tree.dependencies[p.name]?.resolved, `file:${p.path}`)
  }
})

test('publint finds nothing in any tarball (strict: warnings fail)', () => {
  for (const p of packed) {
    const r = run(bin('publint'), ['run', p.path, '--strict', '--level', 'suggestion'], { cwd: dir })
    assert.equal(r.status, 0, `${p.name}:\n${r.stdout}${r.stderr}`)
    assert.match(r.stdout, /All good!/, `${p.name}:\n${r.stdout}`)
  }
})

test('arethetypeswrong: types resolve for Node (ESM) and bundlers in every tarball', () => {
  // esm-only: these packages are ES modules; CommonJS `require()` of them is Node's require(esm), checked below.
  for (const p of packed) {
    const r = run(bin('attw'), [p.path, '--profile', 'esm-only', '--format', 'ascii'], { cwd: dir })
    assert.equal(r.status, 0, `${p.name}:\n${r.stdout}${r.stderr}`)
  }
})

test('Node: the core README quick start runs as a plain .mjs', () => {
  assert.equal(runExample('node', 'quick-start.mjs'), 'card ending 4242\nrefused: ERR_CONTEXT_MISMATCH\n')
})

test('Node: CommonJS require() of @envelope/core works (Node 20.19+: require of ES modules)', () => {
  writeFileSync(
    join(project, 'require.cjs'),
    [
      "const { createLocalKeyProvider, encrypt, decryptToString } = require('@envelope/core')",
      'createLocalKeyProvider({ kek: crypto.getRandomValues(new Uint8Array(32)), keyId: "k" }).then(async (provider) => {',
      "  const m = await encrypt('from require', { provider, context: { a: 'b' } })",
      '  console.log(await decryptToString(m, { provider }))',
      '})',
    ].join('\n'),
  )
  assert.equal(runExample('node', 'require.cjs'), 'from require\n')
})

test('Node: the idb-cache README example runs (memory tier outside browsers)', () => {
  assert.equal(runExample('node', 'dek-cache.mjs'), 'hello\nhello\ncached: 1\ncached: 0\n')
})

test('npx envelope-proxy and envelope-admin: --help, --version, usage errors', () => {
  const help = run('npx', ['envelope-proxy', '--help'], { cwd: project })
  assert.equal(help.status, 0)
  assert.match(help.stdout, /^usage: envelope-proxy \[options\]/)
  assert.match(help.stdout, /--config FILE/)
  const version = run('npx', ['envelope-proxy', '--version'], { cwd: project })
  assert.equal(version.stdout.trim(), packed.find((p) => p.name === '@envelope/key-proxy').version)
  const bad = run('npx', ['envelope-proxy', '--prot', '1'], { cwd: project })
  assert.equal(bad.status, 2)
  assert.match(bad.stderr, /unknown option "--prot"/)
  const adminHelp = run('npx', ['envelope-admin', '--help'], { cwd: project })
  assert.equal(adminHelp.status, 0)
  assert.match(adminHelp.stdout, /new-api-key/)
})

test('npx envelope-proxy with no configuration: embedded defaults; says where it listens and where its data is', async () => {
  const data = join(dir, 'proxy-data-defaults')
  const proxy = await startServer('npx', ['envelope-proxy'], {
    cwd: project,
    env: { ENVELOPE_PROXY_PORT: '0', ENVELOPE_DATA_DIR: data },
    ready: READY,
  })
  servers.push(proxy)
  assert.equal(proxy.match[2], `data: ${data} (keys.json, audit.log, admin.key)`)
  const health = await fetch(`${proxy.match[1]}/v1/health`)
  assert.equal(health.status, 200)
  for (const file of ['root.key', 'admin.key']) assert.equal(statSync(join(data, file)).mode & 0o777, 0o600, file)
  await proxy.stop()
})

test('Node: the fetch-client README example against `npx envelope-proxy` from the installed package; envelope-admin', async () => {
  const proxy = await startProxy('node', 'node')
  assert.match(proxy.dataLine, /^data: .*proxy-data-node \(keys\.json, audit\.log, admin\.key\)$/)
  const out = runExample('node', 'proxy-round-trip.mjs', {
    ENVELOPE_PROXY_URL: proxy.url,
    ENVELOPE_API_KEY: identity.apiKey,
  })
  assert.equal(out, 'hello\n')
  const admin = (...a) =>
    run('npx', ['envelope-admin', ...a, '--url', proxy.url, '--admin-key-file', proxy.adminKeyFile], { cwd: project })
  const rotated = admin('rotate', 'acme')
  assert.equal(rotated.status, 0, rotated.stderr)
  assert.equal(JSON.parse(admin('describe', 'acme').stdout).primaryVersion, 2)
  const refused = admin('rotate', 'nobody')
  assert.equal(refused.status, 1)
  assert.match(refused.stderr, /^ERR_KEY_NOT_FOUND/)
  await proxy.stop()
})

for (const runtime of ['deno', 'bun']) {
  test(`${runtime === 'deno' ? 'Deno' : 'Bun'}: the core and fetch-client README examples, against envelope-proxy run by ${runtime}`, async () => {
    assert.equal(runExample(runtime, 'quick-start.mjs'), 'card ending 4242\nrefused: ERR_CONTEXT_MISMATCH\n')
    const proxy = await startProxy(runtime, runtime)
    assert.match(proxy.dataLine, new RegExp(`^data: .*proxy-data-${runtime} `))
    const out = runExample(runtime, 'proxy-round-trip.mjs', {
      ENVELOPE_PROXY_URL: proxy.url,
      ENVELOPE_API_KEY: identity.apiKey,
    })
    assert.equal(out, 'hello\n')
    await proxy.stop()
  })
}

test('Vite build of a page using core + idb-cache + fetch-client, opened in Chromium against the proxy', async () => {
  const vite = run(
    process.execPath,
    [join(root, 'node_modules/vite/bin/vite.js'), 'build', 'page', '--logLevel', 'warn'],
    {
      cwd: project,
    },
  )
  assert.equal(vite.status, 0, vite.stdout + vite.stderr)
  const proxy = await startProxy('node', 'page')
  const token = await new SignJWT({ tenant: 'acme' })
    .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
    .setSubject('user@acme')
    .setIssuer('https://id.example')
    .setAudience('envelope-packages-test')
    .setExpirationTime('5m')
    .sign(identity.privateKey)
  const browser = await chromium.launch({ executablePath: chromiumPath, args: chromiumArgs })
  try {
    const tab = await browser.newPage()
    const errors = []
    tab.on('pageerror', (e) => errors.push(e.message))
    await tab.goto(`${page.origin}/#${new URLSearchParams({ proxy: proxy.url, token })}`)
    const result = await (await tab.waitForFunction(() => window.result, null, { timeout: 20_000 })).jsonValue()
    assert.deepEqual(errors, [])
    assert.deepEqual(result, {
      localText: 'local',
      first: 'through the proxy',
      second: 'through the proxy',
      requestsForMiss: 2, // generate, then unwrap
      requestsForHit: 0, // the IndexedDB cache answered
      backend: 'memory+indexeddb',
    })
  } finally {
    await browser.close()
    await proxy.stop()
  }
})

test('tsc --noEmit of a consumer under strict, moduleResolution bundler and nodenext (no @types/node for browsers)', () => {
  const tsc = join(root, 'node_modules/typescript/bin/tsc')
  for (const [resolution, module] of [
    ['bundler', 'esnext'],
    ['nodenext', 'nodenext'],
  ]) {
    const common = ['--ignoreConfig', '--noEmit', '--strict', '--target', 'es2022', '--module', module]
    const browser = run(
      process.execPath,
      [tsc, ...common, '--moduleResolution', resolution, '--types', '', 'consumer/browser.ts'],
      {
        cwd: project,
      },
    )
    assert.equal(browser.status, 0, `browser.ts (${resolution}):\n${browser.stdout}${browser.stderr}`)
    const server = run(
      process.execPath,
      [
        tsc,
        ...common,
        '--moduleResolution',
        resolution,
        '--typeRoots',
        join(root, 'node_modules/@types'),
        '--types',
        'node',
        'consumer/server.ts',
      ],
      { cwd: project },
    )
    assert.equal(server.status, 0, `server.ts (${resolution}):\n${server.stdout}${server.stderr}`)
  }
})

test(`bundle sizes (min+gzip) of the browser packages, as installed; core under ${CORE_GOAL_BYTES / 1024} KB`, async () => {
  const sizes = []
  for (const pkg of ['core', 'idb-cache', 'fetch-client']) {
    const entry = join(project, `size-${pkg}.mjs`)
    writeFileSync(entry, `export * from '@envelope/${pkg}'\n`)
    const measure = async (external) => {
      const r = await build({
        cwd: project,
        input: entry,
        platform: 'browser',
        external,
        write: false,
        logLevel: 'silent',
        output: { format: 'esm', minify: true },
      })
      return gzipSync(r.output[0].code, { level: 9 }).length
    }
    // Own: the package with its dependencies left out; total: with everything it pulls in.
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules/@envelope', pkg, 'package.json'), 'utf8'))
    const deps = Object.keys(manifest.dependencies ?? {})
    const isDependency = (id) => deps.some((d) => id === d || id.startsWith(`${d}/`))
    sizes.push({ pkg, own: await measure(isDependency), total: await measure([]) })
  }
  console.log('\nbundle sizes (min+gzip, everything the package exports):')
  for (const s of sizes)
    console.log(
      `  @envelope/${s.pkg.padEnd(13)} own ${(s.own / 1024).toFixed(1).padStart(5)} KB   with dependencies ${(s.total / 1024).toFixed(1).padStart(5)} KB`,
    )
  assert.ok(sizes[0].total < CORE_GOAL_BYTES, `@envelope/core is ${sizes[0].total} B`)
})
