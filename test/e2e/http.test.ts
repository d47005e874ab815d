import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { join } from 'node:path';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { Elysia } from 'elysia';
import type { Store } from '../../src/actors/ports';
import { createApp } from '../../src/http/app';
import { createIdempotency } from '../../src/http/idempotency';
import { MAX_BODY_BYTES, MAX_JSON_DEPTH } from '../../src/http/requestContext';
import { startServer, type RunningServer } from '../../src/http/server';
import { systemClock } from '../../src/kernel/clock';
import { randomIds } from '../../src/kernel/ids';
import { CORRELATION_ID_KEY, createLogger } from '../../src/observability/logger';
import { createMetrics } from '../../src/observability/metrics';
import { createTracing, type Tracing } from '../../src/observability/tracing';
import { openSqliteStore } from '../../src/store/sqlite';
import { httpFixture } from '../support/httpFixture';
import { expectProblem } from '../support/problems';

const UUID = '0b9a8c4e-1d2f-4a3b-8c5d-6e7f8a9b0c1d';
const INCOMING_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const INCOMING_SPAN_ID = '00f067aa0ba902b7';

interface Booted {
  server: RunningServer;
  url: (path: string) => string;
  fixture: ReturnType<typeof httpFixture>;
  logLines: Array<Record<string, unknown>>;
}

const dataDir = mkdtempSync(join(tmpdir(), 'tickets-http-'));
const spans = new InMemorySpanExporter();
let tracing: Tracing;
let store: Store;
let unmigrated: Store;
let main: Booted | undefined;

async function boot(options: {
  store: Store;
  readinessChecks?: Array<{ name: string; check: () => Promise<void> }>;
  shutdownTimeoutMs?: number;
}): Promise<Booted> {
  const logLines: Array<Record<string, unknown>> = [];
  const logger = createLogger({ level: 'info', write: (line) => logLines.push(JSON.parse(line) as Record<string, unknown>) });
  const idempotency = createIdempotency({ store: options.store, clock: systemClock });
  const fixture = httpFixture({ store: options.store, tracing, ids: randomIds, idempotency });
  const app = createApp({
    store: options.store,
    metrics: createMetrics(),
    tracing,
    logger,
    ids: randomIds,
    plugins: [fixture.plugin],
    readinessChecks: options.readinessChecks ?? [],
  });
  const server = startServer(app, 0, options.shutdownTimeoutMs === undefined ? {} : { shutdownTimeoutMs: options.shutdownTimeoutMs });
  return { server, url: (path) => `http://localhost:${server.port}${path}`, fixture, logLines };
}

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...headers },
  body: JSON.stringify(body),
});

beforeAll(async () => {
  tracing = createTracing({ serviceName: 'tickets-test', spanProcessors: [new SimpleSpanProcessor({ exporter: spans })] });
  store = await openSqliteStore({ path: join(dataDir, 'tickets.db') });
  await store.migrate();
  unmigrated = await openSqliteStore({ path: join(dataDir, 'unmigrated.db') });
  main = await boot({ store });
});

/** The app booted once for most tests. */
function app(): Booted {
  if (main === undefined) throw new Error('the app did not boot');
  return main;
}

