// The supervisor of `npm start` (scripts/lib/supervisor.mjs) with real child processes: a service that dies is
// started again after a delay that doubles, a service crashing in a loop is given up on after a bounded number
// of restarts, and stopping ends the service for good.
import { describe, expect, test } from 'vitest'
// @ts-expect-error: a plain ES module of the demo scripts, without types
import { DEFAULT_BACKOFF, restartDelay, supervise } from '../../scripts/lib/supervisor.mjs'

type Child = import('node:child_process').ChildProcess
const node = process.execPath

describe('supervisor', () => {
  test('the delay before a restart doubles with each exit in the window, up to its cap', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => restartDelay(n, DEFAULT_BACKOFF))).toEqual([
      250, 500, 1000, 2000, 4000, 8000, 8000,
    ])
  })

  test('a service crashing in a loop is restarted with growing delays, then given up on', async () => {
    const lines: string[] = []
    let starts = 0
    const gaveUp = new Promise<string>((resolve) =>
      supervise('crasher', node, ['-e', 'process.exit(3)'], {
        options: { stdio: 'ignore' },
        backoff: { initialDelayMs: 5, maxDelayMs: 20, maxRestarts: 4, windowMs: 60_000 },
        onStart: () => starts++,
        onGiveUp: resolve,
        log: (line: string) => lines.push(line),
      }),
    )
    expect(await gaveUp).toBe('crasher exited 5 times within 60 s (last: 3); not restarting it')
    expect(starts).toBe(5) // the first start and four restarts
    expect(lines.slice(0, 4)).toEqual([5, 10, 20, 20].map((ms) => `crasher exited (3); restarting it in ${ms} ms`))
  })

  test('a service killed is started again; stopping ends it and nothing restarts it', async () => {
    const started: Child[] = []
    let next: (child: Child) => void = () => {}
    const s = supervise('sleeper', node, ['-e', 'setInterval(() => {}, 1000)'], {
      options: { stdio: 'ignore' },
      backoff: { initialDelayMs: 1 },
      onStart: (child: Child) => {
        started.push(child)
        next(child)
      },
      log: () => {},
    })
    const restarted = new Promise<Child>((resolve) => {
      next = resolve
    })
    const first = started[0]!
    first.kill('SIGKILL')
    const second = await restarted
    expect(second.pid).not.toBe(first.pid)
    expect(s.child()).toBe(second)
    await s.stop()
    expect(second.signalCode).toBe('SIGTERM')
    expect(s.child()).toBeUndefined()
    expect(started).toHaveLength(2)
  })
})
