// The envelope-proxy command line: flags stand for the configuration's environment variables and win over them;
// help, version and usage errors exit without starting.
import { expect, test } from 'vitest'
import { PROXY_HELP, parseProxyCommand } from '../src/proxy-cli.ts'

test('flags set the environment variables they stand for, over the environment', () => {
  const got = parseProxyCommand(
    ['--config', 'c.json', '--port=0', '--data', '/var/lib/p', '--tenants', 'a,b', '--host', '::1', '--workers', '3'],
    { ENVELOPE_PROXY_PORT: '7000', OTHER: 'kept' },
    '1.2.3',
  )
  expect(got).toEqual({
    kind: 'start',
    argv: [],
    env: {
      OTHER: 'kept',
      ENVELOPE_PROXY_CONFIG: 'c.json',
      ENVELOPE_PROXY_PORT: '0',
      ENVELOPE_DATA_DIR: '/var/lib/p',
      ENVELOPE_TENANTS: 'a,b',
      ENVELOPE_PROXY_HOST: '::1',
      ENVELOPE_PROXY_WORKERS: '3',
    },
  })
})

test('--help and --version print and exit 0; a bad command line exits 2 with the help', () => {
  expect(parseProxyCommand(['--help'], {}, '1.2.3')).toEqual({ kind: 'exit', code: 0, stdout: PROXY_HELP })
  expect(parseProxyCommand(['-v'], {}, '1.2.3')).toEqual({ kind: 'exit', code: 0, stdout: '1.2.3' })
  for (const args of [['--prot', '1'], ['--port'], ['--port', '--host', 'x'], ['serve']]) {
    const got = parseProxyCommand(args, {}, '1.2.3')
    expect(got.kind).toBe('exit')
    expect(got).toMatchObject({ code: 2, stderr: expect.stringContaining('usage: envelope-proxy') })
  }
})
