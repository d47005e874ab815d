/**
 * Handler throughput: how fast the consumers work off the facts of N ticket confirmations. Run:
 * `node_modules/.bin/bun bench/handlers.ts [--tickets 2000] [--per-request 10] [--concurrency 4] [--modes distributed,embedded]`.
 *
 * For each mode the service runs as a child process (distributed: scratch Postgres database + unique
 * Redis prefix; embedded: SQLite in a temp dir). The webhook POST /api/tickets-status confirms
 * `--tickets` tickets, `--per-request` per request (each request its own Idempotency-Key),
 * `--concurrency` requests at a time. Each confirmation commits a ticket actor and emits
 * TicketBookingConfirmed_v1, which fans out to its handlers (receipt, printed file, print sheet, data
 * lake, …); the receipt and the file reply to the ticket, whose TicketReceiptIssued_v1 and
 * TicketPrinted_v1 go to the data lake in turn.
 *
 * The `inbox` table (one row per handler and processed message) is polled every 100 ms. The run is
 * done when no inbox count has moved for 2 s and /metrics shows no consumer lag. A handler's finish
 * time is when its count reached its final value. Its rate is that count divided by its finish time,
 * counted from the first webhook request. The overall rate is the sum of all handler messages divided
 * by the last finish time.
 */
import { Database } from 'bun:sqlite';
import { join } from 'node:path';
import pg from 'pg';
import { createTestDatabase } from '../test/support/postgres';
import { deleteKeys, uniquePrefix } from '../test/support/redis';
import { makeTempDir } from '../test/support/tempDir';
import {
  cpuShares,
  cpuSnapshot,
  distributedEnv,
  machineLines,
  parseFlags,
  rate,
  runBench,
  startServiceChild,
  waitForQuietMachine,
  type Cleanup,
  type ServiceChild,
} from './lib';

const flags = parseFlags({ tickets: 2_000, 'per-request': 10, concurrency: 4, modes: 'distributed,embedded', timeout: 180 });
const PER_REQUEST = flags['per-request'];
const STABLE_MS = 2_000;

const report = (line: string) => console.log(line);

type InboxCounts = Map<string, number>;

/** Sum of `consumer_lag` over every group and stream on /metrics (undelivered + pending entries). */
async function consumerLag(service: ServiceChild): Promise<number> {
  const text = await (await fetch(`${service.url}/metrics`)).text();
  let lag = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('consumer_lag{')) lag += Number(line.slice(line.lastIndexOf(' ') + 1)) || 0;
  }
  return lag;
}

function ticketsBody(from: number, count: number, tag: string) {
  return {
    tickets: Array.from({ length: count }, (_, i) => ({
      ticket_id: crypto.randomUUID(),
      booking_id: `bench-${tag}-${Math.floor((from + i) / 4)}`,
      status: 'confirmed',
      price: { amount: '50.30', currency: 'GBP' },
      customer_email: `buyer-${from + i}@example.com`,
    })),
  };
}

