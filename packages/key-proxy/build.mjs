// Bundles the bins from source into dist/*.mjs for this repository's tests, benchmarks and `npm start` (Node 20
// cannot run TypeScript): workspace packages come from their sources, npm dependencies stay external. One build,
// so what the entries share (and what they import on first use: the KMS providers' backends) lands in
// dist/chunks/ and loads only when needed. The published package is `npm run build` (tsc, dist/*.js); these .mjs
// bundles are not in its files.
import { build } from 'rolldown'
import { sourceResolve } from '../../scripts/lib/source-condition.mjs'

// npm dependencies stay external (pkcs11js is a native addon); the KMS providers import theirs when first used.
const external = [
  /^hono(\/|$)/,
  /^@hono\//,
  /^jose(\/|$)/,
  /^prom-client(\/|$)/,
  /^pg(\/|$)/,
  /^@aws-sdk\//,
  /^pkcs11js$/,
  /^node:/,
]
const entries = ['serve-node', 'admin-cli', 'aws-kms-endpoint/serve-node']
await build({
  input: Object.fromEntries(entries.map((name) => [name, new URL(`./src/${name}.ts`, import.meta.url).pathname])),
  output: {
    dir: new URL('./dist', import.meta.url).pathname,
    format: 'esm',
    entryFileNames: '[name].mjs',
    chunkFileNames: 'chunks/[name]-[hash].mjs',
  },
  platform: 'node',
  resolve: sourceResolve('node'),
  external,
  logLevel: 'warn',
})
