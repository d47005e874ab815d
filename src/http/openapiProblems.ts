import type { DocumentDecoration } from 'elysia';
import { AppError } from '../kernel/errors';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem';
import { CORRELATION_ID_HEADER, REQUEST_ID_HEADER, TRACE_ID_HEADER } from './requestContext';

/**
 * The error responses of the OpenAPI document (API.md: "generated from the route schemas, with the
 * error codes"). A route names the codes it answers in its `detail`, the route options (`auth`,
 * `rateLimit`, `idempotent`, `signed`) add theirs, and `documentProblems` adds what every route of a
 * shape can answer (validation, media type, internal error):
 *
 * ```ts
 * { detail: { summary: 'Book tickets', responses: problemResponses({ 400: ['SOLD_OUT'], 404: ['SHOW_NOT_FOUND'] }) } }
 * ```
 *
 * Each code is an example of the response, keyed by the code, so that the codes of one status given
 * in several places (a route's 409 and the idempotency option's 409) merge instead of replacing each other.
 */
export type ProblemCodes = Readonly<Partial<Record<number, readonly string[]>>>;

type Responses = NonNullable<DocumentDecoration['responses']>;

/** Where the app's document defines the problem body. */
export const PROBLEM_SCHEMA_REF = '#/components/schemas/Problem';
/** The security scheme of `Authorization: Bearer <jwt>`, defined in the app's document. */
export const BEARER_SCHEME = 'bearerAuth';

/** Response objects for `detail.responses`, one per status, each listing its codes. */
export function problemResponses(codes: ProblemCodes): Responses {
  const responses: Responses = {};
  for (const [status, list] of Object.entries(codes)) {
    if (list === undefined || list.length === 0) continue;
    responses[status] = problemResponse(Number(status), list);
  }
  return responses;
}

/** A JSON Schema of a success body, for routes that have no response schema to generate it from. */
export type JsonSchema = Record<string, unknown>;

/**
 * The success response of a route that has no response schema to generate it from: an empty body
 * (`tickets-status`' 200, a refund's 202, 204), text, HTML or a stream, JSON described by `schema`, or
 * headers to document (`Location`). Merged with the problem responses:
 * `{ ...problemResponses(…), ...successResponse(202, 'Accepted') }`.
 */
export function successResponse(
  status: number,
  description: string,
  options: { contentType?: string; schema?: JsonSchema; headers?: readonly string[] } = {},
): Responses {
  return {
    [status]: {
      description,
      ...(options.contentType === undefined ? {} : { content: { [options.contentType]: { schema: (options.schema ?? { type: 'string' }) as object } } }),
      ...(options.headers === undefined ? {} : { headers: headerObjects(options.headers) }),
    },
  };
}

const headerObjects = (names: readonly string[]) => Object.fromEntries(names.map((name) => [name, { schema: { type: 'string' as const } }]));

/** Codes that a repeat of the same request may get past (`retryable: true`), besides every 5xx. */
const RETRYABLE_CODES = new Set(['REQUEST_IN_PROGRESS', 'CONCURRENT_UPDATE', 'RATE_LIMITED']);

/** Headers that come with a code's problem. */
const HEADERS_OF_CODE: Readonly<Record<string, readonly string[]>> = {
  RATE_LIMITED: ['Retry-After', 'RateLimit', 'RateLimit-Policy'],
  REQUEST_IN_PROGRESS: ['Retry-After'],
  CONCURRENT_UPDATE: ['Retry-After'],
  STORE_UNAVAILABLE: ['Retry-After'],
  PAYMENT_UNAVAILABLE: ['Retry-After'],
  UNAUTHORIZED: ['WWW-Authenticate'],
  INVALID_CREDENTIALS: ['WWW-Authenticate'],
  INVALID_SIGNATURE: ['WWW-Authenticate'],
  // A compressed body's 415 says which encoding is taken (`identity`).
  UNSUPPORTED_MEDIA_TYPE: ['Accept-Encoding'],
};

/** Codes whose detail is always the same text (API.md quotes both). */
const FIXED_DETAILS: Readonly<Record<string, string>> = { SOLD_OUT: 'not enough seats available', INTERNAL: 'Internal server error' };

