/**
 * A flash sale: one show with few seats, many concurrent buyers, over two instances of the service
 * (two child processes on one database and one Redis key prefix). Run:
 * `node_modules/.bin/bun bench/flashSale.ts [--seats 500] [--buyers 2000] [--concurrency 200] [--instances 2]`.
 *
 * Every buyer sends one POST /api/book-tickets for 1 or 2 seats (at random), alternately to each
 * instance, `--concurrency` at a time. Reports successes, SOLD_OUT refusals, other statuses, the
 * bookings/s while seats lasted and the latency percentiles, then checks that nothing was oversold:
 * the seats of the 201 answers add up to at most `--seats`, and the show's `seats_taken` and its
 * `booking_seats` rows are exactly that sum. Exits 1 when any check fails (or a 5xx was answered).
 *
 * Needs PostgreSQL and Redis as bench/bookTickets.ts; everything it creates is removed at the end.
 */
import pg from 'pg';
import { createTestDatabase } from '../test/support/postgres';
import { deleteKeys, uniquePrefix } from '../test/support/redis';
import { makeTempDir } from '../test/support/tempDir';
import {
  Recorder,
  cpuShares,
  cpuSnapshot,
  createShows,
  distributedEnv,
  machineLines,
  ms1,
  parseFlags,
  rate,
  runBench,
  startServiceChild,
  waitForQuietMachine,
  type ServiceChild,
} from './lib';

const flags = parseFlags({ seats: 500, buyers: 2_000, concurrency: 200, instances: 2, 'max-seats': 2 });

const lines: string[] = [];
const report = (line: string) => {
  lines.push(line);
  console.log(line);
};

