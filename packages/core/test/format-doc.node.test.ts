// docs/format.md §11 shows the same vectors as docs/vectors/v1.json (regenerate both with
// `npx bun scripts/gen-vectors.ts`), and the byte layout it documents matches the constants in the code.
import { readFileSync } from 'node:fs'
import { expect, test } from 'vitest'
import vectors from '../../../docs/vectors/v1.json' with { type: 'json' }
import { MAGIC, MAX_FRAME_SIZE, MIN_FRAME_SIZE, PREAMBLE_BYTES } from '../src/header.ts'
import { KEY_INFO } from '../src/message-key.ts'
import { type VectorFile, vectorsMarkdown } from './vectors/build.ts'

const doc = readFileSync(new URL('../../../docs/format.md', import.meta.url), 'utf8')

test('format.md §11 lists exactly the vectors of docs/vectors/v1.json', () => {
  const begin = doc.indexOf('<!-- vectors:begin -->')
  const end = doc.indexOf('<!-- vectors:end -->')
  expect(begin).toBeGreaterThan(0)
  const block = doc.slice(begin + '<!-- vectors:begin -->'.length, end).trim()
  expect(block).toBe(vectorsMarkdown(vectors as unknown as VectorFile).trim())
})

test('format.md states the constants the code uses', () => {
  expect(doc).toContain('`89 45 4E 56`')
  expect([...MAGIC]).toEqual([0x89, 0x45, 0x4e, 0x56])
  expect(doc).toContain(`${MIN_FRAME_SIZE} ≤ F ≤ ${MAX_FRAME_SIZE.toLocaleString('en-US').replaceAll(',', ' ')}`)
  expect(doc).toContain('Bytes 0–10 are the **preamble**')
  expect(PREAMBLE_BYTES).toBe(11)
  expect(doc).toContain('"envelope v1 message key and commitment"')
  expect(new TextDecoder().decode(KEY_INFO.subarray(0, -2))).toBe('envelope v1 message key and commitment')
})
