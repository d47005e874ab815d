import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { startTestService, type TestService } from '../support/service';

interface Response {
  description: string;
  content?: Record<string, { schema?: { $ref?: string; type?: string }; examples?: Record<string, { value: Record<string, unknown> }> }>;
  headers?: Record<string, unknown>;
}
interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  schema?: { pattern?: string; type?: string };
}
interface Operation {
  requestBody?: { content?: Record<string, unknown> };
  parameters?: Parameter[];
  security?: Array<Record<string, string[]>>;
  responses?: Record<string, Response>;
}
interface Document {
  paths: Record<string, Record<string, Operation>>;
  components: { securitySchemes?: Record<string, unknown> };
  info: { title: string; description?: string };
}

/** Headers every route reads, and every response carries (API.md "Conventions"). */
const REQUEST_HEADERS = ['Correlation-ID', 'traceparent', 'X-Request-Id'];
const RESPONSE_HEADERS = ['Correlation-ID', 'X-Request-Id', 'X-Trace-ID'];

/** The problem codes a document lists for one status of one operation. */
const codes = (operation: Operation | undefined, status: number) =>
  Object.keys(operation?.responses?.[status]?.content?.['application/problem+json']?.examples ?? {}).sort();

describe('the OpenAPI document', () => {
  let t: TestService;
  let doc: Document;

  beforeAll(async () => {
    t = await startTestService('embedded');
    const response = await fetch(`${t.url}/openapi/json`);
    expect(response.status).toBe(200);
    doc = (await response.json()) as Document;
  });
  afterAll(async () => {
    await t.close();
  });

  const operations = () => Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })));

  it('gives every operation a 500 INTERNAL problem, and every operation a body may be sent to 400, 413 and 415 problems', () => {
    expect(operations().length).toBeGreaterThan(30);
    for (const { path, method, op } of operations()) {
      const where = `${method} ${path}`;
      expect([where, codes(op, 500)]).toEqual([where, ['INTERNAL']]);
      expect([where, op.responses?.['500']?.content?.['application/problem+json']?.schema?.$ref]).toEqual([where, '#/components/schemas/Problem']);
      if (!['/health', '/ready', '/metrics', '/openapi', '/openapi/json', '/debug'].includes(path)) expect([where, codes(op, 503)]).toEqual([where, expect.arrayContaining(['STORE_UNAVAILABLE'])]);
      if (op.requestBody !== undefined || ['post', 'put', 'patch', 'delete'].includes(method)) {
        expect([where, codes(op, 400)]).toEqual([where, expect.arrayContaining(['MALFORMED_JSON', 'VALIDATION_FAILED'])]);
        expect([where, codes(op, 413)]).toEqual([where, ['CONTENT_TOO_LARGE']]);
        expect([where, codes(op, 415)]).toEqual([where, ['UNSUPPORTED_MEDIA_TYPE']]);
      }
    }
  });

  it('gives every problem example the whole body a client gets, and the headers that come with it', () => {
    for (const { path, method, op } of operations()) {
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        for (const [code, example] of Object.entries(response.content?.['application/problem+json']?.examples ?? {})) {
          const where = `${method} ${path} ${status} ${code}`;
          const body = example.value;
          expect([where, Object.keys(body).sort()]).toEqual([where, ['code', 'detail', 'error', 'errors', 'retryable', 'status', 'title', 'type']]);
          expect([where, body.code, body.status, body.error]).toEqual([where, code, Number(status), body.detail]);
          expect([where, body.retryable]).toEqual([where, Number(status) >= 500 || ['REQUEST_IN_PROGRESS', 'CONCURRENT_UPDATE', 'RATE_LIMITED'].includes(code)]);
        }
      }
    }
    const hold = doc.paths['/api/holds']?.post;
    const own = (response: Response | undefined) => Object.keys(response?.headers ?? {}).filter((name) => ![...RESPONSE_HEADERS, 'Idempotent-Replayed'].includes(name)).sort();
    expect(own(hold?.responses?.['429'])).toEqual(['RateLimit', 'RateLimit-Policy', 'Retry-After']);
    expect(own(hold?.responses?.['409'])).toEqual(['RateLimit', 'RateLimit-Policy', 'Retry-After']);
    expect(own(doc.paths['/api/book-tickets']?.post?.responses?.['503'])).toEqual(['Retry-After']);
    // A compressed body's 415 names the encoding taken.
    expect(own(doc.paths['/api/shows']?.post?.responses?.['415'])).toEqual(['Accept-Encoding']);
  });

  it('describes the JSON answers of the routes without a response schema', () => {
    const jsonSchema = (op: Operation | undefined) => op?.responses?.['200']?.content?.['application/json']?.schema;
    expect(jsonSchema(doc.paths['/ready']?.get)).toMatchObject({ type: 'object', required: ['status', 'checks'] });
    expect(jsonSchema(doc.paths['/api/actors']?.get)).toMatchObject({ type: 'array' });
    expect(jsonSchema(doc.paths['/api/machines']?.get)).toMatchObject({ type: 'array' });
    for (const path of ['/api/actors/{address}/timeline', '/api/bookings/{id}/timeline', '/api/machines/{id}', '/api/machines/{id}/layout']) {
      expect([path, jsonSchema(doc.paths[path]?.get)?.type]).toEqual([path, 'object']);
    }
    const stream = doc.paths['/api/actors/{address}/events']?.get;
    expect(stream?.parameters?.find((p) => p.name === 'access_token')).toMatchObject({ in: 'query', required: false });
  });

  it('serves the browsable page with a pinned version of its script, never `latest`, and no other site may frame it', async () => {
    const response = await fetch(`${t.url}/openapi`);
    expect([response.headers.get('content-security-policy'), response.headers.get('x-frame-options')]).toEqual(["frame-ancestors 'none'", 'DENY']);
    const page = await response.text();
    expect(page).toMatch(/@scalar\/api-reference@\d+\.\d+\.\d+\//);
    expect(page).not.toContain('@latest');
  });

  it('gives every operation a success response, also those with an empty body or a Location header', () => {
    for (const { path, method, op } of operations()) {
      const where = `${method} ${path}`;
      expect([where, Object.keys(op.responses ?? {}).some((status) => status.startsWith('2'))]).toEqual([where, true]);
    }
    expect(doc.paths['/api/tickets-status']?.post?.responses?.['200']?.description).toBe('Recorded (empty body)');
    expect(Object.keys(doc.paths['/api/ticket-refund/{ticket_id}']?.put?.responses ?? {})).toContain('202');
    expect(Object.keys(doc.paths['/api/holds/{id}']?.delete?.responses ?? {})).toContain('204');
    const bundle = doc.paths['/api/book-vip-bundle']?.post?.responses?.['201'];
    expect(bundle?.headers?.Location).toEqual({ schema: { type: 'string' } });
    expect(bundle?.content?.['application/json']?.schema).toBeDefined();
    expect(codes(doc.paths['/ready']?.get, 503)).toEqual(['NOT_READY']);
  });

  it('describes what the server takes: JSON bodies only, UUIDs in either case, the Idempotency-Key header', () => {
    for (const { path, method, op } of operations()) {
      if (op.requestBody === undefined) continue;
      const where = `${method} ${path}`;
      expect([where, Object.keys(op.requestBody.content ?? {})]).toEqual([where, ['application/json']]);
    }
    const refund = doc.paths['/api/ticket-refund/{ticket_id}']?.put;
    const ticketId = refund?.parameters?.find((p) => p.in === 'path' && p.name === 'ticket_id');
    expect(new RegExp(ticketId?.schema?.pattern ?? '^$').test('6B0A1F9E-0C3D-4E5F-8A7B-9C0D1E2F3A4B')).toBe(true);
    const header = (op: Operation | undefined) => (op?.parameters ?? []).filter((p) => p.in === 'header').map(({ name, required }) => ({ name, required }));
    const own = (op: Operation | undefined) => header(op).filter(({ name }) => !REQUEST_HEADERS.includes(name));
    // The webhook needs one of the two names; either alone is enough, so neither is required by itself.
    expect(own(doc.paths['/api/tickets-status']?.post)).toEqual([{ name: 'Idempotency-Key', required: false }, { name: 'X-Idempotency-Key', required: false }]);
    expect(own(doc.paths['/api/holds/{id}/confirm']?.post)).toEqual([{ name: 'Idempotency-Key', required: false }, { name: 'X-Idempotency-Key', required: false }]);
    expect(own(doc.paths['/api/auth/login']?.post)).toEqual([]);
    // An integer query parameter is described as one, with no text pattern (which says nothing of an integer).
    const integers = operations().flatMap(({ op }) => (op.parameters ?? []).filter((p) => p.in === 'query' && p.schema?.type === 'integer'));
    expect(integers.map((p) => p.name)).toEqual(expect.arrayContaining(['limit', 'page', 'size']));
    expect(integers.filter((p) => p.schema?.pattern !== undefined)).toEqual([]);
  });

  it('documents the Link header of every paged list and the Location of a created event', () => {
    for (const path of ['/api/shows', '/api/tickets', '/api/ops/bookings', '/api/me/bookings', '/api/ops/dead-letters', '/api/actors']) {
      expect([path, Object.keys(doc.paths[path]?.get?.responses?.['200']?.headers ?? {})]).toEqual([path, expect.arrayContaining(['Link'])]);
    }
    expect(Object.keys(doc.paths['/api/events']?.post?.responses?.['201']?.headers ?? {})).toEqual(expect.arrayContaining(['Location']));
    expect(doc.paths['/api/events']?.post?.responses?.['201']?.content?.['application/json']).toBeDefined();
  });

  it("lists each route's own codes beside its success response", () => {
    const book = doc.paths['/api/book-tickets']?.post;
    expect(codes(book, 400)).toEqual(['MALFORMED_JSON', 'SOLD_OUT', 'VALIDATION_FAILED']);
    expect(codes(book, 404)).toEqual(['SHOW_NOT_FOUND']);
    expect(book?.responses?.['404']?.description).toBe('Problem: SHOW_NOT_FOUND');
    expect(codes(doc.paths['/api/shows']?.post, 409)).toEqual(['CONCURRENT_UPDATE', 'REQUEST_IN_PROGRESS', 'SHOW_ALREADY_EXISTS']);
    expect(Object.keys(doc.paths['/api/shows']?.post?.responses ?? {})).toContain('201');
    expect(codes(doc.paths['/api/holds/{id}/confirm']?.post, 402)).toEqual(['PAYMENT_DECLINED']);
    expect(codes(doc.paths['/api/vip-bundles/{id}']?.get, 404)).toEqual(['VIP_BUNDLE_NOT_FOUND']);
  });

  it('adds what the route options answer: 401 and 403 with the bearer scheme, 429 for rate limits', () => {
    expect(doc.components.securitySchemes?.bearerAuth).toEqual({ type: 'http', scheme: 'bearer', bearerFormat: 'JWT' });
    const hold = doc.paths['/api/holds']?.post;
    expect(hold?.security).toEqual([{ bearerAuth: [] }]);
    expect(codes(hold, 401)).toEqual(['UNAUTHORIZED']);
    expect(codes(hold, 403)).toEqual([]);
    expect(codes(hold, 429)).toEqual(['RATE_LIMITED']);
    expect(codes(hold, 409)).toEqual(['CONCURRENT_UPDATE', 'LIMIT_REACHED', 'REQUEST_IN_PROGRESS', 'SEAT_UNAVAILABLE']);
    expect(codes(hold, 422)).toEqual(expect.arrayContaining(['IDEMPOTENCY_KEY_REUSED']));
    expect(codes(doc.paths['/api/tickets-status']?.post, 400)).toEqual(['IDEMPOTENCY_KEY_REQUIRED', 'MALFORMED_JSON', 'VALIDATION_FAILED']);
    expect(codes(doc.paths['/api/auth/register']?.post, 409)).toEqual(['CONCURRENT_UPDATE', 'EMAIL_ALREADY_REGISTERED', 'REQUEST_IN_PROGRESS']);
    expect(codes(doc.paths['/api/auth/login']?.post, 401)).toEqual(['INVALID_CREDENTIALS']);
    expect(codes(doc.paths['/api/auth/login']?.post, 409)).toEqual([]);
    const event = doc.paths['/api/events']?.post;
    expect(codes(event, 403)).toEqual(['FORBIDDEN']);
    expect(codes(event, 422)).toEqual(['IDEMPOTENCY_KEY_REUSED', 'PERFORMER_NOT_FOUND', 'START_TIME_IN_PAST', 'VENUE_NOT_FOUND']);
    const search = doc.paths['/api/search/events']?.get;
    expect(search?.security).toBeUndefined();
    expect(codes(search, 401)).toEqual([]);
  });

  it('lists what any request may get: 400 for a query or path no store keeps (U+0000), WWW-Authenticate on every 401, and 404 ROUTE_NOT_FOUND', () => {
    for (const { path, method, op } of operations()) {
      const where = `${method} ${path}`;
      // The query of every request is checked before routing, also on /health (`?x=%00` is 400).
      expect([where, codes(op, 400)]).toEqual([where, expect.arrayContaining(['VALIDATION_FAILED'])]);
      if (op.responses?.['401'] !== undefined) expect([where, Object.keys(op.responses['401'].headers ?? {})]).toEqual([where, expect.arrayContaining(['WWW-Authenticate'])]);
    }
    expect(doc.paths['/api/auth/login']?.post?.responses?.['401']?.headers).toHaveProperty('WWW-Authenticate');
    // No operation answers it, so the document's description names it: an unknown route, any method.
    expect(doc.info.description).toContain('404 `ROUTE_NOT_FOUND`');
    // The plugin leaves its own two routes out of the paths: the description names them.
    expect(doc.paths['/openapi/json']).toBeUndefined();
    expect(doc.info.description).toContain('`GET /openapi/json`');
    expect(doc.info.description).toContain('`GET /openapi`');
  });

  it('lists 409 CONCURRENT_UPDATE on every route that changes state: its commit gives up after waiting 5 s for row locks', () => {
    const changing = operations().filter(({ op }) => (op.parameters ?? []).some((p) => p.name === 'Idempotency-Key'));
    expect(changing.map(({ method, path }) => `${method} ${path}`)).toEqual(expect.arrayContaining(['post /api/book-tickets', 'put /api/ticket-refund/{ticket_id}', 'post /api/tickets-status', 'delete /api/holds/{id}']));
    for (const { path, method, op } of changing) {
      expect([method, path, codes(op, 409)]).toEqual([method, path, expect.arrayContaining(['CONCURRENT_UPDATE'])]);
      expect([method, path, Object.keys(op.responses?.['409']?.headers ?? {})]).toEqual([method, path, expect.arrayContaining(['Retry-After'])]);
    }
  });

  it('documents the headers every route reads and every response carries, a 413 for any request, and the 500 as it is sent', () => {
    expect(doc.info.description).toContain('problem+json');
    for (const { path, method, op } of operations()) {
      const where = `${method} ${path}`;
      const names = (op.parameters ?? []).filter((p) => p.in === 'header').map((p) => p.name);
      expect([where, names]).toEqual([where, expect.arrayContaining(REQUEST_HEADERS)]);
      for (const [status, response] of Object.entries(op.responses ?? {})) {
        expect([where, status, Object.keys(response.headers ?? {})]).toEqual([where, status, expect.arrayContaining(RESPONSE_HEADERS)]);
      }
      expect([where, codes(op, 413)]).toEqual([where, ['CONTENT_TOO_LARGE']]);
      expect(op.responses?.['500']?.content?.['application/problem+json']?.examples?.INTERNAL?.value).toMatchObject({ detail: 'Internal server error', error: 'Internal server error' });
    }
    // A rate-limited route says where the client stands on every answer, not only on its 429.
    expect(Object.keys(doc.paths['/api/auth/login']?.post?.responses?.['200']?.headers ?? {})).toEqual(expect.arrayContaining(['RateLimit', 'RateLimit-Policy']));
    expect(Object.keys(doc.paths['/api/shows']?.post?.responses?.['201']?.headers ?? {})).not.toContain('RateLimit');
    // A repeat with an idempotency key says it is one.
    expect(Object.keys(doc.paths['/api/shows']?.post?.responses?.['201']?.headers ?? {})).toContain('Idempotent-Replayed');
    expect(Object.keys(doc.paths['/api/shows']?.get?.responses?.['200']?.headers ?? {})).not.toContain('Idempotent-Replayed');
  });

  it('describes request bodies as strictly as the server reads them: non-blank text, e-mail addresses, the password policy', () => {
    const schemaOf = (path: string) => (doc.paths[path]?.post?.requestBody?.content?.['application/json'] as { schema: { properties: Record<string, Record<string, unknown>> } }).schema.properties;
    const register = schemaOf('/api/auth/register');
    expect(register.email).toMatchObject({ type: 'string', format: 'email', maxLength: 254 });
    // A hold names its seats or a quantity, never both (400 otherwise).
    const hold = (doc.paths['/api/holds']?.post?.requestBody?.content?.['application/json'] as { schema: { oneOf?: Array<{ required: string[] }> } }).schema;
    expect(hold.oneOf?.map((branch) => branch.required)).toEqual([['seats'], ['quantity']]);
    expect(register.password).toMatchObject({ type: 'string', minLength: 8, maxLength: 256 });
    for (const field of ['dead_nation_id', 'title', 'venue']) {
      const pattern = String(schemaOf('/api/shows')[field]?.pattern);
      expect([field, new RegExp(pattern).test('   '), new RegExp(pattern).test(' Adele ')]).toEqual([field, false, true]);
    }
    const webhookTicket = (schemaOf('/api/tickets-status').tickets as { items: { properties: Record<string, { pattern?: string }> } }).items.properties;
    const email = new RegExp(webhookTicket.customer_email?.pattern ?? '');
    expect([email.test('weird'), email.test(''), email.test('"john doe"@example.com')]).toEqual([false, false, true]);
    // A start time is RFC 3339, `t` and `z` in lower case too (the server takes them): no upper-case-only pattern.
    for (const path of ['/api/shows', '/api/events']) expect([path, schemaOf(path).start_time]).toEqual([path, { type: 'string', format: 'date-time' }]);
  });
});
