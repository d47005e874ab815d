/** Field-level validation messages, keyed by a dotted field path (`tickets.0.ticket_id`). */
export type FieldErrors = Record<string, string[]>;

export interface AppErrorInit {
  code: string;
  status: number;
  title?: string;
  detail: string;
  errors?: FieldErrors;
  retryable?: boolean;
  headers?: Record<string, string>;
  /** The error this one stands for, kept for the logs. */
  cause?: unknown;
}

/**
 * An expected failure with a stable `code` and HTTP `status`. The single error mapper in src/http turns
 * it into problem+json; anything that is not an AppError is an internal error (500, no internals).
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly detail: string;
  readonly errors: FieldErrors | undefined;
  readonly retryable: boolean;
  readonly headers: Record<string, string>;

  constructor(init: AppErrorInit) {
    super(init.detail, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'AppError';
    this.code = init.code;
    this.status = init.status;
    this.title = init.title ?? defaultTitle(init.status);
    this.detail = init.detail;
    this.errors = init.errors;
    this.retryable = init.retryable ?? false;
    this.headers = init.headers ?? {};
  }
}

function defaultTitle(status: number): string {
  const titles: Record<number, string> = {
    400: 'Bad Request', 401: 'Unauthorized', 402: 'Payment Required', 403: 'Forbidden', 404: 'Not Found',
    409: 'Conflict', 413: 'Content Too Large', 415: 'Unsupported Media Type', 422: 'Unprocessable Content', 429: 'Too Many Requests',
    500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable',
  };
  return titles[status] ?? 'Error';
}

export const validationFailed = (errors: FieldErrors, detail = 'The request is not valid') =>
  new AppError({ code: 'VALIDATION_FAILED', status: 400, detail, errors });

/** 404; `errors` names the body field that named the missing thing, when one did. */
export const notFound = (what: string, code = 'NOT_FOUND', errors?: FieldErrors) =>
  new AppError({ code, status: 404, detail: `${what} not found`, ...(errors ? { errors } : {}) });

export const conflict = (code: string, detail: string, errors?: FieldErrors) => new AppError({ code, status: 409, detail, ...(errors ? { errors } : {}) });

/** 409 CONCURRENT_UPDATE: the request kept losing a race with others; repeating it soon may pass. */
export const concurrentUpdate = (detail: string) =>
  new AppError({ code: 'CONCURRENT_UPDATE', status: 409, detail, retryable: true, headers: { 'Retry-After': '1' } });

/** The command is not accepted by the actor in its current state. */
export const notAllowedInState = (address: string, state: string, event: string) =>
  new AppError({
    code: 'NOT_ALLOWED_IN_STATE',
    status: 409,
    detail: `${event} is not allowed for ${address} in state ${state}`,
  });

/**
 * 503 STORE_UNAVAILABLE: the database could not be reached, dropped the session, or is out of
 * connections or disk. The same request may pass in a moment; nothing was committed unless the session
 * was lost during COMMIT itself, so a client repeats it with the same Idempotency-Key.
 */
export const storeUnavailable = (cause: unknown) =>
  new AppError({ code: 'STORE_UNAVAILABLE', status: 503, detail: 'The database cannot take this request now (unreachable, read-only, out of connections or of disk, or a statement cancelled); retry shortly', retryable: true, headers: { 'Retry-After': '1' }, cause });

/** Whether `error` is a storeUnavailable one. */
export const isStoreUnavailable = (error: unknown): error is AppError => error instanceof AppError && error.code === 'STORE_UNAVAILABLE';

/** 500 INTERNAL with no internals: the one answer to anything unexpected. Repeating the request may succeed. */
export const internalError = () =>
  new AppError({ code: 'INTERNAL', status: 500, title: 'Internal Server Error', detail: 'Internal server error', retryable: true });

/**
 * Whether retrying what threw `error` cannot help. One rule for every layer: an error that carries
 * `retryable: false` is terminal (an AppError refusal, an external service's 4xx, a handler's
 * PoisonMessageError); anything else (a crash, a timeout, a lost connection) may pass on a retry.
 */
export function isTerminalFailure(error: unknown): boolean {
  return error instanceof Error && (error as { retryable?: unknown }).retryable === false;
}

/**
 * What a failed call's error says of its effect on the service called: true when it may have taken
 * effect all the same (a timeout, a lost answer), false when it certainly did not (refused unread, 503),
 * undefined when the error does not say (it did not come from a call). Read from `mayHaveActed`.
 */
export function mayHaveActed(error: unknown): boolean | undefined {
  const said = error instanceof Error ? (error as { mayHaveActed?: unknown }).mayHaveActed : undefined;
  return typeof said === 'boolean' ? said : undefined;
}

/**
 * How long the party that failed asked to be left alone before a retry (an external service's
 * `Retry-After`), in milliseconds; undefined when it did not say. Read from `retryAfterSeconds` on the
 * error, by the same rule for every layer as `isTerminalFailure`.
 */
export function retryAfterMsOf(error: unknown): number | undefined {
  const seconds = error instanceof Error ? (error as { retryAfterSeconds?: unknown }).retryAfterSeconds : undefined;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 0 ? seconds * 1000 : undefined;
}
