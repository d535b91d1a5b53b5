import { describe, test } from 'vitest'
import { cipherPasses } from '../../cipher-passes.ts'
import { suites } from '../../suites.ts'

for (const pass of cipherPasses) {
  for (const s of suites) {
    describe(pass.prefix + s.name, () => {
      for (const t of s.tests) test(t.name, () => pass.run(t.fn))
    })
  }
}
