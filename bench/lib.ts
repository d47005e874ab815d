/**
 * Shared pieces of the HTTP benchmarks (bookTickets, flashSale, handlers): the service as a child
 * process, a closed-loop load generator with latency percentiles, CPU accounting per process group,
 * pgbench, and the machine description that every section of RESULTS.md carries.
 *
 * Everything talks to 127.0.0.1 only. Scratch databases, Redis key prefixes, temp directories and
 * child processes are registered with a `Cleanup` and removed even when a run fails.
 */
import { spawn, type Subprocess } from 'bun';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import { testRedisUrl } from '../test/support/redis';
import { startServiceProcess } from '../test/support/serviceProcess';

export const ROOT = join(import.meta.dir, '..');

// ---------------------------------------------------------------------------------------------- flags

/**
 * `--name value` / `--name=value` flags with numeric or string defaults, and `--name` / `--no-name` for
 * boolean ones; unknown flags are refused so that a typo does not silently run the default.
 */
export function parseFlags<T extends Record<string, number | string | boolean>>(defaults: T, argv = Bun.argv.slice(2)): T {
  const out: Record<string, number | string | boolean> = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([\w-]+)(?:=(.*))?$/.exec(arg);
    if (!match) throw new Error(`unexpected argument ${arg}; flags: ${Object.keys(defaults).map((k) => `--${k}`).join(' ')}`);
    const name = match[1]!;
    if (name.startsWith('no-') && typeof defaults[name.slice(3)] === 'boolean' && match[2] === undefined) {
      out[name.slice(3)] = false;
      continue;
    }
    if (!(name in defaults)) throw new Error(`unknown flag --${name}; flags: ${Object.keys(defaults).map((k) => `--${k}`).join(' ')}`);
    const fallback = defaults[name];
    if (typeof fallback === 'boolean') {
      out[name] = match[2] === undefined ? true : match[2] !== 'false';
      continue;
    }
    const raw = match[2] ?? argv[++i];
    if (raw === undefined) throw new Error(`--${name} needs a value`);
    if (typeof fallback === 'number') {
      const value = Number(raw);
      if (!Number.isFinite(value)) throw new Error(`--${name} must be a number, got ${raw}`);
      out[name] = value;
    } else {
      out[name] = raw;
    }
  }
  return out as T;
}

// -------------------------------------------------------------------------------------------- cleanup

/** Cleanup steps run in reverse order of registration, each even if an earlier one failed. */
export class Cleanup {
  private readonly steps: { name: string; run: () => Promise<unknown> | unknown }[] = [];

