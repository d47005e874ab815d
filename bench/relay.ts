/**
 * Relay throughput in distributed mode (Postgres store, SQLite outbox buffer, Redis Streams), from
 * commit to entries on the streams. Run: `node_modules/.bin/bun bench/relay.ts [messages]`.
 *
 * 0. baseline: the same commits with no outbox (what the store alone sustains).
 * 1. end to end: CONCURRENCY committers commit MESSAGES_PER_COMMIT messages per transaction through
 *    the store and enqueue each commit; timed until every message is on its stream.
 * 2. buffer drain: the same volume is committed and enqueued with the publisher stopped, then timed
 *    from `start()` until the buffer is on the streams (the publisher alone).
 * 3. reconciler catch-up: a reconciler with no grace period publishes the whole log to empty streams.
 * 4. reconciler re-send: the same again onto streams that hold every id (the steady-state cost of the
 *    reconciler: every message re-sent once and skipped by the bus).
 * Then `redis-benchmark` XADD on the same server, for scale.
 *
 * Needs PostgreSQL (TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432/postgres; a scratch
 * database is created and dropped) and Redis (TEST_REDIS_URL, default redis://127.0.0.1:6379; keys
 * under a random prefix, deleted at the end).
 */
import { cpus, freemem, totalmem } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { ActorCommit, Message, NewMessage, Store } from '../src/actors/ports';
import { systemClock } from '../src/kernel/clock';
import { randomIds } from '../src/kernel/ids';
import { createBufferedRelay, RECONCILER_CHECKPOINT, type Outbox } from '../src/messaging/outbox';
import type { Bus } from '../src/messaging/ports';
import { createRedisBus } from '../src/messaging/redisBus';
import { streamOf } from '../src/messaging/wire';
import { openPostgresStore } from '../src/store/postgres';
import { createTestDatabase } from '../test/support/postgres';
import { deleteKeys, testRedisUrl, uniquePrefix } from '../test/support/redis';
import { makeTempDir } from '../test/support/tempDir';

const TOTAL = Number(Bun.argv[2] ?? 60_000);
const MESSAGES_PER_COMMIT = 5;
const CONCURRENCY = 32;
const NAMES = ['SeatHeld_v1', 'SeatPriced_v1', 'ChargeCard'] as const;
/** Keeps the reconciler out of phases 1 and 2, so that they measure the buffer path alone. */
const NO_RECONCILING_MS = 60 * 60 * 1_000;

const kindOf = (name: string): Message['kind'] => (/_v\d+$/.test(name) ? 'event' : 'command');
const STREAMS = NAMES.map((name) => streamOf({ name, kind: kindOf(name) }));

function commitOf(actor: string, at: string): ActorCommit {
  const messages: NewMessage[] = Array.from({ length: MESSAGES_PER_COMMIT }, (_, i) => {
    const name = NAMES[i % NAMES.length]!;
    return {
      id: randomIds.uuid(),
      name,
      kind: kindOf(name),
      actor,
      actorSeq: i + 1,
      data: { seat: `A${i}`, price_cents: 4_500 },
      metadata: { correlation_id: actor },
      occurredAt: at,
    };
  });
  return {
    address: actor,
    kind: 'bench',
    machineId: 'bench-v1',
    expectedVersion: 0,
    state: 'done',
    status: 'active',
    snapshot: { value: 'done', context: {} },
    messages,
    timers: { set: [], cancel: [], cancelAll: false },
    journal: { event: { type: 'bench.run' }, fromState: 'new', toState: 'done', messageIds: messages.map((m) => m.id), at },
    correlationId: actor,
    at,
  };
}

