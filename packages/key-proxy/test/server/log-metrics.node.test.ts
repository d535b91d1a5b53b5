// The logger's bounds and the metrics API the KMS backends call (labels bounded whatever they are given).
import { describe, expect, test } from 'vitest'
import { batchedLines, createLogger, requestIdFrom } from '../../src/log.ts'
import { ProxyMetrics } from '../../src/metrics.ts'

describe('createLogger', () => {
  const capture = (level?: 'debug' | 'info' | 'warn' | 'error' | 'off') => {
    const lines: string[] = []
    const log = createLogger({ level, write: (l) => lines.push(l), now: () => new Date(0) })
    return { log, lines, parsed: () => lines.map((l) => JSON.parse(l)) }
  }

  test('one JSON object per line: time, level, msg, then fields; child fields on every line', () => {
    const { log, parsed } = capture()
    log.child({ worker: 2 }).info('listening', { url: 'https://127.0.0.1:7777', n: 3, ok: true, none: null })
    expect(parsed()).toEqual([
      {
        time: '1970-01-01T00:00:00.000Z',
        level: 'info',
        msg: 'listening',
        worker: 2,
        url: 'https://127.0.0.1:7777',
        n: 3,
        ok: true,
        none: null,
      },
    ])
  })

  test('levels below the configured one, and everything at off, are not written', () => {
    const warn = capture('warn')
    warn.log.info('no')
    warn.log.debug('no')
    warn.log.error('yes')
    expect(warn.parsed().map((l) => l.msg)).toEqual(['yes'])
    const off = capture('off')
    off.log.error('no')
    expect(off.lines).toEqual([])
  })

  test('every field is bounded and a line stays under 4 KiB, whatever it is given', () => {
    const { log, lines, parsed } = capture()
    const huge = '\u0001€'.repeat(10_000)
    const fields = Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`f${i}`, huge]))
    log.info(huge, { ...fields, 'bad name': 'x', ['n'.repeat(40)]: 'x', nan: Number.NaN })
    expect(Buffer.byteLength(lines[0]!)).toBeLessThan(4096)
    const line = parsed()[0]
    expect(line.msg.length).toBeLessThanOrEqual(256)
    expect(line.truncated).toBe(true)
    expect(line['bad name']).toBeUndefined()
    expect(Object.keys(line).length).toBeLessThanOrEqual(3 + 24 + 1)
    for (const v of Object.values(line)) if (typeof v === 'string') expect(v.length).toBeLessThanOrEqual(256)
    log.info('x', { time: 'forged', level: 'forged', nan: Number.NaN, inf: Number.POSITIVE_INFINITY })
    expect(parsed()[1]).toMatchObject({ level: 'info', nan: null, inf: null })
    expect(parsed()[1].time).not.toBe('forged')
  })

  test('a surrogate pair is never cut in half', () => {
    const { log, parsed } = capture()
    log.info('x', { s: `${'a'.repeat(254)}😀😀` })
    expect(parsed()[0].s).toBe(`${'a'.repeat(254)}…`)
  })

  test('requestIdFrom keeps tracing ids and replaces anything else', () => {
    for (const ok of ['4bf92f3577b34da6a3ce929d0e0e4736', 'a:b.c_d-e+f/g=', 'x'.repeat(128)])
      expect(requestIdFrom(ok)).toBe(ok)
    for (const bad of [undefined, null, '', 'x'.repeat(129), 'a b', 'a\nb', 'é', '<script>']) {
      expect(requestIdFrom(bad)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    }
  })
})

describe('batchedLines', () => {
  test("lines of several turns in one write, at most maxDelayMs after the first; a chunk's worth after its turn", async () => {
    const writes: string[] = []
    let wrote: () => void = () => {}
    const out = batchedLines(
      (chunk) => {
        writes.push(chunk)
        wrote()
      },
      4096,
      30,
    )
    const log = createLogger({ write: out.line })
    const written = () => new Promise<void>((resolve) => (wrote = resolve))
    const once = written()
    log.info('request', { i: 0 })
    await new Promise((resolve) => setImmediate(resolve))
    log.info('request', { i: 1 }) // a later turn: the same write
    await new Promise((resolve) => setImmediate(resolve))
    log.info('request', { i: 2 })
    expect(writes).toEqual([]) // two turns later: not yet
    await once // the delay sent it
    expect(writes).toHaveLength(1)
    expect(
      writes[0]!
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).i),
    ).toEqual([0, 1, 2])
    // A chunk's worth goes out after its turn, without waiting for the delay.
    writes.length = 0
    for (let i = 0; i < 40; i++) log.info('request', { i, pad: 'p'.repeat(100) })
    expect(writes).toEqual([])
    await new Promise((resolve) => setImmediate(resolve))
    expect(writes.join('').split('\n').filter(Boolean)).toHaveLength(40)
    // Lines near the 4 KiB bound: each write stays within PIPE_BUF and ends at a line's end.
    writes.length = 0
    for (let i = 0; i < 20; i++) log.info('x'.repeat(100), { i, a: 'é'.repeat(250), b: 'y'.repeat(250) })
    out.flush()
    expect(writes.length).toBeGreaterThan(1)
    for (const w of writes) {
      expect(Buffer.byteLength(w)).toBeLessThanOrEqual(4096)
      expect(w.endsWith('\n')).toBe(true)
    }
    expect(
      writes
        .join('')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l).i),
    ).toEqual(Array.from({ length: 20 }, (_, i) => i))
  })
})

