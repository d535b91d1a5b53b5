// The portable suites, one line each; every runner (Node, Deno, Bun, workerd, Chromium, Firefox) runs them all.
// Add a suite with one line: `export { default as <uniqueName> } from '<path>.ts'` (the file's default export is a
// Suite from ./harness.ts). Suites run in alphabetical order of <uniqueName>.

export { default as coreRekey } from '../packages/core/test/conformance/rekey.ts'
export { default as coreRoundTrip } from '../packages/core/test/conformance/round-trip.ts'
export { default as coreTampering } from '../packages/core/test/conformance/tampering.ts'
export { default as coreVectors } from '../packages/core/test/conformance/vectors.ts'
export { default as smoke } from './smoke.suite.ts'
