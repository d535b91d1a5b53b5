// The workspace packages export their TypeScript sources under this condition (and dist/ otherwise), so
// everything in this repository (tests, benchmarks, the demo) runs from source and a stale dist/ can never make a
// test pass. Vite/Vitest, rolldown, TypeScript (tsconfig.json customConditions), Deno ($DENO_CONDITIONS) and Bun
// (--conditions) are each told about it; published packages are used through their dist/.
export const SOURCE_CONDITION = '@envelope/source'

/** rolldown `resolve` options: the source condition first, then rolldown's defaults for the platform. */
export const sourceResolve = (platform) => ({
  conditionNames: [SOURCE_CONDITION, 'import', ...(platform === 'neutral' ? [] : [platform]), 'default'],
})
