// Lists files under the repo by simple patterns (Node 20 has no fs.globSync). Used by the test scripts.
import { readdirSync } from 'node:fs'
import { join, relative } from 'node:path'

const skip = new Set(['node_modules', '.git', 'dist', '.ci-out', 'test-results', 'playwright-report'])

/** Files under `dir` (relative to `root`) whose path relative to `root` matches `pattern`, sorted. */
export function findFiles(root, dir, pattern) {
  const out = []
  const walk = (abs) => {
    let entries
    try {
      entries = readdirSync(abs, { withFileTypes: true })
    } catch {
      return
    }
    for (const e of entries) {
      if (skip.has(e.name)) continue
      const path = join(abs, e.name)
      if (e.isDirectory()) walk(path)
      else if (pattern.test(relative(root, path))) out.push(relative(root, path))
    }
  }
  walk(join(root, dir))
  return out.sort()
}
