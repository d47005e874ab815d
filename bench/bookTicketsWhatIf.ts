/**
 * Diagnostics behind the "Book tickets vs pgbench" figures: where a booking's time goes inside the
 * service, and what-if runs that change one thing without editing src/. Run:
 * `node_modules/.bin/bun bench/bookTicketsWhatIf.ts [--via direct|http] [--pool 10] [--sync FULL] [--concurrency 32] [--duration 8]`.
 *
 * The service is started in this process (distributed mode, scratch database and Redis prefix), so
 * that its internals can be instrumented from outside:
 * - time and count of the Store calls (`loadActor`, `commit`, `transaction`, …), with the pool wait
 *   included: they include waiting for one of the pool's connections;
 * - the pool's `waitingCount` (queries queued for a connection), sampled every 5 ms;
 * - the synchronous `afterCommit` (the SQLite outbox append on the event loop);
 * - event-loop lag (a 5 ms interval timer's delay);
 * - every SQL statement sent (pg `Client.query`), by its first 70 characters, per booking;
 * - the time spent in socket writes (`net.Socket.uncork`, where node-postgres writes a query).
 *
 * What-ifs, applied before start-up or right after it (they patch private state, for measurement only):
 * - `--pool N` raises the pg pool's `max` from the hard-wired 10 (`openStore` passes no pool size);
 * - `--sync NORMAL` makes the outbox buffer open with `PRAGMA synchronous = NORMAL` instead of FULL.
 * `--via direct` calls `runtime.send` like the route does, but without HTTP. `--via http` posts to
 * the in-process server.
 */
import { Database } from 'bun:sqlite';
import net from 'node:net';
import pg from 'pg';
import { loadConfig } from '../src/config';
import { randomIds } from '../src/kernel/ids';
import { startService } from '../src/main';
import { createLogger } from '../src/observability/logger';
import { createTestDatabase } from '../test/support/postgres';
import { deleteKeys, testRedisUrl, uniquePrefix } from '../test/support/redis';
import { makeTempDir } from '../test/support/tempDir';
import { BENCH_JWT_SECRET, closedLoop, cpuShares, cpuSnapshot, createShows, ms1, parseFlags, rate, runBench, waitForQuietMachine } from './lib';

const flags = parseFlags({ via: 'direct', pool: 10, sync: 'FULL', concurrency: 32, duration: 8, warmup: 2, shows: 200 });

type Timing = { n: number; ms: number; max: number };
const timings = new Map<string, Timing>();
const note = (label: string, ms: number) => {
  const t = timings.get(label) ?? { n: 0, ms: 0, max: 0 };
  t.n++;
  t.ms += ms;
  t.max = Math.max(t.max, ms);
  timings.set(label, t);
};
const statements = new Map<string, number>();

function instrument(): void {
  const run = Database.prototype.run as (this: Database, sql: string, ...rest: unknown[]) => unknown;
  (Database.prototype as { run: unknown }).run = function (this: Database, sql: string, ...rest: unknown[]) {
    return run.call(this, sql === 'PRAGMA synchronous = FULL' ? `PRAGMA synchronous = ${flags.sync}` : sql, ...rest);
  };
  const query = pg.Client.prototype.query as (...args: unknown[]) => unknown;
  (pg.Client.prototype as { query: unknown }).query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0] as string | { text?: string };
    const text = typeof first === 'string' ? first : (first?.text ?? '');
    const key = text.replace(/\s+/g, ' ').trim().slice(0, 70);
    statements.set(key, (statements.get(key) ?? 0) + 1);
    return query.apply(this, args);
  };
  const uncork = net.Socket.prototype.uncork as (this: net.Socket) => void;
  net.Socket.prototype.uncork = function (this: net.Socket) {
    const t = performance.now();
    try {
      uncork.call(this);
    } finally {
      note('socket write (net.Socket.uncork)', performance.now() - t);
    }
  };
}

function timeMethods(target: Record<string, unknown>, names: string[]): void {
  for (const name of names) {
    const original = (target[name] as (...a: unknown[]) => Promise<unknown>).bind(target);
    target[name] = async (...args: unknown[]) => {
      const t = performance.now();
      try {
        return await original(...args);
      } finally {
        note(`store.${name} (incl. pool wait)`, performance.now() - t);
      }
    };
  }
}

