// Builds the single executable: the whole service (migrations and package.json inlined by the bundler)
// compiled by the pinned Bun into dist/tickets, then checks that the result runs.
// Usage: node scripts/build-binary.mjs [--outfile PATH] [--no-bytecode]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
await import('./ensure-deps.mjs');

const args = process.argv.slice(2);
const outfileAt = args.indexOf('--outfile');
const outfile = resolve(outfileAt >= 0 ? args[outfileAt + 1] : 'dist/tickets');
const bytecode = !args.includes('--no-bytecode');

const flags = [
  'build',
  'src/main.ts',
  '--compile',
  '--minify',
  // Bytecode adds about 6 MB and spares JavaScriptCore parsing the bundle at every start (bench/RESULTS.md).
  ...(bytecode ? ['--bytecode'] : []),
  // Embedded in the executable, so stack traces of a minified build still name the source files.
  '--sourcemap=linked',
  // Configuration comes from the environment only (src/config.ts): a stray .env or bunfig.toml in the
  // working directory must not change what the binary does.
  '--no-compile-autoload-dotenv',
  '--no-compile-autoload-bunfig',
  '--outfile',
  outfile,
];
mkdirSync(dirname(outfile), { recursive: true });
console.log(`node_modules/.bin/bun ${flags.join(' ')}`);
execFileSync('node_modules/.bin/bun', flags, { stdio: 'inherit' });

const expected = JSON.parse(readFileSync('package.json', 'utf8')).version;
const printed = execFileSync(outfile, ['--version'], { encoding: 'utf8', cwd: dirname(outfile) }).trim();
if (printed !== expected) {
  console.error(`${outfile} --version printed "${printed}", expected "${expected}"`);
  process.exit(1);
}
const megabytes = (statSync(outfile).size / 1024 / 1024).toFixed(1);
console.log(`built ${outfile}: ${megabytes} MiB, version ${printed}${bytecode ? '' : ' (no bytecode)'}`);
