// Node entry of the AWS-KMS-compatible endpoint (after a build: Node 20 cannot run TypeScript):
// node dist/aws-kms-endpoint/serve-node.mjs [--port 0] [--data-dir DIR] … (see cli.ts).
import { runAwsKmsEndpointCli, USAGE } from './cli.ts'

if (process.argv.includes('--help')) {
  console.log(USAGE)
  process.exit(0)
}
runAwsKmsEndpointCli(process.argv.slice(2))
  .then((endpoint) => {
    const stop = () => endpoint.close().then(() => process.exit(0))
    process.on('SIGINT', stop)
    process.on('SIGTERM', stop)
  })
  .catch((err) => {
    console.error(`aws-kms-endpoint did not start: ${err?.message ?? err}`)
    if (err instanceof TypeError) console.error(USAGE)
    process.exit(err instanceof TypeError ? 2 : 1)
  })
