import { suites, testName } from '../../suites.ts'

for (const s of suites) {
  for (const t of s.tests) Deno.test(testName(s, t), async () => await t.fn())
}
