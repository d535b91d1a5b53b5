// Node entry of the AWS-KMS-compatible endpoint (after a build: Node 20 cannot run TypeScript):
// node dist/aws-kms-endpoint/serve-node.mjs [--port 0] [--data-dir DIR] … (see cli.ts).
import { runAwsKmsEndpointMain } from './cli.ts'

runAwsKmsEndpointMain(process.argv.slice(2))
