import { describe, test } from 'vitest'
import { suites } from '../../suites.ts'

for (const s of suites) {
  describe(s.name, () => {
    for (const t of s.tests) test(t.name, () => t.fn())
  })
}
