import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import {
  LOG_START,
  VersionConflictError,
  type ActorCommit,
  type IdempotencyClaim,
  type LoggedMessage,
  type Message,
  type NewMessage,
  type Store,
  type StoredResponse,
} from '../../src/actors/ports';

/** A migrated, empty store for one test; `reopen` really closes it and opens the same data again. */
export interface ContractStore {
  store: Store;
  reopen(): Promise<Store>;
  cleanup(): Promise<void>;
}

const T0 = '2030-01-01T00:00:00.000Z';
/** T0 plus `ms`, in the stored time format. */
const at = (ms: number) => new Date(Date.parse(T0) + ms).toISOString();
const meta = { correlation_id: 'corr-1', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };

let idCounter = 0;
const nextId = () => `00000000-0000-4000-8000-${(++idCounter).toString(16).padStart(12, '0')}`;

function message(actor: string, actorSeq: number, name = 'Happened_v1'): NewMessage {
  return {
    id: nextId(),
    name,
    kind: 'event',
    actor,
    actorSeq,
    data: { seq: actorSeq, nested: { ok: true, list: [1, 2] } },
    metadata: meta,
    occurredAt: at(actorSeq),
  };
}

/** A commit of `address` from `expectedVersion`; `overrides` replace any part of it. */
function commitOf(address: string, expectedVersion: number, overrides: Partial<ActorCommit> = {}): ActorCommit {
  return {
    address,
    kind: address.split('/')[0] ?? 'thing',
    machineId: 'thing-v1',
    expectedVersion,
    state: `s${expectedVersion + 1}`,
    status: 'active',
    snapshot: { value: `s${expectedVersion + 1}`, context: { n: expectedVersion + 1 } },
    messages: [],
    timers: { set: [], cancel: [], cancelAll: false },
    journal: {
      event: { type: 'thing.step', n: expectedVersion + 1 },
      fromState: `s${expectedVersion}`,
      toState: `s${expectedVersion + 1}`,
      messageIds: overrides.messages?.map((m) => m.id) ?? [],
      at: at(expectedVersion),
      correlationId: 'corr-1',
      traceId: 'trace-1',
    },
    traceparent: meta.traceparent,
    correlationId: 'corr-1',
    at: at(expectedVersion * 1000),
    ...overrides,
  };
}

const timer = (name: string, dueAt: string) => ({ name, dueAt, event: { type: `thing.${name}`, due: dueAt } });

function claimOf(overrides: Partial<IdempotencyClaim> = {}): IdempotencyClaim {
  return {
    scope: 'user-1:POST /things',
    key: 'key-1',
    fingerprint: 'fp-1',
    now: T0,
    lockedUntil: at(30_000),
    expiresAt: at(86_400_000),
    ...overrides,
  };
}

const response: StoredResponse = { status: 201, body: '{"id":"thing-1"}', headers: { 'content-type': 'application/json', location: '/things/1' } };

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

class Boom extends Error {}

/** A logged message as `commit` returned it, for comparing what was read with what was written. */
function withoutCursor({ cursor: _cursor, ...message }: LoggedMessage): Message {
  return message;
}

/**
 * Retries `assertion` until it passes or `timeoutMs` runs out. readMessages stops below the oldest
 * transaction still running (in Postgres anywhere on the server), so it may lag a moment behind.
 */
async function eventually(assertion: () => Promise<void>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await Bun.sleep(20);
    }
  }
}

/**
 * The behaviour of the Store port, run against every implementation (SQLite and PostgreSQL).
 * `open` gives each test its own migrated, empty store.
 */
