// Debian's Chromium (tools cannot download their own browsers here) and the flags it needs on this machine
// (shared/toolchain.md); used by playwright.config.ts and the browser benchmark.
export const chromiumPath = '/usr/bin/chromium'
export const chromiumArgs = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]
