#!/usr/bin/env node
// Node entry and the `envelope-proxy` bin (`npm run proxy` in this repository; Node 20 cannot run TypeScript, so
// that builds first). Also runs under Bun and Deno, through their Node compatibility.
import { readFileSync } from 'node:fs'
import { serveNode } from './node-server.ts'
import { parseProxyCommand } from './proxy-cli.ts'
import { startup } from './startup.ts'

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
const command = parseProxyCommand(process.argv.slice(2), process.env, version)
if (command.kind === 'exit') {
  if (command.stdout) console.log(command.stdout)
  if (command.stderr) console.error(command.stderr)
  process.exit(command.code)
}

startup(command.argv, command.env)
  .then(({ app, config, where, listening }) => {
    const server = serveNode(app, config, (info) => {
      listening(info.port)
      console.log(`envelope key proxy listening on http://${config.host}:${info.port}`)
      console.log(where)
    })
    const stop = () => server.close(() => process.exit(0))
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  .catch((err) => {
    console.error(`key proxy did not start: ${err?.code ? `${err.code}: ` : ''}${err?.message ?? err}`)
    process.exit(1)
  })
