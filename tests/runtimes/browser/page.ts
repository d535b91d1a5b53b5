// What the browser specs share: where the conformance page lives and the names of the portable tests.
import { suites, testName } from '../../suites.ts'

/** The page served by the root vite.config.ts (Playwright's webServer starts it). */
export const conformancePageUrl = 'http://127.0.0.1:5174/'

/** `suite › test` names, in the order every runner runs them. */
export const conformanceNames: string[] = suites.flatMap((s) => s.tests.map((t) => testName(s, t)))

/** Waits until the page has installed globalThis.__conformance (run in the page). */
export const pageIsReady = () => globalThis.__conformance !== undefined
