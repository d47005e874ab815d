/**
 * POST /api/book-tickets against the real service in distributed mode, and the same database work
 * through pgbench. Run: `node_modules/.bin/bun bench/bookTickets.ts [flags]`.
 *
 * 1. service: `bun src/main.ts serve` as a child process (LOG_LEVEL=warn) on a scratch database and a
 *    unique Redis key prefix; `--shows` shows of `--seats` seats are created over HTTP, then
 *    `--concurrency` keep-alive clients book 1 seat of a random show in a closed loop: `--warmup` s
 *    not counted, then `--duration` s measured (req/s, p50/p95/p99, status counts, CPU per process).
 *    Afterwards the background work the bookings caused (Dead Nation placement and its commit, the data
 *    lake, read models) is waited for, and the database statistics give the work per booking.
 * 2. direct (`--direct`): the same bookings as `runtime.send` calls into a service started in this
 *    process: the actor runtime and the store without HTTP, Elysia, validation and tracing.
 * 3. pgbench: bench/pgbench/booking.sql (the statements of one booking commit) on a freshly migrated
 *    database with the same shows, `-c <concurrency> -j 2 -T <duration>`, with `-M prepared` (as the
 *    service's driver) and `-M extended` (unnamed statements, as earlier runs). The ratio service req/s
 *    ÷ the faster pgbench TPS is the figure of merit (target ≥ 60 %). `--rounds N` repeats phases 1 to 3
 *    N times and reports the median of the rounds' ratios.
 *
 * `--profile <dir>` runs the service child with Bun's `--cpu-prof --cpu-prof-md` and leaves the profile in <dir>.
 * Needs PostgreSQL (TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres) and Redis
 * (TEST_REDIS_URL, default redis://127.0.0.1:6379); everything it creates is removed at the end.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { loadConfig } from '../src/config';
import { startService } from '../src/main';
import { randomIds } from '../src/kernel/ids';
import { AppError } from '../src/kernel/errors';
import { createLogger } from '../src/observability/logger';
import { createTestDatabase } from '../test/support/postgres';
import { deleteKeys, testRedisUrl, uniquePrefix } from '../test/support/redis';
import { runCli } from '../test/support/serviceProcess';
import { makeTempDir } from '../test/support/tempDir';
import {
  BENCH_JWT_SECRET,
  ROOT,
  closedLoop,
  cpuShares,
  cpuSnapshot,
  cpuWindow,
  createShows,
  distributedEnv,
  machineLines,
  ms1,
  parseFlags,
  psql,
  rate,
  runBench,
  runPgbench,
  startServiceChild,
  waitForQuietMachine,
  type Cleanup,
  type ServiceChild,
} from './lib';

const flags = parseFlags({
  duration: 20,
  warmup: 3,
  concurrency: 32,
  shows: 200,
  seats: 10_000,
  pgbench: true,
  direct: false,
  /** Service processes on the one database and Redis prefix; clients spread over them. */
  instances: 1,
  profile: '',
  /** Longest wait for the background work after the load, in seconds. */
  drain: 120,
  /**
   * Rounds of (service, pgbench), each giving its own ratio; the median is the figure. The host's
   * speed drifts by 15 % and more within minutes, so a ratio is only taken between neighbouring runs.
   */
  rounds: 1,
});
const EMAIL = 'bench@example.com';

const lines: string[] = [];
const report = (line: string) => {
  lines.push(line);
  console.log(line);
};

interface DbCounters {
  xact: number;
  inserted: number;
  updated: number;
  deleted: number;
  tables: Map<string, number>;
}