/** Commits `total` messages from CONCURRENCY parallel committers, handing each commit to `enqueue`. */
async function commitAll(store: Store, enqueue: Outbox['enqueue'], total: number, tag: string): Promise<void> {
  let next = 0;
  const commits = total / MESSAGES_PER_COMMIT;
  const worker = async () => {
    while (next < commits) {
      const n = next++;
      const committed = await store.commit(commitOf(`bench/${tag}-${n}`, systemClock.now().toISOString()));
      enqueue(committed);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

/** Resolves when the streams under `prefix` hold `expected` entries in all. */
async function untilOnStreams(redis: Redis, prefix: string, expected: number): Promise<void> {
  for (;;) {
    const lengths = await Promise.all(STREAMS.map((stream) => redis.xlen(`${prefix}${stream}`)));
    const total = lengths.reduce((a, b) => a + b, 0);
    if (total > expected) throw new Error(`${total} entries on the streams, expected ${expected}: duplicates`);
    if (total === expected) return;
    await Bun.sleep(5);
  }
}

const rate = (count: number, ms: number) => Math.round((count / ms) * 1_000);
const seconds = (ms: number) => (ms / 1_000).toFixed(2);

async function machine(): Promise<string[]> {
  const run = async (cmd: string[]) => (await new Response(Bun.spawn(cmd, { stdout: 'pipe' }).stdout).text()).trim();
  return [
    `nproc: ${await run(['nproc'])}`,
    `cpu: ${cpus()[0]?.model ?? 'unknown'}`,
    `memory: ${(totalmem() / 2 ** 30).toFixed(1)} GiB total, ${(freemem() / 2 ** 30).toFixed(1)} GiB free`,
    `free -h:\n${await run(['free', '-h'])}`,
    `bun ${Bun.version}, postgres ${await run(['psql', '--version']).catch(() => 'unknown')}, ${await run(['redis-server', '--version'])}`,
  ];
}

async function redisBenchmark(args: string[]): Promise<string> {
  const proc = Bun.spawn(['redis-benchmark', '-p', '6379', ...args], { stdout: 'pipe', stderr: 'pipe' });
  const out = await new Response(proc.stdout).text();
  await proc.exited;
  // -q prints progress lines ending in \r; the summary is what follows the last one.
  const summary = out.split(/\r|\n/).map((line) => line.trim()).filter((line) => line.includes('requests per second'));
  return summary.at(-1) ?? '(no output)';
}

async function main(): Promise<void> {
  if (TOTAL % MESSAGES_PER_COMMIT !== 0) throw new Error(`messages must be a multiple of ${MESSAGES_PER_COMMIT}`);
  const db = await createTestDatabase();
  const dir = makeTempDir('tickets-bench-');
  const prefix = uniquePrefix();
  const redis = new Redis(testRedisUrl());
  const store = await openPostgresStore({ url: db.url, poolSize: CONCURRENCY });
  const buses: Bus[] = [];
  const busOn = (phase: string) => {
    const bus = createRedisBus({ url: testRedisUrl(), keyPrefix: `${prefix}${phase}:` });
    buses.push(bus);
    return bus;
  };
  const lines: string[] = [];
  const report = (line: string) => {
    lines.push(line);
    console.log(line);
  };
  try {
    await store.migrate();
    report(`messages per phase: ${TOTAL}, ${MESSAGES_PER_COMMIT} per commit, ${CONCURRENCY} concurrent committers, relay batch 500`);

    let started = performance.now();
    await commitAll(store, () => {}, TOTAL, 'baseline');
    const baselineMs = performance.now() - started;
    report(`0. baseline, commits alone (no outbox): ${seconds(baselineMs)} s: ${rate(TOTAL, baselineMs)} msg/s`);

    const e2eBus = busOn('e2e');
    const e2e = createBufferedRelay({ store, bus: e2eBus, bufferPath: join(dir.path, 'e2e.db'), clock: systemClock, graceMs: NO_RECONCILING_MS });
    e2e.start();
    started = performance.now();
    await commitAll(store, (messages) => e2e.enqueue(messages), TOTAL, 'e2e');
    const committedMs = performance.now() - started;
    await untilOnStreams(redis, `${prefix}e2e:`, TOTAL);
    const e2eMs = performance.now() - started;
    await e2e.stop();
    report(`1. end to end: committed in ${seconds(committedMs)} s (${rate(TOTAL, committedMs)} msg/s), all on the streams after ${seconds(e2eMs)} s: ${rate(TOTAL, e2eMs)} events/s`);

    const drainBus = busOn('drain');
    const drain = createBufferedRelay({ store, bus: drainBus, bufferPath: join(dir.path, 'drain.db'), clock: systemClock, graceMs: NO_RECONCILING_MS });
    started = performance.now();
    await commitAll(store, (messages) => drain.enqueue(messages), TOTAL, 'drain');
    const fillMs = performance.now() - started;
    report(`   buffer depth before the drain: ${(await drain.stats()).depth} (committed + appended in ${seconds(fillMs)} s)`);
    started = performance.now();
    drain.start();
    await untilOnStreams(redis, `${prefix}drain:`, TOTAL);
    const drainMs = performance.now() - started;
    await drain.stop();
    report(`2. buffer drain (publisher alone): ${TOTAL} in ${seconds(drainMs)} s: ${rate(TOTAL, drainMs)} events/s`);

    const logSize = 3 * TOTAL;
    const reconcilerBus = busOn('reconciler');
    const reconciler = createBufferedRelay({ store, bus: reconcilerBus, bufferPath: join(dir.path, 'reconciler.db'), clock: systemClock, graceMs: 0 });
    started = performance.now();
    await reconciler.flush();
    await untilOnStreams(redis, `${prefix}reconciler:`, logSize);
    const catchUpMs = performance.now() - started;
    report(`3. reconciler catch-up onto empty streams: ${logSize} in ${seconds(catchUpMs)} s: ${rate(logSize, catchUpMs)} events/s`);

    await reconciler.stop();
    await store.execute('DELETE FROM checkpoints WHERE name = $1', [RECONCILER_CHECKPOINT]);
    const resender = createBufferedRelay({ store, bus: reconcilerBus, bufferPath: join(dir.path, 'resender.db'), clock: systemClock, graceMs: 0 });
    started = performance.now();
    await resender.flush();
    const resendMs = performance.now() - started;
    await untilOnStreams(redis, `${prefix}reconciler:`, logSize);
    await resender.stop();
    report(`4. reconciler re-send of ids already published (all skipped): ${logSize} in ${seconds(resendMs)} s: ${rate(logSize, resendMs)} events/s`);

    const benchKey = `${prefix}redis-benchmark`;
    report(`redis-benchmark -t xadd -n 100000 -q: ${await redisBenchmark(['-t', 'xadd', '-n', '100000', '-q'])}`);
    report(`redis-benchmark -n 100000 -q xadd <key> '*' field value: ${await redisBenchmark(['-n', '100000', '-q', 'xadd', benchKey, '*', 'field', 'value'])}`);
    report(`redis-benchmark -n 100000 -P 16 -q xadd <key> '*' field value: ${await redisBenchmark(['-n', '100000', '-P', '16', '-q', 'xadd', benchKey, '*', 'field', 'value'])}`);
    for (const line of await machine()) report(line);
  } finally {
    for (const bus of buses) await bus.close();
    await store.close();
    redis.disconnect();
    await deleteKeys(prefix);
    await db.drop();
    await dir.cleanup();
  }
}

await main();
