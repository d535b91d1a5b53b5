/**
 * The endpoint's command line (`envelope-proxy --aws-kms-endpoint`, or `node dist/aws-kms-endpoint/serve-node.mjs`).
 * @module
 */
import { resolve } from 'node:path'
import type { AwsKmsFaults } from './faults.ts'
import { type AwsKmsEndpoint, type AwsKmsEndpointOptions, startAwsKmsEndpoint } from './server.ts'

export const USAGE = `Usage: aws-kms-endpoint [options]
An offline AWS KMS (and STS AssumeRole) on a local port, for development and tests.
  --data-dir DIR            keys, root key and credentials files (default ./.envelope-data/aws-kms, or $ENVELOPE_AWS_KMS_DATA_DIR)
  --host HOST               default 127.0.0.1
  --port PORT               default 4599 ($ENVELOPE_AWS_KMS_PORT); 0 = a free port
  --region REGION           default us-east-1
  --account-id ID           default 111122223333
  --create-key ALIAS        make a key named ALIAS (alias/…) unless it exists; repeatable
  --latency-ms N            add N ms to every answer
  --throttle-every N        ThrottlingException on every Nth KMS call
  --throttle-per-second R   ThrottlingException above R KMS calls per second
  --deny ID                 refuse an access key id or role ARN (AccessDeniedException); repeatable
Faults can be changed while running: POST /_envelope/control (see docs/kms-backends.md).`

export interface EndpointArgs {
  readonly options: AwsKmsEndpointOptions
  readonly createKeys: readonly string[]
}

/** @throws TypeError on an unknown or malformed option */
export function parseEndpointArgs(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): EndpointArgs {
  let dataDir = env.ENVELOPE_AWS_KMS_DATA_DIR ?? '.envelope-data/aws-kms'
  let host: string | undefined
  let port = env.ENVELOPE_AWS_KMS_PORT === undefined ? 4599 : Number(env.ENVELOPE_AWS_KMS_PORT)
  let region: string | undefined
  let accountId: string | undefined
  const createKeys: string[] = []
  const deny: string[] = []
  const faults: { latencyMs?: number; throttleEveryNth?: number; throttlePerSecond?: number } = {}
  const num = (flag: string, v: string | undefined) => {
    const n = Number(v)
    if (v === undefined || v === '' || !Number.isFinite(n) || n < 0) throw new TypeError(`${flag} takes a number`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const value = () => {
      const v = argv[++i]
      if (v === undefined || v.startsWith('--')) throw new TypeError(`${flag} takes a value`)
      return v
    }
    switch (flag) {
      case '--data-dir':
        dataDir = value()
        break
      case '--host':
        host = value()
        break
      case '--port':
        port = num(flag, value())
        break
      case '--region':
        region = value()
        break
      case '--account-id':
        accountId = value()
        break
      case '--create-key':
        createKeys.push(value())
        break
      case '--latency-ms':
        faults.latencyMs = num(flag, value())
        break
      case '--throttle-every':
        faults.throttleEveryNth = num(flag, value())
        break
      case '--throttle-per-second':
        faults.throttlePerSecond = num(flag, value())
        break
      case '--deny':
        deny.push(value())
        break
      default:
        throw new TypeError(`unknown option ${flag.slice(0, 64)}`)
    }
  }
  if (!Number.isInteger(port) || port > 65535) throw new TypeError('--port takes a port number')
  for (const a of createKeys)
    if (!/^alias\/[a-zA-Z0-9/_-]{1,250}$/.test(a)) throw new TypeError(`${a} is not an alias name`)
  const f: AwsKmsFaults = { ...faults, ...(deny.length ? { deny } : {}) }
  return {
    options: {
      dataDir: resolve(dataDir),
      port,
      ...(host ? { host } : {}),
      ...(region ? { region } : {}),
      ...(accountId ? { accountId } : {}),
      faults: f,
    },
    createKeys,
  }
}

/**
 * Starts the endpoint from command-line arguments and prints where it is; resolves once it is listening.
 * @example
 * const endpoint = await runAwsKmsEndpointCli(['--port', '0', '--create-key', 'alias/dev'])
 * @throws TypeError on bad arguments; Error when the data folder cannot be used or the port is taken
 */
export async function runAwsKmsEndpointCli(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  print: (line: string) => void = console.log,
): Promise<AwsKmsEndpoint> {
  const { options, createKeys } = parseEndpointArgs(argv, env)
  const endpoint = await startAwsKmsEndpoint(options)
  print(
    `envelope AWS KMS endpoint listening on ${endpoint.url} (region ${endpoint.region}, account ${endpoint.accountId})`,
  )
  print(`endpoint file: ${endpoint.infoFile} (URL, access keys, control token)`)
  print(
    `for the AWS CLI and SDKs: AWS_SHARED_CREDENTIALS_FILE=${endpoint.sharedCredentialsFile} AWS_REGION=${endpoint.region} AWS_ENDPOINT_URL_KMS=${endpoint.url}`,
  )
  for (const alias of createKeys) print(`${alias}: ${endpoint.ensureKey(alias).arn}`)
  const host = new URL(endpoint.url).hostname
  if (!['127.0.0.1', '[::1]', 'localhost'].includes(host)) {
    print('warning: listening beyond loopback, over plain HTTP: answers carry plaintext data keys')
  }
  return endpoint
}

/**
 * The endpoint as a program: `--help` prints `usage`, bad arguments exit 2, a start failure exits 1, and SIGINT or
 * SIGTERM close it and exit 0. Both entries run this: `envelope-proxy --aws-kms-endpoint …` and
 * `node dist/aws-kms-endpoint/serve-node.mjs …`.
 * @example
 * runAwsKmsEndpointMain(process.argv.slice(2))
 * @throws nothing: every failure is printed and ends the process
 */
export function runAwsKmsEndpointMain(argv: readonly string[], usage: string = USAGE): void {
  if (argv.includes('--help')) {
    console.log(usage)
    process.exit(0)
  }
  runAwsKmsEndpointCli(argv)
    .then((endpoint) => {
      const stop = () => endpoint.close().then(() => process.exit(0))
      process.on('SIGINT', stop)
      process.on('SIGTERM', stop)
    })
    .catch((err) => {
      console.error(`aws-kms-endpoint did not start: ${err?.message ?? err}`)
      if (err instanceof TypeError) console.error(usage)
      process.exit(err instanceof TypeError ? 2 : 1)
    })
}