async function counters(db: pg.Client): Promise<DbCounters> {
  const [row] = (
    await db.query<{ xact: string; ins: string; upd: string; del: string }>(
      `SELECT xact_commit AS xact, tup_inserted AS ins, tup_updated AS upd, tup_deleted AS del
         FROM pg_stat_database WHERE datname = current_database()`,
    )
  ).rows;
  const tables = await db.query<{ relname: string; n: string }>('SELECT relname, n_tup_ins + n_tup_upd + n_tup_del AS n FROM pg_stat_user_tables');
  return {
    xact: Number(row?.xact),
    inserted: Number(row?.ins),
    updated: Number(row?.upd),
    deleted: Number(row?.del),
    tables: new Map(tables.rows.map((r) => [r.relname, Number(r.n)])),
  };
}

function perBooking(before: DbCounters, after: DbCounters, bookings: number): string[] {
  const per = (a: number, b: number) => ((a - b) / bookings).toFixed(2);
  const tables = [...after.tables.entries()]
    .map(([name, n]) => [name, n - (before.tables.get(name) ?? 0)] as const)
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([name, n]) => `${name} ${(n / bookings).toFixed(2)}`);
  return [
    `   per booking: ${per(after.xact, before.xact)} committed transactions (a statement outside a transaction counts as one), ${per(after.inserted, before.inserted)} rows inserted, ${per(after.updated, before.updated)} updated, ${per(after.deleted, before.deleted)} deleted`,
    `   rows written per booking, by table: ${tables.join(', ')}`,
  ];
}

async function connected(url: string, cleanup: Cleanup): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  cleanup.add('close a stats connection', () => client.end());
  return client;
}

interface Backlog {
  made: number;
  placed: number;
  facts: number;
  lake: number;
}

async function backlog(db: pg.Client): Promise<Backlog> {
  const [row] = (
    await db.query<Record<keyof Backlog, string>>(
      `SELECT (SELECT count(*) FROM messages WHERE name = 'BookingMade_v1') AS made,
              (SELECT count(*) FROM inbox WHERE handler = 'bookAtDeadNation') AS placed,
              (SELECT count(*) FROM messages WHERE kind = 'event') AS facts,
              (SELECT count(*) FROM data_lake) AS lake`,
    )
  ).rows;
  return { made: Number(row?.made), placed: Number(row?.placed), facts: Number(row?.facts), lake: Number(row?.lake) };
}

/**
 * Waits (at most --drain s) until every booking is placed at Dead Nation and every fact is in the data
 * lake: the work the bookings left to the consumers.
 */
async function drainBackground(stats: pg.Client): Promise<{ atEnd: Backlog; made: number; done: boolean; ms: number }> {
  const started = performance.now();
  const atEnd = await backlog(stats);
  let now = atEnd;
  while (now.placed < now.made || now.lake < now.facts) {
    if (performance.now() - started > flags.drain * 1_000) return { atEnd, made: now.made, done: false, ms: performance.now() - started };
    await Bun.sleep(250);
    now = await backlog(stats);
  }
  return { atEnd, made: now.made, done: true, ms: performance.now() - started };
}

