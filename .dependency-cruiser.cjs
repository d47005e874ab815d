/**
 * The dependency rule of DESIGN.md ("Layout and the dependency rule"), checked in CI by
 * `npm run depcheck`. Reading the environment and impure calls in machines are checked by
 * scripts/check-env-reads.mjs, because dependency-cruiser only sees imports.
 *
 * dependency-cruiser needs a TypeScript parser: `typescript` below 7 or `@swc/core`. TypeScript 7 has
 * no JavaScript compiler API, and without a parser every .ts file would be skipped and the check
 * would pass on nothing, so this config refuses to run instead. dependency-cruiser 18 also needs
 * Node.js 22 or later, so `npm run depcheck` runs it with the project's pinned Bun.
 */
function typeScriptParser() {
  try {
    require.resolve('@swc/core');
    return 'swc';
  } catch {}
  try {
    if (Number(require('typescript/package.json').version.split('.')[0]) < 7) return 'tsc';
  } catch {}
  throw new Error(
    'dependency-cruiser cannot parse TypeScript here: it needs @swc/core or typescript < 7 ' +
      '(typescript 7 has no JavaScript API). Add @swc/core to devDependencies.',
  );
}

const parser = typeScriptParser();

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'machines-are-pure',
      comment: 'machines/ imports xstate and machines/** only: no src/, no other package, no built-in module.',
      severity: 'error',
      from: { path: '^machines/' },
      to: { pathNot: '^(machines/|node_modules/xstate/)' },
    },
    {
      name: 'kernel-imports-nothing-from-src',
      comment: 'src/kernel is the innermost layer of src/: it imports nothing from src/ outside itself.',
      severity: 'error',
      from: { path: '^src/kernel/' },
      to: { path: '^src/', pathNot: '^src/kernel/' },
    },
    {
      name: 'actors-import-only-actors-kernel-machines',
      comment: 'src/actors (the runtime and its ports) imports only src/actors, src/kernel and machines/.',
      severity: 'error',
      from: { path: '^src/actors/' },
      to: { dependencyTypes: ['local'], pathNot: '^(src/actors/|src/kernel/|machines/)' },
    },
    {
      name: 'no-cross-feature-imports',
      comment: 'A feature never imports another feature; features react to each other through events. Files directly in src/features/ (the Feature contract, shared helpers) are not a feature.',
      severity: 'error',
      from: { path: '^src/features/([^/]+)/' },
      to: { path: '^src/features/[^/]+/', pathNot: '^src/features/$1/' },
    },
    {
      name: 'store-implements-the-ports-only',
      comment: 'src/store (the Postgres and SQLite implementations of the ports) imports only src/store, the ports and kernel of src/actors and src/kernel, and its migrations.',
      severity: 'error',
      from: { path: '^src/store/' },
      to: { dependencyTypes: ['local'], pathNot: '^(src/store/|src/actors/|src/kernel/|migrations/)' },
    },
    {
      name: 'messaging-below-features-and-http',
      comment: 'src/messaging (outbox, relay, consumers, dead letters) knows the runtime, kernel and observability, never a feature, the HTTP layer, a store implementation or an adapter.',
      severity: 'error',
      from: { path: '^src/messaging/' },
      to: { path: '^src/(features|http|store|adapters|cli|config)', pathNot: '^src/messaging/' },
    },
    {
      name: 'http-below-features',
      comment: 'src/http (app factory, error mapping, request context, macros) serves features without knowing any.',
      severity: 'error',
      from: { path: '^src/http/' },
      to: { path: '^src/(features|messaging|store|adapters|cli)/' },
    },
    {
      name: 'adapters-stand-alone',
      comment: 'src/adapters (ports, HTTP clients, simulators) depend on kernel only; the gateway, which serves the simulators over HTTP, also runs them with the one HTTP server runner.',
      severity: 'error',
      from: { path: '^src/adapters/' },
      to: { path: '^src/', pathNot: '^src/(adapters|kernel)/|^src/http/server\\.ts$' },
    },
    {
      name: 'observability-below-features',
      comment: 'src/observability (logs, metrics, traces) observes the runtime and the adapters through their types, and knows no feature, HTTP route or store.',
      severity: 'error',
      from: { path: '^src/observability/' },
      to: { path: '^src/(features|http|messaging|store|cli)/' },
    },
    {
      name: 'src-not-to-test',
      comment: 'Production code never imports test code.',
      severity: 'error',
      from: { path: '^(src|machines)/' },
      to: { path: '^test/' },
    },
    {
      name: 'nothing-imports-main',
      comment: 'src/main.ts is the composition root: it is run, never imported by production code (the test harness starts the whole service through it).',
      severity: 'error',
      from: { pathNot: '^test/' },
      to: { path: '^src/main\\.ts$' },
    },
    {
      name: 'no-circular',
      comment: 'No dependency cycles (type-only imports included).',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to nothing: a typo, or a package missing from package.json.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-non-package-json',
      comment: 'A package that is not declared in package.json (it only works by accident of hoisting).',
      severity: 'error',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-dev-dep',
      comment: 'Production code imports runtime dependencies only; devDependencies are for tests and tools.',
      severity: 'error',
      from: { path: '^(src|machines)/' },
      to: { dependencyTypes: ['npm-dev'], pathNot: '^node_modules/@types/' },
    },
  ],
  options: {
    parser,
    // Count type-only imports too: swc keeps them anyway, tsc needs to be told.
    tsPreCompilationDeps: parser === 'tsc',
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6', 'cjs', 'tsd'],
    doNotFollow: { path: 'node_modules' },
    // `bun:*` modules are recognised as built-ins already; the bare `bun` module is one too.
    builtInModules: { add: ['bun'] },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'bun', 'default', 'types'],
      extensions: ['.ts', '.tsx', '.mts', '.cts', '.js', '.mjs', '.cjs', '.json', '.d.ts'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
  },
};
