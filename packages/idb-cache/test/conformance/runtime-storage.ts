// The DekCache acceptance suite against openDekCache with the runtime's own storage: memory + real IndexedDB in
// Chromium and Firefox, memory alone (after a captured warning) in Node, Deno, Bun and workerd.
import { openDekCache } from '../../src/index.ts'
import { dekCacheSuite } from './dek-cache-suite.ts'
import { captureWarnings, uniqueName } from './kit.ts'

export default dekCacheSuite('idb-cache: openDekCache with the runtime storage', async (options) => {
  const { result } = await captureWarnings(() => openDekCache({ ...options, name: uniqueName('runtime') }))
  return result
})
