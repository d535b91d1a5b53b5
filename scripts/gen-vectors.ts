// Regenerates docs/vectors/v1.json and the vector blocks of docs/format.md §11.
// Run: npx bun scripts/gen-vectors.ts   (the vectors test fails when either file is out of date)
import { readFileSync, writeFileSync } from 'node:fs'
import { buildVectors, vectorsMarkdown } from '../packages/core/test/vectors/build.ts'

const file = await buildVectors()
writeFileSync('docs/vectors/v1.json', `${JSON.stringify(file, null, 2)}\n`)
const doc = readFileSync('docs/format.md', 'utf8')
const begin = '<!-- vectors:begin -->'
const end = '<!-- vectors:end -->'
const updated = `${doc.slice(0, doc.indexOf(begin) + begin.length)}\n${vectorsMarkdown(file)}\n${doc.slice(doc.indexOf(end))}`
writeFileSync('docs/format.md', updated)
console.log(`wrote ${file.positive.length} positive and ${file.negative.length} negative vectors`)