async function runMode(mode: 'distributed' | 'embedded', cleanup: Cleanup): Promise<void> {
  const dir = makeTempDir(`tickets-bench-handlers-${mode}-`);
  cleanup.add(`remove the ${mode} data dir`, () => dir.cleanup());
  let readInbox: () => Promise<InboxCounts>;
  let env: Record<string, string>;
  if (mode === 'distributed') {
    const db = await createTestDatabase();
    cleanup.add('drop the database', () => db.drop());
    const prefix = uniquePrefix();
    cleanup.add('delete the Redis keys', () => deleteKeys(prefix));
    env = distributedEnv(db.url, prefix, dir.path);
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    cleanup.add('close the stats connection', () => client.end());
    readInbox = async () =>
      new Map((await client.query<{ handler: string; n: string }>('SELECT handler, count(*) AS n FROM inbox GROUP BY handler')).rows.map((r) => [r.handler, Number(r.n)]));
  } else {
    env = { DATA_DIR: dir.path };
    let sqlite: Database | undefined;
    cleanup.add('close the SQLite reader', () => sqlite?.close());
    readInbox = async () => {
      sqlite ??= new Database(join(dir.path, 'tickets.db'), { readonly: true });
      return new Map(sqlite.query<{ handler: string; n: number }, []>('SELECT handler, count(*) AS n FROM inbox GROUP BY handler').all().map((r) => [r.handler, r.n]));
    };
  }
  const service = await startServiceChild({ env });
  cleanup.add(`stop the ${mode} service`, () => service.stop());
  report(`${mode}: ${flags.tickets} confirmations, ${PER_REQUEST} per POST /api/tickets-status, ${flags.concurrency} requests at a time`);
  report(`   ${await waitForQuietMachine()}`);

  const baseline = await readInbox();
  const tag = crypto.randomUUID().slice(0, 8);
  const started = performance.now();
  const cpuBefore = cpuSnapshot([service.pid]);
  const statuses = new Map<number, number>();
  let next = 0;
  const requests = Math.ceil(flags.tickets / PER_REQUEST);
  const poster = async () => {
    while (next < requests) {
      const r = next++;
      const from = r * PER_REQUEST;
      const response = await fetch(`${service.url}/api/tickets-status`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'Idempotency-Key': `bench-${tag}-${r}` },
        body: JSON.stringify(ticketsBody(from, Math.min(PER_REQUEST, flags.tickets - from), tag)),
      });
      await response.arrayBuffer();
      statuses.set(response.status, (statuses.get(response.status) ?? 0) + 1);
    }
  };
  const posting = Promise.all(Array.from({ length: flags.concurrency }, poster)).then(() => performance.now() - started);

  // Poll until no count moved for STABLE_MS and the consumers report no lag.
  const finishedAt = new Map<string, number>();
  let counts: InboxCounts = new Map();
  let lastChange = performance.now();
  let postedMs: number | undefined;
  /** Each handler's count when the last webhook request was answered. */
  let atPosted: InboxCounts | undefined;
  void posting.then((ms) => {
    postedMs = ms;
  });
  for (;;) {
    await Bun.sleep(100);
    const now = performance.now();
    const fresh = await readInbox();
    for (const [handler, n] of fresh) {
      const delta = n - (baseline.get(handler) ?? 0);
      if (delta !== (counts.get(handler) ?? 0)) {
        finishedAt.set(handler, now - started);
        lastChange = now;
      }
      counts.set(handler, delta);
    }
    if (postedMs !== undefined && atPosted === undefined) atPosted = new Map(counts);
    if (postedMs !== undefined && now - lastChange >= STABLE_MS && (await consumerLag(service)) === 0) break;
    if (now - started > flags.timeout * 1_000) {
      report(`   NOT drained within ${flags.timeout} s`);
      break;
    }
  }
  const allMs = Math.max(...finishedAt.values());
  const cpu = cpuShares(cpuBefore, cpuSnapshot([service.pid]), performance.now() - started);
  const posted = postedMs ?? NaN;
  report(`   webhook: ${requests} requests (${[...statuses].map(([s, n]) => `${s}: ${n}`).join(', ')}) answered in ${(posted / 1000).toFixed(2)} s: ${rate(flags.tickets, posted)} confirmations committed/s`);
  const total = [...counts.values()].reduce((a, b) => a + b, 0);
  // After the webhook finished, a handler that was behind works off its backlog alone: its own pace.
  const backlogRate = (n: number, ms: number, before: number) =>
    ms - posted > 300 && n - before > 0 ? `${rate(n - before, ms - posted)} (${n - before} left)` : 'kept pace';
  report('   | handler | messages | done after | messages/s from the first request | after the webhook finished |');
  report('   |---|---|---|---|---|');
  for (const [handler, n] of [...counts].sort((a, b) => a[0].localeCompare(b[0]))) {
    const ms = finishedAt.get(handler) ?? NaN;
    report(`   | ${handler} | ${n} | ${(ms / 1000).toFixed(2)} s | ${rate(n, ms)} | ${backlogRate(n, ms, atPosted?.get(handler) ?? 0)} |`);
  }
  const totalAtPosted = [...(atPosted ?? new Map<string, number>()).values()].reduce((a, b) => a + b, 0);
  report(`   | **all handlers** | ${total} | ${(allMs / 1000).toFixed(2)} s | **${rate(total, allMs)}** | ${backlogRate(total, allMs, totalAtPosted)} |`);
  report(`   CPU until the last handler finished (200 % = both cores): ${cpu}`);
  const exit = await service.stop();
  if (exit !== 0 || service.output().trim()) report(`   service exit ${exit}; output (warn and above), last lines:\n${service.output().trim().split('\n').slice(-5).join('\n')}`);
}

await runBench(10 * 60_000, async (cleanup) => {
  report(`flags: ${JSON.stringify(flags)}`);
  for (const mode of flags.modes.split(',').map((m) => m.trim())) {
    if (mode !== 'distributed' && mode !== 'embedded') throw new Error(`--modes takes distributed and/or embedded, got ${mode}`);
    await runMode(mode, cleanup);
  }
  for (const line of await machineLines(process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')) report(line);
  return 0;
});
