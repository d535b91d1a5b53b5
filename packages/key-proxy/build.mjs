// Bundles the Node entry points into dist/ (Node 20 cannot run TypeScript). The workspace packages are bundled
// from source; npm dependencies stay external.
import { build } from 'rolldown'

const external = [/^hono(\/|$)/, /^@hono\//, /^jose(\/|$)/, /^node:/]
for (const name of ['serve-node', 'admin-cli', 'aws-kms-endpoint/serve-node']) {
  await build({
    input: new URL(`./src/${name}.ts`, import.meta.url).pathname,
    output: { file: new URL(`./dist/${name}.mjs`, import.meta.url).pathname, format: 'esm' },
    platform: 'node',
    external,
    logLevel: 'warn',
  })
}
