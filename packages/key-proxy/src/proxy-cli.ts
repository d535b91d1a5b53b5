/**
 * The `envelope-proxy` command line: `--help`, `--version`, and flags that stand for the environment variables
 * of the configuration (a flag wins over the variable, which wins over the file). Everything else about the
 * configuration is in config.ts.
 * @module
 */

/** Flags and the environment variable each one sets. */
const FLAGS: Readonly<Record<string, string>> = {
  '--config': 'ENVELOPE_PROXY_CONFIG',
  '--host': 'ENVELOPE_PROXY_HOST',
  '--port': 'ENVELOPE_PROXY_PORT',
  '--data': 'ENVELOPE_DATA_DIR',
  '--tenants': 'ENVELOPE_TENANTS',
  '--cors-origins': 'ENVELOPE_CORS_ORIGINS',
  '--workers': 'ENVELOPE_PROXY_WORKERS',
  '--keystore': 'ENVELOPE_KEYSTORE_URL',
}

export const PROXY_HELP = `usage: envelope-proxy [options]

Starts the envelope key proxy: it makes and unwraps data keys with each tenant's master key.
With no configuration at all it listens on 127.0.0.1:7777 with a local, file-backed KMS in ./.envelope-data,
where it makes a root key and an admin API key (0600 files) on first start.

options (each also an environment variable; a flag wins over the variable, the variable over the file):
  --config FILE         JSON configuration file               $ENVELOPE_PROXY_CONFIG
  --host HOST           address to listen on (127.0.0.1)      $ENVELOPE_PROXY_HOST
  --port N              port, 0 for any free one (7777)       $ENVELOPE_PROXY_PORT
  --data DIR            data folder (./.envelope-data)        $ENVELOPE_DATA_DIR
  --tenants A,B         tenants whose key is made on start    $ENVELOPE_TENANTS
  --cors-origins O,P    browser origins allowed               $ENVELOPE_CORS_ORIGINS
  --workers N           processes serving the port (0: this   $ENVELOPE_PROXY_WORKERS
                        one alone; default: one per core)
  --keystore URL        a shared PostgreSQL keystore          $ENVELOPE_KEYSTORE_URL
                        (postgres://…; default: keys.json)
  -h, --help            this help
  -v, --version         the version
  --aws-kms-endpoint …  (first) run an offline AWS KMS for development instead: --aws-kms-endpoint --help

Also from the environment: $ENVELOPE_ROOT_KEY (base64url, 32 bytes) instead of <data>/root.key.
The configuration file holds the rest (apiKeys, adminKeys, jwt, minDeletionDays, maxBodyBytes, maxBatch, tls,
metrics, shutdownTimeoutMs, logLevel): see the package README and docs/operations.md. Key administration:
envelope-admin --help.

It logs JSON lines on stdout, the first ones the address it listens on and its data folder. SIGTERM or SIGINT
stops it gracefully (requests in flight are answered; a second signal stops at once); SIGHUP reloads the TLS
certificate.
Exit code 1 when it cannot start (the reason is printed), 2 on a usage error.`

/** What the command line asks for: print something and exit, or start with this argv and environment. */
export type ProxyCommand =
  | { readonly kind: 'exit'; readonly code: number; readonly stdout?: string; readonly stderr?: string }
  | { readonly kind: 'start'; readonly argv: string[]; readonly env: Record<string, string | undefined> }

/** Reads the `envelope-proxy` arguments (without node and the script) over the environment. */
export function parseProxyCommand(
  args: readonly string[],
  env: Record<string, string | undefined>,
  version: string,
): ProxyCommand {
  const out: Record<string, string | undefined> = { ...env }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!
    if (arg === '-h' || arg === '--help') return { kind: 'exit', code: 0, stdout: PROXY_HELP }
    if (arg === '-v' || arg === '--version') return { kind: 'exit', code: 0, stdout: version }
    const [name, inline] = arg.startsWith('--') && arg.includes('=') ? arg.split(/=(.*)/s, 2) : [arg, undefined]
    const variable = FLAGS[name!]
    const value = inline ?? args[i + 1]
    if (!variable) return usage(`unknown option ${JSON.stringify(arg.slice(0, 64))}`)
    if (value === undefined || (inline === undefined && value.startsWith('--'))) return usage(`${name} needs a value`)
    if (inline === undefined) i++
    out[variable] = value
  }
  // startup() reads --config from argv or $ENVELOPE_PROXY_CONFIG; the flag went into the environment above.
  return { kind: 'start', argv: [], env: out }
}

function usage(problem: string): ProxyCommand {
  return { kind: 'exit', code: 2, stderr: `envelope-proxy: ${problem}\n\n${PROXY_HELP}` }
}
