// A Node module-resolution hook that adds the `@envelope/source` export condition, for Node processes that run
// TypeScript through their own loader (Playwright): workspace packages then resolve to their sources, as they do
// in Vitest, Vite, rolldown, Deno and Bun (see source-condition.mjs). Registered by playwright.config.ts.
import { SOURCE_CONDITION } from './source-condition.mjs'

export async function resolve(specifier, context, nextResolve) {
  const conditions = context.conditions.includes(SOURCE_CONDITION)
    ? context.conditions
    : [SOURCE_CONDITION, ...context.conditions]
  return nextResolve(specifier, { ...context, conditions })
}
