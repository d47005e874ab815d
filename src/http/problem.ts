import { ElysiaCustomStatusResponse, InvertedStatusMap, NotFoundError, ParseError, ValidationError } from 'elysia';
import { ZodError } from 'zod';
import { AppError, internalError, validationFailed, type AppErrorInit, type FieldErrors } from '../kernel/errors';

/** The RFC 9457 body every error response has (API.md "Conventions"). */
export interface ProblemDetails {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  /** Same as `detail`: clients of the old system read `{"error": msg}`. */
  error: string;
  /** Field-level messages keyed by dotted field path; always present, `{}` when there are none. */
  errors: FieldErrors;
  retryable: boolean;
}

/** A problem ready to send: status, body and headers (content type included). */
export interface Problem {
  status: number;
  body: ProblemDetails;
  headers: Record<string, string>;
}

/** Content type of every error response. */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** `type` of a problem is this prefix and its code in kebab case, e.g. `urn:tickets:problem:sold-out`. */
export const PROBLEM_TYPE_PREFIX = 'urn:tickets:problem:';

export interface ProblemExtra {
  title?: string;
  errors?: FieldErrors;
  retryable?: boolean;
  headers?: Record<string, string>;
}

/**
 * An expected outcome as an error response, for handlers and hooks to RETURN (STYLE.md §8: only the
 * unexpected is thrown). Same shape as a thrown AppError mapped by `toProblem`.
 *
 * @example return problem(409, 'HOLD_EXPIRED', `hold ${id} has expired`);
 */
export function problem(status: number, code: string, detail: string, extra: ProblemExtra = {}): Response {
  return problemResponse(fromAppError(new AppError({ status, code, detail, ...extra })));
}

/** The Response for a problem. */
export function problemResponse(p: Problem): Response {
  return new Response(JSON.stringify(p.body), { status: p.status, headers: p.headers });
}

/**
 * THE error mapper: turns anything thrown while handling a request into a problem. AppError keeps its
 * status and code; request validation and zod errors become 400 VALIDATION_FAILED with field errors;
 * anything unknown becomes 500 INTERNAL without internals (the caller logs the real error).
 */
export function toProblem(error: unknown): Problem {
  if (error instanceof AppError) return fromAppError(error);
  if (error instanceof ParseError) {
    if (error.cause instanceof AppError) return fromAppError(error.cause);
    return fromAppError(malformedJson());
  }
  if (error instanceof ValidationError) {
    // A response that does not match its schema is our bug, not the client's.
    if (error.type === 'response') return fromAppError(internalError());
    return fromAppError(validationFailed(validationErrors(error)));
  }
  if (error instanceof ZodError) return fromAppError(validationFailed(zodFieldErrors(error.issues, 'body')));
  if (error instanceof NotFoundError) return fromAppError(routeNotFound());
  if (error instanceof ElysiaCustomStatusResponse) return fromStatusResponse(error);
  if (hasCode(error, 'INVALID_COOKIE_SIGNATURE')) {
    return fromAppError(new AppError({ status: 400, code: 'INVALID_COOKIE', detail: 'A cookie has an invalid signature' }));
  }
  return fromAppError(internalError());
}

/** 400 MALFORMED_JSON: the body is not parseable JSON. */
const malformedJson = () =>
  new AppError({
    status: 400,
    code: 'MALFORMED_JSON',
    detail: 'The request body is not valid JSON',
    errors: { body: ['is not valid JSON'] },
  });

/** 413 CONTENT_TOO_LARGE: the declared body is larger than the service accepts. */
export const contentTooLarge = (maxBytes: number) =>
  new AppError({ status: 413, code: 'CONTENT_TOO_LARGE', detail: `The request body must be at most ${maxBytes} bytes` });

/** 415 UNSUPPORTED_MEDIA_TYPE: a body that is not JSON. */
export const unsupportedMediaType = (contentType: string) =>
  new AppError({
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    detail: `The request body must be application/json, not ${contentType === '' ? 'a body without a content type' : contentType}`,
  });

