// The portable suites, one line each; every runner (Node, Deno, Bun, workerd, Chromium, Firefox) runs them all.
// Add a suite with one line: `export { default as <uniqueName> } from '<path>.ts'` (the file's default export is a
// Suite from ./harness.ts). Suites run in alphabetical order of <uniqueName>.

export { default as coreFrameCipher } from '../packages/core/test/conformance/frame-cipher.ts'
export { default as coreReaderAgreement } from '../packages/core/test/conformance/reader-agreement.ts'
export { default as coreRekey } from '../packages/core/test/conformance/rekey.ts'
export { default as coreReuseDataKey } from '../packages/core/test/conformance/reuse-data-key.ts'
export { default as coreRoundTrip } from '../packages/core/test/conformance/round-trip.ts'
export { default as coreTampering } from '../packages/core/test/conformance/tampering.ts'
export { default as coreText } from '../packages/core/test/conformance/text.ts'
export { default as coreVectors } from '../packages/core/test/conformance/vectors.ts'
export { default as idbCacheFallback } from '../packages/idb-cache/test/conformance/fallback.ts'
export { default as idbCacheMemory } from '../packages/idb-cache/test/conformance/memory.ts'
export { default as idbCacheRuntimeStorage } from '../packages/idb-cache/test/conformance/runtime-storage.ts'
export { default as idbCacheWithDekCache } from '../packages/idb-cache/test/conformance/with-dek-cache.ts'
export { default as smoke } from './smoke.suite.ts'
