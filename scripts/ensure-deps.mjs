// Installs the locked dependencies (and with them the pinned Bun) when they are missing or stale,
// so that `npm start` and `npm test` work on a machine that has only Node.js and npm. With
// `--browser` (npm test), also Debian's Chromium for the debugger's browser test, when it is missing.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';

// Stale means the lockfile's content changed since the last install, not its modification time: a
// fresh clone's lockfile is always newer than an existing node_modules (a copy, or a link to a shared
// one, which `npm ci` would empty and refill for nothing).
const marker = 'node_modules/.installed-lock.sha256';
const lockHash = createHash('sha256').update(readFileSync('package-lock.json')).digest('hex');
const stale = !existsSync('node_modules/.bin/bun') || !existsSync(marker) || readFileSync(marker, 'utf8').trim() !== lockHash;
if (stale) {
  console.error('Installing locked dependencies (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
  writeFileSync(marker, `${lockHash}\n`);
}

/** Where test/e2e/debugger.browser.test.ts looks for the browser (Debian's package `chromium`). */
const CHROMIUM = '/usr/bin/chromium';
if (process.argv.includes('--browser') && !existsSync(CHROMIUM)) {
  const has = (command) => {
    try {
      execSync(`command -v ${command}`, { stdio: 'ignore', shell: '/bin/sh' });
      return true;
    } catch {
      return false;
    }
  };
  if (!has('apt-get')) {
    console.error(`The debugger's browser test needs Chromium at ${CHROMIUM} (Debian's package "chromium"); install it, then run the tests again.`);
    process.exit(1);
  }
  const sudo = process.getuid?.() === 0 ? '' : has('sudo') ? 'sudo ' : '';
  console.error('Installing Chromium for the browser test (apt-get install chromium)…');
  execSync(`${sudo}apt-get update -qq && ${sudo}env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium`, { stdio: 'inherit', shell: '/bin/sh' });
}
