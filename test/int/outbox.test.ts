import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'bun:test';
import { Database } from 'bun:sqlite';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { LOG_START, type LoggedMessage, type Message, type Store } from '../../src/actors/ports';
import { ActorRuntime } from '../../src/actors/runtime';
import { ManualClock } from '../../src/kernel/clock';
import { randomIds } from '../../src/kernel/ids';
import { createLogger } from '../../src/observability/logger';
import { advanceCheckpoint, readCheckpoint } from '../../src/messaging/checkpoints';
import {
  busReadiness,
  createBufferedRelay,
  outboxReadiness,
  createLogRelay,
  RECONCILER_CHECKPOINT,
  RELAY_CHECKPOINT,
  type BufferedRelayOptions,
  type Outbox,
} from '../../src/messaging/outbox';
import type { Bus, BusEntry } from '../../src/messaging/ports';
import { createRedisBus } from '../../src/messaging/redisBus';
import { openSqliteBus } from '../../src/messaging/sqliteBus';
import { streamOf } from '../../src/messaging/wire';
import { reservationMachine } from '../support/machines/reservation.machine';
import { deleteKeys, requireRedis, startRedisServer, testRedisUrl, uniquePrefix, type RedisServer } from '../support/redis';
import { storeHarnesses, type StoreHarness } from '../support/stores';
import { makeTempDir, type TempDir } from '../support/tempDir';

const START = '2030-01-01T00:00:00.000Z';
const meta = { correlation_id: 'corr-1' };
/** Messages committed by one `openAndConfirm`: ReservationOpened_v1, ReservationConfirmed_v1, ChargeCard. */
const PER_RESERVATION = 3;

const sqliteHarness = storeHarnesses.find((h) => h.name === 'sqlite')!;
const postgresHarness = storeHarnesses.find((h) => h.name === 'postgres')!;

function runtimeOn(store: Store, clock: ManualClock, outbox?: Outbox): ActorRuntime {
  return new ActorRuntime({
    store,
    clock,
    ids: randomIds,
    kinds: [{ kind: 'reservation', machine: reservationMachine }],
    ...(outbox ? { afterCommit: (messages: Message[]) => outbox.enqueue(messages) } : {}),
  });
}

async function open(runtime: ActorRuntime, clock: ManualClock, id: string): Promise<void> {
  const now = clock.now().toISOString();
  await runtime.send(`reservation/${id}`, { type: 'reservation.open', now, reservation_id: id, seats: 2, ttl_ms: 60_000 }, { metadata: meta, create: true });
}

async function confirm(runtime: ActorRuntime, clock: ManualClock, id: string): Promise<void> {
  await runtime.send(`reservation/${id}`, { type: 'reservation.confirm', now: clock.now().toISOString() }, { metadata: meta });
}

async function openAndConfirm(runtime: ActorRuntime, clock: ManualClock, id: string): Promise<void> {
  await open(runtime, clock, id);
  await confirm(runtime, clock, id);
}

/** Opens every reservation, then confirms every one, one command at a time: streams interleave actors. */
async function interleaved(runtime: ActorRuntime, clock: ManualClock, ids: string[]): Promise<void> {
  for (const id of ids) await open(runtime, clock, id);
  for (const id of ids) await confirm(runtime, clock, id);
}

const names = (prefix: string, count: number) => Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);

/** Calls `check` every 20 ms until it stops throwing; rethrows its last failure after `timeoutMs`. */
async function eventually<T>(check: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await Bun.sleep(20);
    }
  }
}

/** The whole log in commit order (Postgres shows a message once no older transaction is open). */
async function logOf(store: Store, expected: number): Promise<LoggedMessage[]> {
  return eventually(async () => {
    const log = await store.readMessages(LOG_START, 100_000);
    expect(log.length).toBe(expected);
    return log;
  });
}

/** Message ids per stream, each stream in the order given. */
function byStream(messages: Pick<Message, 'id' | 'kind' | 'name'>[]): Record<string, string[]> {
  const streams: Record<string, string[]> = {};
  for (const message of messages) (streams[streamOf(message)] ??= []).push(message.id);
  return streams;
}

let checkGroups = 0;