/** The body a code's problem has on the wire (problem.ts), as the example of that code. */
function exampleOf(status: number, code: string) {
  const words = code.toLowerCase().replaceAll('_', ' ');
  const detail = FIXED_DETAILS[code] ?? `${words.charAt(0).toUpperCase()}${words.slice(1)} (the detail says what and why)`;
  const errors = code === 'VALIDATION_FAILED' ? { 'field.path': ['what is wrong with it'] } : undefined;
  const retryable = status >= 500 || RETRYABLE_CODES.has(code);
  return toProblem(new AppError({ status, code, detail, retryable, ...(errors ? { errors } : {}) })).body;
}

function problemResponse(status: number, codes: readonly string[]) {
  const headers = [...new Set(codes.flatMap((code) => HEADERS_OF_CODE[code] ?? []))];
  return {
    description: describe(codes),
    ...(headers.length > 0 ? { headers: headerObjects(headers) } : {}),
    content: {
      [PROBLEM_CONTENT_TYPE]: {
        schema: { $ref: PROBLEM_SCHEMA_REF },
        examples: Object.fromEntries(codes.map((code) => [code, { summary: code, value: exampleOf(status, code) }])),
      },
    },
  };
}

const describe = (codes: readonly string[]) => `Problem: ${codes.join(', ')}`;

/** The parts of an Elysia route the document needs. */
interface RouteLike {
  method: string;
  path: string;
  hooks?: { detail?: DocumentDecoration & { parameters?: Parameter[] } };
}

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: Record<string, unknown>;
}

interface Operation {
  requestBody?: { content?: Record<string, unknown> };
  parameters?: Parameter[];
  responses?: Record<string, { description?: string; content?: Record<string, { examples?: Record<string, unknown> }>; headers?: Record<string, unknown> }>;
}

type Document = { paths?: Record<string, Record<string, Operation>> };

/**
 * The generated document with every operation's problem responses: the ones its route declared
 * (the generator drops `detail.responses` when a route has a response schema, so they are taken from
 * the route again), 400 VALIDATION_FAILED everywhere, MALFORMED_JSON, 413 and 415 wherever a body
 * may be sent (POST, PUT, PATCH, DELETE), 500
 * INTERNAL everywhere and 503 STORE_UNAVAILABLE wherever the database is used; paths without a
 * trailing slash; request bodies as JSON only; the parameters route options declare. Returns a new
 * document; the generated one is left as it is.
 */
export function documentProblems<D extends Document>(generated: D, routes: readonly RouteLike[]): D {
  const document = structuredClone(generated);
  // A plugin's route at its prefix is generated as `/api/shows/`; clients call `/api/shows`.
  if (document.paths) {
    document.paths = Object.fromEntries(Object.entries(document.paths).map(([path, item]) => [openApiPath(path), item]));
  }
  for (const route of routes) {
    const operation = document.paths?.[openApiPath(route.path)]?.[route.method.toLowerCase()];
    if (operation === undefined) continue;
    // Any request's Content-Length is checked before routing (requestContext.ts), a GET's too.
    const implicit: Record<number, string[]> = { 413: ['CONTENT_TOO_LARGE'], 500: ['INTERNAL'] };
    if (!STORELESS.has(route.path)) implicit[503] = ['STORE_UNAVAILABLE'];
    // The query and path of any request are checked before routing (text no store keeps, U+0000).
    implicit[400] = ['VALIDATION_FAILED'];
    // A body sent to any of these methods is read (requestContext.ts), even where the route takes none.
    if (operation.requestBody !== undefined || BODY_METHODS.has(route.method.toUpperCase())) {
      implicit[400] = ['VALIDATION_FAILED', 'MALFORMED_JSON'];
      implicit[415] = ['UNSUPPORTED_MEDIA_TYPE'];
    }
    // Every body is JSON (anything else is 415); the generator also offers form encodings for a schema.
    const json = operation.requestBody?.content?.['application/json'];
    if (operation.requestBody !== undefined && json !== undefined) operation.requestBody = { ...operation.requestBody, content: { 'application/json': json } };
    // Parameters a route option declares (the Idempotency-Key header); the generator keeps them only
    // when it finds no path or query parameter of its own. Then the headers every route reads.
    for (const parameter of [...(route.hooks?.detail?.parameters ?? []), ...COMMON_REQUEST_HEADERS]) {
      const listed = operation.parameters ?? [];
      if (!listed.some((p) => p.name === parameter.name && p.in === parameter.in)) operation.parameters = [...listed, parameter];
    }
    const responses = { ...operation.responses };
    for (const extra of [problemResponses(implicit), route.hooks?.detail?.responses ?? {}]) {
      for (const [status, response] of Object.entries(extra)) responses[status] = mergeProblem(responses[status], response as ResponseObject);
    }
    // Every response carries the correlation and trace ids.
    // Read off the codes the route options declared: an idempotent route (422 IDEMPOTENCY_KEY_REUSED)
    // says when an answer is a replay, a rate-limited one (429 RATE_LIMITED) where the client stands.
    const declares = (status: string, code: string) => responses[status]?.content?.[PROBLEM_CONTENT_TYPE]?.examples?.[code] !== undefined;
    const idempotent = declares('422', 'IDEMPOTENCY_KEY_REUSED');
    const limited = declares('429', 'RATE_LIMITED');
    const headers = { ...COMMON_RESPONSE_HEADERS, ...(idempotent ? REPLAYED_HEADER : {}), ...(limited ? RATE_LIMIT_HEADERS : {}) };
    for (const [status, response] of Object.entries(responses)) responses[status] = { ...response, headers: { ...response.headers, ...headers } };
    operation.responses = responses;
  }
  return document;
}

