// The part of the dependency rule that dependency-cruiser cannot see, because it is not an import:
// - only src/config.ts reads the environment;
// - machines/ are pure: no clock, no randomness, no I/O.
// Usage: node scripts/check-env-reads.mjs [root]; exits 1 listing every offending line.
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

const root = process.argv[2] ?? process.cwd();
const SOURCE = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/;

const ENV_READS = [
  [/\bprocess\s*\.\s*env\b/, 'process.env'],
  [/\bprocess\s*\[\s*['"`]env['"`]\s*\]/, 'process["env"]'],
  [/\{[^}]*\benv\b[^}]*\}\s*=\s*(globalThis\s*\.\s*)?process\b/, 'env destructured from process'],
  [/\bimport\s*\{[^}]*\benv\b[^}]*\}\s*from\s*['"](node:)?process['"]/, 'env imported from node:process'],
  [/\bBun\s*\.\s*env\b/, 'Bun.env'],
  [/\bimport\s*\{[^}]*\benv\b[^}]*\}\s*from\s*['"]bun['"]/, 'env imported from bun'],
  [/\bimport\s*\.\s*meta\s*\.\s*env\b/, 'import.meta.env'],
];

const IMPURE = [
  [/\bDate\s*\.\s*now\b/, 'Date.now'],
  [/\bnew\s+Date\s*\(\s*\)/, 'new Date()'],
  [/\bMath\s*\.\s*random\b/, 'Math.random'],
  [/\brandomUUID\w*/, 'randomUUID'],
  [/(?<![.\w])(?<!new\s+)Date\s*\(/, 'Date() (the current time as text)'],
  [/\bset(Timeout|Interval|Immediate)\s*\(/, 'timers'],
  [/\bBun\s*\.\s*(sleep|file|write|spawn|randomUUIDv7|nanoseconds)\b/, 'Bun I/O, time or randomness'],
  [/\bgetRandomValues\b/, 'getRandomValues'],
  [/\bperformance\s*\.\s*now\b/, 'performance.now'],
  [/\bfetch\s*\(/, 'fetch('],
];

function* sourceFiles(dir) {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* sourceFiles(path);
    else if (SOURCE.test(entry.name)) yield path;
  }
}

/** Blanks out block comments and whole-line `//` comments, keeping line numbers, so prose may name them. */
function withoutComments(text) {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' '))
    .replace(/^[ \t]*\/\/.*$/gm, '');
}

function offences(file, patterns) {
  const found = [];
  withoutComments(readFileSync(file, 'utf8')).split('\n').forEach((line, i) => {
    for (const [re, what] of patterns) {
      if (re.test(line)) found.push(`${relative(root, file).split(sep).join('/')}:${i + 1}: ${what}: ${line.trim()}`);
    }
  });
  return found;
}

const envOffences = [];
for (const dir of ['src', 'machines']) {
  for (const file of sourceFiles(join(root, dir))) {
    if (relative(root, file).split(sep).join('/') === 'src/config.ts') continue;
    envOffences.push(...offences(file, ENV_READS));
  }
}
const impureOffences = [];
for (const file of sourceFiles(join(root, 'machines'))) impureOffences.push(...offences(file, IMPURE));

if (envOffences.length > 0) {
  console.error('Only src/config.ts may read the environment; pass the Config down instead:');
  for (const o of envOffences) console.error(`  ${o}`);
}
if (impureOffences.length > 0) {
  console.error('Machines are pure: take time and ids from the event, do I/O in effect handlers:');
  for (const o of impureOffences) console.error(`  ${o}`);
}
if (envOffences.length + impureOffences.length > 0) process.exit(1);
console.log('check-env-reads: no environment reads outside src/config.ts, no impure calls in machines/.');
