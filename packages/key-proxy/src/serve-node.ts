#!/usr/bin/env node
// Node entry and the `envelope-proxy` bin (`npm run proxy` in this repository; Node 20 cannot run TypeScript, so
// that builds first). Also runs under Bun and Deno, through their Node compatibility. `--workers N` (default: one
// per core under Node) serves from N processes on one port: server/main.ts.
import { readFileSync } from 'node:fs'
import { parseProxyCommand } from './proxy-cli.ts'
import { main } from './server/main.ts'

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
const command = parseProxyCommand(process.argv.slice(2), process.env, version)
if (command.kind === 'exit') {
  if (command.stdout) console.log(command.stdout)
  if (command.stderr) console.error(command.stderr)
  process.exit(command.code)
}
void main(command.argv, command.env)
