// Runs after the browser specs (scripts/test-all.mjs): messages the browsers made must open in Deno.
import { interopDecrypt, interopText } from './interop-kit.ts'

for (const browser of ['chromium', 'firefox']) {
  Deno.test(`interop › a message made in ${browser} opens in Deno`, async () => {
    const message = await Deno.readFile(new URL(`../../../.ci-out/interop/${browser}.bin`, import.meta.url))
    const text = await interopDecrypt(message)
    if (text !== interopText) throw new Error(`opened to different text: ${JSON.stringify(text)}`)
  })
}
