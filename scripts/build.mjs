// `npm run build`: every package to its dist/ (ESM JavaScript, .d.ts with declaration maps, source maps) with
// `tsc --build tsconfig.build.json`, which builds them in dependency order. Each dist/ is emptied first, so a
// renamed or deleted source never leaves a stale file behind to be published.
import { spawnSync } from 'node:child_process'
import { readdirSync, rmSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
for (const dir of readdirSync(`${root}packages`, { withFileTypes: true })) {
  if (dir.isDirectory()) rmSync(`${root}packages/${dir.name}/dist`, { recursive: true, force: true })
}
const tsc = spawnSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-b', 'tsconfig.build.json'], {
  cwd: root,
  stdio: 'inherit',
})
process.exit(tsc.status ?? 1)
