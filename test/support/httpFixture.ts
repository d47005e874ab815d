import { Elysia, status } from 'elysia';
import { z } from 'zod';
import type { Store } from '../../src/actors/ports';
import { storeUnavailable } from '../../src/kernel/errors';
import type { IdSource } from '../../src/kernel/ids';
import type { createIdempotency } from '../../src/http/idempotency';
import { problem } from '../../src/http/problem';
import { createRequestContext } from '../../src/http/requestContext';
import type { Tracing } from '../../src/observability/tracing';

export interface HttpFixtureDeps {
  store: Store;
  tracing: Tracing;
  ids: IdSource;
  idempotency: ReturnType<typeof createIdempotency>;
}

/** How often each idempotent demo handler really ran. */
export interface HandlerCounts {
  orders: number;
  plainOrders: number;
  webhook: number;
  flaky: number;
  refused: number;
  raced: number;
}

const OrderBody = z.object({ quantity: z.number().int().min(1).max(10) });

/**
 * Demo routes for the HTTP skeleton's end-to-end tests: validated inputs, a thrown unknown error, a
 * returned problem, the request context, and idempotent routes whose handler runs can be counted and
 * held open (to send a duplicate while the first is still running).
 */
export function httpFixture(deps: HttpFixtureDeps) {
  const { store, tracing, ids, idempotency } = deps;
  const counts: HandlerCounts = { orders: 0, plainOrders: 0, webhook: 0, flaky: 0, refused: 0, raced: 0 };
  let gate: Promise<void> | undefined;

  const plugin = new Elysia({ name: 'http-fixture', prefix: '/fixture' })
    .use(createRequestContext({ tracing, ids }))
    .use(idempotency)
    .get('/items/:id', ({ params }) => ({ id: params.id }), {
      params: z.object({ id: z.uuid() }),
    })
    .get('/items', ({ query }) => ({ limit: query.limit ?? null }), {
      query: z.object({ limit: z.coerce.number().int().min(1).max(100).optional() }),
    })
    .post('/items', ({ body }) => status(201, body), {
      body: z.object({ name: z.string().min(1), quantity: z.number().int().min(1).max(10) }),
    })
    .get('/boom', () => {
      throw new Error('connection to postgres://admin:hunter2@db failed');
    })
    .get('/sold-out', () => problem(409, 'SOLD_OUT', 'not enough seats available'))
    .get('/unavailable', () => {
      throw storeUnavailable(new Error('connect ECONNREFUSED 127.0.0.1:5432'));
    })
    .get('/context', async ({ correlationId, requestId, traceparent, traceId }) => {
      const child = await tracing.withSpan('fixture.child', { 'fixture.attr': 1 }, () => tracing.currentTraceparent());
      return { correlationId, requestId: requestId ?? null, traceparent, traceId, child: child ?? null };
    })
    .post('/orders', async ({ body, idempotency }) => {
      counts.orders += 1;
      if (gate !== undefined) await gate;
      return store.transaction((tx) => idempotency.complete(tx, 201, { order_id: ids.uuid(), quantity: body.quantity }));
    }, { body: OrderBody, idempotent: true })
    .post('/plain-orders', ({ body, set }) => {
      counts.plainOrders += 1;
      const orderId = ids.uuid();
      set.headers.location = `/fixture/orders/${orderId}`;
      return status(201, { order_id: orderId, quantity: body.quantity });
    }, { body: OrderBody, idempotent: true })
    .post('/webhook', () => {
      counts.webhook += 1;
      return new Response(null, { status: 200 });
    }, { idempotent: 'required' })
    .post('/flaky', () => {
      counts.flaky += 1;
      if (counts.flaky % 2 === 1) throw new Error('transient failure'); // every other run
      return status(201, { attempt: counts.flaky });
    }, { idempotent: true })
    .post('/refuse', () => {
      counts.refused += 1;
      return problem(409, 'SOLD_OUT', 'not enough seats available');
    }, { idempotent: true })
    .post('/raced', () => {
      counts.raced += 1;
      if (counts.raced === 1) return problem(409, 'CONCURRENT_UPDATE', 'lost a race; retry', { retryable: true, headers: { 'Retry-After': '1' } });
      return status(201, { attempt: counts.raced });
    }, { idempotent: true });

  return {
    plugin,
    counts,
    /** Makes `/fixture/orders` wait until the returned function is called. */
    holdOrders(): () => void {
      let release!: () => void;
      gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}
