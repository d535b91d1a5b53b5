// A secret file of the data folder (root key, admin key, the audit signing key).
import { randomUUID } from 'node:crypto'
import { chmodSync, existsSync, linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs'

/**
 * Reads a secret file, or makes it (0600) with `make()` on first start: written in full under a private name,
 * then linked, so two starts at once agree on one secret and neither reads half of it.
 */
export function secretFile(path: string, make: () => string): string {
  if (!existsSync(path)) {
    const mine = `${path}.${randomUUID()}.new`
    writeFileSync(mine, `${make()}\n`, { mode: 0o600, flag: 'wx' })
    try {
      linkSync(mine, path)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    } finally {
      unlinkSync(mine)
    }
  }
  chmodSync(path, 0o600)
  return readFileSync(path, 'utf8').trim()
}
