import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'bun:test';
import { join } from 'node:path';
import { SpanKind } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { Registry } from 'prom-client';
import type { CommitOptions, Message, NewMessage, Store, Tx } from '../../src/actors/ports';
import { ManualClock } from '../../src/kernel/clock';
import { concurrentUpdate, storeUnavailable } from '../../src/kernel/errors';
import { randomIds } from '../../src/kernel/ids';
import { createConsumers, type Consumers, type ConsumersOptions } from '../../src/messaging/consumers';
import { createDeadLetters } from '../../src/messaging/deadLetters';
import { INBOX_RETENTION_MS } from '../../src/messaging/retention';
import { defineHandler, PoisonMessageError, type Handler, type HandlerContext, type LocalHandlerContext, type MessageHandler } from '../../src/messaging/handlers';
import type { Bus, BusEntry, BusMessage } from '../../src/messaging/ports';
import { createRedisBus } from '../../src/messaging/redisBus';
import { openSqliteBus } from '../../src/messaging/sqliteBus';
import { streamOf, toBusMessage } from '../../src/messaging/wire';
import { createLogger, type Logger } from '../../src/observability/logger';
import { createTracing, type Tracing } from '../../src/observability/tracing';
import { deleteKeys, requireRedis, testRedisUrl, uniquePrefix } from '../support/redis';
import { storeHarnesses, type StoreHarness } from '../support/stores';
import { makeTempDir } from '../support/tempDir';

