import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { join } from 'node:path';
import type { Message, NewMessage, Store } from '../../src/actors/ports';
import { deadLettersRoutes } from '../../src/features/deadLetters/deadLetters.routes';
import { createApp } from '../../src/http/app';
import { createIdempotency } from '../../src/http/idempotency';
import { createAuth, createTokens } from '../../src/http/auth';
import { startServer, type RunningServer } from '../../src/http/server';
import { ManualClock } from '../../src/kernel/clock';
import { randomIds } from '../../src/kernel/ids';
import { createConsumers, type Consumers } from '../../src/messaging/consumers';
import { createDeadLetters } from '../../src/messaging/deadLetters';
import { defineHandler, PoisonMessageError } from '../../src/messaging/handlers';
import type { Bus } from '../../src/messaging/ports';
import { openSqliteBus } from '../../src/messaging/sqliteBus';
import { streamOf, toBusMessage } from '../../src/messaging/wire';
import { createLogger } from '../../src/observability/logger';
import { createMetrics } from '../../src/observability/metrics';
import { createTracing, type Tracing } from '../../src/observability/tracing';
import { openSqliteStore } from '../../src/store/sqlite';
import { bearer, mintToken } from '../support/auth';
import { TEST_JWT_SECRET } from '../support/service';
import { commitFirstFact } from '../support/stores';
import { makeTempDir } from '../support/tempDir';
import { expectProblem } from '../support/problems';

const T0 = '2030-01-01T00:00:00.000Z';
const UNKNOWN_ID = '0b9a8c4e-1d2f-4a3b-8c5d-6e7f8a9b0c1d';

const dir = makeTempDir('tickets-dead-letters-');
const clock = new ManualClock(T0);
/** Ids of the messages the `print` handler still fails on. */
const broken = new Set<string>();
const printed: string[] = [];
/** Ids of the messages whose `ship` call takes effect but whose answer is lost. */
const lostAnswers = new Set<string>();
/** What the `ship` handler did: each call made, and each message it went on with as resolved, no call. */
const shipCalls: string[] = [];
const shippedAsResolved: string[] = [];
let store: Store;
let bus: Bus;
let consumers: Consumers;
let tracing: Tracing;
let server: RunningServer;
let seq = 0;

const url = (path: string) => `http://localhost:${server.port}${path}`;
const asOps = () => bearer(mintToken({ role: 'ops' }, { clock }));
const get = (path: string, headers = asOps()) => fetch(url(path), { headers });
const post = (path: string, headers = asOps()) => fetch(url(path), { method: 'POST', headers });

/**
 * Commits one TicketPrinted_v1 of a new ticket to the log, one second after the previous one, publishes
 * it and waits until the `print` handler has processed it (or dead-lettered it when `fails`).
 */
async function publishTicket(fails: boolean): Promise<Message> {
  clock.advance(1_000);
  seq += 1;
  const message: NewMessage = {
    id: randomIds.uuid(),
    name: 'TicketPrinted_v1',
    kind: 'event',
    actor: `ticket/t${seq}`,
    actorSeq: 1,
    data: { ticket_id: `t${seq}` },
    metadata: { correlation_id: `corr-${seq}` },
    occurredAt: clock.now().toISOString(),
  };
  if (fails) broken.add(message.id);
  const committed = await commitFirstFact(store, message, 'printed');
  await bus.publish(streamOf(committed), [toBusMessage(committed, message.occurredAt)]);
  await consumers.drain();
  return committed;
}

type DeadLetterJson = Record<string, unknown> & { id: string; message_id: string; status: string };

async function list(query = ''): Promise<{ response: Response; body: DeadLetterJson[] }> {
  const response = await get(`/api/ops/dead-letters${query}`);
  return { response, body: (await response.json()) as DeadLetterJson[] };
}

