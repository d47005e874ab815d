import { z } from 'zod';
import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import type { CallObservation } from '../../src/adapters/call';
import { isRetryable, RetryableError, TerminalError } from '../../src/adapters/errors';
import { startGateway, type RunningGateway } from '../../src/adapters/gateway';
import { createHttpClient, MAX_ANSWER_BYTES, type FetchLike } from '../../src/adapters/httpClient';
import { createAdapters } from '../../src/adapters/index';
import { ManualClock } from '../../src/kernel/clock';
import { sequentialIds } from '../../src/kernel/ids';
import { adaptersContract, T0 } from './adapters.contract';

const ctx = { correlationId: 'corr-1', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };

adaptersContract('in-process simulators', async ({ timeoutMs }) => {
  const clock = new ManualClock(T0);
  const adapters = createAdapters({ clock, ids: sequentialIds(), timeoutMs });
  if (adapters.simulators === undefined) throw new Error('expected the in-process simulators');
  return { ports: adapters, simulators: adapters.simulators, clock, cleanup: async () => undefined };
});

adaptersContract('HTTP clients against the gateway', async ({ timeoutMs }) => {
  const clock = new ManualClock(T0);
  const gateway = startGateway({ port: 0, clock, ids: sequentialIds() });
  const adapters = createAdapters({ gatewayAddr: gateway.url, clock, ids: sequentialIds(), timeoutMs });
  return { ports: adapters, simulators: gateway.simulators, clock, cleanup: () => gateway.stop(false) };
});

/** The error `promise` rejects with; fails the test when it resolves. */
async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, it succeeded');
}

/** A fetch that answers `response` and remembers what it was asked. */
function fakeFetch(response: () => Response) {
  const requests: Array<{ url: string; init: RequestInit }> = [];
  const fetch: FetchLike = async (url, init) => {
    requests.push({ url, init });
    return response();
  };
  return { fetch, requests };
}