/** Phase 1: the service as a child process over HTTP. Resolves to its req/s. */
async function serviceOverHttp(cleanup: Cleanup): Promise<number> {
  const db = await createTestDatabase();
  cleanup.add('drop the service database', () => db.drop());
  const prefix = uniquePrefix();
  cleanup.add('delete the Redis keys', () => deleteKeys(prefix));
  if (flags.profile) mkdirSync(flags.profile, { recursive: true });
  const children: ServiceChild[] = [];
  for (let i = 0; i < flags.instances; i++) {
    const dir = makeTempDir(`tickets-bench-book-${i}-`);
    cleanup.add(`remove the data dir of instance ${i}`, () => dir.cleanup());
    // One at a time: start-up migrates under a lock anyway, and the next finds the schema ready.
    const env = distributedEnv(db.url, prefix, dir.path, { INSTANCE_ID: `book-${i}` });
    const child = await startServiceChild({ env, ...(flags.profile ? { cpuProfDir: flags.profile } : {}) });
    cleanup.add(`stop instance ${i}`, () => child.stop());
    children.push(child);
  }
  const pids = () => children.map((child) => child.pid);
  const stats = new pg.Client({ connectionString: db.url });
  await stats.connect();
  cleanup.add('close the stats connection', () => stats.end());

  const setupStarted = performance.now();
  const shows = await createShows([children[0]!.url], flags.shows, flags.seats);
  report(`1. service (${flags.instances === 1 ? 'child process' : `${flags.instances} child processes`}, distributed mode): ${flags.shows} shows × ${flags.seats} seats created in ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);

  report(`   ${await waitForQuietMachine()}`);
  const before = await counters(stats);
  const bookingsBefore = (await backlog(stats)).made;
  let cpuBefore = cpuSnapshot(pids());
  let sent = 0;
  const loadStartedAt = performance.now();
  const run = await closedLoop({
    concurrency: flags.concurrency,
    warmupMs: flags.warmup * 1_000,
    durationMs: flags.duration * 1_000,
    onMeasureStart: () => {
      cpuBefore = cpuSnapshot(pids());
    },
    request: async () => {
      const child = children[sent++ % children.length]!;
      const response = await fetch(`${child.url}/api/book-tickets`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ show_id: shows[Math.floor(Math.random() * shows.length)], number_of_tickets: 1, customer_email: EMAIL }),
      });
      await response.arrayBuffer();
      return response.status;
    },
  });
  const cpu = cpuShares(cpuBefore, cpuSnapshot(pids()), run.elapsedMs);
  const rps = rate(run.recorder.count, run.elapsedMs);
  const p = run.recorder.percentiles();
  report(
    `   POST /api/book-tickets, ${flags.concurrency} clients, ${flags.warmup} s warm-up + ${flags.duration} s: ${run.recorder.count} requests, **${rps} req/s**, ` +
      `p50 ${ms1(p.p50)} ms, p95 ${ms1(p.p95)} ms, p99 ${ms1(p.p99)} ms, max ${ms1(p.max)} ms`,
  );
  report(`   statuses: ${run.recorder.statusLine()}${run.errors.length > 0 ? `; errors: ${run.errors.join(' | ')}` : ''}`);
  report(`   CPU during the window (200 % = both cores): ${cpu}`);

  const loadEndedAt = performance.now();
  const drain = await drainBackground(stats);
  const sustained = rate(drain.made - bookingsBefore, loadEndedAt - loadStartedAt + drain.ms);
  report(
    `   background at the end of the load: ${drain.atEnd.made - drain.atEnd.placed} of ${drain.atEnd.made} bookings not yet placed at Dead Nation, ` +
      `${drain.atEnd.facts - drain.atEnd.lake} of ${drain.atEnd.facts} facts not yet in the data lake; ` +
      (drain.done ? `all done ${(drain.ms / 1000).toFixed(1)} s after the load stopped` : `NOT done after ${flags.drain} s`),
  );
  report(`   end to end (every booking taken, placed at Dead Nation and in the data lake): ${drain.made - bookingsBefore} bookings in ${((loadEndedAt - loadStartedAt + drain.ms) / 1000).toFixed(1)} s: ${sustained} bookings/s sustained`);

  for (const child of children) {
    const exit = await child.stop();
    if (exit !== 0) report(`   the service exited with ${exit}:\n${child.output().slice(-2_000)}`);
  }
  // Backends flush their statistics when they exit: read them once the service is gone.
  await Bun.sleep(500);
  const after = await counters(stats);
  const bookings = (await backlog(stats)).made - bookingsBefore;
  for (const line of perBooking(before, after, bookings)) report(line);
  const serverErrors = [...run.recorder.statuses.entries()].filter(([s]) => s === 'error' || Number(s) >= 500);
  if (serverErrors.length > 0) report(`   UNEXPECTED: ${serverErrors.map(([s, n]) => `${n} × ${s}`).join(', ')}`);
  for (const child of children) {
    if (child.output().trim()) report(`   service output (warn and above), last lines:\n${child.output().trim().split('\n').slice(-5).join('\n')}`);
  }
  return rps;
}

/** Phase 2: runtime.send in process, no HTTP. */
async function directSends(cleanup: Cleanup): Promise<number> {
  const db = await createTestDatabase();
  cleanup.add('drop the direct database', () => db.drop());
  const prefix = uniquePrefix();
  cleanup.add('delete the direct Redis keys', () => deleteKeys(prefix));
  const dir = makeTempDir('tickets-bench-direct-');
  cleanup.add('remove the direct data dir', () => dir.cleanup());
  const config = loadConfig({ PORT: '0', DATA_DIR: dir.path, LOG_LEVEL: 'warn', POSTGRES_URL: db.url, REDIS_ADDR: testRedisUrl(), REDIS_KEY_PREFIX: prefix, JWT_SECRET: BENCH_JWT_SECRET });
  const service = await startService(config, { logger: createLogger({ level: 'silent' }) });
  cleanup.add('stop the in-process service', () => service.stop());
  const stats = new pg.Client({ connectionString: db.url });
  await stats.connect();
  cleanup.add('close the direct stats connection', () => stats.end());
  const shows = await createShows([`http://127.0.0.1:${service.port}`], flags.shows, flags.seats);
  report(`   ${await waitForQuietMachine()}`);
  let cpuBefore = cpuSnapshot([]);
  const run = await closedLoop({
    concurrency: flags.concurrency,
    warmupMs: flags.warmup * 1_000,
    durationMs: flags.duration * 1_000,
    onMeasureStart: () => {
      cpuBefore = cpuSnapshot([]);
    },
    request: async () => {
      const bookingId = randomIds.uuid();
      const showId = shows[Math.floor(Math.random() * shows.length)]!;
      try {
        await service.runtime.send(
          `booking/${bookingId}`,
          { type: 'booking.make', now: new Date().toISOString(), booking_id: bookingId, show_id: showId, number_of_tickets: 1, customer_email: EMAIL },
          { create: true, metadata: { correlation_id: randomIds.uuid() } },
        );
        return 201;
      } catch (error) {
        if (error instanceof AppError) return `${error.status} ${error.code}`;
        throw error;
      }
    },
  });
  const cpu = cpuShares(cpuBefore, cpuSnapshot([]), run.elapsedMs);
  const sends = rate(run.recorder.count, run.elapsedMs);
  const p = run.recorder.percentiles();
  report(
    `2. direct runtime.send in process (no HTTP), ${flags.concurrency} concurrent: ${run.recorder.count} commands, **${sends} /s**, ` +
      `p50 ${ms1(p.p50)} ms, p95 ${ms1(p.p95)} ms, p99 ${ms1(p.p99)} ms; outcomes: ${run.recorder.statusLine()}`,
  );
  report(`   CPU during the window (the service and the callers are one process, "load generator"): ${cpu}`);
  // Stopped only once the consumers are done: a stop closes the runtime before the consumers.
  const drain = await drainBackground(stats);
  report(`   background ${drain.done ? `done ${(drain.ms / 1000).toFixed(1)} s after the load stopped` : `NOT done after ${flags.drain} s`}`);
  await service.stop();
  return sends;
}

/** Phase 3: pgbench on the same schema. Resolves to TPS at the same concurrency. */
async function pgbenchRuns(cleanup: Cleanup): Promise<number> {
  const db = await createTestDatabase();
  cleanup.add('drop the pgbench database', () => db.drop());
  const migrated = await runCli(['migrate'], { POSTGRES_URL: db.url, REDIS_ADDR: testRedisUrl(), JWT_SECRET: BENCH_JWT_SECRET, LOG_LEVEL: 'warn' });
  if (migrated.code !== 0) throw new Error(`migrate failed:\n${migrated.output}`);
  const seed = Bun.spawn(['psql', db.url, '-q', '-v', 'ON_ERROR_STOP=1', '-v', `shows=${flags.shows}`, '-v', `seats=${flags.seats}`, '-f', join(ROOT, 'bench/pgbench/shows.sql')], { stdout: 'ignore', stderr: 'pipe' });
  if ((await seed.exited) !== 0) throw new Error(`seeding the shows failed: ${await new Response(seed.stderr).text()}`);

  let stats = await connected(db.url, cleanup);
  const before = await counters(stats);
  const script = join(ROOT, 'bench/pgbench/booking.sql');
  let sameConcurrency = 0;
  // prepared: what the service's driver does; extended (unnamed statements): the figure of earlier runs.
  for (const protocol of ['prepared', 'extended']) {
    const clients = flags.concurrency;
    await psql(db.url, 'CHECKPOINT');
    report(`   ${await waitForQuietMachine()}`);
    const args = ['-n', '-M', protocol, '-D', `shows=${flags.shows}`, '-f', script, '-c', String(clients), '-j', '2', '-T', String(flags.duration)];
    const windowMs = flags.duration * 1_000;
    const [result, cpu] = await Promise.all([runPgbench(db.url, args), cpuWindow(1_000, windowMs - 500)]);
    // The ratio is taken against the faster of the two.
    sameConcurrency = Math.max(sameConcurrency, result.tps);
    report(
      `3. pgbench ${args.join(' ')}: **${Math.round(result.tps)} TPS**, latency average ${result.latencyMs ?? '?'} ms, ` +
        `${result.transactions} transactions, ${result.failed} failed`,
    );
    report(`   CPU (from 1 s to ${((windowMs - 500) / 1000).toFixed(1)} s): ${cpu}`);
  }
  const [rows, taken] = (await psql(db.url, "SELECT (SELECT count(*) FROM booking_seats) || ' ' || (SELECT sum(seats_taken) FROM shows)")).split(' ');
  if (rows !== taken) throw new Error(`pgbench database inconsistent: ${rows} booking_seats rows, ${taken} seats taken`);
  await stats.end();
  await Bun.sleep(1_500);
  stats = await connected(db.url, cleanup);
  const after = await counters(stats);
  for (const line of perBooking(before, after, Number(rows))) report(line.replace('per booking', 'pgbench, per booking'));
  return sameConcurrency;
}

await runBench(Math.max(15, 6 * flags.rounds) * 60_000, async (cleanup) => {
  const adminUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  report(`flags: ${JSON.stringify(flags)}`);
  const ratios: number[] = [];
  for (let round = 1; round <= flags.rounds; round++) {
    if (flags.rounds > 1) report(`round ${round} of ${flags.rounds}`);
    const rps = await serviceOverHttp(cleanup);
    const direct = flags.direct ? await directSends(cleanup) : undefined;
    if (!flags.pgbench) continue;
    const tps = await pgbenchRuns(cleanup);
    const ratio = (rps / tps) * 100;
    ratios.push(ratio);
    report(`ratio: service ${rps} req/s ÷ pgbench ${Math.round(tps)} TPS (-c ${flags.concurrency}) = **${ratio.toFixed(0)} %** (target ≥ 60 %): ${ratio >= 60 ? 'met' : 'NOT met'}`);
    if (direct !== undefined) report(`        direct runtime.send ${direct} /s ÷ pgbench = ${((direct / tps) * 100).toFixed(0)} %`);
  }
  if (ratios.length > 1) {
    const sorted = [...ratios].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    report(
      `median ratio of ${ratios.length} rounds: **${median.toFixed(0)} %** (rounds: ${ratios.map((r) => `${r.toFixed(0)} %`).join(', ')}; target ≥ 60 %): ${median >= 60 ? 'met' : 'NOT met'}`,
    );
  }
  for (const line of await machineLines(adminUrl)) report(line);
  return 0;
});