beforeAll(async () => {
  tracing = createTracing({ serviceName: 'dead-letters-test' });
  store = await openSqliteStore({ path: join(dir.path, 'tickets.db') });
  await store.migrate();
  bus = openSqliteBus({ path: join(dir.path, 'bus.db') });
  const logger = createLogger({ level: 'silent' });
  const print = defineHandler({
    name: 'print',
    effect: 'external',
    on: {
      TicketPrinted_v1: (message) => {
        if (broken.has(message.id)) throw new PoisonMessageError(`no paper for ${message.id}`);
        printed.push(message.id);
      },
    },
  });
  // A handler of a service that does not deduplicate: a call whose answer is lost is dead-lettered at once.
  const ship = defineHandler({
    name: 'ship',
    effect: 'external',
    notRepeatable: true,
    answerWhenTookEffect: 'shipped',
    on: {
      TicketRefunded_v1: async (message, ctx) => {
        if (ctx.answered() === 'shipped') {
          shippedAsResolved.push(message.id);
          return;
        }
        await ctx.callContext();
        shipCalls.push(message.id);
        if (lostAnswers.has(message.id)) throw new Error('connection reset while shipping');
      },
    },
  });
  consumers = createConsumers({ store, bus, handlers: [print, ship], clock, ids: randomIds, logger, consumerName: 'e2e', blockMs: 50 });
  consumers.start();
  const deadLetters = createDeadLetters({ store, clock, consumers });
  const auth = createAuth(createTokens({ secret: TEST_JWT_SECRET, clock, ttlSeconds: 3600 }));
  const app = createApp({ store, metrics: createMetrics(), tracing, logger, ids: randomIds, plugins: [deadLettersRoutes({ deadLetters, auth, idempotency: createIdempotency({ store, clock }), logger })] });
  server = startServer(app, 0);
});

afterAll(async () => {
  await server?.stop(false);
  await consumers?.stop();
  await bus?.close();
  await store?.close();
  await tracing?.shutdown();
  await dir.cleanup();
});

