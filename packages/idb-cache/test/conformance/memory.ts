// The DekCache acceptance suite against the memory backend, in every runtime.
import { createMemoryDekCache } from '../../src/index.ts'
import { dekCacheSuite } from './dek-cache-suite.ts'

export default dekCacheSuite('idb-cache: memory backend', async (options) => createMemoryDekCache(options))
