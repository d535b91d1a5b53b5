// Bundles the two bins from source into dist/*.mjs for this repository's tests, benchmarks and `npm start`
// (Node 20 cannot run TypeScript): workspace packages come from their sources, npm dependencies stay external.
// The published package is `npm run build` (tsc, dist/*.js); these .mjs bundles are not in its files.
import { build } from 'rolldown'
import { sourceResolve } from '../../scripts/lib/source-condition.mjs'

const external = [/^hono(\/|$)/, /^@hono\//, /^jose(\/|$)/, /^prom-client(\/|$)/, /^pg(\/|$)/, /^node:/]
for (const name of ['serve-node', 'admin-cli', 'aws-kms-endpoint/serve-node']) {
  await build({
    input: new URL(`./src/${name}.ts`, import.meta.url).pathname,
    output: { file: new URL(`./dist/${name}.mjs`, import.meta.url).pathname, format: 'esm' },
    platform: 'node',
    resolve: sourceResolve('node'),
    external,
    logLevel: 'warn',
  })
}