/** 415 UNSUPPORTED_MEDIA_TYPE: a compressed body (RFC 9110 §15.5.16 names the codings accepted). */
export const unsupportedContentEncoding = (encoding: string) =>
  new AppError({
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    detail: `The request body must not be encoded (Content-Encoding: ${encoding}); send it as plain JSON`,
    headers: { 'Accept-Encoding': 'identity' },
  });

/** 415 UNSUPPORTED_MEDIA_TYPE: a JSON body in a character set other than UTF-8 (RFC 8259 §8.1). */
export const unsupportedCharset = (charset: string) =>
  new AppError({ status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', detail: `The request body must be UTF-8, not charset=${charset}` });

/** 400 MALFORMED_JSON: bytes that are not UTF-8 (which the parser would turn into U+FFFD). */
export const invalidUtf8 = () =>
  new AppError({
    status: 400,
    code: 'MALFORMED_JSON',
    detail: 'The request body is not valid UTF-8',
    errors: { body: ['is not valid UTF-8'] },
  });

/** 404 ROUTE_NOT_FOUND: no route has this method and path. */
export const routeNotFound = () => new AppError({ status: 404, code: 'ROUTE_NOT_FOUND', detail: 'No route matches this method and path' });

function fromAppError(e: AppError): Problem {
  const body: ProblemDetails = {
    type: `${PROBLEM_TYPE_PREFIX}${e.code.toLowerCase().replaceAll('_', '-')}`,
    title: e.title,
    status: e.status,
    code: e.code,
    detail: e.detail,
    error: e.detail,
    errors: e.errors ?? {},
    retryable: e.retryable,
  };
  return { status: e.status, body, headers: { ...e.headers, 'content-type': PROBLEM_CONTENT_TYPE } };
}

/** `throw status(404)` from Elysia code: keep the status, derive a code from its name. */
function fromStatusResponse(response: ElysiaCustomStatusResponse<number>): Problem {
  const status = response.code;
  if (status >= 500) return fromAppError(internalError());
  const name: string = (InvertedStatusMap as Record<number, string>)[status] ?? 'Error';
  const init: AppErrorInit = {
    status,
    code: name.toUpperCase().replace(/[^A-Z0-9]+/g, '_'),
    detail: typeof response.response === 'string' ? response.response : name,
  };
  return fromAppError(new AppError(init));
}

interface IssueLike {
  path?: ReadonlyArray<PropertyKey | { key: PropertyKey }> | string;
  message?: string;
  summary?: string;
}

function validationErrors(error: ValidationError): FieldErrors {
  const location = error.type;
  let issues: IssueLike[] = [];
  try {
    issues = error.all as IssueLike[];
  } catch {
    issues = [];
  }
  const errors = zodFieldErrors(issues, location);
  if (Object.keys(errors).length === 0) errors[location] = ['is not valid'];
  return errors;
}

/** Field errors from zod / Standard Schema / TypeBox issues; root issues are keyed by `root` (body, query, …). */
function zodFieldErrors(issues: ReadonlyArray<IssueLike>, root: string): FieldErrors {
  const errors: FieldErrors = {};
  for (const issue of issues) {
    const field = fieldPath(issue.path) || root;
    const message = issue.message ?? issue.summary ?? 'is not valid';
    // Two checks may say the same (a whole number past 2^53 is past both the safe range and the bound).
    const messages = (errors[field] ??= []);
    if (!messages.includes(message)) messages.push(message);
  }
  return errors;
}

function fieldPath(path: IssueLike['path']): string {
  if (path === undefined) return '';
  if (typeof path === 'string') {
    if (path === 'root') return '';
    return path.replace(/^\//, '').replaceAll('/', '.');
  }
  return path.map((segment) => String(typeof segment === 'object' ? segment.key : segment)).join('.');
}

function hasCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === code;
}
