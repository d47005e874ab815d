import { context, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import { Elysia } from 'elysia';
import { validationFailed } from '../kernel/errors';
import { RepeatedParameter } from '../kernel/validation';
import type { IdSource } from '../kernel/ids';
import { ROUTINE_SPAN_ATTRIBUTE } from '../kernel/tracing';
import { CORRELATION_ID_KEY } from '../observability/logger';
import { UNMATCHED_ROUTE } from '../observability/metrics';
import type { Tracing } from '../observability/tracing';
import { contentTooLarge, invalidUtf8, problemResponse, toProblem, unsupportedCharset, unsupportedContentEncoding, unsupportedMediaType } from './problem';

/**
 * The path and query a request was sent to, as a URL on a fixed origin. Never throws: Bun's
 * `request.url` is the bare path when the Host header is missing or unusable (an HTTP/1.0 health
 * check sends none), and an absolute URL that does not parse when the Host holds a bad port
 * (`http://x:abc/health`).
 */
export function requestTarget(url: string): URL {
  const start = url.startsWith('/') ? 0 : url.indexOf('/', url.indexOf('://') + 3);
  // Appended, not resolved against the origin: `//health` is a path, not a host.
  return new URL(`http://localhost${start < 0 ? '/' : url.slice(start)}`);
}

/** Probes and scrapes, made every few seconds by machines: their traces are not recorded unless the caller's is. */
const ROUTINE_PATHS = new Set(['/health', '/ready', '/metrics']);

/** What every handler knows about the request it serves (derived into the Elysia context). */
export type RequestContext = {
  /** `Correlation-ID` of the request, generated when absent; carried into every event, log line and call. */
  correlationId: string;
  /** `X-Request-Id` as sent (echoed in the response), undefined when absent. */
  requestId: string | undefined;
  /** `traceparent` of the request's server span: put it into messages and outgoing calls. */
  traceparent: string;
  /** Trace id of the request's server span (the `X-Trace-ID` response header). */
  traceId: string;
};

/** A request that got its response; given to `onFinish` listeners (metrics, access log). */
export interface FinishedRequest {
  method: string;
  /** Route template (`/api/shows/:id`), `unmatched` when no route matched. */
  route: string;
  status: number;
  durationSeconds: number;
  correlationId: string;
  traceId: string;
}

export interface RequestContextOptions {
  tracing: Tracing;
  ids: IdSource;
  /** Called once per request when its response is ready. Must not throw. */
  onFinish?: (request: FinishedRequest) => void;
  /**
   * The template of the route a request was sent to, if any: for a request refused before routing (a
   * body too large, compressed or in another charset), so that its metrics and span name the route.
   */
  routeOf?: (method: string, path: string) => string | undefined;
}

type RequestState = RequestContext & {
  span: Span;
  spanContext: Context;
  route: string;
  /** An unread copy of a JSON body, read on demand (reading it eagerly fails when nobody reads the body). */
  bodyCopy: { arrayBuffer(): Promise<ArrayBuffer> } | undefined;
  rawBody: Promise<string> | undefined;
  startedAt: number;
  /** Headers a hook adds to whatever answers the request (addResponseHeaders). */
  headers: Record<string, string>;
};

export const CORRELATION_ID_HEADER = 'Correlation-ID';
export const REQUEST_ID_HEADER = 'X-Request-Id';
export const TRACE_ID_HEADER = 'X-Trace-ID';

/** Client-supplied ids are echoed into headers and logs, so only short visible-ASCII ones are kept. */
const SAFE_ID = /^[\x21-\x7e]{1,128}$/;
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/**
 * The largest request body accepted (an event of 50 000 seats is about 3 MiB). A larger declared
 * `Content-Length` is 413 before the body is read; the server itself refuses bodies past
 * SERVER_MAX_BODY_BYTES (a chunked body has no length to check first).
 */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;
export const SERVER_MAX_BODY_BYTES = 2 * MAX_BODY_BYTES;

/**
 * How deeply a JSON body may nest. No route's schema goes past a few levels; a body nested thousands
 * of levels deep would otherwise overflow the stack of the validator's error reporting (a 500).
 */
export const MAX_JSON_DEPTH = 32;

const states = new WeakMap<Request, RequestState>();

/**
 * Adds headers to the answer of `request`, whatever answers it: a handler's body or its own Response,
 * a mapped error. Elysia applies a hook's `set.headers` only where it infers from the source text of the
 * route's functions that one uses `set`, which the compiled binary does not always give it (a login's
 * RateLimit headers went missing there); the answer's own headers win.
 */
export function addResponseHeaders(request: Request, headers: Record<string, string>): void {
  const state = states.get(request);
  if (state !== undefined) Object.assign(state.headers, headers);
}

/** The context of a request being served, for hooks outside handlers (error logging); undefined for unknown requests. */
export function requestContextOf(request: Request): RequestContext | undefined {
  const state = states.get(request);
  if (state === undefined) return undefined;
  return { correlationId: state.correlationId, requestId: state.requestId, traceparent: state.traceparent, traceId: state.traceId };
}

/**
 * The raw text of a JSON request body as received ('' for other requests), for fingerprints and
 * signatures that must see the exact bytes.
 */
export async function rawBodyOf(request: Request): Promise<string> {
  const state = states.get(request);
  if (state?.bodyCopy === undefined) return '';
  state.rawBody ??= strictText(state.bodyCopy);
  return state.rawBody;
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The body's text: 413 past MAX_BODY_BYTES (a chunked body), 400 MALFORMED_JSON for bytes that are not UTF-8. */
async function strictText(body: { arrayBuffer(): Promise<ArrayBuffer> }): Promise<string> {
  const bytes = await body.arrayBuffer();
  if (bytes.byteLength > MAX_BODY_BYTES) throw contentTooLarge(MAX_BODY_BYTES);
  try {
    return UTF8.decode(bytes);
  } catch {
    throw invalidUtf8();
  }
}

/**
 * Request context plugin: for every request (matched or not, successful or failed) it
 * - starts the server span, continuing an incoming W3C `traceparent` or starting a new trace, and makes
 *   it the active context for everything the request does (a probe's or a scrape's new trace is routine:
 *   not recorded);
 * - takes `Correlation-ID` (or generates one) and `X-Request-Id`, and puts them with `X-Trace-ID` on the
 *   response, error responses included;
 * - refuses a body declared larger than MAX_BODY_BYTES (413), a compressed body or a charset other
 *   than UTF-8 (415), and a body whose bytes are not UTF-8 (400);
 * - accepts request bodies in JSON only (another media type is 415) and keeps the raw text of JSON
 *   bodies available through `rawBodyOf`;
 * - records the route template of the request for the span name and the metrics;
 * - derives `{ correlationId, requestId, traceparent, traceId }` into handlers.
 *
 * Features may `.use()` their own instance for the types; Elysia deduplicates it by name.
 */
export function createRequestContext(options: RequestContextOptions) {
  const { tracing, ids, onFinish, routeOf } = options;

  const begin = (request: Request): RequestState => {
    const parent = tracing.extract(request.headers);
    const method = request.method;
    const path = requestTarget(request.url).pathname;
    const span = tracing.tracer.startSpan(method, {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': method, 'url.path': path, ...(ROUTINE_PATHS.has(path.replace(/(?<=.)\/+$/, '')) ? { [ROUTINE_SPAN_ATTRIBUTE]: true } : {}) },
    }, parent);
    const incomingCorrelation = request.headers.get(CORRELATION_ID_HEADER);
    const incomingRequestId = request.headers.get(REQUEST_ID_HEADER);
    const correlationId = incomingCorrelation !== null && SAFE_ID.test(incomingCorrelation) ? incomingCorrelation : ids.uuid();
    span.setAttribute('correlation_id', correlationId);
    const state: RequestState = {
      correlationId,
      requestId: incomingRequestId !== null && SAFE_ID.test(incomingRequestId) ? incomingRequestId : undefined,
      traceparent: tracing.traceparentOf(span.spanContext()),
      traceId: span.spanContext().traceId,
      span,
      spanContext: trace.setSpan(parent, span).setValue(CORRELATION_ID_KEY, correlationId),
      route: UNMATCHED_ROUTE,
      // Elysia consumes the body when it parses it; fingerprints and signatures need the exact bytes.
      bodyCopy: BODY_METHODS.has(method) && mediaTypeOf(request) === 'application/json' ? request.clone() : undefined,
      rawBody: undefined,
      startedAt: performance.now(),
      headers: {},
    };
    states.set(request, state);
    return state;
  };

  const finish = (request: Request, state: RequestState, response: Response): Response => {
    if (state.route === UNMATCHED_ROUTE && routeOf !== undefined) {
      state.route = routeOf(request.method, requestTarget(request.url).pathname) ?? UNMATCHED_ROUTE;
    }
    const withHeaders = withContextHeaders(response, state);
    const status = withHeaders.status;
    state.span.updateName(`${request.method} ${state.route}`);
    state.span.setAttribute('http.route', state.route);
    state.span.setAttribute('http.response.status_code', status);
    if (status >= 500) state.span.setStatus({ code: SpanStatusCode.ERROR });
    state.span.end();
    onFinish?.({
      method: request.method,
      route: state.route,
      status,
      durationSeconds: (performance.now() - state.startedAt) / 1000,
      correlationId: state.correlationId,
      traceId: state.traceId,
    });
    return withHeaders;
  };

  return new Elysia({ name: 'request-context' })
    // `wrap` is the only hook around the whole request (routing, 404, error mapping): the span must
    // be the active context for all of it, as in @elysiajs/opentelemetry.
    .wrap((fn, request) => {
      const handle = fn as unknown as (...args: unknown[]) => Response | Promise<Response>;
      return (...args: unknown[]) => {
        const state = begin(request);
        return context.with(state.spanContext, async () => {
          let response: Response;
          try {
            response = await handle(...args);
          } catch (error) {
            // Elysia maps errors itself; this only catches a failure of that mapping.
            response = problemResponse(toProblem(error));
          }
          return finish(request, state, response);
        });
      };
    })
    // Before routing and parsing, so that an oversized body is never read.
    .onRequest(({ request }) => {
      const length = Number(request.headers.get('content-length') ?? 0);
      if (length > MAX_BODY_BYTES) return problemResponse(toProblem(contentTooLarge(MAX_BODY_BYTES)));
      // A compressed or non-UTF-8 body would otherwise be parsed as if it were plain UTF-8 JSON.
      if (BODY_METHODS.has(request.method) && hasBody(request)) {
        const encoding = (request.headers.get('content-encoding') ?? '').trim().toLowerCase();
        if (encoding !== '' && encoding !== 'identity') return problemResponse(toProblem(unsupportedContentEncoding(encoding)));
        const charset = charsetOf(request);
        if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8' && mediaTypeOf(request) === 'application/json') {
          return problemResponse(toProblem(unsupportedCharset(charset)));
        }
      }
      // Media types are case-insensitive, Elysia's parser is not: `Application/JSON` would leave the
      // body unparsed. Only the type is lower-cased; parameters such as a boundary keep their case.
      const contentType = request.headers.get('content-type');
      if (contentType !== null) {
        const [type = '', ...parameters] = contentType.split(';');
        if (type !== type.toLowerCase()) request.headers.set('content-type', [type.toLowerCase(), ...parameters].join(';'));
      }
    })
    // Elysia parses JSON bodies itself (its parse errors map to MALFORMED_JSON); a parse hook of ours
    // would hide the request body types from the OpenAPI document, so the media type is checked here,
    // after parsing and before validation.
    .onTransform({ as: 'global' }, async (context) => {
      const { request, body } = context;
      // Elysia reads a query value that looks like JSON (`q=[1]`, `q={}`) as an array or object when the
      // schema is not its own: every query parameter of this API is text, so it is taken as sent.
      if (request.url.includes('?')) context.query = queryOf(request.url) as typeof context.query;
      for (const input of [context.params, context.query]) refuseUnstorableText(input);
      if (!BODY_METHODS.has(request.method) || !hasBody(request)) return;
      const type = mediaTypeOf(request);
      if (type !== 'application/json') throw unsupportedMediaType(type);
      if (nestedDeeperThan(body, MAX_JSON_DEPTH)) throw validationFailed({ body: [`is nested more than ${MAX_JSON_DEPTH} levels deep`] });
      refuseUnstorableText(body);
      // The parser turns bytes that are not UTF-8 into U+FFFD, and a chunked body has no length that
      // onRequest could check: only then are the exact bytes read again (never on the usual path).
      if (!request.headers.has('content-length') || containsReplacementCharacter(body)) await rawBodyOf(request);
    })
    // Runs on every matched route, for results and mapped errors alike: the one place the template is known.
    .mapResponse({ as: 'global' }, ({ request, route }) => {
      const state = states.get(request);
      // A plugin's route at its prefix is `/api/shows/`; clients, OpenAPI and dashboards know `/api/shows`.
      if (state !== undefined) state.route = route.length > 1 && route.endsWith('/') ? route.slice(0, -1) : route;
    })
    .derive({ as: 'global' }, ({ request }): RequestContext => {
      const rc = requestContextOf(request);
      if (rc === undefined) throw new Error('request context missing: the request-context wrap did not run');
      return rc;
    });
}

function withContextHeaders(response: Response, state: RequestState): Response {
  const set = (headers: Headers) => {
    for (const [name, value] of Object.entries(state.headers)) if (!headers.has(name)) headers.set(name, value);
    headers.set(CORRELATION_ID_HEADER, state.correlationId);
    headers.set(TRACE_ID_HEADER, state.traceId);
    if (state.requestId !== undefined) headers.set(REQUEST_ID_HEADER, state.requestId);
    // A body is what its Content-Type says: a browser must not run a JSON answer as a script or page.
    headers.set('X-Content-Type-Options', 'nosniff');
    // Bun's Response.json (which Elysia uses for objects) adds `;charset=utf-8`, other answers do not:
    // JSON has one type, and RFC 8259 defines no charset parameter for it.
    if (headers.get('content-type')?.toLowerCase() === 'application/json;charset=utf-8') headers.set('content-type', 'application/json');
    // No other site may frame a page of this origin (clickjacking; /debug holds an ops login): the
    // OpenAPI page too, which the plugin builds. A page with a policy of its own (/debug) keeps it.
    if (headers.get('content-type')?.toLowerCase().startsWith('text/html') && !headers.has('content-security-policy')) {
      headers.set('content-security-policy', "frame-ancestors 'none'");
      headers.set('x-frame-options', 'DENY');
    }
  };
  try {
    set(response.headers);
    return response;
  } catch {
    // Responses passed through from fetch() have immutable headers.
    const copy = new Response(response.body, response);
    set(copy.headers);
    return copy;
  }
}

/**
 * The query string's parameters as text; a repeated one is a RepeatedParameter list, which the schema
 * of a route that reads it refuses ("given more than once"); one it does not read is ignored, as any
 * unknown parameter is (`?_=1&_=2`, a cache buster). A name or value whose percent-encoded bytes are
 * not UTF-8 (`?q=%FF`) is refused, as such a body is: URLSearchParams would read it as U+FFFD.
 */
function queryOf(url: string): Record<string, string | RepeatedParameter> {
  const target = requestTarget(url);
  for (const pair of target.search.slice(1).split('&')) {
    const [rawName = '', rawValue = ''] = pair.split('=', 2);
    const name = decodedOrUndefined(rawName);
    if (name === undefined || decodedOrUndefined(rawValue) === undefined) {
      throw validationFailed({ [name ?? 'query']: ['is not UTF-8 once percent-decoded'] });
    }
  }
  const query: Record<string, string | RepeatedParameter> = {};
  for (const [name, value] of target.searchParams) {
    const earlier = query[name];
    if (earlier === undefined) query[name] = value;
    else if (typeof earlier === 'string') query[name] = RepeatedParameter.firstTwo(earlier, value);
    else earlier.push(value);
  }
  return query;
}

/**
 * A query string component decoded (`+` is a space), or undefined when its bytes are not UTF-8. A `%`
 * without two hex digits after it is itself, as URLSearchParams reads it (`?q=50%`).
 */
function decodedOrUndefined(component: string): string | undefined {
  try {
    return decodeURIComponent(component.replaceAll('+', ' ').replace(/%(?![\da-f]{2})/gi, '%25'));
  } catch {
    return undefined;
  }
}

/*
 * The walks below run before any route, auth or signature check, on every element of a body of up to
 * 4 MiB (two million numbers): they allocate nothing per element (indexed loops, `for…in`, no entries
 * arrays or path strings) and build a path only for what they find. Recursion is bounded by
 * MAX_JSON_DEPTH, which `nestedDeeperThan` checks first.
 */

/** Whether arrays and objects nest deeper than `max` levels in `value`; it stops at `max`, so any depth is safe. */
function nestedDeeperThan(value: unknown, max: number, depth = 0): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (depth >= max) return true;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (nestedDeeperThan(value[i], max, depth + 1)) return true;
    return false;
  }
  for (const key in value) if (nestedDeeperThan((value as Record<string, unknown>)[key], max, depth + 1)) return true;
  return false;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** 400 VALIDATION_FAILED at the first text of `input` (a body, the query or the path parameters) that no store can keep. */