export function storeContract(name: string, open: () => Promise<ContractStore>) {
  describe(`Store on ${name}`, () => {
    let harness: ContractStore;
    let store: Store;

    const notes = () => store.query<{ id: string; note: string | null }>('SELECT id, note FROM contract_notes ORDER BY id');

    beforeEach(async () => {
      harness = await open();
      store = harness.store;
      await store.execute('CREATE TABLE IF NOT EXISTS contract_notes (id TEXT PRIMARY KEY, note TEXT)');
      await store.execute('DELETE FROM contract_notes');
    });

    afterEach(async () => {
      await harness.cleanup();
    });

    describe('migrate', () => {
      describe('when the schema is up to date', () => {
        it('applies nothing, keeps the data and reports no pending migration when run twice', async () => {
          await store.commit(commitOf('thing/1', 0));
          await store.migrate();
          await store.migrate();
          expect(await store.pendingMigrations()).toEqual([]);
          expect((await store.loadActor('thing/1'))?.version).toBe(1);
        });
      });
    });

    describe('ping', () => {
      describe('when the database is open', () => {
        it('resolves', async () => {
          await store.ping();
        });
      });
    });

    describe('serverTime', () => {
      it("reads the database server's clock, which here runs on this machine", async () => {
        const before = Date.now();
        const time = await store.serverTime();
        const after = Date.now();
        expect(time).toBeInstanceOf(Date);
        // A server on this machine: its clock is this one, give or take a few milliseconds of rounding.
        expect(time.getTime()).toBeGreaterThanOrEqual(before - 5);
        expect(time.getTime()).toBeLessThanOrEqual(after + 5);
      });
    });

    describe('raw SQL', () => {
      describe('when statements use $n placeholders', () => {
        it('binds parameters, returns rows from query and the changed row count from execute', async () => {
          expect(await store.execute('INSERT INTO contract_notes (id, note) VALUES ($1, $2), ($3, $4)', ['a', 'x', 'b', 'y'])).toBe(2);
          expect(await store.execute('UPDATE contract_notes SET note = $1 WHERE id = $2', ['z', 'a'])).toBe(1);
          expect(await store.execute('UPDATE contract_notes SET note = $1 WHERE id = $2', ['z', 'missing'])).toBe(0);
          expect(await store.query('SELECT id, note FROM contract_notes WHERE id = $1 OR note = $2 ORDER BY id', ['a', 'y'])).toEqual([
            { id: 'a', note: 'z' },
            { id: 'b', note: 'y' },
          ]);
        });

        it('binds a Date as RFC 3339 text and undefined as NULL', async () => {
          await store.execute('INSERT INTO contract_notes (id, note) VALUES ($1, $2), ($3, $4)', ['d', new Date(T0), 'u', undefined]);
          expect(await notes()).toEqual([
            { id: 'd', note: T0 },
            { id: 'u', note: null },
          ]);
        });

        it('returns counts as numbers', async () => {
          await store.execute("INSERT INTO contract_notes (id, note) VALUES ('a', 'x'), ('b', 'y')");
          expect(await store.query('SELECT count(*) AS n FROM contract_notes')).toEqual([{ n: 2 }]);
        });
      });

      describe('when a write with RETURNING runs through query outside a transaction', () => {
        it('writes and returns the rows', async () => {
          const rows = await store.query('INSERT INTO contract_notes (id, note) VALUES ($1, $2) RETURNING id', ['r', 'x']);
          expect(rows).toEqual([{ id: 'r' }]);
          expect(await notes()).toEqual([{ id: 'r', note: 'x' }]);
        });
      });
    });

    describe('commit', () => {
      describe('when the actor is new', () => {
        it('stores it at version 1 with its machine, state, status, snapshot and times', async () => {
          await store.commit(commitOf('thing/1', 0));
          expect(await store.loadActor('thing/1')).toEqual({
            address: 'thing/1',
            kind: 'thing',
            machineId: 'thing-v1',
            version: 1,
            lastSeq: 0,
            state: 's1',
            status: 'active',
            snapshot: { value: 's1', context: { n: 1 } },
            createdAt: at(0),
            updatedAt: at(0),
          });
        });

        it('throws VersionConflictError when the actor was created meanwhile', async () => {
          await store.commit(commitOf('thing/1', 0));
          expect(await rejectionOf(store.commit(commitOf('thing/1', 0, { state: 'other' })))).toBeInstanceOf(VersionConflictError);
          expect((await store.loadActor('thing/1'))?.state).toBe('s1');
        });
      });

      describe('when loading an actor that was never committed', () => {
        it('returns null', async () => {
          expect(await store.loadActor('thing/none')).toBeNull();
        });
      });

      describe('when the actor exists', () => {
        it('updates it to the next version at the expected version, keeping createdAt', async () => {
          await store.commit(commitOf('thing/1', 0, { messages: [message('thing/1', 1)] }));
          await store.commit(commitOf('thing/1', 1, { machineId: 'thing-v2', status: 'done' }));
          expect(await store.loadActor('thing/1')).toEqual({
            address: 'thing/1',
            kind: 'thing',
            machineId: 'thing-v2',
            version: 2,
            lastSeq: 1,
            state: 's2',
            status: 'done',
            snapshot: { value: 's2', context: { n: 2 } },
            createdAt: at(0),
            updatedAt: at(1000),
          });
        });

        it('throws VersionConflictError at a stale version and changes nothing', async () => {
          await store.commit(commitOf('thing/1', 0));
          await store.commit(commitOf('thing/1', 1));
          const stale = commitOf('thing/1', 1, { messages: [message('thing/1', 1)], timers: { set: [timer('t', at(5))], cancel: [], cancelAll: false } });
          expect(await rejectionOf(store.commit(stale))).toBeInstanceOf(VersionConflictError);
          expect((await store.loadActor('thing/1'))?.version).toBe(2);
          expect(await store.readActorMessages('thing/1')).toEqual([]);
          expect(await store.listTimers('thing/1')).toEqual([]);
          expect(await store.readJournal('thing/1')).toHaveLength(2);
        });
      });

      describe('when two commits race on one version', () => {
        it('lets exactly one succeed and the other throw VersionConflictError', async () => {
          await store.commit(commitOf('thing/1', 0));
          const results = await Promise.allSettled([
            store.commit(commitOf('thing/1', 1, { state: 'left', messages: [message('thing/1', 1)] })),
            store.commit(commitOf('thing/1', 1, { state: 'right', messages: [message('thing/1', 1)] })),
          ]);
          const fulfilled = results.filter((r) => r.status === 'fulfilled');
          const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
          expect(fulfilled).toHaveLength(1);
          expect(rejected).toHaveLength(1);
          expect(rejected[0]?.reason).toBeInstanceOf(VersionConflictError);
          expect(rejected[0]?.reason.address).toBe('thing/1');
          const actor = await store.loadActor('thing/1');
          expect(actor?.version).toBe(2);
          expect(await store.readActorMessages('thing/1')).toHaveLength(1);
        });

        it('lets exactly one create a new actor', async () => {
          const results = await Promise.allSettled([store.commit(commitOf('thing/1', 0)), store.commit(commitOf('thing/1', 0))]);
          expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
          const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
          expect(rejected?.reason).toBeInstanceOf(VersionConflictError);
        });
      });

      describe('when the commit emits messages', () => {
        it('returns them with increasing positions and moves lastSeq to the last one', async () => {
          const emitted = [message('thing/1', 1), message('thing/1', 2, 'BookFlight')];
          const written = await store.commit(commitOf('thing/1', 0, { messages: emitted }));
          expect(written.map(({ position: _, ...rest }) => rest)).toEqual(emitted);
          const [first, second] = written;
          expect(typeof first?.position).toBe('number');
          expect(second!.position).toBeGreaterThan(first!.position);
          expect((await store.loadActor('thing/1'))?.lastSeq).toBe(2);
        });

        it("reads one actor's messages in actorSeq order", async () => {
          const first = await store.commit(commitOf('thing/1', 0, { messages: [message('thing/1', 1), message('thing/1', 2)] }));
          await store.commit(commitOf('thing/2', 0, { messages: [message('thing/2', 1)] }));
          const second = await store.commit(commitOf('thing/1', 1, { messages: [message('thing/1', 3)] }));
          expect(await store.readActorMessages('thing/1')).toEqual([...first, ...second]);
          expect(await store.readActorMessages('thing/none')).toEqual([]);
        });

        it('reads all messages after a position, at most limit, in commit order', async () => {
          const all: Message[] = [];
          all.push(...(await store.commit(commitOf('thing/1', 0, { messages: [message('thing/1', 1), message('thing/1', 2)] }))));
          all.push(...(await store.commit(commitOf('thing/2', 0, { messages: [message('thing/2', 1)] }))));
          all.push(...(await store.commit(commitOf('thing/1', 1, { messages: [message('thing/1', 3)] }))));
          await eventually(async () => {
            const logged = await store.readMessages(LOG_START, 100);
            expect(logged.map(withoutCursor)).toEqual(all);
            expect((await store.readMessages(LOG_START, 2)).map(withoutCursor)).toEqual(all.slice(0, 2));
            expect((await store.readMessages(logged[1]!.cursor, 100)).map(withoutCursor)).toEqual(all.slice(2));
            expect(await store.readMessages(logged[3]!.cursor, 100)).toEqual([]);
          });
        });

        it('gives the cursor of the last committed message as the log head, LOG_START when there is none', async () => {
          expect(await store.logHead()).toEqual(LOG_START);
          await store.commit(commitOf('thing/1', 0, { messages: [message('thing/1', 1), message('thing/1', 2)] }));
          await store.commit(commitOf('thing/2', 0, { messages: [message('thing/2', 1)] }));
          // logHead does not wait for older open transactions; readMessages does, so it is polled.
          const head = await store.logHead();
          await eventually(async () => expect((await store.readMessages(LOG_START, 100)).at(-1)?.cursor).toEqual(head));
        });

        it('writes many messages in one commit', async () => {
          const emitted = Array.from({ length: 1200 }, (_, i) => message('thing/1', i + 1));
          const written = await store.commit(commitOf('thing/1', 0, { messages: emitted }));
          expect(written.map((m) => m.id)).toEqual(emitted.map((m) => m.id));
          expect(await store.readActorMessages('thing/1')).toEqual(written);
          expect((await store.loadActor('thing/1'))?.lastSeq).toBe(1200);
        });
      });

      describe('when inTx writes in the commit transaction', () => {
        it('gets the written messages, sees its own writes and commits them with the transition', async () => {
          const emitted = [message('thing/1', 1)];
          let seen: Message[] = [];
          let versionInside: unknown;
          const written = await store.commit(commitOf('thing/1', 0, { messages: emitted }), async (tx, messages) => {
            seen = messages;
            await tx.execute('INSERT INTO contract_notes (id, note) VALUES ($1, $2)', ['n1', messages[0]!.id]);
            versionInside = (await tx.query<{ version: number }>('SELECT version FROM actors WHERE address = $1', ['thing/1']))[0]?.version;
          });
          expect(seen).toEqual(written);
          expect(versionInside).toBe(1);
          expect(await notes()).toEqual([{ id: 'n1', note: emitted[0]!.id }]);
        });
      });

      describe('when inTx throws', () => {
        it('rolls back the actor, messages, timers, journal and idempotency completion', async () => {
          const first = await store.commit(
            commitOf('thing/1', 0, { messages: [message('thing/1', 1)], timers: { set: [timer('a', at(10))], cancel: [], cancelAll: false } }),
          );
          await store.claimIdempotency(claimOf());
          const before = {
            actor: await store.loadActor('thing/1'),
            messages: await store.readActorMessages('thing/1'),
            timers: await store.listTimers('thing/1'),
            journal: await store.readJournal('thing/1'),
          };

          const failing = commitOf('thing/1', 1, {
            messages: [message('thing/1', 2)],
            timers: { set: [timer('b', at(20))], cancel: ['a'], cancelAll: false },
          });
          const error = await rejectionOf(
            store.commit(failing, async (tx) => {
              await tx.execute('INSERT INTO contract_notes (id, note) VALUES ($1, $2)', ['n1', 'x']);
              await tx.completeIdempotency(claimOf().scope, claimOf().key, response);
              throw new Boom('inline handler failed');
            }),
          );

          expect(error).toBeInstanceOf(Boom);
          expect(await store.loadActor('thing/1')).toEqual(before.actor);
          expect(await store.readActorMessages('thing/1')).toEqual(before.messages);
          await eventually(async () => expect((await store.readMessages(LOG_START, 100)).map(withoutCursor)).toEqual(first));
          expect(await store.listTimers('thing/1')).toEqual(before.timers);
          expect(await store.readJournal('thing/1')).toEqual(before.journal);
          expect(await notes()).toEqual([]);
          expect(await store.claimIdempotency(claimOf())).toEqual({ outcome: 'in_progress' });
        });

        it('leaves a new actor unwritten', async () => {
          const error = await rejectionOf(
            store.commit(commitOf('thing/1', 0, { messages: [message('thing/1', 1)] }), async () => {
              throw new Boom('no');
            }),
          );
          expect(error).toBeInstanceOf(Boom);
          expect(await store.loadActor('thing/1')).toBeNull();
          expect(await store.readActorMessages('thing/1')).toEqual([]);
          expect(await store.readJournal('thing/1')).toEqual([]);
        });
      });
      describe('when groupable commits of many actors arrive at once', () => {
        it('commits each on its own: a lost race and a failing inTx fail alone, the others are written whole', async () => {
          await store.commit(commitOf('thing/stale', 0));
          const addresses = Array.from({ length: 12 }, (_, i) => `thing/g${i}`);
          const outcomes = await Promise.allSettled([
            ...addresses.map((address) =>
              store.commit(
                commitOf(address, 0, { messages: [message(address, 1)] }),
                async (tx, written) => {
                  await tx.execute('INSERT INTO contract_notes (id, note) VALUES ($1, $2)', [address, written[0]!.id]);
                  if (address === 'thing/g5') throw new Boom('inline rule refused');
                },
                { groupable: true },
              ),
            ),
            store.commit(commitOf('thing/stale', 0, { messages: [message('thing/stale', 1)] }), undefined, { groupable: true }),
          ]);

          const failures = outcomes.flatMap((outcome, i) => (outcome.status === 'rejected' ? [[i, outcome.reason] as const] : []));
          expect(failures.map(([i]) => i)).toEqual([5, 12]);
          expect(failures[0]![1]).toBeInstanceOf(Boom);
          expect(failures[1]![1]).toBeInstanceOf(VersionConflictError);
          const committed = addresses.filter((address) => address !== 'thing/g5');
          for (const address of committed) {
            const [written] = (outcomes[addresses.indexOf(address)] as PromiseFulfilledResult<Message[]>).value;
            expect(await store.readActorMessages(address)).toEqual([written!]);
            expect((await store.loadActor(address))?.version).toBe(1);
          }
          expect(await store.loadActor('thing/g5')).toBeNull();
          expect((await store.loadActor('thing/stale'))?.version).toBe(1);
          expect((await notes()).map((note) => note.id)).toEqual([...committed].sort());
        });
      });
    });

    describe('transaction', () => {
      describe('when the callback resolves', () => {
        it('commits its writes and resolves with its value', async () => {
          const value = await store.transaction(async (tx) => {
            await tx.execute('INSERT INTO contract_notes (id, note) VALUES ($1, $2)', ['a', 'x']);
            return 42;
          });
          expect(value).toBe(42);
          expect(await notes()).toEqual([{ id: 'a', note: 'x' }]);
        });

        it('sees its own writes while reads outside it do not until it commits', async () => {
          let inside: unknown[] = [];
          let outside: unknown[] = [];
          await store.transaction(async (tx) => {
            await tx.execute('INSERT INTO contract_notes (id, note) VALUES ($1, $2)', ['a', 'x']);
            inside = await tx.query('SELECT id FROM contract_notes');
            outside = await store.query('SELECT id FROM contract_notes');
          });
          expect(inside).toEqual([{ id: 'a' }]);
          expect(outside).toEqual([]);
        });
      });

      describe('when the callback throws', () => {
        it('rolls back every write and rethrows', async () => {
          const error = await rejectionOf(
            store.transaction(async (tx) => {
              await tx.execute('INSERT INTO contract_notes (id, note) VALUES ($1, $2)', ['a', 'x']);
              await tx.execute('INSERT INTO contract_notes (id, note) VALUES ($1, $2)', ['b', 'y']);
              throw new Boom('stop');
            }),
          );
          expect(error).toBeInstanceOf(Boom);
          expect(await notes()).toEqual([]);
        });

        it('rolls back when a statement fails', async () => {
          await store.execute('INSERT INTO contract_notes (id, note) VALUES ($1, $2)', ['a', 'x']);
          await rejectionOf(
            store.transaction(async (tx) => {
              await tx.execute('INSERT INTO contract_notes (id, note) VALUES ($1, $2)', ['b', 'y']);
              await tx.execute('INSERT INTO contract_notes (id, note) VALUES ($1, $2)', ['a', 'duplicate']);
            }),
          );
          expect(await notes()).toEqual([{ id: 'a', note: 'x' }]);
        });
      });
    });

    describe('timers', () => {
      describe('when a commit sets timers', () => {
        it('lists them, soonest first, with their due time and event', async () => {
          await store.commit(commitOf('thing/1', 0, { timers: { set: [timer('late', at(20)), timer('soon', at(10))], cancel: [], cancelAll: false } }));
          expect(await store.listTimers('thing/1')).toEqual([timer('soon', at(10)), timer('late', at(20))]);
          expect(await store.listTimers('thing/none')).toEqual([]);
        });

        it('replaces a timer set again under the same name', async () => {
          await store.commit(commitOf('thing/1', 0, { timers: { set: [timer('hold', at(10))], cancel: [], cancelAll: false } }));
          await store.commit(commitOf('thing/1', 1, { timers: { set: [timer('hold', at(50))], cancel: [], cancelAll: false } }));
          expect(await store.listTimers('thing/1')).toEqual([timer('hold', at(50))]);
        });
      });

      describe('when a commit cancels a timer by name', () => {
        it('deletes only that timer', async () => {
          await store.commit(commitOf('thing/1', 0, { timers: { set: [timer('a', at(10)), timer('b', at(20))], cancel: [], cancelAll: false } }));
          await store.commit(commitOf('thing/1', 1, { timers: { set: [], cancel: ['a', 'unknown'], cancelAll: false } }));
          expect(await store.listTimers('thing/1')).toEqual([timer('b', at(20))]);
        });
      });

      describe('when a commit cancels all timers', () => {
        it("deletes every timer of the actor and none of another actor's", async () => {
          await store.commit(commitOf('thing/1', 0, { timers: { set: [timer('a', at(10)), timer('b', at(20))], cancel: [], cancelAll: false } }));
          await store.commit(commitOf('thing/2', 0, { timers: { set: [timer('a', at(10))], cancel: [], cancelAll: false } }));
          await store.commit(commitOf('thing/1', 1, { status: 'done', timers: { set: [], cancel: [], cancelAll: true } }));
          expect(await store.listTimers('thing/1')).toEqual([]);
          expect(await store.listTimers('thing/2')).toEqual([timer('a', at(10))]);
        });
      });

      describe('when a commit is caused by a fired timer', () => {
        it('deletes the fired timer', async () => {
          await store.commit(commitOf('thing/1', 0, { timers: { set: [timer('hold', at(10)), timer('other', at(30))], cancel: [], cancelAll: false } }));
          await store.commit(commitOf('thing/1', 1, { timers: { set: [], cancel: [], cancelAll: false, fired: { name: 'hold', dueAt: at(10) } } }));
          expect(await store.listTimers('thing/1')).toEqual([timer('other', at(30))]);
        });

        it('keeps it when the commit sets the same name again, with the new due time and a fresh lease', async () => {
          await store.commit(commitOf('thing/1', 0, { timers: { set: [timer('retry', at(10))], cancel: [], cancelAll: false } }));
          await store.claimDueTimers(at(10), 10, 'owner-1', 60_000);
          await store.commit(
            commitOf('thing/1', 1, { timers: { set: [timer('retry', at(20))], cancel: [], cancelAll: false, fired: { name: 'retry', dueAt: at(10) } } }),
          );
          expect(await store.listTimers('thing/1')).toEqual([timer('retry', at(20))]);
          const [claimed] = await store.claimDueTimers(at(20), 10, 'owner-1', 60_000);
          expect(claimed?.attempts).toBe(1);
        });

        it('keeps a timer that was re-scheduled to another time before the commit', async () => {
          await store.commit(commitOf('thing/1', 0, { timers: { set: [timer('hold', at(10))], cancel: [], cancelAll: false } }));
          await store.commit(commitOf('thing/1', 1, { timers: { set: [timer('hold', at(40))], cancel: [], cancelAll: false } }));
          await store.commit(commitOf('thing/1', 2, { timers: { set: [], cancel: [], cancelAll: false, fired: { name: 'hold', dueAt: at(10) } } }));
          expect(await store.listTimers('thing/1')).toEqual([timer('hold', at(40))]);
        });
      });

      describe('when timers are due', () => {
        beforeEach(async () => {
          await store.commit(
            commitOf('thing/1', 0, { timers: { set: [timer('b', at(20)), timer('a', at(10)), timer('future', at(99_000))], cancel: [], cancelAll: false } }),
          );
          await store.commit(commitOf('thing/2', 0, { traceparent: undefined, correlationId: undefined, timers: { set: [timer('c', at(30))], cancel: [], cancelAll: false } }));
        });

        it('leases the due ones, soonest first, with attempts 1 and the trace context of the commit that set them', async () => {
          const claimed = await store.claimDueTimers(at(50), 10, 'owner-1', 60_000);
          expect(claimed).toEqual([
            { address: 'thing/1', ...timer('a', at(10)), attempts: 1, traceparent: meta.traceparent, correlationId: 'corr-1' },
            { address: 'thing/1', ...timer('b', at(20)), attempts: 1, traceparent: meta.traceparent, correlationId: 'corr-1' },
            { address: 'thing/2', ...timer('c', at(30)), attempts: 1 },
          ]);
        });

        it('takes at most limit timers, soonest first', async () => {
          const claimed = await store.claimDueTimers(at(50), 2, 'owner-1', 60_000);
          expect(claimed.map((t) => t.name)).toEqual(['a', 'b']);
        });

        it('does not return a leased timer again while its lease runs', async () => {
          await store.claimDueTimers(at(50), 10, 'owner-1', 60_000);
          expect(await store.claimDueTimers(at(60), 10, 'owner-2', 60_000)).toEqual([]);
          expect(await store.listTimers('thing/1')).toHaveLength(3);
        });

        it('returns it again with attempts 2 once the lease has run out', async () => {
          await store.claimDueTimers(at(50), 1, 'owner-1', 1_000);
          const again = await store.claimDueTimers(at(1_050), 10, 'owner-2', 1_000);
          expect(again.map((t) => [t.name, t.attempts])).toEqual([
            ['a', 2],
            ['b', 1],
            ['c', 1],
          ]);
        });

        it('gives two concurrent claimers disjoint sets', async () => {
          const many = Array.from({ length: 30 }, (_, i) => timer(`t${String(i).padStart(2, '0')}`, at(100 + i)));
          await store.commit(commitOf('thing/3', 0, { timers: { set: many, cancel: [], cancelAll: false } }));
          const [left, right] = await Promise.all([
            store.claimDueTimers(at(200), 15, 'owner-1', 60_000),
            store.claimDueTimers(at(200), 15, 'owner-2', 60_000),
          ]);
          const rest = await store.claimDueTimers(at(200), 100, 'owner-3', 60_000);
          const keys = [...left!, ...right!, ...rest].map((t) => `${t.address}#${t.name}`);
          expect(new Set(keys).size).toBe(keys.length);
          expect(keys.length).toBe(33);
        });

        it('deletes a timer only while it is still due at the given time', async () => {
          await store.deleteTimer('thing/1', 'a', at(10));
          await store.deleteTimer('thing/1', 'b', at(999));
          expect((await store.listTimers('thing/1')).map((t) => t.name)).toEqual(['b', 'future']);
        });
      });
    });

    describe('journal', () => {
      describe('when commits are made', () => {
        it('records each step with its version, states, event, snapshot and message ids', async () => {
          const emitted = [message('thing/1', 1)];
          await store.commit(commitOf('thing/1', 0, { messages: emitted }));
          await store.commit(commitOf('thing/1', 1, { journal: { event: { type: 'thing.next' }, fromState: 's1', toState: 's2', messageIds: [], at: at(5) } }));
          expect(await store.readJournal('thing/1')).toEqual([
            {
              address: 'thing/1',
              version: 1,
              event: { type: 'thing.step', n: 1 },
              fromState: 's0',
              toState: 's1',
              snapshot: { value: 's1', context: { n: 1 } },
              messageIds: [emitted[0]!.id],
              rejected: false,
              at: at(0),
              correlationId: 'corr-1',
              traceId: 'trace-1',
            },
            {
              address: 'thing/1',
              version: 2,
              event: { type: 'thing.next' },
              fromState: 's1',
              toState: 's2',
              snapshot: { value: 's2', context: { n: 2 } },
              messageIds: [],
              rejected: false,
              at: at(5),
            },
          ]);
          expect(await store.readJournal('thing/none')).toEqual([]);
        });
      });

      describe('when a command is rejected', () => {
        it('records it at the current version, staying in its state, with no snapshot or messages', async () => {
          await store.commit(commitOf('thing/1', 0));
          await store.recordRejection({ address: 'thing/1', version: 1, event: { type: 'thing.nope' }, fromState: 's1', at: at(9), correlationId: 'corr-2' });
          const journal = await store.readJournal('thing/1');
          expect(journal).toHaveLength(2);
          expect(journal[1]).toEqual({
            address: 'thing/1',
            version: 1,
            event: { type: 'thing.nope' },
            fromState: 's1',
            toState: 's1',
            snapshot: null,
            messageIds: [],
            rejected: true,
            at: at(9),
            correlationId: 'corr-2',
          });
        });
      });
    });

    describe('idempotency', () => {
      describe('when a key is free', () => {
        it('is claimed', async () => {
          expect(await store.claimIdempotency(claimOf())).toEqual({ outcome: 'claimed' });
        });

        it('is independent per scope', async () => {
          await store.claimIdempotency(claimOf());
          expect(await store.claimIdempotency(claimOf({ scope: 'user-2:POST /things' }))).toEqual({ outcome: 'claimed' });
        });
      });

      describe('when a key is claimed and not completed', () => {
        beforeEach(async () => {
          await store.claimIdempotency(claimOf());
        });

        it('reports in_progress to a second claimer with the same fingerprint', async () => {
          expect(await store.claimIdempotency(claimOf({ now: at(1_000) }))).toEqual({ outcome: 'in_progress' });
        });

        it('reports mismatch to a claimer with another fingerprint', async () => {
          expect(await store.claimIdempotency(claimOf({ fingerprint: 'fp-2' }))).toEqual({ outcome: 'mismatch' });
        });

        it('is claimed again once its lock has run out', async () => {
          expect(await store.claimIdempotency(claimOf({ now: at(30_000), lockedUntil: at(60_000) }))).toEqual({ outcome: 'claimed' });
        });

        it('is free again after release', async () => {
          await store.releaseIdempotency(claimOf().scope, claimOf().key, claimOf().now);
          expect(await store.claimIdempotency(claimOf({ fingerprint: 'fp-2' }))).toEqual({ outcome: 'claimed' });
        });

        it('is released by the claim time it was made at, and not by that of a claim another claimer took over', async () => {
          const takenOver = claimOf({ now: at(30_000), lockedUntil: at(90_000) });
          expect(await store.claimIdempotency(takenOver)).toEqual({ outcome: 'claimed' });
          await store.releaseIdempotency(claimOf().scope, claimOf().key, claimOf().now);
          expect(await store.claimIdempotency(claimOf({ now: at(31_000) }))).toEqual({ outcome: 'in_progress' });
          await store.releaseIdempotency(claimOf().scope, claimOf().key, takenOver.now);
          expect(await store.claimIdempotency(claimOf({ now: at(32_000) }))).toEqual({ outcome: 'claimed' });
        });

        it('lets exactly one of two concurrent claimers have it', async () => {
          const outcomes = await Promise.all([
            store.claimIdempotency(claimOf({ key: 'key-2' })),
            store.claimIdempotency(claimOf({ key: 'key-2' })),
          ]);
          expect(outcomes.map((o) => o.outcome).sort()).toEqual(['claimed', 'in_progress']);
        });
      });

      describe('when a claimed key is completed outside a transaction', () => {
        it('replays the stored response to the same fingerprint and refuses another', async () => {
          await store.claimIdempotency(claimOf());
          await store.completeIdempotency(claimOf().scope, claimOf().key, response);
          expect(await store.claimIdempotency(claimOf({ now: at(40_000) }))).toEqual({ outcome: 'replay', response });
          expect(await store.claimIdempotency(claimOf({ fingerprint: 'fp-2' }))).toEqual({ outcome: 'mismatch' });
        });

        it('is kept by release', async () => {
          await store.claimIdempotency(claimOf());
          await store.completeIdempotency(claimOf().scope, claimOf().key, response);
          await store.releaseIdempotency(claimOf().scope, claimOf().key, claimOf().now);
          expect(await store.claimIdempotency(claimOf())).toEqual({ outcome: 'replay', response });
        });
      });

      describe('when a claimed key is completed inside a commit', () => {
        it('replays the stored response once the commit is done', async () => {
          await store.claimIdempotency(claimOf());
          await store.commit(commitOf('thing/1', 0), (tx) => tx.completeIdempotency(claimOf().scope, claimOf().key, response));
          expect(await store.claimIdempotency(claimOf())).toEqual({ outcome: 'replay', response });
        });

        it('replays the stored response after a plain transaction', async () => {
          await store.claimIdempotency(claimOf());
          await store.transaction((tx) => tx.completeIdempotency(claimOf().scope, claimOf().key, response));
          expect(await store.claimIdempotency(claimOf())).toEqual({ outcome: 'replay', response });
        });
      });

      describe('when a completed record has expired', () => {
        it('is replaced by a new claim, even with another fingerprint', async () => {
          await store.claimIdempotency(claimOf());
          await store.completeIdempotency(claimOf().scope, claimOf().key, response);
          const later = claimOf({ fingerprint: 'fp-2', now: at(86_400_000), lockedUntil: at(86_430_000), expiresAt: at(172_800_000) });
          expect(await store.claimIdempotency(later)).toEqual({ outcome: 'claimed' });
          expect(await store.claimIdempotency({ ...later, now: at(86_400_001) })).toEqual({ outcome: 'in_progress' });
        });
      });
    });

    describe('restart', () => {
      describe('when the store is closed and opened again', () => {
        it('keeps actors, messages, journal, timers and idempotency records, and positions keep growing', async () => {
          const written = await store.commit(
            commitOf('thing/1', 0, { messages: [message('thing/1', 1)], timers: { set: [timer('hold', at(10))], cancel: [], cancelAll: false } }),
          );
          await store.claimIdempotency(claimOf());
          await store.completeIdempotency(claimOf().scope, claimOf().key, response);
          await store.claimIdempotency(claimOf({ key: 'key-open' }));
          const actor = await store.loadActor('thing/1');
          const journal = await store.readJournal('thing/1');

          store = await harness.reopen();

          expect(await store.pendingMigrations()).toEqual([]);
          expect(await store.loadActor('thing/1')).toEqual(actor);
          expect(await store.readActorMessages('thing/1')).toEqual(written);
          await eventually(async () => expect((await store.readMessages(LOG_START, 100)).map(withoutCursor)).toEqual(written));
          expect(await store.readJournal('thing/1')).toEqual(journal);
          expect(await store.listTimers('thing/1')).toEqual([timer('hold', at(10))]);
          expect(await store.claimIdempotency(claimOf())).toEqual({ outcome: 'replay', response });
          expect(await store.claimIdempotency(claimOf({ key: 'key-open' }))).toEqual({ outcome: 'in_progress' });
          const next = await store.commit(commitOf('thing/1', 1, { messages: [message('thing/1', 2)] }));
          expect(next[0]!.position).toBeGreaterThan(written[0]!.position);
        });
      });
    });
  });
}
