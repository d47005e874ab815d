// Installs the locked dependencies (and with them the pinned Bun) when they are missing or stale,
// so that `npm start` and `npm test` work on a machine that has only Node.js and npm.
import { existsSync, statSync } from 'node:fs';
import { execSync } from 'node:child_process';

const marker = 'node_modules/.package-lock.json';
const stale = !existsSync('node_modules/.bin/bun') || !existsSync(marker) ||
  statSync('package-lock.json').mtimeMs > statSync(marker).mtimeMs;
if (stale) {
  console.error('Installing locked dependencies (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
}
