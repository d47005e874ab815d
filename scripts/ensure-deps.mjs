// Installs the locked dependencies (and with them the pinned Bun) when they are missing or stale,
// so that `npm start` and `npm test` work on a machine that has only Node.js and npm. With
// `--browser` (npm test), also Debian's Chromium for the debugger's browser test, when it is missing.
import { existsSync, statSync } from 'node:fs';
import { execSync } from 'node:child_process';

const marker = 'node_modules/.package-lock.json';
const stale = !existsSync('node_modules/.bin/bun') || !existsSync(marker) ||
  statSync('package-lock.json').mtimeMs > statSync(marker).mtimeMs;
if (stale) {
  console.error('Installing locked dependencies (npm ci)…');
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' });
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