/** Every entry of a stream, read through a group of its own. */
async function entriesOf(bus: Bus, stream: string): Promise<BusEntry[]> {
  const group = `check-${++checkGroups}`;
  await bus.ensureGroup(stream, group);
  return bus.readNew(stream, group, 'checker', 100_000, 0);
}

/** What `streams` hold on the bus, in the same form as `byStream`. */
async function onBus(bus: Bus, streams: string[]): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const stream of streams) result[stream] = (await entriesOf(bus, stream)).map((entry) => entry.message.id);
  return result;
}

/** Waits until `streams` (by default those of `messages`) hold exactly `messages`, each stream in their order. */
async function expectOnBus(bus: Bus, messages: Message[], options: { streams?: string[]; timeoutMs?: number } = {}): Promise<void> {
  const published = byStream(messages);
  const streams = options.streams ?? Object.keys(published);
  const expected = Object.fromEntries(streams.map((stream) => [stream, published[stream] ?? []]));
  await eventually(async () => expect(await onBus(bus, streams)).toEqual(expected), options.timeoutMs);
}

/** Ids as a sorted list: streams are published concurrently, so only the order within a stream is fixed. */
const sorted = (ids: string[]) => [...ids].sort();
const idsOf = (messages: Message[]) => sorted(messages.map((m) => m.id));

