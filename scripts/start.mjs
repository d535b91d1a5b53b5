// `npm start`: the demo on http://127.0.0.1:5173 (Vite). The page encrypts and decrypts in the browser with
// @envelope/core; stop with Ctrl-C.
import { spawn } from 'node:child_process'

const vite = spawn('npx', ['vite', '--config', 'demo/vite.config.ts', '--clearScreen', 'false'], { stdio: 'inherit' })
const stop = () => vite.kill('SIGTERM')
process.on('SIGINT', stop)
process.on('SIGTERM', stop)
vite.on('exit', (code) => process.exit(code ?? 0))
console.log('envelope demo: http://127.0.0.1:5173/  (Ctrl-C to stop)')
