// workerd runner: `workerd test` calls test(); it runs every portable suite and logs one summary line that
// scripts/workerd-tests.mjs parses. Throwing at the end makes workerd exit non-zero when any test failed.
import { suites, testName } from '../../suites.ts'

const resultMarker = 'ENVELOPE_WORKERD_RESULTS '

interface Result {
  name: string
  ok: boolean
  error?: string
}

async function runAll(): Promise<Result[]> {
  const results: Result[] = []
  for (const s of suites) {
    for (const t of s.tests) {
      try {
        await t.fn()
        results.push({ name: testName(s, t), ok: true })
      } catch (err) {
        results.push({ name: testName(s, t), ok: false, error: String((err as Error)?.stack ?? err) })
      }
    }
  }
  return results
}

export default {
  async fetch(): Promise<Response> {
    const results = await runAll()
    return Response.json(results, { status: results.every((r) => r.ok) ? 200 : 500 })
  },
  async test(): Promise<void> {
    const results = await runAll()
    console.log(resultMarker + JSON.stringify({ results }))
    const failed = results.filter((r) => !r.ok).length
    if (failed > 0) throw new Error(`${failed} of ${results.length} tests failed`)
  },
}