/** A bus that records the id of every message handed to `publish`, and can be made to fail. */
function recordingBus(bus: Bus) {
  const handed: string[] = [];
  const state = { down: false };
  const proxy = new Proxy(bus, {
    get(target, property) {
      if (property === 'publish') {
        return async (stream: string, messages: Parameters<Bus['publish']>[1]) => {
          if (state.down) throw new Error('bus down');
          await target.publish(stream, messages);
          handed.push(...messages.map((message) => message.id));
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { bus: proxy, handed, state };
}

async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`metric ${name} is not registered`);
  const { values } = await metric.get();
  const value = values.find((v) => Object.entries(labels).every(([key, label]) => v.labels[key] === label));
  return value?.value ?? 0;
}

describe('outbox', () => {
  describe('log relay (embedded: SQLite store, SQLite bus)', () => {
    let harness: StoreHarness;
    let store: Store;
    let dir: TempDir;
    let bus: Bus;
    let clock: ManualClock;
    let relays: Outbox[];

    const relayOn = (options: Partial<Parameters<typeof createLogRelay>[0]> = {}) => {
      const relay = createLogRelay({ store, bus, clock, pollMs: 20, maxBackoffMs: 50, ...options });
      relays.push(relay);
      return relay;
    };

    beforeEach(async () => {
      harness = await sqliteHarness.make();
      store = harness.store;
      dir = makeTempDir('tickets-outbox-');
      bus = openSqliteBus({ path: join(dir.path, 'bus.db') });
      clock = new ManualClock(START);
      relays = [];
    });

    afterEach(async () => {
      for (const relay of relays) await relay.stop();
      await bus.close();
      await harness.cleanup();
      await dir.cleanup();
    });

    describe('when actors commit messages', () => {
      it('publishes every committed message to its stream once, in commit order', async () => {
        const relay = relayOn();
        relay.start();
        const runtime = runtimeOn(store, clock, relay);

        await interleaved(runtime, clock, names('r', 5));
        await Promise.all(names('p', 20).map((id) => openAndConfirm(runtime, clock, id)));

        await expectOnBus(bus, await logOf(store, 25 * PER_RESERVATION));
      });

      it('publishes a commit at once, without waiting for the next poll', async () => {
        const relay = relayOn({ pollMs: 60_000 });
        relay.start();
        await Bun.sleep(50);
        const started = Date.now();

        await open(runtimeOn(store, clock, relay), clock, 'r1');

        await expectOnBus(bus, await logOf(store, 1), { timeoutMs: 2_000 });
        expect(Date.now() - started).toBeLessThan(2_000);
      });
    });

    describe('when the relay restarts', () => {
      it('resumes from its checkpoint without re-publishing what it published', async () => {
        const recorded = recordingBus(bus);
        const first = relayOn({ bus: recorded.bus });
        await interleaved(runtimeOn(store, clock, first), clock, names('a', 3));
        await first.flush();
        await first.stop();
        const published = await logOf(store, 3 * PER_RESERVATION);
        expect(sorted(recorded.handed)).toEqual(idsOf(published));
        expect(await readCheckpoint(store, RELAY_CHECKPOINT)).toEqual(published.at(-1)!.cursor);

        recorded.handed.length = 0;
        const second = relayOn({ bus: recorded.bus });
        await interleaved(runtimeOn(store, clock, second), clock, names('b', 2));
        second.start();

        const all = await logOf(store, 5 * PER_RESERVATION);
        await expectOnBus(bus, all);
        await eventually(async () => expect(sorted(recorded.handed)).toEqual(idsOf(all.slice(published.length))));
        await eventually(async () => expect(await readCheckpoint(store, RELAY_CHECKPOINT)).toEqual(all.at(-1)!.cursor));
      });
    });

    describe('when another relay moved the checkpoint first', () => {
      it('re-reads the checkpoint and goes on from there', async () => {
        const recorded = recordingBus(bus);
        const relay = relayOn({ bus: recorded.bus });
        const runtime = runtimeOn(store, clock);
        await openAndConfirm(runtime, clock, 'r1');
        await relay.flush();
        await openAndConfirm(runtime, clock, 'r2');
        const log = await logOf(store, 2 * PER_RESERVATION);
        const other = log[4]!.cursor;
        expect(await advanceCheckpoint(store, RELAY_CHECKPOINT, log[2]!.cursor, other, START)).toBe(true);
        recorded.handed.length = 0;

        await relay.flush();

        await expectOnBus(bus, log);
        expect(sorted(recorded.handed)).toEqual(idsOf([...log.slice(3), log[5]!]));
        expect(await readCheckpoint(store, RELAY_CHECKPOINT)).toEqual(log[5]!.cursor);
      });
    });

    describe('when the bus fails', () => {
      it('keeps the checkpoint, retries with backoff and publishes everything once it is back', async () => {
        const registry = new Registry();
        const recorded = recordingBus(bus);
        recorded.state.down = true;
        const relay = relayOn({ bus: recorded.bus, registry });
        relay.start();

        await interleaved(runtimeOn(store, clock, relay), clock, names('r', 3));
        await eventually(async () => expect(await metricValue(registry, 'outbox_publish_failures_total', { source: 'relay' })).toBeGreaterThan(1));
        expect(await readCheckpoint(store, RELAY_CHECKPOINT)).toEqual(LOG_START);
        recorded.state.down = false;

        const log = await logOf(store, 3 * PER_RESERVATION);
        await expectOnBus(bus, log);
        expect(await metricValue(registry, 'outbox_published_total', { source: 'relay' })).toBe(log.length);
      });
    });

    describe('when asked for stats', () => {
      it('reports the messages past the checkpoint and the age of the oldest, also as metrics', async () => {
        const registry = new Registry();
        const relay = relayOn({ registry });
        const runtime = runtimeOn(store, clock, relay);
        expect(await relay.stats()).toEqual({ depth: 0, oldestAgeSeconds: 0 });

        await open(runtime, clock, 'r1');
        clock.advance(10_000);
        await open(runtime, clock, 'r2');
        clock.advance(2_500);

        expect(await relay.stats()).toEqual({ depth: 2, oldestAgeSeconds: 12.5 });
        expect(await metricValue(registry, 'outbox_depth')).toBe(2);
        expect(await metricValue(registry, 'outbox_oldest_age_seconds')).toBe(12.5);

        await relay.flush();

        expect(await relay.stats()).toEqual({ depth: 0, oldestAgeSeconds: 0 });
        expect(await metricValue(registry, 'outbox_depth')).toBe(0);
        expect(await metricValue(registry, 'outbox_published_total', { source: 'relay' })).toBe(2);
      });
    });

    describe('when used as a readiness check', () => {
      it('passes while the bus answers and fails once it is closed', async () => {
        const check = busReadiness(bus);
        expect(check.name).toBe('bus');
        await check.check();
        await bus.close();
        await expect(check.check()).rejects.toThrow('closed');
      });
    });
  });

  describe('buffered relay (distributed: Postgres store, Redis bus)', () => {
    let harness: StoreHarness;
    let store: Store;
    let dir: TempDir;
    let keyPrefix: string;
    let bus: Bus;
    let clock: ManualClock;
    let relays: Outbox[];
    let bufferPath: string;

    const relayOn = (options: Partial<BufferedRelayOptions> = {}) => {
      const relay = createBufferedRelay({
        store,
        bus,
        bufferPath,
        clock,
        graceMs: 1_000,
        pollMs: 20,
        reconcileMs: 20,
        maxBackoffMs: 100,
        ...options,
      });
      relays.push(relay);
      return relay;
    };

    beforeAll(async () => {
      await requireRedis();
    });

    beforeEach(async () => {
      harness = await postgresHarness.make();
      store = harness.store;
      dir = makeTempDir('tickets-outbox-');
      bufferPath = join(dir.path, 'outbox.db');
      keyPrefix = uniquePrefix();
      bus = createRedisBus({ url: testRedisUrl(), keyPrefix });
      clock = new ManualClock(START);
      relays = [];
    });

    afterEach(async () => {
      for (const relay of relays) await relay.stop();
      await bus.close();
      await deleteKeys(keyPrefix);
      await harness.cleanup();
      await dir.cleanup();
    });

    describe('when actors commit messages', () => {
      it('publishes every committed message to its stream once, in commit order', async () => {
        const relay = relayOn();
        relay.start();

        await interleaved(runtimeOn(store, clock, relay), clock, names('r', 8));

        const log = await logOf(store, 8 * PER_RESERVATION);
        await expectOnBus(bus, log);
        await eventually(async () => expect(await relay.stats()).toEqual({ depth: 0, oldestAgeSeconds: 0 }));
      });

      it('publishes concurrent commits once each, every actor in order', async () => {
        const relay = relayOn();
        relay.start();

        await Promise.all(names('p', 30).map((id) => openAndConfirm(runtimeOn(store, clock, relay), clock, id)));

        const log = await logOf(store, 30 * PER_RESERVATION);
        const streams = Object.keys(byStream(log));
        const entries = await eventually(async () => {
          const all = (await Promise.all(streams.map((stream) => entriesOf(bus, stream)))).flat();
          expect(all.length).toBe(log.length);
          return all;
        });
        expect(entries.map((e) => e.message.id).sort()).toEqual(log.map((m) => m.id).sort());
        for (const stream of streams) {
          const ofStream = entries.filter((e) => e.stream === stream);
          for (const actor of new Set(ofStream.map((e) => e.message.actor))) {
            const seqs = ofStream.filter((e) => e.message.actor === actor).map((e) => e.message.actorSeq);
            expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
          }
        }
      });

      it('publishes a commit at once, without waiting for the next poll', async () => {
        const relay = relayOn({ pollMs: 60_000 });
        relay.start();
        await Bun.sleep(50);
        const started = Date.now();

        await open(runtimeOn(store, clock, relay), clock, 'r1');

        await expectOnBus(bus, await logOf(store, 1), { timeoutMs: 2_000 });
        expect(Date.now() - started).toBeLessThan(2_000);
      });

      it('lets the reconciler pass over what the buffer published, sending nothing twice', async () => {
        const recorded = recordingBus(bus);
        const relay = relayOn({ bus: recorded.bus });
        await interleaved(runtimeOn(store, clock, relay), clock, names('r', 3));
        await relay.flush();
        const log = await logOf(store, 3 * PER_RESERVATION);

        clock.advance(1_000);
        await relay.flush();

        expect(sorted(recorded.handed)).toEqual(idsOf(log));
        await expectOnBus(bus, log);
        expect(await readCheckpoint(store, RECONCILER_CHECKPOINT)).toEqual(log.at(-1)!.cursor);
      });
    });

    describe('when the relay restarts', () => {
      it('publishes what its buffer still holds and resumes the reconciler from its checkpoint, re-sending nothing else', async () => {
        const recorded = recordingBus(bus);
        const first = relayOn({ bus: recorded.bus });
        await interleaved(runtimeOn(store, clock, first), clock, names('a', 2));
        await first.flush();
        await interleaved(runtimeOn(store, clock, first), clock, names('b', 2));
        expect((await first.stats()).depth).toBe(2 * PER_RESERVATION);
        await first.stop();
        const log = await logOf(store, 4 * PER_RESERVATION);
        const [published, buffered] = [log.slice(0, 2 * PER_RESERVATION), log.slice(2 * PER_RESERVATION)];
        expect(sorted(recorded.handed)).toEqual(idsOf(published));

        recorded.handed.length = 0;
        const second = relayOn({ bus: recorded.bus });
        second.start();

        await expectOnBus(bus, log);
        await eventually(async () => expect(await second.stats()).toEqual({ depth: 0, oldestAgeSeconds: 0 }));
        expect(sorted(recorded.handed)).toEqual(idsOf(buffered));

        clock.advance(1_000);
        await second.flush();
        await second.stop();
        recorded.handed.length = 0;
        const third = relayOn({ bus: recorded.bus });
        await openAndConfirm(runtimeOn(store, clock, third), clock, 'c1');
        const all = await logOf(store, 5 * PER_RESERVATION);
        clock.advance(1_000);
        await third.flush();

        const latest = all.slice(log.length);
        expect(sorted(recorded.handed)).toEqual(idsOf(latest));
        await expectOnBus(bus, all);
      });
    });

    describe('when messages were committed but never reached the buffer', () => {
      it('publishes them once they are older than the grace period', async () => {
        const relay = relayOn();
        relay.start();

        await interleaved(runtimeOn(store, clock), clock, names('r', 4));
        const log = await logOf(store, 4 * PER_RESERVATION);
        await relay.flush();
        clock.advance(999);
        await relay.flush();
        expect(Object.values(await onBus(bus, Object.keys(byStream(log)))).flat()).toEqual([]);

        clock.advance(1);

        await expectOnBus(bus, log);
        await eventually(async () => expect(await readCheckpoint(store, RECONCILER_CHECKPOINT)).toEqual(log.at(-1)!.cursor));
      });

      it('stops at the first message younger than the grace period, even when older ones follow it', async () => {
        const relay = relayOn();
        const runtime = runtimeOn(store, clock);
        await open(runtime, clock, 'r0');
        clock.advance(600);
        await open(runtime, clock, 'r1');
        // Stamped earlier but committed later, as when a slow transaction commits after a quicker one.
        clock.set(START);
        await open(runtime, clock, 'r2');
        const log = await logOf(store, 3);
        clock.advance(1_000);

        await relay.flush();

        await expectOnBus(bus, log.slice(0, 1));
        expect(await readCheckpoint(store, RECONCILER_CHECKPOINT)).toEqual(log[0]!.cursor);

        clock.advance(600);
        await relay.flush();

        await expectOnBus(bus, log);
        expect(await readCheckpoint(store, RECONCILER_CHECKPOINT)).toEqual(log[2]!.cursor);
      });
    });

    describe('when the buffer file is lost', () => {
      it('still publishes everything through the reconciler', async () => {
        const first = relayOn();
        await interleaved(runtimeOn(store, clock, first), clock, names('r', 3));
        expect((await first.stats()).depth).toBe(3 * PER_RESERVATION);
        await first.stop();
        await Promise.all(['', '-wal', '-shm'].map((suffix) => rm(`${bufferPath}${suffix}`, { force: true })));

        const second = relayOn();
        second.start();
        expect(await second.stats()).toEqual({ depth: 0, oldestAgeSeconds: 0 });
        clock.advance(1_000);

        await expectOnBus(bus, await logOf(store, 3 * PER_RESERVATION));
      });

      it('does not throw when the buffer cannot be written, and the reconciler publishes the messages', async () => {
        const relay = relayOn();
        await relay.stop();
        const later = relayOn();
        later.start();

        await interleaved(runtimeOn(store, clock, relay), clock, names('r', 2));
        clock.advance(1_000);

        await expectOnBus(bus, await logOf(store, 2 * PER_RESERVATION));
      });
    });

    describe('when the buffer cannot be written (a full disk)', () => {
      it('fails its readiness check and logs once for many failed appends, the reconciler publishes, and it recovers with the disk', async () => {
        let buffer: Database | undefined;
        const lines: Array<Record<string, unknown>> = [];
        const relay = relayOn({
          openBuffer: (path) => (buffer = new Database(path, { create: true, readwrite: true, strict: true })),
          logger: createLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
          appendFailureReportMs: 1_000,
        });
        const pages = buffer!.query<{ page_count: number }, []>('PRAGMA page_count').get()!.page_count;
        buffer!.run(`PRAGMA max_page_count = ${pages}`);
        // The last page filled up as well, so that no append fits any more (rows the relay would publish, so deleted before it starts).
        try {
          for (;;) buffer!.run("INSERT INTO outbox_buffer (message, occurred_at) VALUES ('filler', '')");
        } catch {
          // Full.
        }
        const check = outboxReadiness(relay);

        // Not started yet, so that no publishing frees the buffer's pages meanwhile.
        await interleaved(runtimeOn(store, clock, relay), clock, names('r', 30));
        await expect(check.check()).rejects.toThrow(/^the outbox buffer could not be written 0 s ago: database or disk is full$/);
        const failures = lines.filter((line) => String(line.msg).startsWith('outbox buffer append failed'));
        expect(failures.map((line) => [line.level, line.appends_failed_since_last_log])).toEqual([['error', 1]]);
        buffer!.run("DELETE FROM outbox_buffer WHERE message = 'filler'");
        relay.start();
        clock.advance(1_000);
        await expectOnBus(bus, await logOf(store, 30 * PER_RESERVATION));

        buffer!.run('PRAGMA max_page_count = 1000000');
        await interleaved(runtimeOn(store, clock, relay), clock, ['r31']);
        await eventually(() => check.check(), 2_000);
        // The appends that failed after the logged one are counted when appends work again.
        const recovery = lines.find((line) => line.msg === 'outbox buffer appends work again');
        expect(recovery?.appends_failed_since_last_log).toBeGreaterThan(0);
      });

      it('still stops, and a later start publishes the rows it could not forget (the bus skips them)', async () => {
        let buffer: Database | undefined;
        const relay = relayOn({ openBuffer: (path) => (buffer = new Database(path, { create: true, readwrite: true, strict: true })) });
        relay.start();
        await interleaved(runtimeOn(store, clock, relay), clock, names('r', 2));
        await expectOnBus(bus, await logOf(store, 2 * PER_RESERVATION));
        // Deleting the published rows fails as on a full disk: the file refuses every write.
        buffer!.run('PRAGMA query_only = ON');

        await relay.stop();

        const again = relayOn();
        again.start();
        await eventually(async () => expect(await again.stats()).toEqual({ depth: 0, oldestAgeSeconds: 0 }));
        await expectOnBus(bus, await logOf(store, 2 * PER_RESERVATION));
      });
    });

    describe('when Redis is down', () => {
      let server: RedisServer;

      beforeAll(async () => {
        server = await startRedisServer();
      });

      afterAll(async () => {
        await server.stop();
      });

      it('keeps accepting commits, grows the buffer and drains it once, in order, when Redis is back', async () => {
        const registry = new Registry();
        const privateBus = createRedisBus({ url: server.url });
        try {
          const relay = relayOn({ bus: privateBus, registry, graceMs: 60_000, maxBackoffMs: 200 });
          relay.start();
          const runtime = runtimeOn(store, clock, relay);
          await openAndConfirm(runtime, clock, 'before');
          await expectOnBus(privateBus, await logOf(store, PER_RESERVATION));

          await server.stop();
          await interleaved(runtime, clock, names('r', 10));
          await eventually(async () => expect(await metricValue(registry, 'outbox_publish_failures_total', { source: 'buffer' })).toBeGreaterThan(1));
          clock.advance(30_000);

          expect(await relay.stats()).toEqual({ depth: 10 * PER_RESERVATION, oldestAgeSeconds: 30 });
          expect(await metricValue(registry, 'outbox_depth')).toBe(10 * PER_RESERVATION);
          expect(await metricValue(registry, 'outbox_oldest_age_seconds')).toBe(30);

          await server.restart();

          // The private server keeps no data: after the restart it holds only what the buffer drained.
          const log = await logOf(store, 11 * PER_RESERVATION);
          await expectOnBus(privateBus, log.slice(PER_RESERVATION));
          await eventually(async () => expect(await relay.stats()).toEqual({ depth: 0, oldestAgeSeconds: 0 }));
          expect(await metricValue(registry, 'outbox_published_total', { source: 'buffer' })).toBe(log.length);
        } finally {
          for (const relay of relays) await relay.stop();
          await privateBus.close();
        }
      }, 30_000);
    });
  });
});
