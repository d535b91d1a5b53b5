import type { Suite } from './harness.ts'
import * as listed from './suite-list.ts'

/** Every portable suite. To add one, add a line to ./suite-list.ts. */
export const suites: Suite[] = Object.values(listed)

/** The name every runner and report uses for one test: `suite › test`. */
export function testName(suite: Suite, test: Suite['tests'][number]): string {
  return `${suite.name} › ${test.name}`
}
