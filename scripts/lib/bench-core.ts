// The core as `npm run bench` loads it: the package's API plus which frame cipher this runtime uses (internal).
export { frameCipher } from '../../packages/core/src/frame-cipher.ts'
export * from '../../packages/core/src/index.ts'