  add(name: string, run: () => Promise<unknown> | unknown): void {
    this.steps.push({ name, run });
  }

  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step.run();
      } catch (error) {
        console.error(`cleanup "${step.name}" failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }
}

/**
 * Runs `main` with a Cleanup; a SIGINT/SIGTERM also cleans up. A hard deadline (`limitMs`) aborts a run
 * that hangs, so every benchmark ends by itself. Exits with `main`'s code (1 on an exception).
 */
export async function runBench(limitMs: number, main: (cleanup: Cleanup) => Promise<number>): Promise<never> {
  const cleanup = new Cleanup();
  let finishing = false;
  const finish = async (code: number, why?: string) => {
    if (finishing) return;
    finishing = true;
    if (why) console.error(why);
    await cleanup.run();
    process.exit(code);
  };
  process.once('SIGINT', () => void finish(130, 'interrupted: cleaning up'));
  process.once('SIGTERM', () => void finish(143, 'terminated: cleaning up'));
  const deadline = setTimeout(() => void finish(3, `the benchmark did not finish within ${limitMs / 1000} s: aborted`), limitMs);
  try {
    const code = await main(cleanup);
    clearTimeout(deadline);
    await finish(code);
  } catch (error) {
    clearTimeout(deadline);
    await finish(1, error instanceof Error ? (error.stack ?? error.message) : String(error));
  }
  throw new Error('unreachable');
}

// ------------------------------------------------------------------------------------ service process

export interface ServiceChild {
  readonly url: string;
  readonly pid: number;
  readonly proc: Subprocess;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** SIGTERM (graceful stop), SIGKILL after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number>;
}

export interface ServiceChildOptions {
  /** The service's own configuration (POSTGRES_URL, REDIS_ADDR, REDIS_KEY_PREFIX, DATA_DIR, …). */
  env: Record<string, string>;
  /** Write a Bun CPU profile (`--cpu-prof`, plus `--cpu-prof-md`) into this directory on exit. */
  cpuProfDir?: string;
  startTimeoutMs?: number;
}

/**
 * `bun src/main.ts serve` through the tests' process harness, with LOG_LEVEL=warn (unless `env` says
 * otherwise) and an optional CPU profile; stop() sends SIGTERM, then SIGKILL after `graceMs`.
 */
export async function startServiceChild(options: ServiceChildOptions): Promise<ServiceChild> {
  const profile = options.cpuProfDir ? ['--cpu-prof', '--cpu-prof-md', `--cpu-prof-dir=${options.cpuProfDir}`] : [];
  const service = await startServiceProcess({ LOG_LEVEL: 'warn', ...options.env }, { bunArgs: profile, timeoutMs: options.startTimeoutMs ?? 30_000 });
  const { proc } = service;
  return {
    url: service.url,
    pid: proc.pid,
    proc,
    output: service.output,
    async stop(graceMs = 15_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return proc.exitCode ?? 1;
      const killer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await service.stop('SIGTERM');
      clearTimeout(killer);
      return code;
    },
  };
}

/** Signs nothing the benchmarks use; distributed mode requires one (every instance verifies the others' tokens). */
export const BENCH_JWT_SECRET = 'bench-only-jwt-secret-0123456789abcdef';

/** The configuration of one distributed-mode instance on a database and a Redis key prefix. */
export function distributedEnv(postgresUrl: string, prefix: string, dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { POSTGRES_URL: postgresUrl, REDIS_ADDR: testRedisUrl(), REDIS_KEY_PREFIX: prefix, DATA_DIR: dataDir, JWT_SECRET: BENCH_JWT_SECRET, ...extra };
}

// --------------------------------------------------------------------------------------------- client

export interface JsonReply {
  status: number;
  json: any;
}

/** One JSON request over the shared keep-alive connection pool of Bun's fetch. */
export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<JsonReply> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: response.status, json };
}

/** Creates `count` shows of `seats` seats each, `parallel` at a time; resolves to their ids. */
export async function createShows(urls: readonly string[], count: number, seats: number, parallel = 16): Promise<string[]> {
  const ids: string[] = new Array(count);
  const startTime = new Date(Date.now() + 365 * 24 * 3_600_000).toISOString();
  const tag = crypto.randomUUID().slice(0, 8);
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const reply = await postJson(`${urls[i % urls.length]}/api/shows`, {
        dead_nation_id: `bench-${tag}-${i}`,
        number_of_tickets: seats,
        start_time: startTime,
        title: `Bench show ${i}`,
        venue: 'Bench Hall',
      });
      if (reply.status !== 201) throw new Error(`POST /api/shows answered ${reply.status}: ${JSON.stringify(reply.json)}`);
      ids[i] = reply.json.show_id;
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return ids;
}

// ------------------------------------------------------------------------------------------------ load

/** Latencies and status counts of one measured window. */
export class Recorder {
  readonly latenciesMs: number[] = [];
  readonly statuses = new Map<string, number>();

  record(status: number | string, latencyMs: number): void {
    this.latenciesMs.push(latencyMs);
    const key = String(status);
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
  }

  get count(): number {
    return this.latenciesMs.length;
  }

  percentiles(): { p50: number; p95: number; p99: number; max: number } {
    const sorted = Float64Array.from(this.latenciesMs).sort();
    const at = (p: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!);
    return { p50: at(50), p95: at(95), p99: at(99), max: sorted.length === 0 ? NaN : sorted[sorted.length - 1]! };
  }

  statusLine(): string {
    return [...this.statuses.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([s, n]) => `${s}: ${n}`).join(', ');
  }
}

export interface LoadOptions {
  concurrency: number;
  warmupMs: number;
  durationMs: number;
  /** One request; resolves to its status (a thrown error is counted as `error`). */
  request: (worker: number) => Promise<number | string>;
  /** Called once when the measured window starts (after the warm-up). */
  onMeasureStart?: () => void;
}

/**
 * A closed loop: `concurrency` workers each send the next request as soon as the previous one is
 * answered. Requests that start during the warm-up are not recorded; the measured window is
 * `durationMs` long, and requests in flight at its end are awaited but not counted.
 */
export async function closedLoop(options: LoadOptions): Promise<{ recorder: Recorder; elapsedMs: number; errors: string[] }> {
  const recorder = new Recorder();
  const errors: string[] = [];
  const start = performance.now();
  const measureFrom = start + options.warmupMs;
  const end = measureFrom + options.durationMs;
  let measuring = false;
  const worker = async (w: number) => {
    for (;;) {
      const sent = performance.now();
      if (sent >= end) return;
      if (!measuring && sent >= measureFrom) {
        measuring = true;
        options.onMeasureStart?.();
      }
      let status: number | string;
      try {
        status = await options.request(w);
      } catch (error) {
        status = 'error';
        if (errors.length < 5) errors.push(error instanceof Error ? error.message : String(error));
      }
      const done = performance.now();
      if (sent >= measureFrom && done <= end) recorder.record(status, done - sent);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, (_, w) => worker(w)));
  return { recorder, elapsedMs: Math.min(options.durationMs, performance.now() - measureFrom), errors };
}

// ------------------------------------------------------------------------------------------------- CPU

const TICKS_PER_SECOND = 100;

function ticksOf(pid: number): { comm: string; ticks: number } | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const fields = stat.slice(close + 2).split(' ');
    // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return { comm, ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return undefined;
  }
}

/** CPU ticks per process at one instant, by group; plus the whole machine's busy seconds. */
export interface CpuSnapshot {
  processes: Map<number, { group: string; ticks: number }>;
  machine: number;
}

/**
 * CPU used so far by: the given service pids, every `postgres`, `redis-server` and `pgbench` process,
 * and this process (the load generator).
 */
export function cpuSnapshot(servicePids: readonly number[]): CpuSnapshot {
  const processes = new Map<number, { group: string; ticks: number }>();
  const services = new Set(servicePids);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const t = ticksOf(pid);
    if (!t) continue;
    const group = services.has(pid)
      ? 'service'
      : pid === process.pid
        ? 'load generator'
        : t.comm === 'postgres'
          ? 'postgres'
          : t.comm === 'redis-server'
            ? 'redis'
            : t.comm === 'pgbench'
              ? 'pgbench'
              : undefined;
    if (group) processes.set(pid, { group, ticks: t.ticks });
  }
  return { processes, machine: machineBusySeconds() };
}


/** Busy CPU seconds of the whole machine since boot (/proc/stat: everything but idle and iowait). */
function machineBusySeconds(): number {
  const [, user, nice, system, , , irq, softirq, steal] = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / TICKS_PER_SECOND;
}

/**
 * Waits (at most `maxWaitMs`) until the machine has been quiet for 2 s: less than `maxBusyPercent` of
 * one core busy, so that another job on the machine (a test suite) does not share the cores with the
 * measurement. Resolves to a line saying how busy it was when the run started.
 */
export async function waitForQuietMachine(maxWaitMs = 60_000, maxBusyPercent = 25): Promise<string> {
  const started = performance.now();
  for (;;) {
    const before = machineBusySeconds();
    await Bun.sleep(2_000);
    const busy = ((machineBusySeconds() - before) / 2) * 100;
    if (busy < maxBusyPercent) return `machine quiet before the run: ${Math.round(busy)} % of one core busy`;
    if (performance.now() - started > maxWaitMs) {
      return `WARNING: the machine stayed busy (${Math.round(busy)} % of one core over 2 s, other jobs) for ${Math.round(maxWaitMs / 1000)} s; measured anyway`;
    }
  }
}

/**
 * CPU used between two snapshots, as a share of one core (2 cores = 200 %), per process group, then what
 * the machine as a whole used (/proc/stat) and the rest ("other"). `postgres` counts every backend of
 * the server, whatever the database; backends that exited in between are missed (their time leaves
 * with them, into "other").
 */
export function cpuShares(before: CpuSnapshot, after: CpuSnapshot, elapsedMs: number): string {
  const seconds = elapsedMs / 1_000;
  const groups = new Map<string, number>();
  // Per process, so that a process that ended in between (another job's Postgres backend) subtracts nothing.
  for (const [pid, { group, ticks }] of after.processes) {
    const used = (ticks - (before.processes.get(pid)?.ticks ?? 0)) / TICKS_PER_SECOND;
    groups.set(group, (groups.get(group) ?? 0) + used);
  }
  const share = (cpuSeconds: number) => (cpuSeconds / seconds) * 100;
  const shown = [...groups].filter(([, used]) => share(used) >= 0.5);
  const accounted = shown.reduce((sum, [, used]) => sum + share(used), 0);
  const machine = share(after.machine - before.machine);
  return [
    ...shown.map(([group, used]) => `${group} ${Math.round(share(used))} %`),
    `other (kernel, exited processes, other jobs) ${Math.max(0, Math.round(machine - accounted))} %`,
    `machine ${Math.round(machine)} %`,
  ].join(', ');
}

/**
 * CPU shares over [fromMs, toMs] after now, sampled while something else runs (processes that exit at
 * the end, like pgbench and its backends, take their CPU time with them, so the window must close first).
 */
export function cpuWindow(fromMs: number, toMs: number, servicePids: () => readonly number[] = () => []): Promise<string> {
  return new Promise((resolve) => {
    let before: CpuSnapshot | undefined;
    setTimeout(() => {
      before = cpuSnapshot(servicePids());
    }, fromMs);
    setTimeout(() => resolve(cpuShares(before ?? cpuSnapshot([]), cpuSnapshot(servicePids()), toMs - fromMs)), toMs);
  });
}

// ---------------------------------------------------------------------------------------------- pgbench

export interface PgbenchResult {
  tps: number;
  latencyMs: number | undefined;
  transactions: number;
  failed: number;
  output: string;
}

/** Runs pgbench with `args` against `url`'s database and parses TPS ("without initial connection time"). */
export async function runPgbench(url: string, args: string[]): Promise<PgbenchResult> {
  const u = new URL(url);
  const proc = spawn(['pgbench', '-h', u.hostname, '-p', u.port || '5432', '-U', decodeURIComponent(u.username || 'postgres'), ...args, u.pathname.slice(1)], {
    stdout: 'pipe',
    stderr: 'pipe',
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' },
  });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  const output = `${out}${err}`;
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(output);
  if (code !== 0 || !tps) throw new Error(`pgbench ${args.join(' ')} failed (exit ${code}):\n${output}`);
  const latency = /latency average = ([\d.]+) ms/.exec(output);
  const processed = /number of transactions actually processed: (\d+)/.exec(output);
  const failed = /number of failed transactions: (\d+)/.exec(output);
  return {
    tps: Number(tps[1]),
    latencyMs: latency ? Number(latency[1]) : undefined,
    transactions: processed ? Number(processed[1]) : 0,
    failed: failed ? Number(failed[1]) : 0,
    output,
  };
}

/** `psql -Atc` against `url`; resolves to its trimmed output. */
export async function psql(url: string, sql: string): Promise<string> {
  const proc = spawn(['psql', url, '-v', 'ON_ERROR_STOP=1', '-Atc', sql], { stdout: 'pipe', stderr: 'pipe' });
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`psql failed (exit ${code}): ${err}`);
  return out.trim();
}

// ---------------------------------------------------------------------------------------------- machine

async function commandOutput(cmd: string[]): Promise<string> {
  try {
    const proc = spawn(cmd, { stdout: 'pipe', stderr: 'pipe' });
    const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
    return code === 0 ? out.trim() : 'unknown';
  } catch {
    return 'unknown';
  }
}

/** nproc, CPU model, memory, Bun/Postgres/Redis versions, the Postgres durability settings and the code measured. */
export async function machineLines(postgresUrl: string): Promise<string[]> {
  const head = await commandOutput(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD']);
  const dirty = (await commandOutput(['git', '-C', ROOT, 'status', '--porcelain', '--', 'src', 'machines', 'migrations'])) !== '';
  const cpuModel = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? cpus()[0]?.model ?? 'unknown';
  const pg = await psql(postgresUrl, "SELECT version() || ' | fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit') || ', shared_buffers=' || current_setting('shared_buffers') || ', max_connections=' || current_setting('max_connections')").catch(() => 'unknown');
  return [
    `nproc: ${await commandOutput(['nproc'])}; cpu: ${cpuModel}; memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB total, ${(freemem() / 2 ** 30).toFixed(1)} GiB free`,
    `free -h:\n${await commandOutput(['free', '-h'])}`,
    `bun ${Bun.version}; ${pg}; ${await commandOutput(['redis-server', '--version'])}`,
    `code: commit ${head}${dirty ? ' plus uncommitted changes in src/, machines/ or migrations/' : ''}`,
  ];
}

export const rate = (count: number, ms: number) => Math.round((count / ms) * 1_000);
export const ms1 = (value: number) => value.toFixed(1);
