import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import { setup } from 'xstate';
import { ManualClock } from '../../src/kernel/clock';
import { AppError } from '../../src/kernel/errors';
import { sequentialIds, type IdSource } from '../../src/kernel/ids';
import { ActorRuntime, type InlineHandler } from '../../src/actors/runtime';
import { TimerLoop } from '../../src/actors/timers';
import type { ActorCommit, CommitOptions, InTransaction, Message, Store } from '../../src/actors/ports';
import { reservationMachine } from '../support/machines/reservation.machine';
import type { StoreHarness } from '../support/stores';

const START = '2030-01-01T00:00:00.000Z';
const meta = { correlation_id: 'corr-1' };

function open(id: string, clock: ManualClock, ttlMs = 60_000) {
  return { type: 'reservation.open', now: clock.now().toISOString(), reservation_id: id, seats: 2, ttl_ms: ttlMs };
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** The actor runtime's behaviour, run against every Store implementation. */
export function runtimeContract(name: string, makeHarness: () => Promise<StoreHarness>) {
  describe(`actor runtime on ${name}`, () => {
    let harness: StoreHarness;
    let store: Store;
    let clock: ManualClock;
    let committed: Message[];
    let ids: IdSource;

    const runtimeOn = (s: Store, extra: Partial<ConstructorParameters<typeof ActorRuntime>[0]> = {}) =>
      new ActorRuntime({
        store: s,
        clock,
        ids,
        kinds: [{ kind: 'reservation', machine: reservationMachine }],
        afterCommit: (messages) => committed.push(...messages),
        ...extra,
      });

    const timersOn = (s: Store, runtime: ActorRuntime, owner = 'test') =>
      new TimerLoop({ store: s, runtime, clock, ids, owner, pollMs: 10, leaseMs: 5_000 });

    beforeEach(async () => {
      harness = await makeHarness();
      store = harness.store;
      clock = new ManualClock(START);
      committed = [];
      ids = sequentialIds();
    });

    afterEach(async () => {
      await harness.cleanup();
    });

    describe('when the actor does not exist', () => {
      it('creates it from its first event when asked to', async () => {
        const runtime = runtimeOn(store);
        const result = await runtime.send('reservation/r1', open('r1', clock), { metadata: meta, create: true });
        expect(result.state).toBe('open');
        expect(result.version).toBe(1);
        expect(result.messages.map((m) => [m.name, m.kind, m.actorSeq])).toEqual([['ReservationOpened_v1', 'event', 1]]);
        expect(result.messages[0]?.metadata.correlation_id).toBe('corr-1');
        const stored = await store.loadActor('reservation/r1');
        expect(stored?.machineId).toBe('reservation-v1');
        expect(stored?.state).toBe('open');
        expect(committed.map((m) => m.name)).toEqual(['ReservationOpened_v1']);
      });

      it('answers 404 for any other event and writes nothing', async () => {
        const runtime = runtimeOn(store);
        const error = await rejection(runtime.send('reservation/nope', { type: 'reservation.confirm', now: START }, { metadata: meta }));
        expect(error.status).toBe(404);
        expect(await store.loadActor('reservation/nope')).toBeNull();
      });

      it('answers 404 for an unknown actor kind', async () => {
        const runtime = runtimeOn(store);
        const error = await rejection(runtime.send('spaceship/1', { type: 'x' }, { metadata: meta, create: true }));
        expect(error.status).toBe(404);
      });
    });

    describe('when the caller minted the id (no lookup first)', () => {
      it('creates the actor in one attempt', async () => {
        const runtime = runtimeOn(store);
        const result = await runtime.send('reservation/m1', open('m1', clock), { metadata: meta, create: true, minted: true });
        expect(result.version).toBe(1);
        expect((await store.loadActor('reservation/m1'))?.state).toBe('open');
      });

      it('still judges a clash against the stored actor', async () => {
        const runtime = runtimeOn(store);
        await runtime.send('reservation/m2', open('m2', clock), { metadata: meta, create: true });
        const error = await rejection(runtime.send('reservation/m2', open('m2', clock), { metadata: meta, create: true, minted: true }));
        expect(error.code).toBe('NOT_ALLOWED_IN_STATE');
        expect((await store.loadActor('reservation/m2'))?.version).toBe(1);
      });
    });

    describe('when the event is not allowed in the current state', () => {
      it('rejects with NOT_ALLOWED_IN_STATE naming the state, writes nothing and journals the rejection', async () => {
        const runtime = runtimeOn(store);
        await runtime.send('reservation/r1', open('r1', clock), { metadata: meta, create: true });
        await runtime.send('reservation/r1', { type: 'reservation.confirm', now: START }, { metadata: meta });
        const error = await rejection(runtime.send('reservation/r1', { type: 'reservation.renew', now: START }, { metadata: meta }));
        expect(error.status).toBe(409);
        expect(error.code).toBe('NOT_ALLOWED_IN_STATE');
        expect(error.detail).toContain('confirmed');
        expect((await store.loadActor('reservation/r1'))?.version).toBe(2);
        expect((await store.readActorMessages('reservation/r1')).length).toBe(3);
        const journal = await store.readJournal('reservation/r1');
        expect(journal.map((j) => [j.event.type, j.rejected])).toEqual([
          ['reservation.open', false],
          ['reservation.confirm', false],
          ['reservation.renew', true],
        ]);
      });
    });

    describe('when commands race', () => {
      it('serialises commands to one actor inside one runtime', async () => {
        const runtime = runtimeOn(store);
        await runtime.send('reservation/r1', open('r1', clock), { metadata: meta, create: true });
        const renewals = await Promise.allSettled(
          [1, 2, 3, 4].map(() => runtime.send('reservation/r1', { type: 'reservation.renew', now: START }, { metadata: meta })),
        );
        expect(renewals.filter((r) => r.status === 'fulfilled').length).toBe(2);
        expect((await store.loadActor('reservation/r1'))?.version).toBe(3);
      });

      it('retries a lost compare-and-set between two runtimes (instances) on one store', async () => {
        const a = runtimeOn(store);
        const b = runtimeOn(store);
        await a.send('reservation/r1', open('r1', clock), { metadata: meta, create: true });
        await b.send('reservation/r1', { type: 'reservation.renew', now: START }, { metadata: meta });
        // a's cache still holds version 1: its command must reload, not fail or overwrite.
        const result = await a.send('reservation/r1', { type: 'reservation.renew', now: START }, { metadata: meta });
        expect(result.version).toBe(3);
        expect((await store.loadActor('reservation/r1'))?.snapshot).toMatchObject({ context: { renewals: 2 } });
      });

      it('judges a rejection on the stored state, not on a stale cache', async () => {
        const a = runtimeOn(store);
        const b = runtimeOn(store);
        await a.send('reservation/r1', open('r1', clock), { metadata: meta, create: true });
        await b.send('reservation/r1', { type: 'reservation.renew', now: START }, { metadata: meta });
        await b.send('reservation/r1', { type: 'reservation.renew', now: START }, { metadata: meta });
        const error = await rejection(a.send('reservation/r1', { type: 'reservation.renew', now: START }, { metadata: meta }));
        expect(error.code).toBe('NOT_ALLOWED_IN_STATE');
        const confirmed = await a.send('reservation/r1', { type: 'reservation.confirm', now: START }, { metadata: meta });
        expect(confirmed.version).toBe(4);
      });
    });

    describe('when inline handlers and transaction hooks run', () => {
      it('writes their changes in the same transaction as the transition', async () => {
        await store.execute('CREATE TABLE IF NOT EXISTS test_seats (reservation_id TEXT PRIMARY KEY, seats INTEGER NOT NULL)');
        const seats: InlineHandler = {
          name: 'seats',
          handles: ['ReservationOpened_v1'],
          apply: async (tx, message) => {
            await tx.execute('INSERT INTO test_seats (reservation_id, seats) VALUES ($1, $2)', [message.data.reservation_id, message.data.seats]);
          },
        };
        const runtime = runtimeOn(store, { inline: [seats] });
        let seenVersion = 0;
        await runtime.send('reservation/r1', open('r1', clock), {
          metadata: meta,
          create: true,
          inTx: async (_tx, result) => {
            seenVersion = result.version;
          },
        });
        expect(seenVersion).toBe(1);
        expect(await store.query('SELECT reservation_id, seats FROM test_seats')).toEqual([{ reservation_id: 'r1', seats: 2 }]);
      });

      it('marks a commit as writing only its own rows unless an inline handler or a transaction hook runs in it', async () => {
        const seen: (CommitOptions | undefined)[] = [];
        const watched: Store = Object.assign(Object.create(store) as Store, {
          commit: (commit: ActorCommit, inTx?: InTransaction, options?: CommitOptions) => {
            seen.push(options);
            return store.commit(commit, inTx, options);
          },
        });
        const counter: InlineHandler = { name: 'counter', handles: ['ReservationConfirmed_v1'], groupable: true, apply: async () => {} };
        const runtime = runtimeOn(watched, { inline: [counter] });
        await runtime.send('reservation/r1', open('r1', clock), { metadata: meta, create: true });
        await runtime.send('reservation/r2', open('r2', clock), { metadata: meta, create: true, inTx: async () => {} });
        await runtime.send('reservation/r1', { type: 'reservation.confirm', now: START }, { metadata: meta });
        expect(seen).toEqual([
          { groupable: true, ownRowsOnly: true },
          { groupable: true, ownRowsOnly: false },
          { groupable: true, ownRowsOnly: false },
        ]);
      });

      it('rolls everything back when an inline handler refuses', async () => {
        const soldOut: InlineHandler = {
          name: 'capacity',
          handles: ['ReservationOpened_v1'],
          apply: async () => {
            throw new AppError({ code: 'SOLD_OUT', status: 400, detail: 'not enough seats available' });
          },
        };
        const runtime = runtimeOn(store, { inline: [soldOut] });
        const error = await rejection(runtime.send('reservation/r1', open('r1', clock), { metadata: meta, create: true }));
        expect(error.code).toBe('SOLD_OUT');
        expect(await store.loadActor('reservation/r1')).toBeNull();
        expect(await store.readActorMessages('reservation/r1')).toEqual([]);
        expect(await store.listTimers('reservation/r1')).toEqual([]);
        expect(committed).toEqual([]);
      });
    });

    describe('when a durable timer is due', () => {
      it('does not fire before its time and fires once after it', async () => {
        const runtime = runtimeOn(store);
        const timers = timersOn(store, runtime);
        await runtime.send('reservation/r1', open('r1', clock), { metadata: meta, create: true });
        expect(await timers.tick()).toBe(0);
        clock.advance(60_000);
        expect(await timers.tick()).toBe(1);
        expect((await store.loadActor('reservation/r1'))?.state).toBe('expired');
        expect(await store.listTimers('reservation/r1')).toEqual([]);
        expect(await timers.tick()).toBe(0);
        expect((await store.readActorMessages('reservation/r1')).filter((m) => m.name === 'ReservationExpired_v1').length).toBe(1);
      });

      it('moves with a renewal and drops a cancelled timer', async () => {
        const runtime = runtimeOn(store);
        const timers = timersOn(store, runtime);
        await runtime.send('reservation/r1', open('r1', clock), { metadata: meta, create: true });
        clock.advance(30_000);
        await runtime.send('reservation/r1', { type: 'reservation.renew', now: clock.now().toISOString() }, { metadata: meta });
        clock.advance(30_000);
        expect(await timers.tick()).toBe(0);
        expect((await store.listTimers('reservation/r1')).map((t) => t.dueAt)).toEqual(['2030-01-01T00:01:30.000Z']);
        await runtime.send('reservation/r1', { type: 'reservation.confirm', now: clock.now().toISOString() }, { metadata: meta });
        expect(await store.listTimers('reservation/r1')).toEqual([]);
      });

      it('fires exactly once in effect across a restart of the runtime and the store', async () => {
        const first = runtimeOn(store);
        await first.send('reservation/r1', open('r1', clock), { metadata: meta, create: true });
        await first.close();
        const reopened = await harness.reopen();
        clock.advance(61_000);
        const second = runtimeOn(reopened);
        const loopA = timersOn(reopened, second, 'a');
        const loopB = timersOn(reopened, second, 'b');
        const fired = await Promise.all([loopA.tick(), loopB.tick(), loopA.tick()]);
        expect(fired.reduce((a, b) => a + b, 0)).toBe(1);
        expect((await reopened.loadActor('reservation/r1'))?.state).toBe('expired');
        const expiredFacts = (await reopened.readActorMessages('reservation/r1')).filter((m) => m.name === 'ReservationExpired_v1');
        expect(expiredFacts.length).toBe(1);
      });

      it('fires again after a lease runs out when the first delivery was lost', async () => {
        const runtime = runtimeOn(store);
        await runtime.send('reservation/r1', open('r1', clock), { metadata: meta, create: true });
        clock.advance(60_000);
        // An instance claims the timer and dies before delivering it.
        expect((await store.claimDueTimers(clock.now().toISOString(), 10, 'dead', 5_000)).length).toBe(1);
        const timers = timersOn(store, runtime);
        expect(await timers.tick()).toBe(0);
        clock.advance(5_001);
        expect(await timers.tick()).toBe(1);
        expect((await store.loadActor('reservation/r1'))?.state).toBe('expired');
      });

      it('drops a timer the actor no longer accepts', async () => {
        const runtime = runtimeOn(store);
        await runtime.send('reservation/r1', open('r1', clock), { metadata: meta, create: true });
        // Simulates a timer left behind by a crash: the actor's deadline has since moved.
        await store.transaction(async (tx) => {
          await tx.execute('UPDATE timers SET due_at = $1 WHERE address = $2', ['2030-01-01T00:00:10.000Z', 'reservation/r1']);
        });
        clock.advance(10_000);
        expect(await timersOn(store, runtime).tick()).toBe(1);
        expect((await store.loadActor('reservation/r1'))?.state).toBe('open');
        expect(await store.listTimers('reservation/r1')).toEqual([]);
      });
    });

    describe('when machines are versioned', () => {
      const reservationV0 = setup({}).createMachine({ id: 'reservation-v0', initial: 'new', states: { new: { on: { 'reservation.open': 'open' } }, open: { on: { 'reservation.confirm': 'done' } }, done: { type: 'final' } } });

      it('keeps an actor on the version that wrote it while new actors start on the current one', async () => {
        const old = new ActorRuntime({ store, clock, ids, kinds: [{ kind: 'reservation', machine: reservationV0 }] });
        await old.send('reservation/old', { type: 'reservation.open', now: START }, { metadata: meta, create: true });
        const current = runtimeOn(store, { kinds: [{ kind: 'reservation', machine: reservationMachine, previous: [reservationV0] }] });
        await current.verifyStoredMachines();
        await current.send('reservation/old', { type: 'reservation.confirm', now: START }, { metadata: meta });
        await current.send('reservation/new', open('new', clock), { metadata: meta, create: true });
        expect((await store.loadActor('reservation/old'))?.machineId).toBe('reservation-v0');
        expect((await store.loadActor('reservation/new'))?.machineId).toBe('reservation-v1');
      });

      it('refuses to start when a stored actor needs a machine version that is not registered', async () => {
        const old = new ActorRuntime({ store, clock, ids, kinds: [{ kind: 'reservation', machine: reservationV0 }] });
        await old.send('reservation/old', { type: 'reservation.open', now: START }, { metadata: meta, create: true });
        await expect(runtimeOn(store).verifyStoredMachines()).rejects.toThrow(/reservation-v0/);
      });
    });
  });
}
