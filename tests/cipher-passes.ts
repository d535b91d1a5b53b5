// The core has two frame-cipher paths where node:crypto exists (Node, Bun): the runners of those runtimes run
// every portable suite once per path. The default path keeps the plain test names; the WebCrypto pass is prefixed.
import { defaultFrameCipher, useFrameCipherForTests, webCryptoFrameCipher } from '../packages/core/src/frame-cipher.ts'

export interface CipherPass {
  /** Put before each test name ('' for the default path). */
  readonly prefix: string
  run(fn: () => Promise<void> | void): Promise<void>
}

const webCryptoPass: CipherPass = {
  prefix: '[webcrypto] ',
  async run(fn) {
    const previous = useFrameCipherForTests(webCryptoFrameCipher)
    try {
      await fn()
    } finally {
      useFrameCipherForTests(previous)
    }
  },
}

export const cipherPasses: CipherPass[] = [
  { prefix: '', run: async (fn) => fn() },
  ...(defaultFrameCipher === webCryptoFrameCipher ? [] : [webCryptoPass]),
]