function refuseUnstorableText(input: unknown): void {
  const at = unstorableTextAt(input);
  if (at !== undefined) throw validationFailed({ [at.length === 0 ? 'body' : at.reverse().join('.')]: ['must not contain U+0000 or an unpaired surrogate'] });
}

const unstorable = (text: string) => text.includes('\u0000') || LONE_SURROGATE.test(text);

/**
 * The path, innermost key first, of the first string (or key) in `value` that no store can keep as
 * sent: one with U+0000 (PostgreSQL text refuses it) or an unpaired surrogate (not Unicode; it would be
 * stored as U+FFFD). Called once the depth is known to be bounded.
 */
function unstorableTextAt(value: unknown): string[] | undefined {
  if (typeof value === 'string') return unstorable(value) ? [] : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = unstorableTextAt(value[i]);
      if (found !== undefined) return [...found, String(i)];
    }
    return undefined;
  }
  for (const key in value) {
    if (unstorable(key)) return [key];
    const found = unstorableTextAt((value as Record<string, unknown>)[key]);
    if (found !== undefined) return [...found, key];
  }
  return undefined;
}

/** Whether any string (or key) of a parsed JSON body holds U+FFFD; called once the depth is known to be bounded. */
function containsReplacementCharacter(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('\uFFFD');
  if (typeof value !== 'object' || value === null) return false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (containsReplacementCharacter(value[i])) return true;
    return false;
  }
  for (const key in value) {
    if (key.includes('\uFFFD') || containsReplacementCharacter((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/** The `charset` parameter of the Content-Type, lower-cased and unquoted; undefined when absent. */
function charsetOf(request: Request): string | undefined {
  const parameters = (request.headers.get('content-type') ?? '').split(';').slice(1);
  for (const parameter of parameters) {
    const [name = '', value = ''] = parameter.split('=');
    if (name.trim().toLowerCase() === 'charset') return value.trim().replace(/^"(.*)"$/, '$1').toLowerCase();
  }
  return undefined;
}

/** The media type of the request's body, lower-cased, without parameters; '' when there is no Content-Type. */
export function mediaTypeOf(request: Request): string {
  return (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
}

function hasBody(request: Request): boolean {
  const length = request.headers.get('content-length');
  return (length !== null && length !== '0') || request.headers.has('transfer-encoding');
}
