import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import { Registry } from 'prom-client';
import { LOG_START, type LoggedMessage, type Message, type SqlExecutor, type Store } from '../../src/actors/ports';
import { ActorRuntime } from '../../src/actors/runtime';
import { rebuildProjection } from '../../src/cli/projections';
import { ManualClock, type Clock } from '../../src/kernel/clock';
import { createLogger } from '../../src/observability/logger';
import { storeUnavailable } from '../../src/kernel/errors';
import { sequentialIds, type IdSource } from '../../src/kernel/ids';
import { readCheckpoint } from '../../src/messaging/checkpoints';
import {
  createProjectionRunner,
  defineProjection,
  project,
  rowsOf,
  UnknownProjectionError,
  type ProjectionRunner,
  type ProjectionRunnerOptions,
} from '../../src/messaging/projections';
import { reservationMachine } from '../support/machines/reservation.machine';
import { allReservations, reservationsIn, reservationsProjection } from '../support/projections/reservations.projection';
import { storeHarnesses, type StoreHarness } from '../support/stores';

const START = '2030-01-01T00:00:00.000Z';
const meta = { correlation_id: 'corr-1' };

type CountRow = { status: string; reservations: number };

/**
 * How many reservations are in each status: a fact touches two rows (the status left and the one
 * entered) and a row is deleted when its count reaches zero.
 */
const countsProjection = defineProjection<CountRow>({
  name: 'reservation_counts',
  table: 'reservation_counts_view',
  key: 'status',
  columns: { status: 'text', reservations: 'integer' },
  handles: ['ReservationOpened_v1', 'ReservationExpired_v1', 'ReservationConfirmed_v1'],
  keyOf: (fact) => (fact.name === 'ReservationOpened_v1' ? 'open' : ['open', fact.name === 'ReservationExpired_v1' ? 'expired' : 'confirmed']),
  evolve(row, fact, key) {
    const leaving = key === 'open' && fact.name !== 'ReservationOpened_v1';
    const reservations = (row?.reservations ?? 0) + (leaving ? -1 : 1);
    return reservations === 0 ? null : { status: key, reservations };
  },
});

const projections = [reservationsProjection, countsProjection];

/** Waits until `check` holds, polling every 10 ms for at most `timeoutMs`. */
async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await Bun.sleep(10);
  }
}

async function readLog(store: Store): Promise<LoggedMessage[]> {
  const messages: LoggedMessage[] = [];
  for (let cursor = LOG_START; ; ) {
    const batch = await store.readMessages(cursor, 1000);
    const last = batch.at(-1);
    if (!last) return messages;
    messages.push(...batch);
    cursor = last.cursor;
  }
}

/**
 * The whole committed log. Postgres shows no commit newer than a transaction still open anywhere on the
 * server (another test's database included) until that one ends, so this waits for every committed message.
 */
async function wholeLog(store: Store): Promise<LoggedMessage[]> {
  const [count] = await store.query<{ n: number }>('SELECT COUNT(*) AS n FROM messages');
  let log: LoggedMessage[] = [];
  await waitFor(async () => (log = await readLog(store)).length === Number(count?.n));
  return log;
}

/** Catches the runner up to the end of the whole committed log (see wholeLog). */
async function settle(runner: ProjectionRunner, store: Store): Promise<void> {
  const head = (await wholeLog(store)).at(-1)?.cursor ?? LOG_START;
  await waitFor(async () => {
    await runner.catchUp();
    for (const projection of projections) {
      if (!Bun.deepEquals(await readCheckpoint(store, `projection:${projection.name}`), head)) return false;
    }
    return true;
  });
}

const byKey = <Row extends Record<string, unknown>>(key: keyof Row & string, rows: Iterable<Row>) =>
  [...rows].sort((a, b) => (String(a[key]) < String(b[key]) ? -1 : 1));

/** Both read models as a fresh replay of the whole log gives them. */
async function replayed(store: Store) {
  const log: Message[] = await wholeLog(store);
  return {
    reservations: byKey('reservation_id', project(reservationsProjection, log).values()),
    counts: byKey('status', project(countsProjection, log).values()),
  };
}

