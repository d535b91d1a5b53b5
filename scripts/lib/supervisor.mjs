// Keeps the processes of `npm start` running: a service that exits on its own (a crash, a kill) is started again
// after a delay that doubles with each exit in the last `windowMs` (from `initialDelayMs` up to `maxDelayMs`).
// Restarts are bounded: a service that exits more than `maxRestarts` times within `windowMs` is crashing in a
// loop, and the supervisor gives up on it (`onGiveUp`) instead of spinning.
import { spawn } from 'node:child_process'

export const DEFAULT_BACKOFF = { initialDelayMs: 250, maxDelayMs: 8000, maxRestarts: 5, windowMs: 60_000 }

/** The delay before the restart that follows `exits` exits within the window (1 for the first). */
export const restartDelay = (exits, { initialDelayMs, maxDelayMs }) =>
  Math.min(maxDelayMs, initialDelayMs * 2 ** (exits - 1))

/**
 * Supervises one service: `command args` spawned with `options`. `onStart(child)` runs on every start (the
 * first and each restart), `onGiveUp(reason)` once if it crashes in a loop; `log` gets one line per event.
 * Returns `{ child(), stop() }`: `stop()` ends the service (SIGTERM) and restarts nothing more.
 */
export function supervise(
  name,
  command,
  args,
  { options = {}, backoff = DEFAULT_BACKOFF, onStart = () => {}, onGiveUp = () => {}, log = console.error } = {},
) {
  const settings = { ...DEFAULT_BACKOFF, ...backoff }
  let current
  let stopped = false
  let timer
  const exits = []

  const start = () => {
    timer = undefined
    const child = spawn(command, args, { stdio: 'inherit', ...options })
    current = child
    child.on('error', (err) => log(`${name}: could not start: ${err.message}`))
    child.on('exit', (code, signal) => {
      if (current === child) current = undefined
      if (stopped) return
      const now = Date.now()
      exits.push(now)
      while (exits.length && now - exits[0] > settings.windowMs) exits.shift()
      const how = code ?? signal
      if (exits.length > settings.maxRestarts) {
        stopped = true
        const reason = `${name} exited ${exits.length} times within ${settings.windowMs / 1000} s (last: ${how}); not restarting it`
        log(reason)
        return onGiveUp(reason)
      }
      const delay = restartDelay(exits.length, settings)
      log(`${name} exited (${how}); restarting it in ${delay} ms`)
      timer = setTimeout(start, delay)
    })
    onStart(child)
  }
  start()

  return {
    child: () => current,
    /** Stops the service for good (SIGTERM, SIGKILL after `killAfterMs`); resolves once its process exited. */
    stop({ killAfterMs = 5000 } = {}) {
      stopped = true
      clearTimeout(timer)
      const child = current
      if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
      return new Promise((resolve) => {
        const kill = setTimeout(() => child.kill('SIGKILL'), killAfterMs)
        child.once('exit', () => {
          clearTimeout(kill)
          resolve()
        })
        child.kill('SIGTERM')
      })
    },
  }
}
