import { register } from 'node:module'
import { defineConfig } from '@playwright/test'

import { chromiumArgs, chromiumPath } from './scripts/lib/chromium.mjs'

// Specs import workspace packages in Node too: resolve them to their sources, never to a dist/.
register('./scripts/lib/source-condition-hook.mjs', import.meta.url)

/** Servers Playwright starts before any spec (and reuses locally). Packages add theirs here. */
const webServers = [
  {
    // The portable conformance page (tests/runtimes/browser), served by the root vite.config.ts.
    command: 'node node_modules/vite/bin/vite.js --config vite.config.ts',
    url: 'http://127.0.0.1:5174/',
    reuseExistingServer: !process.env.CI,
    timeout: 60_000,
  },
  {
    // The demo with its key proxy and identity service (npm start), built and previewed, on a fresh data folder
    // and ports of its own, so a running `npm start` does not interfere.
    command: 'node scripts/start.mjs --preview --fresh --data .ci-out/demo-data --proxy-port 7781 --identity-port 7782',
    url: 'http://127.0.0.1:4173/',
    reuseExistingServer: !process.env.CI,
    timeout: 90_000,
  },
]

const ignored = ['**/node_modules/**']
// Firefox runs only through puppeteer-core over WebDriver BiDi (Playwright's Firefox can't drive firefox-esr):
// specs named *.firefox.spec.ts launch it themselves and go to the `firefox` project, which launches nothing.
const firefoxSpecs = '**/*.firefox.spec.ts'

export default defineConfig({
  testDir: '.',
  testMatch: '**/*.spec.ts',
  testIgnore: ignored,
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 30_000,
  reporter: [['list'], ['json', { outputFile: '.ci-out/playwright.json' }]],
  outputDir: 'test-results',
  webServer: webServers,
  projects: [
    {
      name: 'chromium',
      testIgnore: [...ignored, firefoxSpecs],
      use: { browserName: 'chromium', launchOptions: { executablePath: chromiumPath, args: chromiumArgs } },
    },
    { name: 'firefox', testMatch: firefoxSpecs, testIgnore: ignored },
  ],
})
