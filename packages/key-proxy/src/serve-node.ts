#!/usr/bin/env node
// Node entry and the `envelope-proxy` bin (`npm run proxy` in this repository; Node 20 cannot run TypeScript, so
// that builds first). Also runs under Bun and Deno, through their Node compatibility. `--workers N` (default: one
// per core under Node) serves from N processes on one port: server/main.ts. With `--aws-kms-endpoint` first it
// runs the AWS-KMS-compatible endpoint instead (an offline AWS KMS for development: docs/kms-backends.md), with
// the endpoint's own options after the flag.
import { readFileSync } from 'node:fs'
import { runAwsKmsEndpointMain, USAGE } from './aws-kms-endpoint/cli.ts'
import { parseProxyCommand } from './proxy-cli.ts'
import { main } from './server/main.ts'

// The AWS SDK warns on Node 20 that its later versions will need Node 22; the lock file pins the SDK's version.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true'

if (process.argv[2] === '--aws-kms-endpoint') {
  runAwsKmsEndpointMain(
    process.argv.slice(3),
    USAGE.replace('Usage: aws-kms-endpoint', 'Usage: envelope-proxy --aws-kms-endpoint'),
  )
} else {
  const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
  const command = parseProxyCommand(process.argv.slice(2), process.env, version)
  if (command.kind === 'exit') {
    if (command.stdout) console.log(command.stdout)
    if (command.stderr) console.error(command.stderr)
    process.exit(command.code)
  }
  void main(command.argv, command.env)
}
