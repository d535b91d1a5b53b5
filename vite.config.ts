import { defaultClientConditions, defineConfig } from 'vite'

// Serves the browser conformance page (tests/runtimes/browser/) for Playwright; the demo has its own config.
export default defineConfig({
  // Workspace packages resolve to their sources (the `@envelope/source` export condition), never to a dist/.
  resolve: { conditions: ['@envelope/source', ...defaultClientConditions] },
  root: 'tests/runtimes/browser',
  // No dependency pre-bundling: the page imports only workspace sources, and a late optimisation would reload
  // the page under a running test.
  optimizeDeps: { noDiscovery: true, include: [] },
  server: { host: '127.0.0.1', port: 5174, strictPort: true },
  preview: { host: '127.0.0.1', port: 5174, strictPort: true },
  build: { target: 'es2022', outDir: '../../../.ci-out/browser-page', emptyOutDir: true },
})
