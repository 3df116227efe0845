// Builds the package with the pinned tsc (found on the PATH, as `npm run` and make put it
// there): dist/ holds the ES modules, dist/cjs/ the CommonJS build, each with its own
// declarations and source maps (the sources inlined, since the package ships no src/).
// Run by `npm run build`, by `prepare` (so `npm pack` and `npm publish` from a clean checkout
// ship a fresh build) and by the repository's Makefile.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const client = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(client, 'dist');

// Emptied first, so a module that was removed or renamed does not linger.
fs.rmSync(dist, { recursive: true, force: true });
for (const config of ['tsconfig.json', 'tsconfig.cjs.json']) {
  try {
    execFileSync('tsc', ['-p', path.join(client, config)], { stdio: 'inherit', shell: process.platform === 'win32' });
  } catch (e) {
    if (e.code === 'ENOENT') console.error('tsc not found: run `npm install` (client/) or `make build` (repository root) first');
    process.exit(1);
  }
}
// client/package.json says "type": "module"; this file makes Node and TypeScript read the .js
// and .d.ts files under dist/cjs/ as CommonJS.
fs.writeFileSync(path.join(dist, 'cjs', 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