describe('dead letters over HTTP', () => {
  describe('when the caller is not ops', () => {
    it('answers 401 without a token (before validating the request) and 403 to a customer, on every route', async () => {
      const customer = bearer(mintToken({ role: 'customer' }, { clock }));
      const routes = [
        () => get('/api/ops/dead-letters', {}),
        () => get('/api/ops/dead-letters?limit=0', {}),
        () => post('/api/ops/dead-letters/retry', {}),
        () => post(`/api/ops/dead-letters/${UNKNOWN_ID}/retry`, {}),
        () => post('/api/ops/dead-letters/nope/retry', {}),
        () => post(`/api/ops/dead-letters/${UNKNOWN_ID}/resolve`, {}),
      ];
      for (const route of routes) await expectProblem(await route(), 401, 'UNAUTHORIZED');
      await expectProblem(await get('/api/ops/dead-letters', customer), 403, 'FORBIDDEN');
      await expectProblem(await post('/api/ops/dead-letters/retry', customer), 403, 'FORBIDDEN');
      await expectProblem(await post(`/api/ops/dead-letters/${UNKNOWN_ID}/retry`, customer), 403, 'FORBIDDEN');
      await expectProblem(await post(`/api/ops/dead-letters/${UNKNOWN_ID}/resolve`, customer), 403, 'FORBIDDEN');
    });
  });

  describe('when there are none', () => {
    it('lists an empty array without a Link header', async () => {
      const { response, body } = await list();

      expect(response.status).toBe(200);
      expect(body).toEqual([]);
      expect(response.headers.get('link')).toBeNull();
    });
  });

  describe('when messages failed', () => {
    let first: Message;
    let second: Message;
    let third: Message;

    beforeAll(async () => {
      first = await publishTicket(true);
      second = await publishTicket(true);
      third = await publishTicket(true);
      await publishTicket(false);
    });

    it('lists them newest first with their error, in snake_case', async () => {
      const { response, body } = await list();

      expect(response.status).toBe(200);
      expect(body.map((d) => d.message_id)).toEqual([third.id, second.id, first.id]);
      expect(body[0]).toEqual({
        id: expect.any(String),
        handler: 'print',
        stream: 'events.TicketPrinted_v1',
        message_id: third.id,
        message_name: 'TicketPrinted_v1',
        actor: `ticket/t${seq - 1}`,
        correlation_id: `corr-${seq - 1}`,
        error: `no paper for ${third.id}`,
        attempts: 1,
        status: 'dead',
        failed_at: '2030-01-01T00:00:03.000Z',
        redriven_at: null,
      });
    });

    it('pages with ?limit= and announces the next page in a Link header', async () => {
      const page1 = await list('?limit=2');
      const link = page1.response.headers.get('link');
      expect(page1.body.map((d) => d.message_id)).toEqual([third.id, second.id]);
      expect(link).toMatch(/^<\/api\/ops\/dead-letters\?limit=2&cursor=[A-Za-z0-9_-]+>; rel="next"$/);

      const page2 = await list(link!.slice(link!.indexOf('?'), link!.indexOf('>')));

      expect(page2.body.map((d) => d.message_id)).toEqual([first.id]);
      expect(page2.response.headers.get('link')).toBeNull();
    });

    it('refuses a limit out of 1..100 and a cursor it did not hand out with 400', async () => {
      await expectProblem(await get('/api/ops/dead-letters?limit=0'), 400, 'VALIDATION_FAILED');
      await expectProblem(await get('/api/ops/dead-letters?limit=101'), 400, 'VALIDATION_FAILED');
      const body = await expectProblem(await get('/api/ops/dead-letters?cursor=nonsense'), 400, 'VALIDATION_FAILED');
      expect(Object.keys(body.errors as object)).toEqual(['cursor']);
    });

    it('answers 404 for an unknown id and 400 for one that is not a UUID', async () => {
      await expectProblem(await post(`/api/ops/dead-letters/${UNKNOWN_ID}/retry`), 404, 'NOT_FOUND');
      await expectProblem(await post('/api/ops/dead-letters/nope/retry'), 400, 'VALIDATION_FAILED');
    });

    it('redrives one that is fixed, then answers 409 for it', async () => {
      const { body } = await list();
      const dead = body.find((d) => d.message_id === first.id)!;
      broken.delete(first.id);

      const keyed = { ...asOps(), 'Idempotency-Key': crypto.randomUUID() };
      const response = await post(`/api/ops/dead-letters/${dead.id}/retry`, keyed);

      expect(response.status).toBe(200);
      const redriven = await response.json();
      expect(redriven).toMatchObject({ id: dead.id, message_id: first.id, status: 'redriven', redriven_at: clock.now().toISOString() });
      expect(printed.filter((id) => id === first.id)).toHaveLength(1);
      // The same key again replays the first answer instead of a 409.
      const replayed = await post(`/api/ops/dead-letters/${dead.id}/retry`, keyed);
      expect(replayed.status).toBe(200);
      expect(replayed.headers.get('idempotent-replayed')).toBe('true');
      expect(await replayed.json()).toEqual(redriven);
      await expectProblem(await post(`/api/ops/dead-letters/${dead.id}/retry`), 409, 'NOT_ALLOWED_IN_STATE');
      expect((await list('?status=redriven')).body.map((d) => d.message_id)).toEqual([first.id]);
    });

    it('keeps one that still fails dead, with the new error and one more attempt', async () => {
      const { body } = await list('?status=dead');
      const dead = body.find((d) => d.message_id === second.id)!;

      const response = await post(`/api/ops/dead-letters/${dead.id}/retry`);

      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ id: dead.id, status: 'dead', attempts: 2, redriven_at: null });
    });

    it('redrives all dead ones and counts what was redriven and what failed', async () => {
      broken.delete(third.id);

      const response = await post('/api/ops/dead-letters/retry');

      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ redriven: 1, failed: 1, skipped: 0 });
      expect((await list('?status=dead')).body.map((d) => d.message_id)).toEqual([second.id]);
      expect(printed.filter((id) => id === third.id)).toHaveLength(1);
    });

    it('leaves out of a redrive of all one whose call may have taken effect, for an operator to check and redrive alone', async () => {
      const uncertain = await publishTicket(true);
      // What a crash during the call leaves: its calls_started row, never followed by an inbox row.
      await store.execute('INSERT INTO calls_started (handler, message_id, started_at) VALUES ($1, $2, $3)', ['print', uncertain.id, clock.now().toISOString()]);
      broken.delete(uncertain.id);
      broken.delete(second.id);

      const response = await post('/api/ops/dead-letters/retry');

      expect(await response.json()).toEqual({ redriven: 1, failed: 0, skipped: 1 });
      expect((await list('?status=dead')).body.map((d) => d.message_id)).toEqual([uncertain.id]);
      expect(printed).not.toContain(uncertain.id);
      // The operator checked the service: redriving that one alone runs it.
      const [letter] = (await list('?status=dead')).body;
      expect((await post(`/api/ops/dead-letters/${letter!.id}/retry`)).status).toBe(200);
      expect(printed.filter((id) => id === uncertain.id)).toHaveLength(1);
    });
  });

  describe('when the instance running a redrive stopped during its call', () => {
    it('does not call again on the next redrive: the letter says the call may have taken effect, and only a redrive after that calls', async () => {
      const message = await publishTicket(true);
      broken.delete(message.id);
      const letter = (await list('?status=dead')).body.find((d) => d.message_id === message.id)!;
      // What the stopped redrive left: its claim, and the calls_started row of its call, after the letter's failure.
      clock.advance(1_000);
      await store.execute('INSERT INTO calls_started (handler, message_id, started_at) VALUES ($1, $2, $3)', ['print', message.id, clock.now().toISOString()]);
      await store.execute('UPDATE dead_letters SET redrive_started_at = $2 WHERE id = $1', [letter.id, clock.now().toISOString()]);
      clock.advance(5 * 60_000 + 1);

      const next = await post(`/api/ops/dead-letters/${letter.id}/retry`);
      expect(next.status).toBe(200);
      const told = (await next.json()) as { status: string; error: string };
      expect(told.status).toBe('dead');
      expect(told.error).toContain('may have taken effect');
      expect(printed).not.toContain(message.id);
      // A redrive of all still leaves it to the operator.
      expect((await (await post('/api/ops/dead-letters/retry')).json()) as Record<string, number>).toMatchObject({ skipped: 1 });
      expect(printed).not.toContain(message.id);

      // While a redrive of it runs (another instance's, its call under way), a redrive of all does not
      // count it as one for the operator to check.
      await store.execute('UPDATE dead_letters SET redrive_started_at = $2 WHERE id = $1', [letter.id, clock.now().toISOString()]);
      expect((await (await post('/api/ops/dead-letters/retry')).json()) as Record<string, number>).toMatchObject({ skipped: 0 });
      await store.execute('UPDATE dead_letters SET redrive_started_at = NULL WHERE id = $1', [letter.id]);

      // The operator checked the service and redrives it again: that one calls, once.
      const decided = await post(`/api/ops/dead-letters/${letter.id}/retry`);
      expect(((await decided.json()) as { status: string }).status).toBe('redriven');
      expect(printed.filter((id) => id === message.id)).toHaveLength(1);
    });
  });

  describe('when a call to a service that does not deduplicate took effect but its answer was lost', () => {
    it('resolves the dead letter: the handler goes on from the call\'s success without calling again', async () => {
      seq += 1;
      const message: NewMessage = {
        id: randomIds.uuid(), name: 'TicketRefunded_v1', kind: 'event', actor: `ticket/t${seq}`, actorSeq: 1,
        data: { ticket_id: `t${seq}` }, metadata: { correlation_id: `corr-${seq}` }, occurredAt: clock.now().toISOString(),
      };
      lostAnswers.add(message.id);
      const committed = await commitFirstFact(store, message, 'refunded');
      await bus.publish(streamOf(committed), [toBusMessage(committed, message.occurredAt)]);
      await consumers.drain();
      const letter = (await list('?status=dead')).body.find((d) => d.message_id === message.id)!;
      expect(letter).toMatchObject({ handler: 'ship', attempts: 1 });
      expect(shipCalls.filter((id) => id === message.id)).toHaveLength(1);

      const response = await post(`/api/ops/dead-letters/${letter.id}/resolve`);

      expect(response.status).toBe(200);
      expect(await response.json()).toMatchObject({ id: letter.id, status: 'resolved', redriven_at: clock.now().toISOString() });
      expect(shipCalls.filter((id) => id === message.id)).toHaveLength(1);
      expect(shippedAsResolved).toEqual([message.id]);
      expect(await store.query('SELECT handler, effect FROM inbox WHERE message_id = $1', [message.id])).toEqual([{ handler: 'ship', effect: 'resolved' }]);
      await expectProblem(await post(`/api/ops/dead-letters/${letter.id}/resolve`), 409, 'NOT_ALLOWED_IN_STATE');
      await expectProblem(await post(`/api/ops/dead-letters/${letter.id}/retry`), 409, 'NOT_ALLOWED_IN_STATE');
      expect((await list('?status=resolved')).body.map((d) => d.message_id)).toEqual([message.id]);
    });

    it('refuses to resolve the letter of a handler that cannot go on without its call (409), which stays dead for a redrive', async () => {
      const stuck = await publishTicket(true);
      const letter = (await list('?status=dead')).body.find((d) => d.message_id === stuck.id)!;

      const refused = await expectProblem(await post(`/api/ops/dead-letters/${letter.id}/resolve`), 409, 'NOT_ALLOWED_IN_STATE');

      expect(refused.detail).toContain('redrive');
      expect((await list('?status=dead')).body.map((d) => d.message_id)).toContain(stuck.id);
      await expectProblem(await post(`/api/ops/dead-letters/${UNKNOWN_ID}/resolve`), 404, 'NOT_FOUND');
      broken.delete(stuck.id);
      expect((await post(`/api/ops/dead-letters/${letter.id}/retry`)).status).toBe(200);
    });
  });
});