const NOW = '2030-01-01T00:00:00.000Z';
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${PARENT_SPAN_ID}-01`;
/** Fast retries, a short block so that stop() is quick; crash tests shorten claimIdleMs themselves. */
const FAST = { retry: { attempts: 3, baseMs: 1, maxMs: 5 }, blockMs: 50 } satisfies Partial<ConsumersOptions>;

/** A store and a bus of one mode; `openBus` opens another connection to the same bus (another instance). */
interface Mode {
  store: Store;
  bus: Bus;
  openBus(): Bus;
  /** Another instance's store on the same data. */
  openStore(): Promise<Store>;
  cleanup(): Promise<void>;
}

/** The handler these tests make a service call with: `book`, an external call that must never be made twice (Dead Nation's). */
const bookingCall = (onBooking: MessageHandler<HandlerContext>) => defineHandler({ name: 'book', effect: 'external', notRepeatable: true, on: { BookingMade_v1: onBooking } });

const sqliteStore = storeHarnesses.find((h) => h.name === 'sqlite')!;
const postgresStore = storeHarnesses.find((h) => h.name === 'postgres')!;

const modes: ReadonlyArray<{ name: string; make(): Promise<Mode> }> = [
  {
    name: 'embedded: SQLite store, SQLite bus',
    async make() {
      const dir = makeTempDir('tickets-consumers-');
      const path = join(dir.path, 'bus.db');
      return withBuses(await sqliteStore.make(), () => openSqliteBus({ path }), () => dir.cleanup());
    },
  },
  {
    name: 'distributed: Postgres store, Redis bus',
    async make() {
      await requireRedis();
      const keyPrefix = uniquePrefix();
      return withBuses(await postgresStore.make(), () => createRedisBus({ url: testRedisUrl(), keyPrefix }), () => deleteKeys(keyPrefix));
    },
  },
];

function withBuses(harness: StoreHarness, open: () => Bus, dispose: () => Promise<void>): Mode {
  const buses: Bus[] = [];
  const openBus = () => {
    const bus = open();
    buses.push(bus);
    return bus;
  };
  return {
    store: harness.store,
    bus: openBus(),
    openBus,
    openStore: () => harness.another(),
    async cleanup() {
      for (const bus of buses) await bus.close();
      await harness.cleanup();
      await dispose();
    },
  };
}

/** Appends messages to an actor's log as one committed transition, as the runtime would. */
async function commit(store: Store, actor: string, ...names: string[]): Promise<Message[]> {
  const current = await store.loadActor(actor);
  const lastSeq = current?.lastSeq ?? 0;
  const messages: NewMessage[] = names.map((name, i) => ({
    id: randomIds.uuid(),
    name,
    kind: /_v\d+$/.test(name) ? 'event' : 'command',
    actor,
    actorSeq: lastSeq + i + 1,
    data: { actor_id: actor, seq: lastSeq + i + 1 },
    metadata: { correlation_id: `corr-${actor}-${lastSeq + i + 1}`, traceparent: TRACEPARENT },
    occurredAt: NOW,
  }));
  return store.commit({
    address: actor,
    kind: actor.split('/')[0]!,
    machineId: 'thing-v1',
    expectedVersion: current?.version ?? 0,
    state: 'open',
    status: 'active',
    snapshot: {},
    messages,
    timers: { set: [], cancel: [], cancelAll: false },
    journal: { event: { type: 'thing.step' }, fromState: 'open', toState: 'open', messageIds: messages.map((m) => m.id), at: NOW },
    at: NOW,
  });
}

async function publish(bus: Bus, ...messages: Message[]): Promise<void> {
  for (const message of messages) await bus.publish(streamOf(message), [toBusMessage(message, NOW)]);
}

/** A table for the local effects of test handlers. */
async function createEffectsTable(store: Store): Promise<void> {
  await store.execute('CREATE TABLE test_effects (handler TEXT NOT NULL, message_id TEXT NOT NULL, actor_seq INTEGER NOT NULL)');
}

async function effects(store: Store, handler: string): Promise<string[]> {
  const rows = await store.query<{ message_id: string }>('SELECT message_id FROM test_effects WHERE handler = $1 ORDER BY message_id', [handler]);
  return rows.map((row) => row.message_id);
}

/** What a recording handler saw, in order. */
interface Seen {
  id: string;
  name: string;
  seq: number;
}

/** A local handler that records every call and writes one effect row per message in its transaction. */
function recorder(name: string, messageNames: string[], seen: Seen[], before?: (message: BusMessage) => Promise<void> | void): Handler {
  const handle = async (message: BusMessage, ctx: LocalHandlerContext) => {
    seen.push({ id: message.id, name: message.name, seq: message.actorSeq });
    await before?.(message);
    await ctx.tx.execute('INSERT INTO test_effects (handler, message_id, actor_seq) VALUES ($1, $2, $3)', [name, message.id, message.actorSeq]);
  };
  return defineHandler({ name, effect: 'local', on: Object.fromEntries(messageNames.map((n) => [n, handle])) });
}

/** Polls `condition` every 5 ms; fails after `timeoutMs`. */
async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await Bun.sleep(5);
  }
}

/** A promise that stays pending until `open` is called (a call or a read that hangs, then ends). */
function latch(): { wait: Promise<void>; open: () => void } {
  let open = () => {};
  const wait = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { wait, open };
}

const idsOf = (messages: Array<{ id: string }>) => messages.map((m) => m.id).sort();

/** A bus whose every read hands each new entry out twice, as a duplicate delivery would. */
function duplicating(bus: Bus): Bus {
  return Object.assign(Object.create(bus) as Bus, {
    readNew: async (...args: Parameters<Bus['readNew']>) => (await bus.readNew(...args)).flatMap((entry) => [entry, entry]),
  });
}

/** A bus whose first `ack` fails, as if the consumer crashed after processing and before acking. */
function failingFirstAck(bus: Bus): Bus {
  let failed = false;
  return Object.assign(Object.create(bus) as Bus, {
    ack: async (...args: Parameters<Bus['ack']>) => {
      if (!failed) {
        failed = true;
        throw new Error('connection lost before XACK');
      }
      return bus.ack(...args);
    },
  });
}

const silent = createLogger({ level: 'silent' });
let tracing: Tracing;
const spans = new InMemorySpanExporter();

beforeAll(() => {
  tracing = createTracing({ serviceName: 'consumers-test', spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
});

afterAll(async () => {
  await tracing.shutdown();
});

for (const { name, make } of modes) {
  describe(`consumers (${name})`, () => {
    let mode: Mode;
    let store: Store;
    let running: Consumers[];
    const clock = new ManualClock(NOW);

    beforeEach(async () => {
      mode = await make();
      store = mode.store;
      running = [];
      await createEffectsTable(store);
    });

    afterEach(async () => {
      for (const consumers of running) await consumers.stop();
      await mode.cleanup();
    });

    /** Creates and starts consumers; they are stopped after the test. */
    function start(handlers: Handler[], options: Partial<ConsumersOptions> = {}): Consumers {
      const consumers = createConsumers({
        store,
        bus: mode.bus,
        handlers,
        clock,
        ids: randomIds,
        logger: silent,
        consumerName: 'c1',
        ...FAST,
        ...options,
      });
      consumers.start();
      running.push(consumers);
      return consumers;
    }

    async function deadLetterRows(): Promise<Array<Record<string, unknown>>> {
      return store.query('SELECT handler, stream, message_id, error, attempts, status, redriven_at FROM dead_letters ORDER BY failed_at, id');
    }

    /** The handlers whose inbox holds the message. */
    function inboxOf(messageId: string): Promise<Array<{ handler: string }>> {
      return store.query('SELECT handler FROM inbox WHERE message_id = $1', [messageId]);
    }

    describe('when messages are published', () => {
      it('delivers every message to every handler that handles it, once', async () => {
        const audit: Seen[] = [];
        const notified: Array<{ id: string; key: string; correlationId: string; fields: Record<string, unknown> }> = [];
        const notify = defineHandler({
          name: 'notify',
          effect: 'external',
          on: {
            TicketBookingConfirmed_v1: (message, ctx) => {
              notified.push({ id: message.id, key: ctx.idempotencyKey('mail'), correlationId: ctx.correlationId, fields: ctx.fields });
            },
          },
        });
        const made = [...(await commit(store, 'booking/a', 'BookingMade_v1')), ...(await commit(store, 'booking/b', 'BookingMade_v1'))];
        const confirmed = [
          ...(await commit(store, 'booking/a', 'TicketBookingConfirmed_v1')),
          ...(await commit(store, 'booking/b', 'TicketBookingConfirmed_v1', 'TicketBookingConfirmed_v1')),
        ];
        const consumers = start([recorder('audit', ['BookingMade_v1', 'TicketBookingConfirmed_v1'], audit), notify]);

        await publish(mode.bus, ...made, ...confirmed);
        await consumers.drain();

        expect(audit).toHaveLength(5);
        expect(await effects(store, 'audit')).toEqual(idsOf([...made, ...confirmed]));
        expect(idsOf(notified)).toEqual(idsOf(confirmed));
        const first = notified.find((n) => n.id === confirmed[0]!.id)!;
        expect(first).toEqual({
          id: confirmed[0]!.id,
          key: `notify:${confirmed[0]!.id}:mail`,
          correlationId: 'corr-booking/a-2',
          fields: { actor_id: 'booking/a', seq: 2 },
        });
      });
    });

    describe('when the same message is delivered twice', () => {
      it('applies a local effect once when the message is published again', async () => {
        const seen: Seen[] = [];
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([recorder('audit', ['BookingMade_v1'], seen)]);

        await publish(mode.bus, message!);
        await consumers.drain();
        await publish(mode.bus, message!);
        await consumers.drain();

        expect(seen).toHaveLength(1);
        expect(await effects(store, 'audit')).toEqual([message!.id]);
      });

      it('applies a local effect once when the bus hands the entry out twice', async () => {
        const seen: Seen[] = [];
        const messages = await commit(store, 'booking/a', 'BookingMade_v1', 'BookingMade_v1');
        const consumers = start([recorder('audit', ['BookingMade_v1'], seen)], { bus: duplicating(mode.bus) });

        await publish(mode.bus, ...messages);
        await consumers.drain();

        expect(seen.map((s) => s.seq)).toEqual([1, 2]);
        expect(await effects(store, 'audit')).toEqual(idsOf(messages));
      });

      it('calls an external handler once when the bus hands the entry out twice', async () => {
        const calls: string[] = [];
        const notify = defineHandler({
          name: 'notify',
          effect: 'external',
          on: { BookingMade_v1: (_message, ctx) => void calls.push(ctx.idempotencyKey()) },
        });
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([notify], { bus: duplicating(mode.bus) });

        await publish(mode.bus, message!);
        await consumers.drain();

        expect(calls).toEqual([`notify:${message!.id}`]);
      });

      it('applies a local effect once when a consumer processed it but failed to ack, and it is claimed again', async () => {
        const seen: Seen[] = [];
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([recorder('audit', ['BookingMade_v1'], seen)], { bus: failingFirstAck(mode.bus), claimIdleMs: 100 });

        await publish(mode.bus, message!);
        await consumers.drain();

        expect(seen).toHaveLength(1);
        expect(await effects(store, 'audit')).toEqual([message!.id]);
        expect(await mode.bus.lag('events.BookingMade_v1', 'tickets.audit')).toEqual({ undelivered: 0, pending: 0 });
      });

      it('processes an entry that a dead consumer took and never acked', async () => {
        const seen: Seen[] = [];
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        await mode.bus.ensureGroup('events.BookingMade_v1', 'tickets.audit');
        await publish(mode.bus, message!);
        expect(await mode.bus.readNew('events.BookingMade_v1', 'tickets.audit', 'dead', 10, 0)).toHaveLength(1);

        const consumers = start([recorder('audit', ['BookingMade_v1'], seen)], { claimIdleMs: 100 });
        await consumers.drain();

        expect(seen).toHaveLength(1);
        expect(await effects(store, 'audit')).toEqual([message!.id]);
      });
    });

    describe('when two consumers share a group', () => {
      it('splits the messages between them with no double effect', async () => {
        const first: Seen[] = [];
        const second: Seen[] = [];
        const slowly = () => Bun.sleep(5);
        const messages: Message[] = [];
        for (let i = 0; i < 20; i++) messages.push(...(await commit(store, `booking/${i}`, 'BookingMade_v1')));
        const one = start([recorder('audit', ['BookingMade_v1'], first, slowly)], { consumerName: 'c1', batchSize: 1 });
        const two = start([recorder('audit', ['BookingMade_v1'], second, slowly)], { consumerName: 'c2', batchSize: 1, bus: mode.openBus() });

        await mode.bus.publish('events.BookingMade_v1', messages.map((m) => toBusMessage(m, NOW)));
        await one.drain();
        await two.drain();

        expect(first.length + second.length).toBe(20);
        expect(first.length).toBeGreaterThan(0);
        expect(second.length).toBeGreaterThan(0);
        expect(await effects(store, 'audit')).toEqual(idsOf(messages));
      });
    });

    describe('when a handler keeps failing', () => {
      it('dead-letters the message after exactly `attempts` attempts and processes the later ones', async () => {
        const registry = new Registry();
        const seen: Seen[] = [];
        const messages = [
          ...(await commit(store, 'booking/poison', 'BookingMade_v1')),
          ...(await commit(store, 'booking/b', 'BookingMade_v1')),
          ...(await commit(store, 'booking/c', 'BookingMade_v1')),
        ];
        const poison = messages[0]!;
        const fail = (message: BusMessage) => {
          if (message.id === poison.id) throw new Error('printer on fire');
        };
        const consumers = start([recorder('print', ['BookingMade_v1'], seen, fail)], { registry });

        await publish(mode.bus, ...messages);
        await consumers.drain();

        expect(seen.filter((s) => s.id === poison.id)).toHaveLength(3);
        expect(await effects(store, 'print')).toEqual(idsOf(messages.slice(1)));
        expect(await deadLetterRows()).toEqual([
          {
            handler: 'print',
            stream: 'events.BookingMade_v1',
            message_id: poison.id,
            error: 'printer on fire',
            attempts: 3,
            status: 'dead',
            redriven_at: null,
          },
        ]);
        const metrics = await registry.metrics();
        expect(metrics).toContain('handler_retries_total{handler="print"} 2');
        expect(metrics).toContain('dead_letters_total{handler="print"} 1');
        expect(metrics).toContain('handler_duration_seconds_count{handler="print"} 5');
        expect(metrics).toContain('consumer_lag{group="tickets.print",stream="events.BookingMade_v1"} 0');
        expect(metrics).toContain('consumer_oldest_age_seconds{group="tickets.print",stream="events.BookingMade_v1"} 0');
      });


      it('counts an earlier delivery against the budget, so a crash does not reset it', async () => {
        const seen: Seen[] = [];
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        await mode.bus.ensureGroup('events.BookingMade_v1', 'tickets.print');
        await publish(mode.bus, message!);
        await mode.bus.readNew('events.BookingMade_v1', 'tickets.print', 'crashed', 10, 0);

        const consumers = start([recorder('print', ['BookingMade_v1'], seen, () => Promise.reject(new Error('still on fire')))], { claimIdleMs: 100 });
        await consumers.drain();

        expect(seen).toHaveLength(2);
        expect(await deadLetterRows()).toMatchObject([{ message_id: message!.id, attempts: 3, error: 'still on fire' }]);
      });

      it('stops retrying when the consumers stop: the message stays pending for the next start, with no dead letter', async () => {
        const seen: Seen[] = [];
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        await publish(mode.bus, message!);
        // A budget that would take minutes: a stop must not wait it out, nor spend it.
        const consumers = start([recorder('print', ['BookingMade_v1'], seen, () => Promise.reject(new Error('files service down')))], { retry: { attempts: 50, baseMs: 500, maxMs: 2_000 } });
        const deadline = Date.now() + 5_000;
        while (seen.length < 2 && Date.now() < deadline) await Bun.sleep(10);
        const stopping = Date.now();
        await consumers.stop();
        expect(Date.now() - stopping).toBeLessThan(1_000);
        expect(await deadLetterRows()).toEqual([]);
        expect((await mode.bus.lag('events.BookingMade_v1', 'tickets.print')).pending).toBe(1);
      });

      it('waits at least what Retry-After asked before the next attempt, but never more than maxMs', async () => {
        for (const [maxMs, atLeast, below] of [[2_000, 290, 1_500], [40, 0, 250]] as const) {
          const attemptsAt: number[] = [];
          const [message] = await commit(store, `booking/${crypto.randomUUID()}`, 'BookingMade_v1');
          const busy = () => {
            attemptsAt.push(performance.now());
            if (attemptsAt.length === 1) throw Object.assign(new Error('busy, come back later'), { retryAfterSeconds: 0.3 });
          };
          const consumers = start([recorder('print', ['BookingMade_v1'], [], busy)], { retry: { attempts: 3, baseMs: 1, maxMs } });
          await publish(mode.bus, message!);
          await consumers.drain();
          await consumers.stop();

          expect(attemptsAt).toHaveLength(2);
          const waited = attemptsAt[1]! - attemptsAt[0]!;
          expect([maxMs, waited >= atLeast && waited < below]).toEqual([maxMs, true]);
        }
      });

      it('dead-letters a PoisonMessageError on the first attempt', async () => {
        const seen: Seen[] = [];
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([recorder('print', ['BookingMade_v1'], seen, () => Promise.reject(new PoisonMessageError('card declined')))]);

        await publish(mode.bus, message!);
        await consumers.drain();

        expect(seen).toHaveLength(1);
        expect(await deadLetterRows()).toMatchObject([{ message_id: message!.id, attempts: 1, error: 'card declined', status: 'dead' }]);
      });

      it('never retries a notRepeatable handler past its call unless the call said it did nothing', async () => {
        const attempts: Record<string, number> = { beforeCall: 0, afterCall: 0, refusedUnread: 0 };
        const failure = (kind: string): MessageHandler<HandlerContext> => async (_message, ctx) => {
          attempts[kind]! += 1;
          if (kind === 'beforeCall' && attempts[kind]! < 3) throw new Error('store blip before the call');
          await ctx.callContext();
          if (kind === 'afterCall') throw new Error('the reply after the call failed');
          if (kind === 'refusedUnread' && attempts[kind]! < 3) throw Object.assign(new Error('503'), { mayHaveActed: false });
        };
        const handlers = Object.keys(attempts).map((kind) => defineHandler({ name: kind, effect: 'external', notRepeatable: true, on: { BookingMade_v1: failure(kind) } }));
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start(handlers, { retry: { attempts: 5, baseMs: 1, maxMs: 5 } });
        await publish(mode.bus, message!);
        await consumers.drain();

        expect(attempts).toEqual({ beforeCall: 3, afterCall: 1, refusedUnread: 3 });
        expect(await deadLetterRows()).toMatchObject([{ handler: 'afterCall', attempts: 1, status: 'dead' }]);
        expect(String((await deadLetterRows())[0]!.error)).toContain('not retried: the call may have taken effect');
      });

      it('retries a notRepeatable handler whose call was answered but whose reply failed, giving it the answer instead of calling again', async () => {
        const calls: number[] = [];
        const replies: unknown[] = [];
        const seen: { first: boolean; answered: unknown }[] = [];
        let replyFailures = 2;
        const book = bookingCall(async (_message, ctx) => {
          seen.push({ first: ctx.firstDelivery, answered: ctx.answered() });
          let answer = ctx.answered<{ reference: number }>();
          if (answer === undefined) {
            await ctx.callContext();
            calls.push(calls.length + 1);
            answer = { reference: calls.length };
            ctx.callAnswered(answer);
          }
          if (replyFailures-- > 0) throw new Error('the store is down: the reply was not recorded');
          replies.push(answer);
        });
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([book], { retry: { attempts: 5, baseMs: 1, maxMs: 5 } });
        await publish(mode.bus, message!);
        await consumers.drain();

        expect(calls).toEqual([1]);
        expect(replies).toEqual([{ reference: 1 }]);
        expect(seen).toEqual([
          { first: true, answered: undefined },
          { first: false, answered: { reference: 1 } },
          { first: false, answered: { reference: 1 } },
        ]);
        expect(await deadLetterRows()).toEqual([]);
        expect(await store.query('SELECT handler FROM calls_started')).toEqual([]);
        expect(await inboxOf(message!.id)).toEqual([{ handler: 'book' }]);
      });

      it('retries past the budget, instead of dead-lettering, while the store cannot take the work (down, or its rows locked by another session)', async () => {
        const failures = [storeUnavailable(new Error('connection refused')), concurrentUpdate('Rows this change needs are locked by another transaction; retry')];
        const seen: Seen[] = [];
        let left = 5;
        const handler = recorder('print', ['BookingMade_v1'], seen, () => {
          if (left > 0) throw failures[left-- % 2]!;
        });
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([handler], { retry: { attempts: 2, baseMs: 1, maxMs: 5 } });
        await publish(mode.bus, message!);
        await consumers.drain();

        expect(seen.filter((s) => s.id === message!.id)).toHaveLength(6);
        expect(await effects(store, 'print')).toEqual([message!.id]);
        expect(await deadLetterRows()).toEqual([]);
      });

      it('keeps recording the answer of a notRepeatable call past the retry budget while the store is down, instead of dead-lettering a call made once', async () => {
        const calls: number[] = [];
        let outage = 4;
        const book = bookingCall(async (_message, ctx) => {
          if (ctx.answered() === undefined) {
            await ctx.callContext();
            calls.push(calls.length + 1);
            ctx.callAnswered({ reference: calls.length });
          }
          if (outage-- > 0) throw storeUnavailable(new Error('connection refused'));
        });
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([book], { retry: { attempts: 2, baseMs: 1, maxMs: 5 } });
        await publish(mode.bus, message!);
        await consumers.drain();

        expect(calls).toEqual([1]);
        expect(outage).toBe(-1);
        expect(await deadLetterRows()).toEqual([]);
        expect(await store.query('SELECT handler FROM calls_started')).toEqual([]);
        expect(await inboxOf(message!.id)).toEqual([{ handler: 'book' }]);
      });

      /**
       * `store`, but the first transaction that commits a call's start row then goes wrong on the way
       * back: it `throws` as if the connection had dropped, or `runsAgain` as a group that failed is
       * written again alone (finding the row there).
       */
      function storeLosingTheStartOfACall(then: 'throws' | 'runsAgain') {
        const state = { lost: false };
        const flaky = Object.create(store, {
          transaction: {
            value: async (fn: Parameters<Store['transaction']>[0], options: Parameters<Store['transaction']>[1]) => {
              let startsCall = false;
              const watched = (tx: Parameters<Parameters<Store['transaction']>[0]>[0]) =>
                fn(new Proxy(tx, {
                  get(target, prop) {
                    const value = Reflect.get(target, prop) as unknown;
                    if (prop !== 'execute') return typeof value === 'function' ? value.bind(target) : value;
                    return (sql: string, params?: unknown[]) => {
                      if (sql.includes('INSERT INTO calls_started')) startsCall = true;
                      return target.execute(sql, params);
                    };
                  },
                }));
              const result = await store.transaction(watched, options);
              if (!startsCall || state.lost) return result;
              state.lost = true;
              if (then === 'throws') throw storeUnavailable(new Error('Connection closed'));
              return store.transaction(watched, options);
            },
          },
        }) as Store;
        return { flaky, state };
      }

      for (const then of ['throws', 'runsAgain'] as const) {
        it(`makes a notRepeatable call once when the commit of its start went through but its answer was lost (${then})`, async () => {
          const { flaky, state } = storeLosingTheStartOfACall(then);
          const calls: string[] = [];
          const book = bookingCall(async (message, ctx) => {
            await ctx.callContext();
            calls.push(message.id);
          });
          const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
          const consumers = start([book], { store: flaky });
          await publish(mode.bus, message!);
          await consumers.drain();

          expect(state.lost).toBe(true);
          expect(calls).toEqual([message!.id]);
          expect(await deadLetterRows()).toEqual([]);
          expect(await store.query('SELECT handler FROM calls_started')).toEqual([]);
          expect(await inboxOf(message!.id)).toEqual([{ handler: 'book' }]);
        });
      }

      it('does not make again a notRepeatable call during which its instance stopped; a redrive makes it once', async () => {
        const calls: string[] = [];
        const startedRows: unknown[] = [];
        const { wait: neverEnds, open: endCall } = latch();
        const book = (instance: string) =>
          bookingCall(async (message, ctx) => {
            await ctx.callContext();
            calls.push(instance);
            startedRows.push(...(await store.query('SELECT handler, message_id FROM calls_started WHERE message_id = $1', [message.id])));
            // The first instance's call never ends: as far as the others can tell, that instance is gone.
            if (instance === 'stopped') await neverEnds;
          });
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        start([book('stopped')], { consumerName: 'stopped' });
        await publish(mode.bus, message!);
        await until(() => calls.length === 1);

        const survivor = start([book('survivor')], { consumerName: 'survivor', claimIdleMs: 100, bus: mode.openBus() });
        const deadline = Date.now() + 5_000;
        while ((await deadLetterRows()).length === 0 && Date.now() < deadline) await Bun.sleep(10);

        expect(calls).toEqual(['stopped']);
        const [dead] = await deadLetterRows();
        expect(dead).toMatchObject({ handler: 'book', message_id: message!.id, attempts: 2, status: 'dead' });
        expect(String(dead!.error)).toContain('not retried: the call may have taken effect');
        expect(String(dead!.error)).toContain('never recorded its end');

        const deadLetters = createDeadLetters({ store, clock, consumers: survivor });
        // Only an operator may redrive it: the call may have taken effect.
        expect(await deadLetters.redriveIfSafe('book', 'booking/a')).toBe('may_have_acted');
        expect(calls).toEqual(['stopped']);
        const [letter] = (await deadLetters.list({ limit: 10 })).items;
        expect((await deadLetters.redrive(letter!.id)).outcome).toBe('redriven');
        expect(calls).toEqual(['stopped', 'survivor']);
        expect(await deadLetters.redriveIfSafe('book', 'booking/a')).toBe('none');
        // Each call's row was committed before the call, and the recorded call's row is gone.
        expect(startedRows).toEqual([{ handler: 'book', message_id: message!.id }, { handler: 'book', message_id: message!.id }]);
        expect(await store.query('SELECT handler FROM calls_started')).toEqual([]);
        expect(await inboxOf(message!.id)).toEqual([{ handler: 'book' }]);
        endCall();
      });

      describe('when another entry of the same message reaches another instance during its notRepeatable call (published again after Redis lost its marker)', () => {
        /**
         * `first` makes the call and holds it until `endCall`; then `other` is handed a new entry of the
         * same message, `rowAgeMs` after the call's row was written (by the consumers' clock).
         */
        afterEach(() => {
          clock.set(NOW);
        });

        /** The calls made, by instance; `first` holds its call until `endCall`. */
        function bookings() {
          const calls: string[] = [];
          const { wait: callGoesOn, open: endCall } = latch();
          const book = (instance: string) =>
            bookingCall(async (_message, ctx) => {
              await ctx.callContext();
              calls.push(instance);
              if (instance === 'first') await callGoesOn;
            });
          return { calls, book, endCall };
        }

        /** Starts `first` on the message; `entry()` is the bus entry it read. */
        async function firstDelivery(handler: Handler, options: Partial<ConsumersOptions> = {}) {
          const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
          let read: BusEntry | undefined;
          const keeping = Object.assign(Object.create(mode.bus) as Bus, {
            readNew: async (...args: Parameters<Bus['readNew']>) => {
              const entries = await mode.bus.readNew(...args);
              read ??= entries[0];
              return entries;
            },
          });
          start([handler], { consumerName: 'first', bus: keeping, ...options });
          await publish(mode.bus, message!);
          return { messageId: message!.id, entry: () => read! };
        }

        /** Starts `other` (another instance) and hands it a new entry of the message `first` read. */
        async function deliveryAgain(handler: Handler, entry: BusEntry, options: Partial<ConsumersOptions> = {}): Promise<Consumers> {
          const otherBus = mode.openBus();
          let handedOut = false;
          const again = Object.assign(Object.create(otherBus) as Bus, {
            readNew: async (...args: Parameters<Bus['readNew']>) => {
              if (handedOut) return otherBus.readNew(...args);
              handedOut = true;
              return [{ ...entry, entryId: `${entry.entryId}-again`, deliveries: 1 }];
            },
            ack: async () => {},
          });
          const other = start([handler], { consumerName: 'other', bus: again, retry: { attempts: 8, baseMs: 1, maxMs: 100 }, ...options });
          await until(() => handedOut);
          return other;
        }

        /** `other` gets its entry `rowAgeMs` after `first` wrote the call's row (by the consumers' clock). */
        async function duplicateDuringCall(rowAgeMs: number) {
          const { calls, book, endCall } = bookings();
          const { messageId, entry } = await firstDelivery(book('first'));
          await until(() => calls.length === 1);
          clock.advance(rowAgeMs);
          await deliveryAgain(book('other'), entry(), { claimIdleMs: 30_000 });
          return { calls, endCall, messageId };
        }

        it('waits for that call to be recorded instead of dead-lettering it as one that may have taken effect', async () => {
          const { calls, endCall, messageId } = await duplicateDuringCall(0);
          await Bun.sleep(300);
          expect(await deadLetterRows()).toEqual([]);

          endCall();
          await until(async () => (await inboxOf(messageId)).length === 1);
          await Bun.sleep(300);
          expect(calls).toEqual(['first']);
          expect(await deadLetterRows()).toEqual([]);
          expect(await store.query('SELECT handler FROM calls_started')).toEqual([]);
        });

        it('does not make the call again when the other delivery records it while this one starts it', async () => {
          const { wait: recorded, open: commitRecord } = latch();
          let recording = false;
          // The first delivery's record of its call (inbox row in, calls_started row out) stays uncommitted until told.
          const slowToRecord = Object.assign(Object.create(store) as Store, {
            transaction: <T>(fn: (tx: Tx) => Promise<T>, options?: CommitOptions) =>
              store.transaction(
                (tx) =>
                  fn(Object.assign(Object.create(tx) as Tx, {
                    execute: async (sql: string, params?: unknown[]) => {
                      const changed = await tx.execute(sql, params);
                      if (sql.startsWith('DELETE FROM calls_started')) {
                        recording = true;
                        await recorded;
                      }
                      return changed;
                    },
                  })),
                options,
              ),
          });
          const { calls, book, endCall } = bookings();
          endCall();
          const { messageId, entry } = await firstDelivery(book('first'), { store: slowToRecord });
          await until(() => recording);

          const other = await deliveryAgain(book('other'), entry(), { store: await mode.openStore() });
          // The other delivery found no inbox row and waits on the first one's calls_started row (Postgres) or its transaction (SQLite).
          await Bun.sleep(300);
          commitRecord();
          await until(async () => (await inboxOf(messageId)).length === 1);
          await other.drain();

          expect(calls).toEqual(['first']);
          expect(await deadLetterRows()).toEqual([]);
          expect(await store.query('SELECT handler FROM calls_started')).toEqual([]);
        });

        it('looks again, instead of dead-lettering, when the start row it waited on is gone and the record of the call was not seen yet', async () => {
          const { calls, book, endCall } = bookings();
          endCall();
          const { messageId, entry } = await firstDelivery(book('first'));
          await until(async () => (await inboxOf(messageId)).length === 1);
          // The other delivery reads the inbox just before the first one's record commits, and the start row just after it.
          let lookedForTheRow = false;
          let lookedAgain = false;
          const recordNotSeenYet = Object.assign(Object.create(store) as Store, {
            query: (sql: string, params?: unknown[]) => {
              if (/^SELECT (1 AS found|message_id) FROM inbox/.test(sql)) {
                if (!lookedForTheRow) return Promise.resolve([]);
                lookedAgain = true;
              }
              if (sql.startsWith('SELECT started_at, started_by FROM calls_started')) lookedForTheRow = true;
              return store.query(sql, params);
            },
          });

          await deliveryAgain(book('other'), entry(), { store: recordNotSeenYet });
          await until(async () => lookedAgain || (await deadLetterRows()).length > 0);
          await Bun.sleep(100);

          expect(calls).toEqual(['first']);
          expect(await deadLetterRows()).toEqual([]);
        });

        it('dead-letters it as one that may have taken effect once the call is as old as a delivery that stopped', async () => {
          const { calls, endCall, messageId } = await duplicateDuringCall(30_000);
          await until(async () => (await deadLetterRows()).length === 1);
          expect(calls).toEqual(['first']);
          expect(await deadLetterRows()).toMatchObject([{ handler: 'book', message_id: messageId, attempts: 1, status: 'dead' }]);
          expect(String((await deadLetterRows())[0]!.error)).toContain('not retried: the call may have taken effect');
          endCall();
        });
      });

      it('says so when the store cannot take the dead letter either, and delivers the message again', async () => {
        const lines: Array<Record<string, unknown>> = [];
        const logger: Logger = createLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
        let refused = 0;
        const down = Object.assign(Object.create(store) as Store, {
          execute: (sql: string, params?: unknown[]) => {
            if (sql.includes('INSERT INTO dead_letters') && refused++ === 0) return Promise.reject(new Error('the store is down'));
            return store.execute(sql, params);
          },
        });
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([recorder('print', ['BookingMade_v1'], [], () => {
          throw new Error('printer on fire');
        })], { store: down, logger, claimIdleMs: 100, retry: { attempts: 2, baseMs: 1, maxMs: 5 } });
        await publish(mode.bus, message!);
        await until(async () => (await deadLetterRows()).length === 1);
        await consumers.drain();

        expect(lines.find((l) => l.msg === 'message not dead-lettered: the store cannot take it; it stays pending and is delivered again')).toMatchObject({
          level: 'error', handler: 'print', message_id: message!.id, attempts: 2, error: 'printer on fire', dead_letter_error: 'the store is down',
        });
        expect(await deadLetterRows()).toMatchObject([{ handler: 'print', message_id: message!.id, status: 'dead' }]);
      });

      it('keeps a message it works on longer than the claim idle time from another instance, which would run it again', async () => {
        const runs: string[] = [];
        const slow = (instance: string) =>
          defineHandler({
            name: 'slow',
            effect: 'external',
            on: {
              BookingMade_v1: async () => {
                runs.push(instance);
                await Bun.sleep(600);
              },
            },
          });
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        start([slow('first')], { consumerName: 'first', claimIdleMs: 100 });
        await publish(mode.bus, message!);
        await until(() => runs.length === 1);
        const other = start([slow('other')], { consumerName: 'other', claimIdleMs: 100, bus: mode.openBus() });

        await until(async () => (await inboxOf(message!.id)).length === 1);
        await other.drain();
        expect(runs).toEqual(['first']);
      });

      it('starts a notRepeatable call only when the handler asks for its call context: an instance that stopped before that leaves nothing to dead-letter', async () => {
        const calls: string[] = [];
        const reading: string[] = [];
        const { wait: readNeverEnds, open: endRead } = latch();
        const book = (instance: string) =>
          bookingCall(async (_message, ctx) => {
            // What the handler reads before its call (the show's Dead Nation id, say): the first
            // instance stops there, as far as the others can tell.
            reading.push(instance);
            if (instance === 'stopped') await readNeverEnds;
            await ctx.callContext();
            calls.push(instance);
          });
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        start([book('stopped')], { consumerName: 'stopped' });
        await publish(mode.bus, message!);
        await until(() => reading.length === 1);
        expect(await store.query('SELECT handler FROM calls_started')).toEqual([]);

        start([book('survivor')], { consumerName: 'survivor', claimIdleMs: 100, bus: mode.openBus() });
        await until(async () => (await inboxOf(message!.id)).length === 1);

        expect(calls).toEqual(['survivor']);
        expect(await deadLetterRows()).toEqual([]);
        expect(await store.query('SELECT handler FROM calls_started')).toEqual([]);
        // Should the first instance go on after all, its call context finds the message processed.
        endRead();
        await Bun.sleep(50);
        expect(calls).toEqual(['survivor']);
      });

      it('redrives the message once after the handler is fixed, and only once', async () => {
        let broken = true;
        const seen: Seen[] = [];
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([recorder('print', ['BookingMade_v1'], seen, () => {
          if (broken) throw new Error('printer on fire');
        })]);
        const deadLetters = createDeadLetters({ store, clock, consumers });
        await publish(mode.bus, message!);
        await consumers.drain();
        const [dead] = (await deadLetters.list({ limit: 10 })).items;

        broken = false;
        const result = await deadLetters.redrive(dead!.id);

        expect(result.outcome).toBe('redriven');
        expect(result).toMatchObject({ deadLetter: { id: dead!.id, status: 'redriven', redrivenAt: NOW, attempts: 3 } });
        expect(seen).toHaveLength(4);
        expect(await effects(store, 'print')).toEqual([message!.id]);
        expect((await deadLetters.redrive(dead!.id)).outcome).toBe('not_dead');
        await publish(mode.bus, message!);
        await consumers.drain();
        expect(seen).toHaveLength(4);
      });

      it('runs the handler once when the same dead letter is redriven several times at once', async () => {
        let broken = true;
        let calls = 0;
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const book = bookingCall(async (_message, ctx) => {
          await ctx.callContext();
          calls += 1;
          if (broken) throw new PoisonMessageError('refused');
          await Bun.sleep(100);
        });
        const consumers = start([book]);
        const deadLetters = createDeadLetters({ store, clock, consumers });
        await publish(mode.bus, message!);
        await consumers.drain();
        const [dead] = (await deadLetters.list({ limit: 10 })).items;

        broken = false;
        const outcomes = (await Promise.all(Array.from({ length: 5 }, () => deadLetters.redrive(dead!.id)))).map((r) => r.outcome);

        expect(calls).toBe(2);
        expect(outcomes.filter((o) => o === 'redriven')).toHaveLength(1);
        expect(outcomes.filter((o) => o === 'in_progress' || o === 'not_dead')).toHaveLength(4);
        expect(await deadLetterRows()).toMatchObject([{ handler: 'book', status: 'redriven' }]);
      });

      it('lets a later redrive in when a redrive has held its letter past the lease (its instance stopped)', async () => {
        let calls = 0;
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([recorder('print', ['BookingMade_v1'], [], () => {
          calls += 1;
          if (calls === 1) throw new PoisonMessageError('refused');
        })]);
        const deadLetters = createDeadLetters({ store, clock, consumers });
        await publish(mode.bus, message!);
        await consumers.drain();
        const [dead] = (await deadLetters.list({ limit: 10 })).items;
        await store.execute('UPDATE dead_letters SET redrive_started_at = $2 WHERE id = $1', [dead!.id, NOW]);

        expect((await deadLetters.redrive(dead!.id)).outcome).toBe('in_progress');
        clock.advance(5 * 60_000 + 1);
        try {
          expect((await deadLetters.redrive(dead!.id)).outcome).toBe('redriven');
        } finally {
          clock.set(NOW);
        }
        expect(calls).toBe(2);
      });

      it('keeps a message dead with the new error when its redrive fails', async () => {
        let error = 'printer on fire';
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([recorder('print', ['BookingMade_v1'], [], () => Promise.reject(new Error(error)))]);
        const deadLetters = createDeadLetters({ store, clock, consumers });
        await publish(mode.bus, message!);
        await consumers.drain();
        const [dead] = (await deadLetters.list({ limit: 10 })).items;

        error = 'out of paper';
        clock.advance(60_000);
        const result = await deadLetters.redrive(dead!.id);

        expect(result).toMatchObject({ outcome: 'failed', deadLetter: { status: 'dead', error: 'out of paper', attempts: 4, redrivenAt: null } });
        // It failed again a minute later: listed by that failure.
        expect(result.outcome === 'failed' && result.deadLetter.failedAt).toBe(clock.now().toISOString());
        expect(await effects(store, 'print')).toEqual([]);
        // The debugger's timeline shows the failed redrive as the fourth attempt.
        expect(await store.query('SELECT attempt, error FROM delivery_attempts WHERE handler = $1 ORDER BY attempt', ['print'])).toEqual([
          { attempt: 1, error: 'printer on fire' },
          { attempt: 2, error: 'printer on fire' },
          { attempt: 3, error: 'printer on fire' },
          { attempt: 4, error: 'out of paper' },
        ]);
      });

      it('does not hold back the later messages of the same actor', async () => {
        const seen: Seen[] = [];
        const messages = await commit(store, 'booking/a', 'BookingMade_v1', 'BookingMade_v1');
        const consumers = start([recorder('print', ['BookingMade_v1'], seen, (message) => {
          if (message.actorSeq === 1) throw new PoisonMessageError('unreadable');
        })]);

        await publish(mode.bus, ...messages);
        await consumers.drain();

        expect(seen.map((s) => s.seq)).toEqual([1, 2]);
        expect(await effects(store, 'print')).toEqual([messages[1]!.id]);
      });
    });

    describe('when a local handler may share its transactions (groupable)', () => {
      it('applies every effect once, also when one delivery of a shared transaction fails and is retried', async () => {
        let failures = 0;
        const lake = defineHandler({
          name: 'lake',
          effect: 'local',
          groupable: true,
          on: {
            BookingMade_v1: async (message, ctx) => {
              await ctx.tx.execute('INSERT INTO test_effects (handler, message_id, actor_seq) VALUES ($1, $2, $3)', ['lake', message.id, message.actorSeq]);
              if (message.actor === 'booking/g3' && failures++ === 0) throw new Error('first attempt fails after its write');
            },
          },
        });
        const messages: Message[] = [];
        for (let i = 0; i < 8; i++) messages.push(...(await commit(store, `booking/g${i}`, 'BookingMade_v1')));
        await publish(mode.bus, ...messages);

        const consumers = start([lake]);
        await consumers.drain();

        expect(failures).toBe(2);
        expect(await effects(store, 'lake')).toEqual(idsOf(messages));
        expect(await deadLetterRows()).toEqual([]);
      });
    });

    describe('when one delivery is slow', () => {
      it('shows how long the oldest message a handler has not processed has waited', async () => {
        const registry = new Registry();
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        const consumers = start([defineHandler({ name: 'print', effect: 'external', on: { BookingMade_v1: () => held } })], { registry });
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        await publish(mode.bus, message!);
        await Bun.sleep(300);

        const age = (text: string) => Number(/^consumer_oldest_age_seconds\{group="tickets.print",stream="events.BookingMade_v1"\} (\S+)$/m.exec(text)?.[1]);
        expect(age(await registry.metrics())).toBeGreaterThanOrEqual(0.25);
        release();
        await consumers.drain();
        expect(age(await registry.metrics())).toBe(0);
      });

      it('goes on with the other actors meanwhile, and keeps each actor in order', async () => {
        const done: string[] = [];
        const { wait: otherActor, open: otherActorDone } = latch();
        const notify = defineHandler({
          name: 'notify',
          effect: 'external',
          on: {
            BookingMade_v1: async (message) => {
              // One at a time, this would wait out the whole timeout and finish first.
              if (message.actor === 'booking/a' && message.actorSeq === 1) await Promise.race([otherActor, Bun.sleep(2_000)]);
              done.push(`${message.actor}#${message.actorSeq}`);
              if (message.actor === 'booking/b') otherActorDone();
            },
          },
        });
        const messages = [...(await commit(store, 'booking/a', 'BookingMade_v1', 'BookingMade_v1')), ...(await commit(store, 'booking/b', 'BookingMade_v1'))];
        await publish(mode.bus, ...messages);

        const consumers = start([notify]);
        await consumers.drain();

        expect(done).toEqual(['booking/b#1', 'booking/a#1', 'booking/a#2']);
      });
    });

    describe('when the messages of one actor arrive out of order', () => {
      it('handles seq 1 before seq 2 when seq 2 arrives first on another stream', async () => {
        const seen: Seen[] = [];
        const [placed, confirmed] = await commit(store, 'booking/a', 'HoldPlaced_v1', 'TicketsSold_v1');
        const consumers = start([recorder('sales', ['HoldPlaced_v1', 'TicketsSold_v1'], seen)]);

        await publish(mode.bus, confirmed!);
        await consumers.drain();
        await publish(mode.bus, placed!);
        await consumers.drain();

        expect(seen.map((s) => [s.seq, s.name])).toEqual([
          [1, 'HoldPlaced_v1'],
          [2, 'TicketsSold_v1'],
        ]);
        expect(await effects(store, 'sales')).toEqual(idsOf([placed!, confirmed!]));
      });

      it('catches up only the earlier messages still missing', async () => {
        const seen: Seen[] = [];
        const [placed, sold, replaced] = await commit(store, 'booking/a', 'HoldPlaced_v1', 'TicketsSold_v1', 'HoldPlaced_v1');
        const consumers = start([recorder('sales', ['HoldPlaced_v1', 'TicketsSold_v1'], seen)]);
        await publish(mode.bus, placed!);
        await consumers.drain();

        await publish(mode.bus, replaced!);
        await consumers.drain();
        await publish(mode.bus, sold!);
        await consumers.drain();

        expect(seen.map((s) => s.seq)).toEqual([1, 2, 3]);
        expect(await effects(store, 'sales')).toEqual(idsOf([placed!, sold!, replaced!]));
      });

      it('does not catch up an earlier message whose dead letter was settled: settling counts it as processed', async () => {
        const ran: number[] = [];
        const steps = defineHandler({
          name: 'steps',
          effect: 'external',
          on: {
            BookingMade_v1: (message) => {
              ran.push(message.actorSeq);
              if (message.actorSeq === 1) throw new PoisonMessageError('the first step failed');
            },
          },
        });
        const [first, second] = await commit(store, 'booking/a', 'BookingMade_v1', 'BookingMade_v1');
        const consumers = start([steps]);
        await publish(mode.bus, first!);
        await consumers.drain();
        expect(await deadLetterRows()).toMatchObject([{ message_id: first!.id, status: 'dead' }]);

        // The step was asked again and done by another message: its first delivery needs no operator.
        expect(await createDeadLetters({ store, clock, consumers }).settle('steps', 'booking/a', () => true)).toBe(1);
        await publish(mode.bus, second!);
        await consumers.drain();

        expect(ran).toEqual([1, 2]);
        expect(await deadLetterRows()).toMatchObject([{ message_id: first!.id, status: 'redriven' }]);
        expect(await store.query('SELECT effect FROM inbox WHERE message_id = $1', [first!.id])).toEqual([{ effect: 'settled' }]);
      });

      it('does not catch up an earlier message older than the inbox keeps its rows: it was delivered long ago', async () => {
        const seen: Seen[] = [];
        const [first, second] = await commit(store, 'booking/a', 'BookingMade_v1', 'BookingMade_v1');
        clock.advance(INBOX_RETENTION_MS + 60_000);
        const consumers = start([recorder('late', ['BookingMade_v1'], seen)]);

        await publish(mode.bus, second!);
        await consumers.drain();

        expect(seen.map((s) => s.seq)).toEqual([2]);
        expect(first!.actorSeq).toBe(1);
      });

      it('ignores earlier messages of the actor that the handler does not handle', async () => {
        const seen: Seen[] = [];
        const [, sold] = await commit(store, 'booking/a', 'HoldPlaced_v1', 'TicketsSold_v1');
        const consumers = start([recorder('sales', ['TicketsSold_v1'], seen)]);

        await publish(mode.bus, sold!);
        await consumers.drain();

        expect(seen.map((s) => s.seq)).toEqual([2]);
      });
    });

    describe('when a handler reports that the service it called refused (a terminal answer it handled)', () => {
      it('records its delivery as a refused call, and a call that succeeded as an external one', async () => {
        const outcomeOf = (message: BusMessage) => (message.actorSeq === 1 ? 'terminal' : 'success');
        const flights = defineHandler({
          name: 'flights',
          effect: 'external',
          on: { BookingMade_v1: async (message, ctx) => (await ctx.callContext()).onOutcome?.(outcomeOf(message)) },
        });
        const messages = await commit(store, 'booking/a', 'BookingMade_v1', 'BookingMade_v1');
        const consumers = start([flights]);
        await publish(mode.bus, ...messages);
        await consumers.drain();

        const rows = await store.query<{ message_id: string; effect: string }>("SELECT message_id, effect FROM inbox WHERE handler = 'flights'");
        expect(Object.fromEntries(rows.map((r) => [r.message_id, r.effect]))).toEqual({ [messages[0]!.id]: 'refused', [messages[1]!.id]: 'external' });
      });
    });

    describe('when handling a message', () => {
      it('runs in a CONSUMER span continuing its traceparent and logs with its correlation id', async () => {
        spans.reset();
        const lines: Array<Record<string, unknown>> = [];
        const logger: Logger = createLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
        const handler = defineHandler({
          name: 'greet',
          effect: 'external',
          on: { BookingMade_v1: (_message, ctx) => ctx.logger.info('greeting', { traceparent: ctx.traceparent }) },
        });
        const [message] = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([handler], { tracing, logger });

        await publish(mode.bus, message!);
        await consumers.drain();

        const span = spans.getFinishedSpans().find((s) => s.name === 'greet BookingMade_v1');
        expect(span?.kind).toBe(SpanKind.CONSUMER);
        expect(span?.spanContext().traceId).toBe(TRACE_ID);
        expect(span?.parentSpanContext?.spanId).toBe(PARENT_SPAN_ID);
        expect(span?.attributes).toMatchObject({ 'messaging.consumer.group.name': 'tickets.greet', 'messaging.message.id': message!.id });
        const line = lines.find((l) => l.msg === 'greeting');
        expect(line).toMatchObject({
          correlation_id: 'corr-booking/a-1',
          trace_id: TRACE_ID,
          actor: 'booking/a',
          handler: 'greet',
          message_id: message!.id,
          traceparent: `00-${TRACE_ID}-${span?.spanContext().spanId}-01`,
        });
      });
    });

    describe('when an operator redrives a message', () => {
      it("runs it in the message's trace, linked to the span of the redrive request", async () => {
        spans.reset();
        const handler = defineHandler({ name: 'greet', effect: 'external', on: { BookingMade_v1: () => undefined } });
        const [message] = await commit(store, 'booking/r', 'BookingMade_v1');
        const consumers = start([handler], { tracing });
        const request = await tracing.withSpan('POST /api/ops/dead-letters/:id/retry', {}, async (span) => {
          await consumers.redeliver('greet', toBusMessage(message!, NOW), 2);
          return span.spanContext();
        });

        const span = spans.getFinishedSpans().find((s) => s.name === 'greet BookingMade_v1');
        expect(span?.spanContext().traceId).toBe(TRACE_ID);
        expect(span?.links.map((link) => [link.context.traceId, link.context.spanId])).toEqual([[request.traceId, request.spanId]]);
      });
    });

    describe('when the bus fails', () => {
      it('keeps consuming once it answers again', async () => {
        const seen: Seen[] = [];
        let failures = 0;
        const flaky = Object.assign(Object.create(mode.bus) as Bus, {
          readNew: async (...args: Parameters<Bus['readNew']>) => {
            if (failures < 2) {
              failures += 1;
              throw new Error('connection refused');
            }
            return mode.bus.readNew(...args);
          },
        });
        const messages = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([recorder('audit', ['BookingMade_v1'], seen)], { bus: flaky });

        await publish(mode.bus, ...messages);
        await consumers.drain();

        expect(failures).toBe(2);
        expect(await effects(store, 'audit')).toEqual(idsOf(messages));
      });
    });

    describe('when stopped', () => {
      it('finishes the message in hand and then stops reading', async () => {
        const seen: Seen[] = [];
        const { wait: gate, open: release } = latch();
        const messages = await commit(store, 'booking/a', 'BookingMade_v1');
        const consumers = start([recorder('audit', ['BookingMade_v1'], seen, () => gate)]);
        await publish(mode.bus, ...messages);
        await until(() => seen.length > 0);

        const stopped = consumers.stop();
        release();
        await stopped;

        expect(await effects(store, 'audit')).toEqual(idsOf(messages));
        expect(await mode.bus.lag('events.BookingMade_v1', 'tickets.audit')).toEqual({ undelivered: 0, pending: 0 });
        const [later] = await commit(store, 'booking/b', 'BookingMade_v1');
        await publish(mode.bus, later!);
        await Bun.sleep(100);
        expect(seen).toHaveLength(1);
      });
    });
  });
}

describe('defineHandler', () => {
  it('names the group after the handler and reads the stream of each message it handles', () => {
    const handler = defineHandler({ name: 'bookFlights', effect: 'external', on: { VipBundleInitialized_v1: () => {}, BookFlight: () => {} } });

    expect(handler.group).toBe('tickets.bookFlights');
    expect(handler.streams).toEqual(['events.VipBundleInitialized_v1', 'commands.BookFlight']);
  });

  it('refuses a handler without messages or with a name that is not camelCase', () => {
    expect(() => defineHandler({ name: 'empty', effect: 'local', on: {} })).toThrow('handles no message');
    expect(() => defineHandler({ name: 'print tickets', effect: 'local', on: { A_v1: () => {} } })).toThrow('camelCase');
  });
});
