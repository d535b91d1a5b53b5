import { cipherPasses } from '../../cipher-passes.ts'
import { suites, testName } from '../../suites.ts'

for (const pass of cipherPasses) {
  for (const s of suites) {
    for (const t of s.tests) Deno.test(pass.prefix + testName(s, t), () => pass.run(t.fn))
  }
}
