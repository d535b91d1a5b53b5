import { defaultClientConditions, defaultServerConditions } from 'vite'
import { defineConfig } from 'vitest/config'
import './tests/runtimes/node/node20-polyfills.ts'

// One Vitest project per environment; the portable suites run in `node` together with every package's
// Node-only tests (`packages/<pkg>/test/**/*.node.test.ts`).
export default defineConfig({
  test: {
    reporters: ['json', 'default'],
    outputFile: { json: '.ci-out/vitest.json' },
    projects: [
      {
        // Workspace packages resolve to their sources (the `@envelope/source` export condition), never to a dist/.
        resolve: { conditions: ['@envelope/source', ...defaultClientConditions] },
        // Vitest passes these to Node as --conditions for the dependencies it leaves to Node: without `module`, as
        // Vitest's own default (a `module` build, e.g. the AWS SDK's dist-es, is for bundlers, not Node).
        ssr: {
          resolve: {
            conditions: ['@envelope/source', ...defaultServerConditions.filter((c) => c !== 'module')],
          },
        },
        test: {
          name: 'node',
          environment: 'node',
          include: [
            'tests/runtimes/node/**/*.node.test.ts',
            'packages/*/test/**/*.node.test.ts',
            'demo/test/**/*.node.test.ts',
          ],
          // Node-only tests may start real servers on loopback and spawn processes.
          testTimeout: 60_000,
          hookTimeout: 60_000,
          // Two cores: one file at a time keeps server-spawning tests from starving each other.
          fileParallelism: false,
        },
      },
    ],
  },
})