describe('createHttpClient', () => {
  describe('when sending', () => {
    it('sends JSON with Correlation-ID and traceparent below the base URL, and asks for an uncompressed answer', async () => {
      const fake = fakeFetch(() => Response.json({ ok: true }));
      const client = createHttpClient({ service: 'demo', baseUrl: 'http://gateway.test/base/', fetch: fake.fetch });
      const response = await client.request({ operation: 'send', method: 'PUT', path: '/things', body: { a: 1 }, context: ctx });

      expect(response).toEqual({ status: 200, body: { ok: true } });
      const sent = fake.requests[0]!;
      expect(sent.url).toBe('http://gateway.test/base/things');
      expect(sent.init.method).toBe('PUT');
      expect(sent.init.body).toBe('{"a":1}');
      expect(sent.init.headers).toMatchObject({
        'Correlation-ID': 'corr-1',
        traceparent: ctx.traceparent,
        'content-type': 'application/json',
        'accept-encoding': 'identity',
      });
    });

    it('sends a string body as text and no traceparent when there is none', async () => {
      const fake = fakeFetch(() => new Response(null, { status: 204 }));
      const client = createHttpClient({ service: 'demo', baseUrl: 'http://gateway.test', fetch: fake.fetch });
      const response = await client.request({ operation: 'send', method: 'PUT', path: '/f', body: '<p>x</p>', context: { correlationId: 'c' } });

      expect(response).toEqual({ status: 204, body: null });
      expect(fake.requests[0]!.init.body).toBe('<p>x</p>');
      expect(fake.requests[0]!.init.headers).toEqual({
        accept: 'application/json',
        'accept-encoding': 'identity',
        'Correlation-ID': 'c',
        'content-type': 'text/plain; charset=utf-8',
      });
    });

    it('calls the services that do not deduplicate (Dead Nation, the sheets) on a connection of their own each time, never on one kept from an earlier call that the service may have closed', async () => {
      const ports: Record<string, number[]> = {};
      const server = Bun.serve({
        port: 0,
        fetch(request, self) {
          const path = new URL(request.url).pathname;
          (ports[path] ??= []).push(self.requestIP(request)!.port);
          return path.startsWith('/receipts-api') ? Response.json({ number: 'R-1', issued_at: '2030-01-01T00:00:00Z' }) : new Response(null, { status: 204 });
        },
      });
      try {
        const adapters = createAdapters({ gatewayAddr: `http://127.0.0.1:${server.port}`, clock: new ManualClock(T0), ids: sequentialIds() });
        for (let i = 0; i < 3; i++) {
          await adapters.deadNation.bookTickets({ booking_id: `b-${i}`, event_id: 'e-1', number_of_tickets: 1, customer_address: 'ann@example.com' }, ctx);
          await adapters.spreadsheets.appendRow({ sheet: 'tickets-to-print', columns: ['t', 'ann@example.com', '1.00', 'EUR'] }, ctx);
          await adapters.receipts.issueReceipt({ ticket_id: `t-${i}`, price: { money_amount: '1.00', money_currency: 'EUR' }, idempotency_key: `k-${i}` }, ctx);
        }
        expect(new Set(ports['/dead-nation-api/ticket/booking']).size).toBe(3);
        expect(new Set(ports['/spreadsheets-api/sheets/tickets-to-print/rows']).size).toBe(3);
        // The others keep their connections: one for all three receipts.
        expect(new Set(ports['/receipts-api/receipts']).size).toBe(1);
      } finally {
        server.stop(true);
      }
    });
  });

  describe('when the answer is a success', () => {
    it('treats a listed non-2xx status as success', async () => {
      const fake = fakeFetch(() => Response.json({ error: 'exists' }, { status: 409 }));
      const client = createHttpClient({ service: 'demo', baseUrl: 'http://gateway.test', fetch: fake.fetch });

      expect(await client.request({ operation: 'put', method: 'PUT', path: '/f', context: ctx, successStatuses: [409] }))
        .toEqual({ status: 409, body: { error: 'exists' } });
      expect(await failureOf(client.request({ operation: 'put', method: 'PUT', path: '/f', context: ctx }))).toBeInstanceOf(TerminalError);
    });

    it('reads a JSON body whatever media type it is labelled with', async () => {
      const { IssuedReceipt } = await import('../../src/adapters/receipts/receipts.port');
      const answer = { number: 'R-1', issued_at: '2030-01-01T00:00:00Z' };
      for (const type of ['text/plain', null]) {
        const fake = fakeFetch(() => new Response(JSON.stringify(answer), { status: 200, headers: type === null ? {} : { 'content-type': type } }));
        const client = createHttpClient({ service: 'receipts', baseUrl: 'http://gateway.test', fetch: fake.fetch });
        expect((await client.request({ operation: 'issueReceipt', method: 'PUT', path: '/r', context: ctx }, IssuedReceipt)).body).toMatchObject(answer);
      }
    });

    it('rejects a body that does not match the schema as a retryable bad_response', async () => {
      const { IssuedReceipt } = await import('../../src/adapters/receipts/receipts.port');
      const fake = fakeFetch(() => new Response('<html>proxy page</html>', { status: 200, headers: { 'content-type': 'text/html' } }));
      const client = createHttpClient({ service: 'receipts', baseUrl: 'http://gateway.test', fetch: fake.fetch });
      const error = await failureOf(client.request({ operation: 'issueReceipt', method: 'PUT', path: '/r', context: ctx }, IssuedReceipt));

      expect(error).toBeInstanceOf(RetryableError);
      expect(error).toMatchObject({ reason: 'bad_response', status: 200, body: '<html>proxy page</html>' });
    });

    it('names the first field at fault in a bad_response', async () => {
      const { BookedFlight } = await import('../../src/adapters/transportation/transportation.port');
      const fake = fakeFetch(() => Response.json({ ticket_ids: [] }));
      const client = createHttpClient({ service: 'transportation', baseUrl: 'http://gateway.test', fetch: fake.fetch });

      const error = (await failureOf(client.request({ operation: 'bookFlight', method: 'PUT', path: '/f', context: ctx }, BookedFlight))) as Error;
      expect(error).toMatchObject({ reason: 'bad_response' });
      expect(error.message).toStartWith('transportation.bookFlight answered 200 with an unexpected body (ticket_ids: ');
    });

    it('refuses ids, numbers and times that no record should keep: empty or blank, over 200 characters, with control, format or separator characters, a time that is not RFC 3339', async () => {
      const { IssuedReceipt } = await import('../../src/adapters/receipts/receipts.port');
      const { Charge } = await import('../../src/adapters/payments/payments.port');
      const { BookedFlight } = await import('../../src/adapters/transportation/transportation.port');
      const T = '2030-01-01T10:00:00.123456789+01:00';
      const wrong: Array<[z.ZodType, unknown]> = [
        [IssuedReceipt, { number: 'R-1', issued_at: 'yesterday-ish' }],
        [IssuedReceipt, { number: 'R-1', issued_at: '2030-01-01 10:00:00' }],
        [IssuedReceipt, { number: 'R'.repeat(201), issued_at: T }],
        [IssuedReceipt, { number: 'R-1\n2', issued_at: T }],
        ...['\u0085', '\u202e', '\u200b', '\u2028', '\ufeff'].map((odd) => [IssuedReceipt, { number: `R-1${odd}2`, issued_at: T }] as [z.ZodType, unknown]),
        [IssuedReceipt, { number: '   ', issued_at: T }],
        [Charge, { payment_id: '' }],
        [BookedFlight, { ticket_ids: ['t-1', 't-1'] }],
      ];
      for (const [schema, answer] of wrong) expect([answer, schema.safeParse(answer).success]).toEqual([answer, false]);
      expect(IssuedReceipt.safeParse({ number: 'R'.repeat(200), issued_at: T }).success).toBe(true);
      expect(IssuedReceipt.safeParse({ number: 'Ré 2030/1', issued_at: T }).success).toBe(true);
      expect(IssuedReceipt.safeParse({ number: 'R-1', issued_at: '2030-01-01T10:00:00Z' }).success).toBe(true);
    });

    it('reads at most 1 MiB of an answer: past it a success is a bad_response, and an error is judged by its status', async () => {
      const big = JSON.stringify({ number: 'R-1', issued_at: '2030-01-01T00:00:00Z', pad: 'x'.repeat(MAX_ANSWER_BYTES) });
      const { IssuedReceipt } = await import('../../src/adapters/receipts/receipts.port');
      const streamed = () =>
        new Response(new ReadableStream({ start(controller) { controller.enqueue(new TextEncoder().encode(big)); controller.close(); } }), { status: 200 });
      for (const answer of [() => new Response(big, { status: 200 }), streamed]) {
        const client = createHttpClient({ service: 'receipts', baseUrl: 'http://gateway.test', fetch: fakeFetch(answer).fetch });
        const error = (await failureOf(client.request({ operation: 'issueReceipt', method: 'PUT', path: '/r', context: ctx }, IssuedReceipt))) as RetryableError;
        expect(error).toMatchObject({ reason: 'bad_response', status: 200, body: undefined, mayHaveActed: true });
        expect(error.message).toBe(`receipts.issueReceipt answered 200 with a body of more than ${MAX_ANSWER_BYTES} bytes`);
      }

      const failing = createHttpClient({ service: 'receipts', baseUrl: 'http://gateway.test', fetch: fakeFetch(() => new Response(big, { status: 500 })).fetch });
      const error = (await failureOf(failing.request({ operation: 'issueReceipt', method: 'PUT', path: '/r', context: ctx }))) as RetryableError;
      expect(error).toMatchObject({ reason: 'status', status: 500 });
      expect(error.body).toBeString();
      expect((error.body as string).length).toBeLessThanOrEqual(2_000);
    });

    it('takes a flight answer with one ticket id per passenger only', async () => {
      const { createTransportationHttp } = await import('../../src/adapters/transportation/transportation.http');
      const request = { customer_email: 'ann@example.com', flight_id: 'F1', passenger_names: ['Ann', 'Bob', 'Cy'], reference_id: 'vip-1', idempotency_key: 'k-1' };
      for (const ids of [['t-1'], ['t-1', 't-2', 't-3', 't-4']]) {
        const port = createTransportationHttp(createHttpClient({ service: 'transportation', baseUrl: 'http://gateway.test', fetch: fakeFetch(() => Response.json({ ticket_ids: ids })).fetch }));
        const error = (await failureOf(port.bookFlight(request, ctx))) as RetryableError;
        expect(error).toMatchObject({ reason: 'bad_response', mayHaveActed: true });
        expect(error.message).toBe(`transportation.bookFlight answered 200 with ${ids.length} ticket ids for 3 passengers`);
      }
      const port = createTransportationHttp(createHttpClient({ service: 'transportation', baseUrl: 'http://gateway.test', fetch: fakeFetch(() => Response.json({ ticket_ids: ['t-1', 't-2', 't-3'] })).fetch }));
      expect(await port.bookFlight(request, ctx)).toEqual({ ticket_ids: ['t-1', 't-2', 't-3'] });
    });
  });

  describe('when the call fails', () => {
    it('names the code of a status the operation gives a meaning to', async () => {
      const fake = fakeFetch(() => Response.json({ error: 'declined' }, { status: 402 }));
      const client = createHttpClient({ service: 'payments', baseUrl: 'http://gateway.test', fetch: fake.fetch });
      const error = await failureOf(client.request({ operation: 'charge', method: 'PUT', path: '/p', context: ctx, errorCodes: { 402: 'PAYMENT_DECLINED' } }));

      expect(error).toBeInstanceOf(TerminalError);
      expect(error).toMatchObject({ status: 402, code: 'PAYMENT_DECLINED', body: { error: 'declined' } });
    });

    it('answers GET /health like the service, for health checks of the simulator', async () => {
      const gateway = startGateway({ port: 0 });
      try {
        const health = await fetch(`${gateway.url}/health`);
        expect([health.status, await health.text()]).toEqual([200, 'ok']);
        expect(gateway.simulators.calls()).toEqual([]);
      } finally {
        await gateway.stop(false);
      }
    });

    it('rejects with a retryable network error when nothing listens', async () => {
      const gateway = startGateway({ port: 0 });
      const url = gateway.url;
      await gateway.stop(false);
      const client = createHttpClient({ service: 'receipts', baseUrl: url, timeoutMs: 2_000 });
      const error = await failureOf(client.request({ operation: 'issueReceipt', method: 'PUT', path: '/receipts-api/receipts', body: {}, context: ctx }));

      expect(error).toBeInstanceOf(RetryableError);
      expect(error).toMatchObject({ service: 'receipts', operation: 'issueReceipt', reason: 'network', status: undefined });
      expect(isRetryable(error)).toBe(true);
      expect((error as RetryableError).mayHaveActed).toBe(false); // the request never left
      expect((error as Error).message).toStartWith(`receipts.issueReceipt could not reach ${url}`);
    });

    it('says that a service answered something that is not HTTP, without the advice Bun gives its own callers', async () => {
      const garbage = Bun.listen({
        hostname: '127.0.0.1',
        port: 0,
        socket: { data(socket) { socket.end('this is not HTTP\r\n\r\n'); } },
      });
      try {
        const url = `http://127.0.0.1:${garbage.port}`;
        const client = createHttpClient({ service: 'receipts', baseUrl: url, timeoutMs: 2_000 });
        const error = (await failureOf(client.request({ operation: 'issueReceipt', method: 'PUT', path: '/receipts-api/receipts', body: {}, context: ctx }))) as RetryableError;

        expect(error).toMatchObject({ reason: 'network', mayHaveActed: true });
        expect(error.message).toStartWith(`receipts.issueReceipt got no usable answer from ${url}: `);
        expect(error.message).not.toContain('verbose');
      } finally {
        garbage.stop(true);
      }
    });

    it('times out a fetch that never answers', async () => {
      const hanging: FetchLike = (_url, init) => new Promise((_, reject) => {
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
      const client = createHttpClient({ service: 'demo', baseUrl: 'http://gateway.test', timeoutMs: 50, fetch: hanging });
      const startedAt = performance.now();
      const error = await failureOf(client.request({ operation: 'wait', method: 'GET', path: '/', context: ctx }));

      expect(error).toMatchObject({ reason: 'timeout', retryable: true, mayHaveActed: true });
      expect(performance.now() - startedAt).toBeLessThan(1_000);
    });

    it('says whether a failed call may have acted: not after a refusal (4xx), 408, 429 or 503 (RFC 9110), maybe after another 5xx, a lost connection or an unreadable success', async () => {
      const outcome = async (fetch: FetchLike, schema?: z.ZodType) => {
        const client = createHttpClient({ service: 'demo', baseUrl: 'http://gateway.test', fetch });
        const request = { operation: 'do', method: 'POST', path: '/', body: {}, context: ctx } as const;
        const error = await failureOf(schema === undefined ? client.request(request) : client.request(request, schema));
        return (error as RetryableError).mayHaveActed;
      };
      const answering = (status: number) => fakeFetch(() => new Response('no', { status })).fetch;
      expect(await Promise.all([408, 429, 503].map((status) => outcome(answering(status))))).toEqual([false, false, false]);
      expect(await Promise.all([400, 404, 422].map((status) => outcome(answering(status))))).toEqual([false, false, false]);
      expect(await Promise.all([500, 502, 504].map((status) => outcome(answering(status))))).toEqual([true, true, true]);
      const reset: FetchLike = async () => {
        throw Object.assign(new Error('socket closed'), { code: 'ECONNRESET' });
      };
      expect(await outcome(reset)).toBe(true);
      // No socket for the request at all (this process out of file descriptors): it never left.
      const noSocket: FetchLike = async () => {
        throw Object.assign(new Error('EMFILE: Was there a typo in the url or port?'), { code: 'EMFILE' });
      };
      expect(await outcome(noSocket)).toBe(false);
      expect(await outcome(fakeFetch(() => Response.json({ unexpected: true })).fetch, z.object({ id: z.string() }))).toBe(true);
    });

    it('reads Retry-After as seconds or as an HTTP date', async () => {
      const in30s = new Date(Date.now() + 30_000).toUTCString();
      for (const [header, low, high] of [['7', 7, 7], [in30s, 28, 30], ['Wed, 21 Oct 2015 07:28:00 GMT', 0, 0]] as const) {
        const fake = fakeFetch(() => new Response('busy', { status: 503, headers: { 'retry-after': header } }));
        const client = createHttpClient({ service: 'demo', baseUrl: 'http://gateway.test', fetch: fake.fetch });
        const error = (await failureOf(client.request({ operation: 'x', method: 'GET', path: '/', context: ctx }))) as RetryableError;
        expect([header, error.retryAfterSeconds! >= low && error.retryAfterSeconds! <= high]).toEqual([header, true]);
      }
    });

    it('does not follow a redirect: it is a terminal answer, and nothing is sent to its Location', async () => {
      const hits: string[] = [];
      const server = Bun.serve({
        port: 0,
        fetch(request) {
          hits.push(new URL(request.url).pathname);
          return new Response(null, { status: 307, headers: { location: '/elsewhere' } });
        },
      });
      try {
        const client = createHttpClient({ service: 'receipts', baseUrl: `http://localhost:${server.port}`, timeoutMs: 2_000 });
        const error = await failureOf(client.request({ operation: 'issueReceipt', method: 'PUT', path: '/receipts-api/receipts', body: { a: 1 }, context: ctx }));
        expect(error).toBeInstanceOf(TerminalError);
        expect(error).toMatchObject({ status: 307, message: 'receipts.issueReceipt failed with HTTP 307 (a redirect to /elsewhere, not followed)' });
        expect(hits).toEqual(['/receipts-api/receipts']);
      } finally {
        server.stop(true);
      }
    });

    it('keeps a non-JSON error body as text', async () => {
      const fake = fakeFetch(() => new Response('upstream exploded', { status: 502 }));
      const client = createHttpClient({ service: 'demo', baseUrl: 'http://gateway.test', fetch: fake.fetch });

      expect(await failureOf(client.request({ operation: 'x', method: 'GET', path: '/', context: ctx })))
        .toMatchObject({ status: 502, reason: 'status', body: 'upstream exploded' });
    });
  });

  describe('when observed', () => {
    it('reports each call with its outcome and duration', async () => {
      const statuses = [200, 503, 404];
      const observations: CallObservation[] = [];
      const fake = fakeFetch(() => Response.json({}, { status: statuses.shift() }));
      const client = createHttpClient({ service: 'demo', baseUrl: 'http://gateway.test', fetch: fake.fetch, onCall: (o) => observations.push(o) });
      for (let i = 0; i < 3; i++) await client.request({ operation: 'op', method: 'GET', path: '/', context: ctx }).catch(() => undefined);

      expect(observations.map((o) => o.outcome)).toEqual(['success', 'retryable', 'terminal']);
      expect(observations.every((o) => o.service === 'demo' && o.operation === 'op' && o.durationSeconds >= 0)).toBe(true);
    });
  });
});

describe('createAdapters', () => {
  it('uses the in-process simulators without a gateway and reports their calls', async () => {
    const observations: CallObservation[] = [];
    const adapters = createAdapters({ clock: new ManualClock(T0), ids: sequentialIds(), onCall: (o) => observations.push(o) });
    adapters.simulators?.receipts.failNext('voidReceipt', 1, 'terminal');
    await adapters.receipts.issueReceipt({ ticket_id: 't', price: { money_amount: '1.00', money_currency: 'GBP' }, idempotency_key: 'k' }, ctx);
    await adapters.receipts.voidReceipt({ ticket_id: 't', reason: 'r', idempotent_id: 'v' }, ctx).catch(() => undefined);

    expect(adapters.receipts).toBe(adapters.simulators!.receipts);
    expect(observations.map((o) => [o.service, o.operation, o.outcome])).toEqual([
      ['receipts', 'issueReceipt', 'success'],
      ['receipts', 'voidReceipt', 'terminal'],
    ]);
  });

  it('uses HTTP clients and no simulators with a gateway address', () => {
    const adapters = createAdapters({ gatewayAddr: 'http://gateway.test', clock: new ManualClock(T0), ids: sequentialIds() });

    expect(adapters.simulators).toBeUndefined();
  });
});

describe('gateway', () => {
  let gateway: RunningGateway;

  beforeEach(() => {
    gateway = startGateway({ port: 0, clock: new ManualClock(T0), ids: sequentialIds() });
  });

  afterEach(async () => {
    await gateway.stop(false);
  });

  const send = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${gateway.url}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  describe('when a request does not match the API', () => {
    it('refuses a malformed body with 400, a terminal error for the client', async () => {
      const adapters = createAdapters({ gatewayAddr: gateway.url, clock: new ManualClock(T0), ids: sequentialIds() });
      const error = await failureOf(adapters.receipts.issueReceipt({ ticket_id: 't', price: { money_amount: '1.5', money_currency: 'GBP' }, idempotency_key: 'k' }, ctx));

      expect(error).toBeInstanceOf(TerminalError);
      expect(error).toMatchObject({ status: 400, body: { error: 'invalid request' } });
      expect(gateway.simulators.calls()).toEqual([]);
    });

    it('answers 404 to unknown paths and file names that are not ticket files', async () => {
      expect((await send('GET', '/nowhere')).status).toBe(404);
      const file = await fetch(`${gateway.url}/files-api/files/notes.txt/content`, { method: 'PUT', body: 'x', headers: { 'content-type': 'text/plain' } });
      expect(file.status).toBe(400);
    });

    it('refuses a body that is not JSON with 400', async () => {
      const response = await fetch(`${gateway.url}/dead-nation-api/ticket/booking`, { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } });

      expect(response.status).toBe(400);
      expect(await response.json()).toEqual({ error: 'malformed JSON' });
    });
  });

  describe('when driven through /_sim', () => {
    it('injects faults, lists calls and resets', async () => {
      expect((await send('POST', '/_sim/faults', { service: 'deadNation', operation: 'bookTickets', fail_next: { count: 1, fault: { status: 429 } } })).status).toBe(204);
      const booking = { booking_id: 'b', event_id: 'e', number_of_tickets: 1, customer_address: 'a@example.com' };
      const failed = await send('POST', '/dead-nation-api/ticket/booking', booking, { 'Correlation-ID': 'corr-9' });
      const ok = await send('POST', '/dead-nation-api/ticket/booking', booking);

      expect([failed.status, failed.headers.get('retry-after'), ok.status]).toEqual([429, '1', 204]);
      const calls = await (await send('GET', '/_sim/calls?service=deadNation')).json();
      expect(calls).toMatchObject([
        { seq: 1, service: 'deadNation', operation: 'bookTickets', correlation_id: 'corr-9', outcome: 'retryable', status: 429, request: booking },
        { seq: 2, correlation_id: '', traceparent: null, outcome: 'success', status: null },
      ]);
      expect(await (await send('GET', '/_sim/calls?service=receipts')).json()).toEqual([]);

      expect((await send('POST', '/_sim/reset')).status).toBe(204);
      expect(await (await send('GET', '/_sim/calls')).json()).toEqual([]);
    });

    it('sets an error rate and a latency for every service when none is named', async () => {
      expect((await send('POST', '/_sim/faults', { error_rate: { rate: 1, fault: 'terminal' }, latency_ms: 20 })).status).toBe(204);
      const startedAt = performance.now();
      const response = await send('PUT', '/payments-api/refunds', { payment_reference: 'p', reason: 'r', deduplication_id: 'd' });

      expect(response.status).toBe(400);
      expect(performance.now() - startedAt).toBeGreaterThanOrEqual(15);
      expect(gateway.simulators.calls().map((c) => c.outcome)).toEqual(['terminal']);
    });

    it('refuses fault settings it cannot apply with 400', async () => {
      const unknownOperation = await send('POST', '/_sim/faults', { service: 'receipts', operation: 'charge', fail_next: { count: 1, fault: 'retryable' } });
      const noOperation = await send('POST', '/_sim/faults', { service: 'receipts', fail_next: { count: 1, fault: 'retryable' } });
      const badStatus = await send('POST', '/_sim/faults', { service: 'receipts', operation: 'issueReceipt', fail_next: { count: 1, fault: { status: 302 } } });

      expect([unknownOperation.status, noOperation.status, badStatus.status]).toEqual([400, 400, 400]);
      expect(((await unknownOperation.json()) as { error: string }).error).toBe('receipts has no operation charge; its operations: issueReceipt, voidReceipt');
    });

    it('applies a fault setting all or nothing, and refuses settings it does not know', async () => {
      // 409 is a success of files.putTicketFile, so a 409 error rate for every service is refused as a whole.
      const refused = await send('POST', '/_sim/faults', { error_rate: { rate: 1, fault: { status: 409 } } });
      const misspelt = await send('POST', '/_sim/faults', { service: 'receipts', errorrate: { rate: 1 } });
      expect([refused.status, misspelt.status]).toEqual([400, 400]);
      expect(((await misspelt.json()) as { issues: unknown }).issues).toEqual([{ path: '', message: expect.stringContaining('"errorrate"') }]);

      const receipt = await send('PUT', '/receipts-api/receipts', { ticket_id: 't', price: { money_amount: '1.00', money_currency: 'GBP' }, idempotency_key: 'k' });
      expect(receipt.status).toBe(200);
    });
  });
});