/** The request headers of API.md "Conventions", which every route honours. */
const COMMON_REQUEST_HEADERS: Parameter[] = [
  { name: CORRELATION_ID_HEADER, in: 'header', required: false, description: 'Carried into every event, log line and outgoing call the request causes; one is made up when it is absent, or not 1 to 128 printable ASCII characters without spaces', schema: { type: 'string' } },
  { name: 'traceparent', in: 'header', required: false, description: 'W3C trace context to continue; a malformed one is ignored', schema: { type: 'string' } },
  { name: REQUEST_ID_HEADER, in: 'header', required: false, description: 'Echoed in the response', schema: { type: 'string' } },
];

const COMMON_RESPONSE_HEADERS = {
  [CORRELATION_ID_HEADER]: { description: 'The request\'s correlation id, as sent or as made up', schema: { type: 'string' } },
  [REQUEST_ID_HEADER]: { description: 'The request\'s X-Request-Id, echoed when it was sent', schema: { type: 'string' } },
  [TRACE_ID_HEADER]: { description: 'Trace id of the request\'s span (it continues an incoming traceparent)', schema: { type: 'string' } },
};

const RATE_LIMIT_HEADERS = {
  RateLimit: { description: 'Requests left in the window and seconds to its end (draft-ietf-httpapi-ratelimit-headers)', schema: { type: 'string' } },
  'RateLimit-Policy': { description: 'The limit and the window of the route class', schema: { type: 'string' } },
};

const REPLAYED_HEADER = { 'Idempotent-Replayed': { description: '`true` on the stored answer to a repeat with the same idempotency key', schema: { type: 'string' } } };


type ResponseObject = NonNullable<Operation['responses']>[string];

/**
 * One status's problem response with the codes (examples) of both; a generated success response is
 * kept, with the headers the route declared for it.
 */
function mergeProblem(current: ResponseObject | undefined, added: ResponseObject): ResponseObject {
  const examples = {
    ...current?.content?.[PROBLEM_CONTENT_TYPE]?.examples,
    ...added.content?.[PROBLEM_CONTENT_TYPE]?.examples,
  };
  if (Object.keys(examples).length === 0) return current === undefined ? added : { ...current, ...(added.headers ? { headers: added.headers } : {}) };
  const headers = { ...current?.headers, ...added.headers };
  return {
    description: describe(Object.keys(examples)),
    ...(Object.keys(headers).length > 0 ? { headers } : {}),
    content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: PROBLEM_SCHEMA_REF }, examples } } as ResponseObject['content'],
  };
}

const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Routes that never answer 503 STORE_UNAVAILABLE: they need no database, or report it (`/ready`). */
const STORELESS = new Set(['/health', '/ready', '/metrics', '/openapi', '/openapi/json', '/debug']);

/** `/api/holds/:id/renew` → `/api/holds/{id}/renew`, and `/api/holds/` → `/api/holds`. */
const openApiPath = (path: string) => path.replace(/:([^/]+)/g, '{$1}').replace(/(.)\/$/, '$1');
