// Every shell command in README.md's ```sh blocks, and what it must do when a new user runs it as written: in
// a checkout of their own, on the real default ports. demo/e2e/readme-commands.spec.ts runs each one, and fails
// when README.md has a command this list lacks, or this list one that README.md no longer has: change the two
// together (the key is the command exactly as README.md writes it, without its `# comment`).

export interface Ran {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

export type DocumentedCommand =
  /** Runs until stopped (Ctrl-C): ready once each URL answers its status; then its files exist in the checkout. */
  | {
      readonly kind: 'serves'
      readonly answers: Readonly<Record<string, number>>
      readonly files: readonly string[]
      /** Extra checks while it runs; `dir` is the checkout. */
      readonly check?: (dir: string) => Promise<void> | void
    }
  /** Runs to its end, once while each `during` command is serving (in a checkout of its own). */
  | {
      readonly kind: 'runs'
      readonly during: readonly string[]
      readonly check: (ran: Ran, dir: string) => void
    }
  /** Not run by this test: `why` says what runs it. */
  | { readonly kind: 'elsewhere'; readonly why: string }

const proxyRoutes = {
  'http://127.0.0.1:7777/v1/health': 200,
  'http://127.0.0.1:7777/v1/ready': 200,
}

export const readmeCommands: Readonly<Record<string, DocumentedCommand>> = {
  'npm install': { kind: 'elsewhere', why: '.ci/run runs it on a fresh clone before `npm test`' },
  'npm test': { kind: 'elsewhere', why: 'this test is part of it' },
  'npm start': {
    kind: 'serves',
    answers: {
      'http://127.0.0.1:5173/': 200,
      ...proxyRoutes,
      'http://127.0.0.1:7780/.well-known/jwks.json': 200,
      'http://127.0.0.1:7778/submissions': 401, // storage, asked without a token
    },
    files: [
      '.envelope-data/keys.json',
      '.envelope-data/audit.log',
      '.envelope-data/admin.key',
      '.envelope-data/identity-key.json',
      '.envelope-data/storage',
    ],
  },
  'ENVELOPE_TENANTS=acme,globex npm run proxy': {
    kind: 'serves',
    answers: proxyRoutes,
    files: ['.envelope-data/keys.json', '.envelope-data/audit.log', '.envelope-data/admin.key'],
    check: async (dir) => {
      const { readFileSync } = await import('node:fs')
      const keys = JSON.parse(readFileSync(`${dir}/.envelope-data/keys.json`, 'utf8')) as {
        records: { 'local-key': object }
      }
      const made = keys.records['local-key']
      if (!('acme/default' in made && 'globex/default' in made)) throw new Error('tenants acme and globex not made')
    },
  },
  'npm run admin -- rotate acme': {
    kind: 'runs',
    during: ['npm start', 'ENVELOPE_TENANTS=acme,globex npm run proxy'],
    check: ({ code, stdout, stderr }) => {
      if (code !== 0) throw new Error(`exit ${code}: ${stderr}`)
      const key = JSON.parse(stdout.slice(stdout.indexOf('{'))) as Record<string, unknown>
      if (key.tenant !== 'acme' || key.primaryVersion !== 2 || key.state !== 'enabled')
        throw new Error(`not rotated: ${stdout}`)
    },
  },
}