await runBench(5 * 60_000, async (cleanup) => {
  instrument();
  const db = await createTestDatabase();
  cleanup.add('drop the database', () => db.drop());
  const prefix = uniquePrefix();
  cleanup.add('delete the Redis keys', () => deleteKeys(prefix));
  const dir = makeTempDir('tickets-bench-whatif-');
  cleanup.add('remove the data dir', () => dir.cleanup());
  const config = loadConfig({ PORT: '0', DATA_DIR: dir.path, LOG_LEVEL: 'silent', POSTGRES_URL: db.url, REDIS_ADDR: testRedisUrl(), REDIS_KEY_PREFIX: prefix, JWT_SECRET: BENCH_JWT_SECRET });
  const service = await startService(config, { logger: createLogger({ level: 'silent' }) });
  cleanup.add('stop the service', () => service.stop());
  const pool = (service.store as unknown as { pool: pg.Pool & { options: { max: number } } }).pool;
  pool.options.max = flags.pool;
  const runtimeDeps = (service.runtime as unknown as { deps: { afterCommit?: (m: unknown[]) => void } }).deps;
  const afterCommit = runtimeDeps.afterCommit;
  if (afterCommit) {
    runtimeDeps.afterCommit = (messages) => {
      const t = performance.now();
      try {
        afterCommit(messages);
      } finally {
        note('afterCommit (outbox append, synchronous)', performance.now() - t);
      }
    };
  }
  timeMethods(service.store as unknown as Record<string, unknown>, ['loadActor', 'commit', 'transaction', 'query', 'execute', 'readMessages']);
  const url = `http://127.0.0.1:${service.port}`;
  const shows = await createShows([url], flags.shows, 10_000);
  console.log(await waitForQuietMachine());

  let lagSum = 0;
  let lagMax = 0;
  let waitingSum = 0;
  let ticks = 0;
  let last = performance.now();
  const sampler = setInterval(() => {
    const now = performance.now();
    const lag = Math.max(0, now - last - 5);
    last = now;
    lagSum += lag;
    lagMax = Math.max(lagMax, lag);
    waitingSum += pool.waitingCount;
    ticks++;
  }, 5);
  let cpuBefore = cpuSnapshot([]);
  const run = await closedLoop({
    concurrency: flags.concurrency,
    warmupMs: flags.warmup * 1_000,
    durationMs: flags.duration * 1_000,
    onMeasureStart: () => {
      cpuBefore = cpuSnapshot([]);
      timings.clear();
      statements.clear();
      lagSum = lagMax = waitingSum = ticks = 0;
    },
    request: async () => {
      const showId = shows[Math.floor(Math.random() * shows.length)]!;
      if (flags.via === 'http') {
        const response = await fetch(`${url}/api/book-tickets`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ show_id: showId, number_of_tickets: 1, customer_email: 'bench@example.com' }),
        });
        await response.arrayBuffer();
        return response.status;
      }
      const bookingId = randomIds.uuid();
      await service.runtime.send(
        `booking/${bookingId}`,
        { type: 'booking.make', now: new Date().toISOString(), booking_id: bookingId, show_id: showId, number_of_tickets: 1, customer_email: 'bench@example.com' },
        { create: true, metadata: { correlation_id: randomIds.uuid() } },
      );
      return 201;
    },
  });
  clearInterval(sampler);
  const bookings = run.recorder.count;
  const p = run.recorder.percentiles();
  console.log(
    `via ${flags.via}, pool ${flags.pool}, outbox synchronous=${flags.sync}, ${flags.concurrency} concurrent: ${bookings} bookings, **${rate(bookings, run.elapsedMs)} /s**, ` +
      `p50 ${ms1(p.p50)} ms, p99 ${ms1(p.p99)} ms; ${run.recorder.statusLine()}`,
  );
  console.log(`CPU: ${cpuShares(cpuBefore, cpuSnapshot([]), run.elapsedMs)}`);
  console.log(`event-loop lag: mean ${ms1(lagSum / ticks)} ms, max ${ms1(lagMax)} ms; queries waiting for a pool connection: ${ms1(waitingSum / ticks)} on average`);
  for (const [label, t] of [...timings].sort((a, b) => b[1].ms - a[1].ms)) {
    console.log(`  ${label}: ${(t.n / bookings).toFixed(2)} per booking, mean ${(t.ms / t.n).toFixed(2)} ms, max ${ms1(t.max)} ms, ${ms1(t.ms / bookings)} ms per booking`);
  }
  const total = [...statements.values()].reduce((a, b) => a + b, 0);
  console.log(`SQL statements sent during the window: ${(total / bookings).toFixed(1)} per booking`);
  for (const [sql, n] of [...statements].sort((a, b) => b[1] - a[1]).slice(0, 12)) console.log(`  ${(n / bookings).toFixed(2)}  ${sql}`);
  // The consumers work off the backlog before the stop (a stop closes the runtime first).
  const stats = new pg.Client({ connectionString: db.url });
  await stats.connect();
  cleanup.add('close the stats connection', () => stats.end());
  for (let waited = 0; waited < 120_000; waited += 200) {
    const { rows } = await stats.query<{ left: string }>(
      "SELECT (SELECT count(*) FROM messages WHERE name = 'BookingMade_v1') - (SELECT count(*) FROM inbox WHERE handler = 'bookAtDeadNation') AS left",
    );
    if (Number(rows[0]?.left) <= 0) break;
    await Bun.sleep(200);
  }
  return 0;
});