afterAll(async () => {
  await main?.server.stop(false);
  await store?.close();
  await unmigrated?.close();
  await tracing.shutdown();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('the HTTP skeleton', () => {
  describe('when no route matches', () => {
    it('answers 404 ROUTE_NOT_FOUND problem on an unknown GET', async () => {
      await expectProblem(await fetch(app().url('/nope')), 404, 'ROUTE_NOT_FOUND');
    });

    it('answers 404 ROUTE_NOT_FOUND problem on an unknown POST, PUT and DELETE', async () => {
      await expectProblem(await fetch(app().url('/api/nope'), json({ a: 1 })), 404, 'ROUTE_NOT_FOUND');
      await expectProblem(await fetch(app().url('/api/nope'), { method: 'PUT' }), 404, 'ROUTE_NOT_FOUND');
      await expectProblem(await fetch(app().url('/fixture/items'), { method: 'DELETE' }), 404, 'ROUTE_NOT_FOUND');
    });
  });

  describe('when the input is invalid', () => {
    it('answers 400 MALFORMED_JSON on a body that is not JSON syntax', async () => {
      const response = await fetch(app().url('/fixture/items'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name": "a",' });
      const body = await expectProblem(response, 400, 'MALFORMED_JSON');
      expect(body.errors).toEqual({ body: ['is not valid JSON'] });
    });

    it('answers 400 VALIDATION_FAILED, not 500, on a body nested thousands of levels deep', async () => {
      const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
      const response = await fetch(app().url('/fixture/items'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: deep });
      const body = await expectProblem(response, 400, 'VALIDATION_FAILED');
      expect(body.errors).toEqual({ body: [`is nested more than ${MAX_JSON_DEPTH} levels deep`] });
      // A body of ordinary depth still reaches the route's own validation.
      const shallow = await fetch(app().url('/fixture/items'), json({ name: [[['x']]] }));
      expect((await expectProblem(shallow, 400, 'VALIDATION_FAILED')).errors.name![0]).toContain('expected string');
    });

    it('checks a body of two million values (under the size cap) without holding other requests for seconds', async () => {
      // Its depth and text checks run before any route, auth or signature check: they took about 5 s
      // of the event loop, and every other request waited (anyone could stall an instance that way).
      const body = `{"name":[${'0,'.repeat(2_000_000)}0]}`;
      expect(body.length).toBeLessThan(MAX_BODY_BYTES);
      let done = false;
      const big = fetch(app().url('/fixture/items'), { method: 'POST', headers: { 'content-type': 'application/json' }, body }).finally(() => {
        done = true;
      });
      // Small requests one after another while the big one is read and checked: the longest wait.
      let longest = 0;
      while (!done) {
        const started = performance.now();
        expect((await fetch(app().url('/api/nope'))).status).toBe(404);
        longest = Math.max(longest, performance.now() - started);
      }
      await expectProblem(await big, 400, 'VALIDATION_FAILED');
      expect(longest).toBeLessThan(1_500);
    });

    it('answers 400 VALIDATION_FAILED with field errors on a wrong type and an out-of-range number', async () => {
      const response = await fetch(app().url('/fixture/items'), json({ name: 42, quantity: 11 }));
      const body = await expectProblem(response, 400, 'VALIDATION_FAILED');
      expect(Object.keys(body.errors).sort()).toEqual(['name', 'quantity']);
      expect(body.errors.name![0]).toContain('expected string');
      expect(body.errors.quantity![0]).toContain('10');
    });

    it('answers 400 VALIDATION_FAILED keyed by `body` when the body is missing', async () => {
      const response = await fetch(app().url('/fixture/items'), { method: 'POST', headers: { 'content-type': 'application/json' } });
      const body = await expectProblem(response, 400, 'VALIDATION_FAILED');
      expect(Object.keys(body.errors)).toEqual(['body']);
    });

    it('answers 400 VALIDATION_FAILED with a field error on a bad UUID in the path', async () => {
      const body = await expectProblem(await fetch(app().url('/fixture/items/not-a-uuid')), 400, 'VALIDATION_FAILED');
      expect(body.errors).toEqual({ id: ['Invalid UUID'] });
    });

    it('answers 400 VALIDATION_FAILED on an out-of-range query number', async () => {
      const body = await expectProblem(await fetch(app().url('/fixture/items?limit=500')), 400, 'VALIDATION_FAILED');
      expect(Object.keys(body.errors)).toEqual(['limit']);
    });

    it('accepts valid input', async () => {
      expect(await (await fetch(app().url(`/fixture/items/${UUID}`))).json()).toEqual({ id: UUID });
      expect(await (await fetch(app().url('/fixture/items?limit=5'))).json()).toEqual({ limit: 5 });
      const created = await fetch(app().url('/fixture/items'), json({ name: 'a', quantity: 2 }));
      expect(created.status).toBe(201);
      expect(await created.json()).toEqual({ name: 'a', quantity: 2 });
    });

    it('reads a JSON body whatever the case of its media type', async () => {
      const created = await fetch(app().url('/fixture/items'), { method: 'POST', headers: { 'content-type': 'Application/JSON; charset=UTF-8' }, body: '{"name":"a","quantity":2}' });
      expect(created.status).toBe(201);
      expect(await created.json()).toEqual({ name: 'a', quantity: 2 });
    });

    it('answers 415 UNSUPPORTED_MEDIA_TYPE on a body that is not JSON', async () => {
      await expectProblem(await fetch(app().url('/fixture/items'), { method: 'POST', body: 'name=a' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      await expectProblem(
        await fetch(app().url('/fixture/items'), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=a&quantity=1' }),
        415,
        'UNSUPPORTED_MEDIA_TYPE',
      );
    });
    it('answers 415, not MALFORMED_JSON, on a form body that is not even valid multipart', async () => {
      for (const contentType of ['multipart/form-data; boundary=x', 'multipart/form-data']) {
        const response = await fetch(app().url('/fixture/items'), { method: 'POST', headers: { 'content-type': contentType }, body: '{"name":"a","quantity":1}' });
        const body = await expectProblem(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
        expect(body.detail).toBe('The request body must be application/json, not multipart/form-data');
      }
    });
    it('answers 413 CONTENT_TOO_LARGE as a problem for a body over the limit, without reading it', async () => {
      const padding = 'x'.repeat(MAX_BODY_BYTES);
      const response = await fetch(app().url('/fixture/items'), { ...json({ name: padding, quantity: 1 }), headers: { 'content-type': 'application/json', 'Correlation-ID': 'corr-large' } });
      const body = await expectProblem(response, 413, 'CONTENT_TOO_LARGE');
      expect(body.detail).toBe(`The request body must be at most ${MAX_BODY_BYTES} bytes`);
      expect(response.headers.get('correlation-id')).toBe('corr-large');
      // Just under the limit the body is read and validated as usual.
      const under = await fetch(app().url('/fixture/items'), json({ name: padding.slice(0, MAX_BODY_BYTES - 100), quantity: 1 }));
      expect(under.status).not.toBe(413);
    });
  });

  describe('when the body is not plain UTF-8 JSON', () => {
    const post = (body: string | Uint8Array | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
      fetch(app().url('/fixture/items'), { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

    it('answers 400 MALFORMED_JSON on bytes that are not UTF-8, and accepts a U+FFFD sent as such', async () => {
      const bytes = new Uint8Array([...new TextEncoder().encode('{"name":"bad'), 0xc3, 0x28, ...new TextEncoder().encode('x","quantity":1}')]);
      const body = await expectProblem(await post(bytes), 400, 'MALFORMED_JSON');
      expect(body.errors).toEqual({ body: ['is not valid UTF-8'] });
      const replacement = await post(JSON.stringify({ name: 'a\uFFFDb', quantity: 1 }));
      expect(replacement.status).toBe(201);
      expect(await replacement.json()).toEqual({ name: 'a\uFFFDb', quantity: 1 });
    });

    it('answers 415 on a charset other than UTF-8, and accepts utf-8 however it is written', async () => {
      const latin1 = new Uint8Array([...new TextEncoder().encode('{"name":"caf'), 0xe9, ...new TextEncoder().encode('","quantity":1}')]);
      const body = await expectProblem(await post(latin1, { 'content-type': 'application/json; charset=iso-8859-1' }), 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect(body.detail).toBe('The request body must be UTF-8, not charset=iso-8859-1');
      for (const contentType of ['application/json;charset="UTF-8"', 'application/json; charset=utf8']) {
        expect((await post(JSON.stringify({ name: 'café', quantity: 1 }), { 'content-type': contentType })).status).toBe(201);
      }
    });

    it('answers 415 naming the accepted coding on a compressed body', async () => {
      const gzipped = Bun.gzipSync(new TextEncoder().encode(JSON.stringify({ name: 'a', quantity: 1 })));
      const response = await post(gzipped, { 'content-encoding': 'gzip' });
      const body = await expectProblem(response, 415, 'UNSUPPORTED_MEDIA_TYPE');
      expect(body.detail).toContain('Content-Encoding: gzip');
      expect(response.headers.get('accept-encoding')).toBe('identity');
      const identity = await post(JSON.stringify({ name: 'a', quantity: 1 }), { 'content-encoding': 'identity' });
      expect(identity.status).toBe(201);
    });

    it('answers 413 CONTENT_TOO_LARGE on a chunked body over the limit, and reads a small chunked body', async () => {
      const chunked = (text: string) =>
        new ReadableStream<Uint8Array>({
          start(controller) {
            const bytes = new TextEncoder().encode(text);
            for (let at = 0; at < bytes.length; at += 65_536) controller.enqueue(bytes.subarray(at, at + 65_536));
            controller.close();
          },
        });
      const large = JSON.stringify({ name: 'x'.repeat(MAX_BODY_BYTES), quantity: 1 });
      await expectProblem(await post(chunked(large)), 413, 'CONTENT_TOO_LARGE');
      const small = await post(chunked(JSON.stringify({ name: 'a', quantity: 1 })));
      expect(small.status).toBe(201);
    });
  });

  describe('when a handler fails', () => {
    it('answers 500 INTERNAL without internals and logs the real error', async () => {
      const response = await fetch(app().url('/fixture/boom'), { headers: { 'Correlation-ID': 'corr-boom' } });
      const text = await response.clone().text();
      const body = await expectProblem(response, 500, 'INTERNAL');
      expect(body.detail).toBe('Internal server error');
      expect(text).not.toContain('hunter2');
      expect(text).not.toContain('at ');
      const logged = app().logLines.find((l) => l.msg === 'request failed' && l.correlation_id === 'corr-boom');
      expect(logged?.level).toBe('error');
      expect(JSON.stringify(logged?.err)).toContain('hunter2');
    });

    it('logs a 503 of a dependency that is down as one warning per interval, without a stack per request', async () => {
      for (const n of [1, 2, 3]) {
        await expectProblem(await fetch(app().url('/fixture/unavailable'), { headers: { 'Correlation-ID': `corr-down-${n}` } }), 503, 'STORE_UNAVAILABLE');
      }
      const lines = app().logLines.filter((l) => String(l.correlation_id).startsWith('corr-down-') && l.msg !== 'request');
      expect(lines.map((l) => [l.level, l.msg, l.code, l.cause])).toEqual([['warn', 'requests refused: a dependency is unavailable', 'STORE_UNAVAILABLE', 'connect ECONNREFUSED 127.0.0.1:5432']]);
      expect(lines[0]?.err).toBeUndefined();
    });

    it('sends a returned problem as problem+json', async () => {
      const body = await expectProblem(await fetch(app().url('/fixture/sold-out')), 409, 'SOLD_OUT');
      expect(body).toMatchObject({ detail: 'not enough seats available', errors: {}, retryable: false });
    });
  });

  describe('request context', () => {
    it('generates a Correlation-ID when absent and echoes a sent one', async () => {
      const generated = await fetch(app().url('/health'));
      expect(generated.headers.get('Correlation-ID')).toMatch(/^[0-9a-f-]{36}$/);
      const echoed = await fetch(app().url('/health'), { headers: { 'Correlation-ID': 'corr-123' } });
      expect(echoed.headers.get('Correlation-ID')).toBe('corr-123');
    });

    it('tells browsers not to sniff any response as another media type, errors included', async () => {
      for (const path of ['/health', '/nope', '/fixture/items']) {
        expect([path, (await fetch(app().url(path))).headers.get('X-Content-Type-Options')]).toEqual([path, 'nosniff']);
      }
    });

    it('echoes X-Request-Id, also on error responses', async () => {
      const ok = await fetch(app().url('/health'), { headers: { 'X-Request-Id': 'req-1' } });
      expect(ok.headers.get('X-Request-Id')).toBe('req-1');
      const notFound = await fetch(app().url('/nope'), { headers: { 'X-Request-Id': 'req-2', 'Correlation-ID': 'corr-2' } });
      expect(notFound.headers.get('X-Request-Id')).toBe('req-2');
      expect(notFound.headers.get('Correlation-ID')).toBe('corr-2');
      expect(notFound.headers.get('X-Trace-ID')).toMatch(/^[0-9a-f]{32}$/);
      const failed = await fetch(app().url('/fixture/boom'), { headers: { 'X-Request-Id': 'req-3' } });
      expect(failed.headers.get('X-Request-Id')).toBe('req-3');
      expect(failed.headers.get('X-Trace-ID')).toMatch(/^[0-9a-f]{32}$/);
      expect(failed.headers.get('Correlation-ID')).not.toBeNull();
    });

    it('continues an incoming traceparent: X-Trace-ID is its trace id and handlers see the server span', async () => {
      const response = await fetch(app().url('/fixture/context'), {
        headers: { traceparent: `00-${INCOMING_TRACE_ID}-${INCOMING_SPAN_ID}-01`, 'Correlation-ID': 'corr-ctx', 'X-Request-Id': 'req-ctx' },
      });
      expect(response.headers.get('X-Trace-ID')).toBe(INCOMING_TRACE_ID);
      const body = (await response.json()) as Record<string, string>;
      expect(body).toMatchObject({ correlationId: 'corr-ctx', requestId: 'req-ctx', traceId: INCOMING_TRACE_ID });
      const [, traceId, serverSpanId] = body.traceparent!.split('-');
      expect(traceId).toBe(INCOMING_TRACE_ID);
      expect(serverSpanId).not.toBe(INCOMING_SPAN_ID);
      expect(body.child!.split('-')[1]).toBe(INCOMING_TRACE_ID);

      const server = spans.getFinishedSpans().find((s) => s.spanContext().spanId === serverSpanId);
      expect(server?.name).toBe('GET /fixture/context');
      expect(server?.parentSpanContext?.spanId).toBe(INCOMING_SPAN_ID);
      expect(server?.attributes['http.response.status_code']).toBe(200);
      const child = spans.getFinishedSpans().find((s) => s.name === 'fixture.child' && s.spanContext().traceId === INCOMING_TRACE_ID);
      expect(child?.parentSpanContext?.spanId).toBe(serverSpanId!);
    });

    it('starts a new trace without a traceparent', async () => {
      const a = (await fetch(app().url('/fixture/context'))).headers.get('X-Trace-ID');
      const b = (await fetch(app().url('/fixture/context'))).headers.get('X-Trace-ID');
      expect(a).toMatch(/^[0-9a-f]{32}$/);
      expect(a).not.toBe(b);
    });

    it('does not record the traces of probes and scrapes it starts, but records them in a sampled trace of the caller', async () => {
      const recorded = (traceId: string | null) => spans.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId).length;
      for (const path of ['/health', '/ready', '/metrics', '/ready/']) {
        const response = await fetch(app().url(path));
        expect(response.status).toBe(200);
        expect(response.headers.get('X-Trace-ID')).toMatch(/^[0-9a-f]{32}$/);
        expect(recorded(response.headers.get('X-Trace-ID'))).toBe(0);
      }
      const traced = await fetch(app().url('/health'), { headers: { traceparent: `00-${INCOMING_TRACE_ID.replace(/^./, 'e')}-${INCOMING_SPAN_ID}-01` } });
      expect(recorded(traced.headers.get('X-Trace-ID'))).toBe(1);
      const other = await fetch(app().url('/fixture/context'));
      expect(recorded(other.headers.get('X-Trace-ID'))).toBeGreaterThanOrEqual(1);
    });
  });

  describe('operations routes', () => {
    it('answers /health with 200 ok', async () => {
      const response = await fetch(app().url('/health'));
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('ok');
    });

    it('answers /ready with 200 when the store is up and migrated', async () => {
      const response = await fetch(app().url('/ready'));
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ status: 'ready', checks: { store: 'ok', migrations: 'ok' } });
    });

    it('answers /ready with 503 NOT_READY naming pending migrations and failed checks', async () => {
      const notReady = await boot({
        store: unmigrated,
        readinessChecks: [
          { name: 'bus', check: () => Promise.reject(new Error('redis://secret refused')) },
          { name: 'outbox', check: () => Promise.resolve() },
        ],
      });
      try {
        const body = await expectProblem(await fetch(notReady.url('/ready')), 503, 'NOT_READY');
        expect(Object.keys(body.errors).sort()).toEqual(['bus', 'migrations']);
        expect(body.errors.migrations![0]).toContain('pending migrations');
        expect(body.errors.bus).toEqual(['unavailable']);
        expect(body.retryable).toBe(true);
      } finally {
        await notReady.server.stop(false);
      }
    });

    it('names only the store, not its migrations, when the store cannot be reached', async () => {
      const down = Object.create(store) as Store;
      down.ping = () => Promise.reject(new Error('connection refused'));
      down.pendingMigrations = () => Promise.reject(new Error('connection refused'));
      const notReady = await boot({ store: down });
      try {
        const body = await expectProblem(await fetch(notReady.url('/ready')), 503, 'NOT_READY');
        expect(body.errors).toEqual({ store: ['unavailable'] });
      } finally {
        await notReady.server.stop(false);
      }
    });

    it('exposes http_requests_total by route template on /metrics', async () => {
      await fetch(app().url(`/fixture/items/${UUID}`));
      await fetch(app().url('/definitely/unknown/path'));
      const response = await fetch(app().url('/metrics'));
      expect(response.headers.get('content-type')).toContain('text/plain');
      const text = await response.text();
      expect(text).toContain('http_requests_total{method="GET",route="/fixture/items/:id",status="200"}');
      expect(text).toContain('route="unmatched",status="404"');
      expect(text).not.toContain('/definitely/unknown/path');
      // Refused before routing (413, 415), a request still counts under the route it was sent to.
      await fetch(app().url('/fixture/items'), { method: 'POST', headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: '{}' });
      await fetch(app().url('/fixture/items/'), { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(MAX_BODY_BYTES + 1) }, body: 'x'.repeat(MAX_BODY_BYTES + 1) });
      const after = await (await fetch(app().url('/metrics'))).text();
      expect(after).toContain('http_requests_total{method="POST",route="/fixture/items",status="415"}');
      expect(after).toContain('http_requests_total{method="POST",route="/fixture/items",status="413"}');
      expect(after).not.toContain('route="unmatched",status="415"');
      expect(text).toContain('http_request_duration_seconds_bucket');
      expect(text).toContain('process_cpu_user_seconds_total');
    });

    it('serves an OpenAPI 3.1 document listing the routes at /openapi/json', async () => {
      const response = await fetch(app().url('/openapi/json'));
      expect(response.status).toBe(200);
      const doc = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>> };
      expect(doc.openapi).toStartWith('3.1');
      expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/fixture/items/{id}', '/fixture/items', '/fixture/orders', '/health', '/ready']));
      expect(doc.paths['/fixture/items']?.post).toBeDefined();
      expect(JSON.stringify(doc.paths['/fixture/items/{id}'])).toContain('uuid');
      expect((await fetch(app().url('/openapi'))).status).toBe(200);
    });
  });

  describe('idempotency keys', () => {
    it('replays the stored status and body for the same key and body, running the handler once', async () => {
      const before = app().fixture.counts.orders;
      const first = await fetch(app().url('/fixture/orders'), json({ quantity: 2 }, { 'Idempotency-Key': 'order-1' }));
      expect(first.status).toBe(201);
      expect(first.headers.get('Idempotent-Replayed')).toBeNull();
      const firstBody = await first.json();
      const again = await fetch(app().url('/fixture/orders'), json({ quantity: 2 }, { 'Idempotency-Key': 'order-1', 'Correlation-ID': 'corr-replay' }));
      expect(again.status).toBe(201);
      expect(again.headers.get('Idempotent-Replayed')).toBe('true');
      expect(again.headers.get('Correlation-ID')).toBe('corr-replay');
      expect(await again.json()).toEqual(firstBody);
      expect(app().fixture.counts.orders).toBe(before + 1);
    });

    it('accepts X-Idempotency-Key as well', async () => {
      const before = app().fixture.counts.orders;
      const first = await fetch(app().url('/fixture/orders'), json({ quantity: 1 }, { 'X-Idempotency-Key': 'order-x' }));
      const again = await fetch(app().url('/fixture/orders'), json({ quantity: 1 }, { 'X-Idempotency-Key': 'order-x' }));
      expect(await again.json()).toEqual(await first.json());
      expect(app().fixture.counts.orders).toBe(before + 1);
    });

    it('refuses two different keys in Idempotency-Key and X-Idempotency-Key, and takes the same key sent in both', async () => {
      const before = app().fixture.counts.orders;
      const both = (a: string, b: string) => fetch(app().url('/fixture/orders'), json({ quantity: 1 }, { 'Idempotency-Key': a, 'X-Idempotency-Key': b }));

      const refused = await expectProblem(await both('order-a', 'order-b'), 400, 'VALIDATION_FAILED');
      expect(refused.errors).toEqual({ 'Idempotency-Key': ['differs from X-Idempotency-Key: send one key'] });
      expect(app().fixture.counts.orders).toBe(before);

      expect((await both('order-same', ' order-same')).status).toBe(201);
      const again = await fetch(app().url('/fixture/orders'), json({ quantity: 1 }, { 'X-Idempotency-Key': 'order-same' }));
      expect(again.headers.get('Idempotent-Replayed')).toBe('true');
      expect(app().fixture.counts.orders).toBe(before + 1);
    });

    it('completes the record after the response when the handler did not, keeping headers', async () => {
      const first = await fetch(app().url('/fixture/plain-orders'), json({ quantity: 3 }, { 'Idempotency-Key': 'plain-1' }));
      expect(first.status).toBe(201);
      const location = first.headers.get('location');
      expect(location).toStartWith('/fixture/orders/');
      const again = await fetch(app().url('/fixture/plain-orders'), json({ quantity: 3 }, { 'Idempotency-Key': 'plain-1' }));
      expect(again.status).toBe(201);
      expect(again.headers.get('Idempotent-Replayed')).toBe('true');
      expect(again.headers.get('location')).toBe(location);
      expect(again.headers.get('content-type')).toStartWith('application/json');
      expect(await again.json()).toEqual(await first.json());
      expect(app().fixture.counts.plainOrders).toBe(1);
    });

    it('answers 422 IDEMPOTENCY_KEY_REUSED for the same key with another body', async () => {
      await fetch(app().url('/fixture/orders'), json({ quantity: 2 }, { 'Idempotency-Key': 'order-2' }));
      const before = app().fixture.counts.orders;
      await expectProblem(await fetch(app().url('/fixture/orders'), json({ quantity: 3 }, { 'Idempotency-Key': 'order-2' })), 422, 'IDEMPOTENCY_KEY_REUSED');
      expect(app().fixture.counts.orders).toBe(before);
    });

    it('answers 409 REQUEST_IN_PROGRESS with Retry-After to a duplicate while the first still runs', async () => {
      const release = app().fixture.holdOrders();
      const before = app().fixture.counts.orders;
      const first = fetch(app().url('/fixture/orders'), json({ quantity: 4 }, { 'Idempotency-Key': 'order-3' }));
      while (app().fixture.counts.orders === before) await Bun.sleep(5);
      const duplicate = await fetch(app().url('/fixture/orders'), json({ quantity: 4 }, { 'Idempotency-Key': 'order-3' }));
      const body = await expectProblem(duplicate, 409, 'REQUEST_IN_PROGRESS');
      expect(duplicate.headers.get('Retry-After')).toBe('1');
      expect(body.retryable).toBe(true);
      release();
      expect((await first).status).toBe(201);
      expect(app().fixture.counts.orders).toBe(before + 1);
    });

    it('stores a 4xx outcome and replays it', async () => {
      await expectProblem(await fetch(app().url('/fixture/refuse'), json({}, { 'Idempotency-Key': 'refuse-1' })), 409, 'SOLD_OUT');
      const again = await fetch(app().url('/fixture/refuse'), json({}, { 'Idempotency-Key': 'refuse-1' }));
      expect(again.headers.get('Idempotent-Replayed')).toBe('true');
      await expectProblem(again, 409, 'SOLD_OUT');
      expect(app().fixture.counts.refused).toBe(1);
    });

    it('releases the claim on a 5xx so that a retry runs again', async () => {
      await expectProblem(await fetch(app().url('/fixture/flaky'), json({}, { 'Idempotency-Key': 'flaky-1' })), 500, 'INTERNAL');
      const retry = await fetch(app().url('/fixture/flaky'), json({}, { 'Idempotency-Key': 'flaky-1' }));
      expect(retry.status).toBe(201);
      expect(retry.headers.get('Idempotent-Replayed')).toBeNull();
      expect(await retry.json()).toEqual({ attempt: 2 });
      expect(app().fixture.counts.flaky).toBe(2);
    });

    it('lets a retry on this instance run when the store could not release the claim of a 5xx (it was down)', async () => {
      const release = store.releaseIdempotency.bind(store);
      store.releaseIdempotency = async () => {
        store.releaseIdempotency = release;
        throw new Error('the store is down');
      };
      const before = app().fixture.counts.flaky;
      const failed = await fetch(app().url('/fixture/flaky'), json({}, { 'Idempotency-Key': 'flaky-down' }));
      expect(failed.status).toBeGreaterThanOrEqual(500);
      const retry = await fetch(app().url('/fixture/flaky'), json({}, { 'Idempotency-Key': 'flaky-down' }));
      expect(retry.status).toBe(201);
      expect(app().fixture.counts.flaky).toBe(before + 2);
    });

    it('answers what the handler did when the record cannot be completed after it (a full disk), and lets the retry run', async () => {
      const complete = store.completeIdempotency.bind(store);
      store.completeIdempotency = async () => {
        store.completeIdempotency = complete;
        throw new Error('database or disk is full');
      };
      const before = app().fixture.counts.plainOrders;
      const first = await fetch(app().url('/fixture/plain-orders'), json({ quantity: 5 }, { 'Idempotency-Key': 'plain-full' }));
      // The change stands: answering 503 would tell the client that nothing was done.
      expect(first.status).toBe(201);
      expect(first.headers.get('location')).toStartWith('/fixture/orders/');
      const retry = await fetch(app().url('/fixture/plain-orders'), json({ quantity: 5 }, { 'Idempotency-Key': 'plain-full' }));
      expect([retry.status, retry.headers.get('Idempotent-Replayed')]).toEqual([201, null]);
      expect(app().fixture.counts.plainOrders).toBe(before + 2);
    });

    it('releases the claim on a problem that says retryable (a lost race), so that the repeat runs', async () => {
      await expectProblem(await fetch(app().url('/fixture/raced'), json({}, { 'Idempotency-Key': 'raced-1' })), 409, 'CONCURRENT_UPDATE');
      const retry = await fetch(app().url('/fixture/raced'), json({}, { 'Idempotency-Key': 'raced-1' }));
      expect([retry.status, retry.headers.get('Idempotent-Replayed'), await retry.json()]).toEqual([201, null, { attempt: 2 }]);
    });

    it('runs the handler every time without a key', async () => {
      const before = app().fixture.counts.orders;
      await fetch(app().url('/fixture/orders'), json({ quantity: 1 }));
      await fetch(app().url('/fixture/orders'), json({ quantity: 1 }));
      expect(app().fixture.counts.orders).toBe(before + 2);
    });

    it('answers 400 VALIDATION_FAILED to a blank key instead of running the request unguarded', async () => {
      const before = app().fixture.counts.orders;
      for (const header of ['Idempotency-Key', 'X-Idempotency-Key']) {
        const body = await expectProblem(await fetch(app().url('/fixture/orders'), json({ quantity: 1 }, { [header]: ' ' })), 400, 'VALIDATION_FAILED');
        expect(body.errors).toEqual({ 'Idempotency-Key': ['must not be empty'] });
      }
      expect(app().fixture.counts.orders).toBe(before);
      await expectProblem(await fetch(app().url('/fixture/webhook'), json({}, { 'Idempotency-Key': '' })), 400, 'IDEMPOTENCY_KEY_REQUIRED');
    });

    it('answers 400 IDEMPOTENCY_KEY_REQUIRED on a required-key route without a key', async () => {
      const missing = await expectProblem(await fetch(app().url('/fixture/webhook'), json({})), 400, 'IDEMPOTENCY_KEY_REQUIRED');
      expect(missing.errors).toEqual({ 'Idempotency-Key': ['required'] });
      expect(app().fixture.counts.webhook).toBe(0);
      const first = await fetch(app().url('/fixture/webhook'), json({}, { 'Idempotency-Key': 'hook-1' }));
      expect(first.status).toBe(200);
      expect(await first.text()).toBe('');
      const again = await fetch(app().url('/fixture/webhook'), json({}, { 'Idempotency-Key': 'hook-1' }));
      expect(again.status).toBe(200);
      expect(again.headers.get('Idempotent-Replayed')).toBe('true');
      expect(app().fixture.counts.webhook).toBe(1);
    });

    it('does not claim a key for a request that fails validation', async () => {
      await expectProblem(await fetch(app().url('/fixture/orders'), json({ quantity: 0 }, { 'Idempotency-Key': 'order-4' })), 400, 'VALIDATION_FAILED');
      const valid = await fetch(app().url('/fixture/orders'), json({ quantity: 1 }, { 'Idempotency-Key': 'order-4' }));
      expect(valid.status).toBe(201);
    });
  });

  describe('server', () => {
    /** Sends `head` as written on a new connection and returns what came back until the server closed it. */
    const raw = async (head: string): Promise<string> => {
      const port = new URL(app().url('/')).port;
      const chunks: Buffer[] = [];
      await new Promise<void>((resolve, reject) => {
        const socket = connect(Number(port), '127.0.0.1', () => socket.end(head));
        socket.on('data', (chunk: Buffer) => chunks.push(chunk));
        socket.on('close', () => resolve());
        socket.on('error', reject);
      });
      return Buffer.concat(chunks).toString('utf8');
    };

    it('answers an error that escapes the app with the INTERNAL problem, never a page of source lines', async () => {
      const escaping = startServer(new Elysia().wrap(() => () => {
        throw new Error('escaped at /secret/path.ts:1');
      }).get('/boom', () => 'never'), 0);
      try {
        const response = await fetch(`http://localhost:${escaping.port}/boom`);
        await expectProblem(response, 500, 'INTERNAL');
      } finally {
        await escaping.stop(false);
      }
    });

    it('answers a request without a usable Host header (an HTTP/1.0 health check) like any other', async () => {
      const health = await raw('GET /health HTTP/1.0\r\n\r\n');
      expect(health).toStartWith('HTTP/1.1 200');
      expect(health).toEndWith('\r\n\r\nok');
      expect(health).toMatch(/\r\nx-trace-id: [0-9a-f]{32}\r\n/i);

      for (const host of ['', 'a b', 'x:abc', 'x:99999', '[::1']) {
        const answer = await raw(`GET /nope HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
        expect(answer).toStartWith('HTTP/1.1 404');
        expect(answer).toContain('"code":"ROUTE_NOT_FOUND"');
      }
    });

    it('stops gracefully: refuses new connections and finishes in-flight requests', async () => {
      const booted = await boot({ store });
      const release = booted.fixture.holdOrders();
      const inFlight = fetch(booted.url('/fixture/orders'), json({ quantity: 1 }));
      while (booted.fixture.counts.orders === 0) await Bun.sleep(5);
      const stopped = booted.server.stop();
      await Bun.sleep(20);
      const refused = await fetch(booted.url('/health')).then(() => 'answered', () => 'refused');
      expect(refused).toBe('refused');
      release();
      expect((await inFlight).status).toBe(201);
      await stopped;
    });

    it('closes the connections left after the shutdown timeout', async () => {
      const booted = await boot({ store, shutdownTimeoutMs: 50 });
      const release = booted.fixture.holdOrders();
      const inFlight = fetch(booted.url('/fixture/orders'), json({ quantity: 1 })).then((r) => r.status, () => 'closed');
      while (booted.fixture.counts.orders === 0) await Bun.sleep(5);
      const started = performance.now();
      await booted.server.stop();
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(await inFlight).toBe('closed');
      release();
    });
  });
});

describe('createLogger', () => {
  it('writes one JSON line with time, level, msg and fields, from the configured level up', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', write: (line) => lines.push(line) });
    logger.debug('hidden');
    logger.child({ actor: 'booking/1' }).warn('slow', { correlation_id: 'c-1', err: new Error('boom') });
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 'warn', msg: 'slow', actor: 'booking/1', correlation_id: 'c-1' });
    expect(line.time).toMatch(/^\d{4}-\d{2}-\d{2}T.*Z$/);
    expect((line.err as { message: string }).message).toBe('boom');
  });

  it('writes nothing when silent', () => {
    const lines: string[] = [];
    createLogger({ level: 'silent', write: (line) => lines.push(line) }).error('nothing');
    expect(lines).toEqual([]);
  });

  it('adds the trace id of the active span', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'debug', write: (line) => lines.push(line) });
    const traceId = await tracing.withSpan('log.test', {}, (span) => {
      logger.debug('inside');
      return span.spanContext().traceId;
    });
    expect(JSON.parse(lines[0]!).trace_id).toBe(traceId);
  });

  it("adds the correlation id of the request being served, also to lines that do not pass it", async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', write: (line) => lines.push(line) });
    context.with(ROOT_CONTEXT.setValue(CORRELATION_ID_KEY, 'corr-ctx'), () => logger.info('inside'));
    logger.info('outside');
    expect(lines.map((line) => JSON.parse(line).correlation_id)).toEqual(['corr-ctx', undefined]);
  });

  it('writes the cause of an error, which is the real error behind a mapped one', () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', write: (line) => lines.push(line) });
    logger.error('failed', { err: new Error('The database cannot be reached', { cause: new Error('connect ECONNREFUSED 127.0.0.1:5432') }) });
    expect(JSON.parse(lines[0]!).err.cause.message).toBe('connect ECONNREFUSED 127.0.0.1:5432');
  });
});

describe('Tracing.withSpan', () => {
  it('records a thrown error on the span and rethrows it', async () => {
    const failing = tracing.withSpan('failing.step', { step: 1 }, () => {
      throw new Error('step failed');
    });
    expect(failing).rejects.toThrow('step failed');
    await failing.catch(() => undefined);
    const span = spans.getFinishedSpans().find((s) => s.name === 'failing.step');
    expect(span?.status.code).toBe(2);
    expect(span?.events.some((e) => e.name === 'exception')).toBe(true);
  });

  it('continues a traceparent given in the options', async () => {
    const traceparent = `00-${INCOMING_TRACE_ID}-${INCOMING_SPAN_ID}-01`;
    const current = await tracing.withSpan('handler.step', {}, () => tracing.currentTraceparent(), { traceparent });
    expect(current?.split('-')[1]).toBe(INCOMING_TRACE_ID);
    expect(tracing.currentTraceparent()).toBeUndefined();
  });
});