await runBench(5 * 60_000, async (cleanup) => {
  report(`flags: ${JSON.stringify(flags)}`);
  const db = await createTestDatabase();
  cleanup.add('drop the database', () => db.drop());
  const prefix = uniquePrefix();
  cleanup.add('delete the Redis keys', () => deleteKeys(prefix));
  const instances: ServiceChild[] = [];
  for (let i = 0; i < flags.instances; i++) {
    const dir = makeTempDir(`tickets-bench-flash-${i}-`);
    cleanup.add(`remove the data dir of instance ${i}`, () => dir.cleanup());
    // One at a time: start-up migrates under a lock anyway, and the second finds the schema ready.
    const child = await startServiceChild({ env: distributedEnv(db.url, prefix, dir.path, { INSTANCE_ID: `flash-${i}` }) });
    cleanup.add(`stop instance ${i}`, () => child.stop());
    instances.push(child);
  }
  const stats = new pg.Client({ connectionString: db.url });
  await stats.connect();
  cleanup.add('close the stats connection', () => stats.end());

  const [showId] = await createShows([instances[0]!.url], 1, flags.seats);
  report(`one show of ${flags.seats} seats; ${flags.buyers} buyers of 1–${flags['max-seats']} seats, ${flags.concurrency} at a time, over ${flags.instances} instances`);
  report(await waitForQuietMachine());

  const recorder = new Recorder();
  const perInstance = instances.map(() => 0);
  let seatsSold = 0;
  let lastSuccessAt = 0;
  const errors: string[] = [];
  let next = 0;
  const started = performance.now();
  const cpuBefore = cpuSnapshot(instances.map((i) => i.pid));
  const buyer = async () => {
    while (next < flags.buyers) {
      const n = next++;
      const instance = n % instances.length;
      const seats = 1 + Math.floor(Math.random() * flags['max-seats']);
      const sent = performance.now();
      let status: string;
      try {
        const response = await fetch(`${instances[instance]!.url}/api/book-tickets`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ show_id: showId, number_of_tickets: seats, customer_email: `buyer-${n}@example.com` }),
        });
        const body = (await response.json().catch(() => ({}))) as { code?: string };
        status = response.status === 201 ? '201' : `${response.status}${body.code ? ` ${body.code}` : ''}`;
        if (response.status === 201) {
          seatsSold += seats;
          perInstance[instance]! += 1;
          lastSuccessAt = performance.now();
        }
      } catch (error) {
        status = 'error';
        if (errors.length < 5) errors.push(error instanceof Error ? error.message : String(error));
      }
      recorder.record(status, performance.now() - sent);
    }
  };
  await Promise.all(Array.from({ length: flags.concurrency }, buyer));
  const elapsedMs = performance.now() - started;
  const cpu = cpuShares(cpuBefore, cpuSnapshot(instances.map((i) => i.pid)), elapsedMs);

  const successes = recorder.statuses.get('201') ?? 0;
  const soldOut = recorder.statuses.get('400 SOLD_OUT') ?? 0;
  const p = recorder.percentiles();
  report(`statuses: ${recorder.statusLine()}${errors.length > 0 ? `; errors: ${errors.join(' | ')}` : ''}`);
  report(`successes: ${successes} bookings (${perInstance.map((n, i) => `instance ${i}: ${n}`).join(', ')}), ${seatsSold} seats of ${flags.seats}; SOLD_OUT: ${soldOut}`);
  report(
    `all ${flags.buyers} answered in ${(elapsedMs / 1000).toFixed(2)} s: ${rate(flags.buyers, elapsedMs)} requests/s; ` +
      `the last seat sold after ${(lastSuccessAt / 1000 - started / 1000).toFixed(2)} s: **${rate(successes, lastSuccessAt - started)} bookings/s** while seats lasted`,
  );
  report(`latency (all requests): p50 ${ms1(p.p50)} ms, p95 ${ms1(p.p95)} ms, p99 ${ms1(p.p99)} ms, max ${ms1(p.max)} ms`);
  report(`CPU (200 % = both cores): ${cpu}`);

  const [row] = (
    await stats.query<{ taken: number; capacity: number; held: string | null; bookings: string }>(
      `SELECT s.seats_taken AS taken, s.number_of_tickets AS capacity,
              (SELECT sum(seats) FROM booking_seats b WHERE b.show_id = s.show_id) AS held,
              (SELECT count(*) FROM booking_seats b WHERE b.show_id = s.show_id) AS bookings
         FROM shows s WHERE s.show_id = $1`,
      [showId],
    )
  ).rows;
  const held = Number(row?.held ?? 0);
  const checks: [string, boolean][] = [
    [`seats of the 201 answers (${seatsSold}) ≤ seats (${flags.seats})`, seatsSold <= flags.seats],
    [`shows.seats_taken (${row?.taken}) = seats of the 201 answers (${seatsSold})`, row?.taken === seatsSold],
    [`booking_seats of the show: ${row?.bookings} rows = 201 answers (${successes}), ${held} seats = ${seatsSold}`, Number(row?.bookings) === successes && held === seatsSold],
    [`every request answered 201 or 400 SOLD_OUT`, successes + soldOut === flags.buyers],
  ];
  for (const [what, ok] of checks) report(`${ok ? 'ok  ' : 'FAIL'} ${what}`);

  // The bookings' follow-up (placement at Dead Nation) before the instances stop.
  const drainStarted = performance.now();
  for (;;) {
    const [b] = (
      await stats.query<{ made: string; placed: string }>(
        "SELECT (SELECT count(*) FROM messages WHERE name = 'BookingMade_v1') AS made, (SELECT count(*) FROM inbox WHERE handler = 'bookAtDeadNation') AS placed",
      )
    ).rows;
    if (Number(b?.placed) >= Number(b?.made)) {
      report(`every booking placed at Dead Nation ${((performance.now() - drainStarted) / 1000).toFixed(1)} s after the last answer`);
      break;
    }
    if (performance.now() - drainStarted > 60_000) {
      report(`${Number(b?.made) - Number(b?.placed)} bookings still not placed at Dead Nation 60 s after the last answer`);
      break;
    }
    await Bun.sleep(100);
  }
  for (const instance of instances) {
    const code = await instance.stop();
    if (code !== 0) report(`an instance exited with ${code}:\n${instance.output().slice(-2_000)}`);
  }
  for (const line of await machineLines(db.url)) report(line);
  const failed = checks.some(([, ok]) => !ok) || [...recorder.statuses.keys()].some((s) => s === 'error' || s.startsWith('5'));
  if (failed) report('FAILED: oversell or unexpected answers (see above)');
  return failed ? 1 : 0;
});
