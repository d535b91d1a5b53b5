import { defaultClientConditions, defineConfig } from 'vite'

// The demo SPA, on loopback only (http://127.0.0.1 is a secure context, so WebCrypto is available).
export default defineConfig({
  // Workspace packages resolve to their sources (the `@envelope/source` export condition), never to a dist/.
  resolve: { conditions: ['@envelope/source', ...defaultClientConditions] },
  root: import.meta.dirname,
  build: { target: 'es2022' },
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
})
