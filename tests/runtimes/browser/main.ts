// Browser runner: exposes the portable suites to Playwright / puppeteer as globalThis.__conformance.
import type { TestCase } from '../../harness.ts'
import { suites, testName } from '../../suites.ts'

export interface RunResult {
  ok: boolean
  error?: string
}

export interface ConformancePage {
  list(): string[]
  run(name: string): Promise<RunResult>
  interop: { encrypt(text: string): Promise<string>; decrypt(base64: string): Promise<string> }
}

declare global {
  var __conformance: ConformancePage | undefined
}

const tests = new Map<string, TestCase['fn']>()
for (const s of suites) for (const t of s.tests) tests.set(testName(s, t), t.fn)

// Loaded lazily so that a broken or unfinished core fails only the interop tests, not the whole page.
const interop = () => import('../interop/interop-kit.ts')

globalThis.__conformance = {
  list: () => [...tests.keys()],
  async run(name) {
    const fn = tests.get(name)
    if (!fn) return { ok: false, error: `no such test: ${name}` }
    try {
      await fn()
      return { ok: true }
    } catch (err) {
      return { ok: false, error: String((err as Error)?.stack ?? err) }
    }
  },
  interop: {
    async encrypt(text) {
      const kit = await interop()
      return kit.toBase64(await kit.interopEncrypt(text))
    },
    async decrypt(base64) {
      const kit = await interop()
      return kit.interopDecrypt(kit.fromBase64(base64))
    },
  },
}
document.getElementById('status')!.textContent = `ready: ${tests.size} tests`
