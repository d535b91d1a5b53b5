import { defineConfig } from 'vite'

// The demo SPA, on loopback only (http://127.0.0.1 is a secure context, so WebCrypto is available).
export default defineConfig({
  root: import.meta.dirname,
  build: { target: 'es2022' },
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
})