describe('ProxyMetrics', () => {
  const sampleOf = async (m: ProxyMetrics, line: RegExp) => line.exec(await m.text())?.[1]

  test('kmsCall counts by provider, op and outcome, and observes the latency', async () => {
    const m = new ProxyMetrics()
    m.kmsCall('aws-kms', 'decrypt', 'ok', 0.012)
    m.kmsCall('aws-kms', 'decrypt', 'ok', 0.02)
    m.kmsCall('aws-kms', 'decrypt', 'ERR_KMS_THROTTLED', 0.5)
    m.kmsCall('pkcs11', 'wrap', 'ok', Number.NaN) // counted, not observed
    m.leaseCache('hit')
    m.leaseCache('hit')
    m.leaseCache('miss')
    m.keystoreError('write')
    m.auditWriteFailure()
    m.keystoreChange(0.2)
    expect(
      await sampleOf(m, /^envelope_proxy_kms_calls_total\{provider="aws-kms",op="decrypt",outcome="ok"\} (\d+)$/m),
    ).toBe('2')
    expect(
      await sampleOf(
        m,
        /^envelope_proxy_kms_calls_total\{provider="aws-kms",op="decrypt",outcome="ERR_KMS_THROTTLED"\} (\d+)$/m,
      ),
    ).toBe('1')
    expect(
      await sampleOf(m, /^envelope_proxy_kms_call_duration_seconds_count\{provider="aws-kms",op="decrypt"\} (\d+)$/m),
    ).toBe('3')
    expect(
      await sampleOf(m, /^envelope_proxy_kms_call_duration_seconds_count\{provider="pkcs11",op="wrap"\} (\d+)$/m),
    ).toBeUndefined()
    expect(await sampleOf(m, /^envelope_proxy_lease_cache_lookups_total\{outcome="hit"\} (\d+)$/m)).toBe('2')
    expect(await sampleOf(m, /^envelope_proxy_keystore_errors_total\{op="write"\} (\d+)$/m)).toBe('1')
    expect(await sampleOf(m, /^envelope_proxy_audit_write_failures_total (\d+)$/m)).toBe('1')
    expect(await sampleOf(m, /^envelope_proxy_keystore_change_visible_seconds_count (\d+)$/m)).toBe('1')
  })

  test('label values are bounded: odd shapes and values past 200 per label become "other"', async () => {
    const m = new ProxyMetrics()
    m.request('/v1/x\n"} 1\nforged', 'GET', 200, 'ok', 0.001)
    m.request('r'.repeat(65), 'GET', 200, 'ok', 0.001)
    for (let i = 0; i < 300; i++) m.kmsCall(`p${i}`, 'wrap', 'ok', 0.001)
    const text = await m.text()
    expect(text).not.toContain('forged')
    expect(text).toMatch(/^envelope_proxy_http_requests_total\{route="other",method="GET",status="200",code="ok"\} 2$/m)
    const providers = new Set(
      [...text.matchAll(/envelope_proxy_kms_calls_total\{provider="([^"]+)"/g)].map((x) => x[1]),
    )
    expect(providers.size).toBe(201) // 200 named, then "other"
    expect(providers.has('other')).toBe(true)
  })
})

test('the start announcement is written even with logLevel off', () => {
  const lines: string[] = []
  const log = createLogger({ level: 'off', write: (l) => lines.push(l) })
  log.error('not written')
  log.announce('envelope key proxy listening on http://127.0.0.1:1', { url: 'http://127.0.0.1:1' })
  expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['envelope key proxy listening on http://127.0.0.1:1'])
})