/** Both read models as their live tables hold them. */
async function tables(store: Store) {
  return {
    reservations: await allReservations(store),
    counts: await rowsOf(countsProjection, store, 'ORDER BY status'),
  };
}

async function appliedTotal(registry: Registry, projection: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'projection_applied_total');
  return metric?.values.find((v) => v.labels.projection === projection)?.value ?? 0;
}

async function lag(registry: Registry, projection: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'projection_lag_messages');
  return metric?.values.find((v) => v.labels.projection === projection)?.value ?? -1;
}

async function indexNames(store: Store): Promise<string[]> {
  const rows =
    store.dialect === 'postgres'
      ? await store.query<{ name: string }>("SELECT indexname AS name FROM pg_indexes WHERE tablename LIKE 'reservation%' ORDER BY indexname")
      : await store.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name LIKE 'reservation%' ORDER BY name");
  return rows.map((row) => row.name);
}

async function tableNames(store: Store): Promise<string[]> {
  const rows =
    store.dialect === 'postgres'
      ? await store.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE tablename LIKE 'reservation%' ORDER BY tablename")
      : await store.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'reservation%' ORDER BY name");
  return rows.map((row) => row.name);
}

for (const { name, make } of storeHarnesses) {
  describe(`projections on ${name}`, () => {
    let harness: StoreHarness;
    let clock: ManualClock;
    let ids: IdSource;
    let runners: ProjectionRunner[];
    let notify: () => void;

    const runtimeOn = (store: Store) =>
      new ActorRuntime({ store, clock, ids, kinds: [{ kind: 'reservation', machine: reservationMachine }], afterCommit: () => notify() });

    const runnerOn = (store: Store, options: Partial<ProjectionRunnerOptions> = {}) => {
      const runner = createProjectionRunner({ store, projections, clock, pollMs: 20, ...options });
      runners.push(runner);
      return runner;
    };

    const openReservation = (runtime: ActorRuntime, id: string, seats = 2) =>
      runtime.send(`reservation/${id}`, { type: 'reservation.open', now: clock.now().toISOString(), reservation_id: id, seats, ttl_ms: 60_000 }, { metadata: meta, create: true });
    const confirm = (runtime: ActorRuntime, id: string) =>
      runtime.send(`reservation/${id}`, { type: 'reservation.confirm', now: clock.now().toISOString() }, { metadata: meta });
    const expire = async (runtime: ActorRuntime, id: string) => {
      const actor = await runtime.get(`reservation/${id}`);
      return runtime.send(`reservation/${id}`, { type: 'reservation.expire', now: clock.now().toISOString(), due_at: actor?.context.expiresAt }, { metadata: meta });
    };

    /** r<from>…r<to-1> opened; every third confirmed, every fifth of the rest expired. Returns the facts committed. */
    async function bookings(runtime: ActorRuntime, from: number, to: number): Promise<number> {
      let facts = 0;
      for (let i = from; i < to; i++) {
        await openReservation(runtime, `r${String(i).padStart(4, '0')}`, 1 + (i % 4));
        clock.advance(1_000);
        facts += 1;
      }
      for (let i = from; i < to; i++) {
        const id = `r${String(i).padStart(4, '0')}`;
        if (i % 3 === 0) await confirm(runtime, id);
        else if (i % 5 === 0) await expire(runtime, id);
        else continue;
        clock.advance(1_000);
        facts += 1;
      }
      return facts;
    }

    beforeEach(async () => {
      harness = await make();
      clock = new ManualClock(START);
      ids = sequentialIds();
      runners = [];
      notify = () => {};
    });

    afterEach(async () => {
      for (const runner of runners) await runner.stop();
      await harness.cleanup();
    });

    describe('runner', () => {
      describe('when facts are committed', () => {
        it('applies each fact of real commits exactly once', async () => {
          const { store } = harness;
          const registry = new Registry();
          const runner = runnerOn(store, { registry, batchSize: 7 });
          await runner.ensureTables();
          const facts = await bookings(runtimeOn(store), 0, 20);

          expect(await lag(registry, 'reservations')).toBeGreaterThan(0);
          await settle(runner, store);
          await runner.catchUp();

          expect(await tables(store)).toEqual(await replayed(store));
          const rows = await allReservations(store);
          expect(rows).toHaveLength(20);
          expect(rows.every((row) => row.history.length === new Set(row.history).size)).toBe(true);
          expect(await rowsOf(countsProjection, store, 'ORDER BY status')).toEqual([
            { status: 'confirmed', reservations: 7 },
            { status: 'expired', reservations: 2 },
            { status: 'open', reservations: 11 },
          ]);
          expect((await reservationsIn(store, 'expired')).map((row) => row.reservation_id)).toEqual(['r0005', 'r0010']);
          expect(await appliedTotal(registry, 'reservations')).toBe(facts);
          expect(await appliedTotal(registry, 'reservation_counts')).toBe(facts);
          expect(await lag(registry, 'reservations')).toBe(0);
        });

        it('deletes a row when evolve returns null', async () => {
          const { store } = harness;
          const runner = runnerOn(store);
          await runner.ensureTables();
          const runtime = runtimeOn(store);
          await openReservation(runtime, 'a');
          await openReservation(runtime, 'b');
          await settle(runner, store);
          expect(await rowsOf(countsProjection, store)).toEqual([{ status: 'open', reservations: 2 }]);

          await confirm(runtime, 'a');
          await expire(runtime, 'b');
          await settle(runner, store);
          expect(await rowsOf(countsProjection, store, 'ORDER BY status')).toEqual([
            { status: 'confirmed', reservations: 1 },
            { status: 'expired', reservations: 1 },
          ]);
        });
      });

      describe('when the projections are at one checkpoint', () => {
        it('reads the log once for all of them and writes them in one transaction', async () => {
          const { store } = harness;
          const calls = { readMessages: 0, transaction: 0 };
          const counted = new Proxy(store, {
            get(target, property) {
              const value = Reflect.get(target, property);
              if (typeof value !== 'function') return value;
              if (property === 'readMessages' || property === 'transaction') {
                return (...args: unknown[]) => {
                  calls[property] += 1;
                  return (value as (...a: unknown[]) => unknown).apply(target, args);
                };
              }
              return value.bind(target);
            },
          });
          // Only the first round (and the empty read after it) runs: nobody notifies and the poll is long.
          const runner = runnerOn(counted, { pollMs: 60_000 });
          await runner.ensureTables();
          await bookings(runtimeOn(store), 0, 6);
          await wholeLog(store);
          calls.readMessages = 0;
          calls.transaction = 0;

          runner.start();
          await waitFor(async () => (await allReservations(store)).length === 6 && (await rowsOf(countsProjection, store)).length > 0);
          await waitFor(async () => calls.readMessages === 2);
          expect(calls.transaction).toBe(1);
          expect(await tables(store)).toEqual(await replayed(store));
        });
      });

      describe('when the service restarts', () => {
        it('resumes from its checkpoint and applies only what it had not', async () => {
          const first = runnerOn(harness.store);
          await first.ensureTables();
          const runtime = runtimeOn(harness.store);
          await bookings(runtime, 0, 10);
          await settle(first, harness.store);
          const pending = await bookings(runtime, 10, 20);

          const store = await harness.reopen();
          const registry = new Registry();
          const second = runnerOn(store, { registry });
          await second.ensureTables();
          const later = await bookings(runtimeOn(store), 20, 25);
          await settle(second, store);

          expect(await tables(store)).toEqual(await replayed(store));
          expect(await appliedTotal(registry, 'reservations')).toBe(pending + later);
        });
      });

      describe('when evolve throws', () => {
        /**
         * A runner of the counts projection (and `others`) whose evolve throws what `failure` gives for a
         * fact until `heal()`; its warnings and errors land in `lines`.
         */
        const failingCounts = (failure: (fact: { name: string }) => Error | undefined, others: Parameters<typeof createProjectionRunner>[0]['projections'] = []) => {
          let failing = true;
          const fragile = defineProjection<CountRow>({
            ...countsProjection,
            evolve(row, fact, key) {
              const error = failing ? failure(fact) : undefined;
              if (error) throw error;
              return countsProjection.evolve(row, fact, key);
            },
          });
          const lines: string[] = [];
          const runner = createProjectionRunner({
            store: harness.store,
            projections: [fragile, ...others],
            clock,
            pollMs: 5,
            logger: createLogger({ level: 'warn', write: (line) => lines.push(line) }),
          });
          runners.push(runner);
          return { runner, lines, heal: () => void (failing = false) };
        };

        it('applies nothing of the batch, retries it, and lets the other projections go on', async () => {
          const { store } = harness;
          const { runner, lines, heal } = failingCounts((fact) => (fact.name === 'ReservationConfirmed_v1' ? new Error('bug in evolve') : undefined), [reservationsProjection]);
          await runner.ensureTables();
          await bookings(runtimeOn(store), 0, 6);
          await wholeLog(store);

          await expect(runner.catchUp()).rejects.toThrow('bug in evolve');
          expect(await rowsOf(countsProjection, store)).toEqual([]);
          expect(await readCheckpoint(store, 'projection:reservation_counts')).toEqual(LOG_START);

          runner.start();
          await waitFor(async () => (await allReservations(store)).length === 6 && lines.length >= 3);
          expect(await rowsOf(countsProjection, store)).toEqual([]);
          // Two failures may be a dropped connection that mends itself: warnings; the third is an error.
          expect(lines.slice(0, 3).map((line) => JSON.parse(line))).toMatchObject([1, 2, 3].map((failures) => ({
            level: failures < 3 ? 'warn' : 'error', msg: 'projection failed; it will be retried', projection: 'reservation_counts', failures,
          })));

          heal();
          await waitFor(async () => (await rowsOf(countsProjection, store)).length > 0);
          await runner.stop();
          await settle(runner, store);
          expect(await rowsOf(countsProjection, store, 'ORDER BY status')).toEqual([
            { status: 'confirmed', reservations: 2 },
            { status: 'expired', reservations: 1 },
            { status: 'open', reservations: 3 },
          ]);
        });

        it('logs the failures a store that cannot take the work causes as warnings however long it lasts (readiness and the refused requests tell of it)', async () => {
          const { store } = harness;
          const { runner, lines, heal } = failingCounts(() => storeUnavailable(new Error('cannot execute INSERT in a read-only transaction')));
          await runner.ensureTables();
          await bookings(runtimeOn(store), 0, 2);
          await wholeLog(store);

          runner.start();
          await waitFor(async () => lines.length >= 4);
          heal();
          await runner.stop();
          expect(lines.slice(0, 4).map((line) => JSON.parse(line))).toMatchObject([1, 2, 3, 4].map((failures) => ({ level: 'warn', msg: 'projection failed; it will be retried', failures })));
        });
      });

      describe('when it is stopped and started again', () => {
        it('catches up on what was committed meanwhile', async () => {
          const { store } = harness;
          const runner = runnerOn(store);
          notify = () => runner.notify();
          await runner.ensureTables();
          runner.start();
          const runtime = runtimeOn(store);
          await bookings(runtime, 0, 10);
          await waitFor(async () => (await allReservations(store)).length === 10);
          await runner.stop();

          await bookings(runtime, 10, 20);
          expect(await allReservations(store)).toHaveLength(10);

          runner.start();
          await waitFor(async () => JSON.stringify(await tables(store)) === JSON.stringify(await replayed(store)));
          expect(await tables(store)).toEqual(await replayed(store));
        });
      });

      describe('when two runners tail one store', () => {
        it('applies each fact once between them', async () => {
          const { store } = harness;
          const registries = [new Registry(), new Registry()] as const;
          const a = runnerOn(store, { registry: registries[0], batchSize: 3, pollMs: 5 });
          const b = runnerOn(store, { registry: registries[1], batchSize: 3, pollMs: 5 });
          notify = () => {
            a.notify();
            b.notify();
          };
          await Promise.all([a.ensureTables(), b.ensureTables()]);
          a.start();
          b.start();
          const runtime = runtimeOn(store);
          const committed = await Promise.all([bookings(runtime, 0, 15), bookings(runtime, 15, 30), bookings(runtime, 30, 45)]);
          await Promise.all([a.catchUp(), b.catchUp()]);
          await Promise.all([a.stop(), b.stop()]);
          await settle(a, store);

          expect(await tables(store)).toEqual(await replayed(store));
          const facts = committed.reduce((sum, n) => sum + n, 0);
          expect((await appliedTotal(registries[0], 'reservations')) + (await appliedTotal(registries[1], 'reservations'))).toBe(facts);
          expect((await appliedTotal(registries[0], 'reservation_counts')) + (await appliedTotal(registries[1], 'reservation_counts'))).toBe(facts);
          expect(await rowsOf(countsProjection, store, "WHERE status = 'open'")).toEqual([{ status: 'open', reservations: 45 - 15 - 6 }]);
        });
      });

      describe('when a live table is created afresh', () => {
        it('replays the log from the start, whatever checkpoint was left', async () => {
          const { store } = harness;
          const runner = runnerOn(store);
          await runner.ensureTables();
          await bookings(runtimeOn(store), 0, 10);
          await settle(runner, store);
          await store.execute('DROP TABLE reservations_view');

          await runner.ensureTables();
          await settle(runner, store);
          expect(await tables(store)).toEqual(await replayed(store));
        });
      });
    });

    describe('settle', () => {
      describe('when facts were committed and the loop is not running', () => {
        it('applies them to that projection alone, once for many callers, before it resolves true', async () => {
          const { store } = harness;
          const registry = new Registry();
          const runner = runnerOn(store, { registry, batchSize: 4 });
          await runner.ensureTables();
          const facts = await bookings(runtimeOn(store), 0, 12);

          const settled = await Promise.all(Array.from({ length: 8 }, () => runner.settle('reservations', { timeoutMs: 10_000 })));
          expect(settled).toEqual(Array.from({ length: 8 }, () => true));
          expect(await allReservations(store)).toEqual((await replayed(store)).reservations);
          expect(await appliedTotal(registry, 'reservations')).toBe(facts);
          expect(await rowsOf(countsProjection, store)).toEqual([]);
          expect(await runner.settle('reservations', { timeoutMs: 10_000 })).toBe(true);
          expect(() => runner.settle('nope', { timeoutMs: 10 })).toThrow(UnknownProjectionError);
        });
      });

      describe('when the log cannot be read in time', () => {
        it('resolves false after the timeout with a warning, and reaches the head on a later call', async () => {
          const { store } = harness;
          let release!: () => void;
          const held = new Promise<void>((resolve) => (release = resolve));
          const stalled = new Proxy(store, {
            get(target, property) {
              const value = Reflect.get(target, property);
              if (typeof value !== 'function') return value;
              if (property !== 'readMessages') return value.bind(target);
              return async (...args: unknown[]) => {
                await held;
                return (value as (...a: unknown[]) => unknown).apply(target, args);
              };
            },
          });
          const lines: string[] = [];
          const runner = runnerOn(stalled, { logger: createLogger({ level: 'warn', write: (line) => lines.push(line) }) });
          await runner.ensureTables();
          await bookings(runtimeOn(store), 0, 3);

          const started = performance.now();
          expect(await runner.settle('reservations', { timeoutMs: 100 })).toBe(false);
          const waited = performance.now() - started;
          expect(waited).toBeGreaterThanOrEqual(90);
          expect(waited).toBeLessThan(2_000);
          expect(await allReservations(store)).toEqual([]);
          expect(lines.map((line) => JSON.parse(line))).toEqual([
            expect.objectContaining({ level: 'warn', msg: 'read model not caught up with the log in time; it is served as it is', projection: 'reservations', timeout_ms: 100, checkpoint: 0 }),
          ]);

          release();
          expect(await runner.settle('reservations', { timeoutMs: 10_000 })).toBe(true);
          expect(await allReservations(store)).toHaveLength(3);
        });
      });

      describe('when the projection is failing', () => {
        it('resolves false at once with a warning, leaving the retries to the loop', async () => {
          const { store } = harness;
          const fragile = defineProjection<CountRow>({
            ...countsProjection,
            evolve() {
              throw new Error('bug in evolve');
            },
          });
          const lines: string[] = [];
          const runner = createProjectionRunner({ store, projections: [fragile], clock, pollMs: 5, logger: createLogger({ level: 'warn', write: (line) => lines.push(line) }) });
          runners.push(runner);
          await runner.ensureTables();
          await bookings(runtimeOn(store), 0, 2);
          runner.start();
          await waitFor(async () => lines.length > 0);

          const started = performance.now();
          expect(await runner.settle('reservation_counts', { timeoutMs: 10_000 })).toBe(false);
          expect(performance.now() - started).toBeLessThan(1_000);
          expect(JSON.parse(lines.at(-1)!)).toMatchObject({ level: 'warn', projection: 'reservation_counts', failing: true });
        });
      });

      if (name === 'postgres') {
        describe('when a transaction that took its id before a committed one is still open', () => {
          it('waits for it, then applies both in commit order although their positions are not in that order', async () => {
            const { store } = harness;
            const runner = runnerOn(store, { batchSize: 1 });
            await runner.ensureTables();
            const insertOpened = (tx: SqlExecutor, id: string) =>
              tx.execute(
                'INSERT INTO messages (id, name, kind, actor, actor_seq, data, metadata, occurred_at) VALUES ($1, $2, $3, $4, $5, $6::text::jsonb, $7::text::jsonb, $8)',
                [crypto.randomUUID(), 'ReservationOpened_v1', 'event', `reservation/${id}`, 1, JSON.stringify({ reservation_id: id, seats: 1 }), JSON.stringify(meta), START],
              );
            let idTaken!: () => void;
            const hasId = new Promise<void>((resolve) => (idTaken = resolve));
            let release!: () => void;
            const released = new Promise<void>((resolve) => (release = resolve));
            // The older transaction takes its id first and its position last.
            const older = store.transaction(async (tx) => {
              await tx.query('SELECT pg_current_xact_id()');
              idTaken();
              await released;
              await insertOpened(tx, 'older');
            });
            await hasId;
            await store.transaction((tx) => insertOpened(tx, 'newer'));

            expect(await runner.settle('reservations', { timeoutMs: 200 })).toBe(false);
            expect(await allReservations(store)).toEqual([]);

            release();
            await older;
            const log = await wholeLog(store);
            expect(log.map((m) => m.data.reservation_id)).toEqual(['older', 'newer']);
            expect(log[0]!.position).toBeGreaterThan(log[1]!.position);
            expect(await runner.settle('reservations', { timeoutMs: 10_000 })).toBe(true);
            expect((await allReservations(store)).map((r) => r.reservation_id)).toEqual(['newer', 'older']);
          });
        });
      }
    });

    describe('rebuild', () => {
      it('produces the same rows as the live table, under the live index names', async () => {
        const { store } = harness;
        const runner = runnerOn(store, { batchSize: 4 });
        await runner.ensureTables();
        await bookings(runtimeOn(store), 0, 30);
        await settle(runner, store);
        const live = await tables(store);
        const liveIndexes = await indexNames(store);
        const checkpoint = await readCheckpoint(store, 'projection:reservations');

        const first = await runner.rebuild('reservations');
        const second = await runner.rebuild('reservations');

        expect(await tables(store)).toEqual(live);
        expect(await indexNames(store)).toEqual(liveIndexes);
        expect(await tableNames(store)).toEqual(['reservation_counts_view', 'reservations_view']);
        expect(await readCheckpoint(store, 'projection:reservations')).toEqual(checkpoint);
        expect(second).toEqual(first);
        expect(first).toMatchObject({ name: 'reservations', table: 'reservations_view', rows: 30, checkpoint });
        await settle(runner, store);
        expect(await tables(store)).toEqual(live);
        if (store.dialect === 'postgres') {
          // Swapped in with its column statistics, so the planner knows its values without waiting for autovacuum.
          const [stats] = await store.query<{ columns: number }>("SELECT count(*) AS columns FROM pg_stats WHERE tablename = 'reservations_view'");
          expect(Number(stats?.columns)).toBeGreaterThan(0);
        }
      });

      it('keeps serving the live table while commands commit, and ends equal to a fresh replay', async () => {
        const { store } = harness;
        const runner = runnerOn(store, { batchSize: 5, pollMs: 5 });
        notify = () => runner.notify();
        await runner.ensureTables();
        const runtime = runtimeOn(store);
        await bookings(runtime, 0, 40);
        await settle(runner, store);
        runner.start();

        let rebuilding = true;
        let committedDuringRebuild = 0;
        const committer = (async () => {
          for (let i = 1000; rebuilding; i++) {
            await openReservation(runtime, `c${i}`);
            if (i % 2 === 0) await confirm(runtime, `c${i}`);
            committedDuringRebuild += 1;
            await Bun.sleep(1);
          }
        })();

        const servedDuringReplay: number[] = [];
        const result = await runner.rebuild('reservations', async () => {
          servedDuringReplay.push((await allReservations(store)).length);
        });
        rebuilding = false;
        await committer;
        await runner.stop();
        await settle(runner, store);

        expect(committedDuringRebuild).toBeGreaterThan(0);
        expect(servedDuringReplay.length).toBeGreaterThan(5);
        expect(Math.min(...servedDuringReplay)).toBeGreaterThanOrEqual(40);
        expect(result.rows).toBeGreaterThanOrEqual(40);
        expect(await tables(store)).toEqual(await replayed(store));
      });

      it('brings a live runner that is behind to where the rebuild got, applying nothing twice', async () => {
        const { store } = harness;
        const runner = runnerOn(store, { batchSize: 5 });
        await runner.ensureTables();
        const runtime = runtimeOn(store);
        await bookings(runtime, 0, 20);
        await settle(runner, store);
        await bookings(runtime, 20, 30);
        await wholeLog(store);

        let rebuilding = true;
        const committer = (async () => {
          for (let i = 1000; rebuilding; i++) await openReservation(runtime, `c${i}`);
        })();
        const result = await runner.rebuild('reservations');
        rebuilding = false;
        await committer;

        expect(await readCheckpoint(store, 'projection:reservations')).toEqual(result.checkpoint);
        expect(result.rows).toBeGreaterThanOrEqual(30);
        await settle(runner, store);
        expect(await tables(store)).toEqual(await replayed(store));
      });

      it('leaves the live table and its checkpoint intact when interrupted', async () => {
        const { store } = harness;
        const runner = runnerOn(store, { batchSize: 4 });
        await runner.ensureTables();
        const runtime = runtimeOn(store);
        await bookings(runtime, 0, 20);
        await settle(runner, store);
        const live = await tables(store);
        const checkpoint = await readCheckpoint(store, 'projection:reservations');

        let batches = 0;
        const interrupted = runner.rebuild('reservations', () => {
          batches += 1;
          if (batches === 3) throw new Error('operator pressed ctrl-c');
        });
        await expect(interrupted).rejects.toThrow('operator pressed ctrl-c');

        expect(await tables(store)).toEqual(live);
        expect(await readCheckpoint(store, 'projection:reservations')).toEqual(checkpoint);
        expect(await tableNames(store)).toEqual(['reservation_counts_view', 'reservations_view']);

        await bookings(runtime, 20, 25);
        await settle(runner, store);
        expect(await tables(store)).toEqual(await replayed(store));
        await runner.rebuild('reservations');
        expect(await tables(store)).toEqual(await replayed(store));
      });

      it('drops a table left over by a rebuild that crashed', async () => {
        const { store } = harness;
        const runner = runnerOn(store);
        await runner.ensureTables();
        await bookings(runtimeOn(store), 0, 10);
        await settle(runner, store);
        await store.execute('CREATE TABLE reservations_view__rebuild (junk TEXT)');
        await store.execute("INSERT INTO reservations_view__rebuild (junk) VALUES ('left over')");

        await runner.rebuild('reservations');
        expect(await tables(store)).toEqual(await replayed(store));
        expect(await tableNames(store)).toEqual(['reservation_counts_view', 'reservations_view']);
      });

      it('refuses a second rebuild of a projection while one runs, and takes over the lease of one that stopped (killed)', async () => {
        const { store } = harness;
        const runner = runnerOn(store, { batchSize: 4 });
        await runner.ensureTables();
        await bookings(runtimeOn(store), 0, 20);
        await settle(runner, store);
        let reached!: () => void;
        let release!: () => void;
        const paused = new Promise<void>((resolve) => {
          reached = resolve;
        });
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        const first = runner.rebuild('reservations', async () => {
          reached();
          await gate;
        });
        await paused;

        await expect(runnerOn(store).rebuild('reservations')).rejects.toThrow(/a rebuild of reservations is running already/);
        // Another projection's rebuild is not held up.
        expect((await runnerOn(store).rebuild('reservation_counts')).name).toBe('reservation_counts');
        release();
        await first;
        expect(await tables(store)).toEqual(await replayed(store));

        // What a rebuild killed with SIGKILL leaves: a lease nobody renews any more.
        await store.execute("INSERT INTO leases (name, owner, renewed_at) VALUES ('rebuild:reservations', 'killed', '2000-01-01T00:00:00.000Z')");
        await runner.rebuild('reservations');
        expect(await tables(store)).toEqual(await replayed(store));
        expect(await store.query('SELECT name FROM leases')).toEqual([]);
      });

      it('rejects an unknown name, listing the known ones', async () => {
        const runner = runnerOn(harness.store);
        await expect(runner.rebuild('bookings')).rejects.toThrow('unknown projection "bookings"; known projections: reservations, reservation_counts');
      });
    });

    describe('tickets projections rebuild', () => {
      /** A clock that moves 100 ms every time it is read, so that the rate is deterministic. */
      const ticking = (): Clock => {
        let ms = Date.parse(START);
        return { now: () => new Date((ms += 100)) };
      };

      it('prints progress every N messages and a summary', async () => {
        const { store } = harness;
        const runner = runnerOn(store, { batchSize: 5 });
        await runner.ensureTables();
        await bookings(runtimeOn(store), 0, 12);
        await settle(runner, store);
        const log = await wholeLog(store);
        const facts = log.filter((m) => reservationsProjection.handles.includes(m.name)).length;

        const lines: string[] = [];
        const result = await rebuildProjection({ runner, name: 'reservations', write: (line) => lines.push(line), every: 10, clock: ticking() });

        expect(lines[0]).toBe('rebuilding projection reservations from the event log into reservations_view__rebuild; reservations_view keeps serving until the swap');
        const progress = lines.slice(1, -1);
        expect(progress.length).toBe(Math.floor(log.length / 10));
        for (const line of progress) expect(line).toMatch(/^ {2}\d+ messages read, \d+ facts applied, at log position \d+ \(\d+ messages\/s\)$/);
        expect(lines.at(-1)).toMatch(
          new RegExp(`^rebuilt projection reservations: ${log.length} messages read, ${facts} facts applied, 12 rows in reservations_view, in \\d+\\.\\d s \\(\\d+ messages/s\\); the live runner continues from log position ${log.at(-1)?.position}$`),
        );
        expect(result).toMatchObject({ read: log.length, applied: facts, rows: 12 });
      });

      it('fails on an unknown name with the known names, writing nothing', async () => {
        const runner = runnerOn(harness.store);
        const lines: string[] = [];
        const failing = rebuildProjection({ runner, name: 'reservation', write: (line) => lines.push(line) });
        await expect(failing).rejects.toBeInstanceOf(UnknownProjectionError);
        await expect(failing).rejects.toThrow('known projections: reservations, reservation_counts');
        expect(lines).toEqual([]);
      });
    });
  });
}
