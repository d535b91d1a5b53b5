// Interop between a browser and Node (the Playwright process): a message made in the browser opens in Node, and
// one made in Node opens in the browser. The browser's message is also written to .ci-out/interop/<browser>.bin,
// which tests/runtimes/interop/browser-to-deno.deno.ts opens in Deno afterwards.
import { mkdir, writeFile } from 'node:fs/promises'
import { expect, test } from '@playwright/test'

/** Runs `fn(arg)` in the browser page (Playwright's and puppeteer's page.evaluate both fit). */
export type Evaluate = (fn: (arg: string) => Promise<string>, arg: string) => Promise<string>

const outDir = new URL('../../../.ci-out/interop/', import.meta.url)

// Imported inside the tests so that an unfinished core fails these tests only, not the whole spec file.
const kit = () => import('../interop/interop-kit.ts')

export function defineInteropTests(browserName: 'chromium' | 'firefox', evaluate: () => Evaluate): void {
  test.describe('interop', () => {
    test(`a message made in ${browserName} opens in Node`, async () => {
      const { fromBase64, interopDecrypt, interopText } = await kit()
      const base64 = await evaluate()((text) => globalThis.__conformance!.interop.encrypt(text), interopText)
      const message = fromBase64(base64)
      await mkdir(outDir, { recursive: true })
      await writeFile(new URL(`${browserName}.bin`, outDir), message)
      expect(await interopDecrypt(message)).toBe(interopText)
    })

    test(`a message made in Node opens in ${browserName}`, async () => {
      const { interopEncrypt, interopText, toBase64 } = await kit()
      const base64 = toBase64(await interopEncrypt(interopText))
      expect(await evaluate()((b64) => globalThis.__conformance!.interop.decrypt(b64), base64)).toBe(interopText)
    })
  })
}
