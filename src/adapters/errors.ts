/** Why a retryable call failed: no connection, no answer in time, an answer we must not trust, or an HTTP status. */
export type RetryReason = 'network' | 'timeout' | 'bad_response' | 'status';

/** What a failed external call is known by. */
export interface ExternalCallErrorInit {
  service: string;
  operation: string;
  /** HTTP status of the answer (or the status a simulator stands in for); undefined when there was none. */
  status?: number | undefined;
  /** Stable upper-snake code the caller can recognise, e.g. `PAYMENT_DECLINED`. */
  code?: string | undefined;
  /** Body of the error answer as received (parsed JSON or text). */
  body?: unknown;
  /** Where a redirect (3xx) pointed, for the message: redirects are not followed. */
  location?: string | null | undefined;
  cause?: unknown;
  message?: string;
}

abstract class ExternalCallError extends Error {
  readonly service: string;
  readonly operation: string;
  readonly status: number | undefined;
  readonly code: string;
  readonly body: unknown;
  abstract readonly retryable: boolean;

  constructor(init: ExternalCallErrorInit, defaultCode: string) {
    super(init.message ?? describe(init), init.cause === undefined ? undefined : { cause: init.cause });
    this.service = init.service;
    this.operation = init.operation;
    this.status = init.status;
    this.code = init.code ?? defaultCode;
    this.body = init.body;
  }
}

/**
 * An external call that may succeed if tried again (network error, timeout, 5xx, 408, 429). Whether it
 * had an effect is often unknown (`mayHaveActed`), so a retry must carry the same idempotency key.
 */
export class RetryableError extends ExternalCallError {
  override name = 'RetryableError';
  readonly retryable = true;
  readonly reason: RetryReason;
  /** From the `Retry-After` header of a 429/503, when the service sent one. */
  readonly retryAfterSeconds: number | undefined;
  /**
   * Whether the service may have done what it was asked although the call failed: false only when the
   * request never reached it (the connection was refused, the name did not resolve) or its answer says
   * it did nothing (408, 429, 503, RFC 9110); a timeout, a lost connection, another 5xx or an
   * unreadable success may all come after the work was done.
   */
  readonly mayHaveActed: boolean;

  constructor(init: ExternalCallErrorInit & { reason: RetryReason; retryAfterSeconds?: number | undefined }) {
    super(init, 'EXTERNAL_CALL_FAILED');
    this.reason = init.reason;
    this.retryAfterSeconds = init.retryAfterSeconds;
    this.mayHaveActed = mayHaveActed(init.reason, init.status, init.cause);
  }
}

/** Statuses whose answer says the request was not acted on (RFC 9110 §15.5.9, RFC 6585 §4, §15.6.4). */
const NOT_ACTED_STATUSES = new Set([408, 429, 503]);
/**
 * Network errors raised before any byte of the request left: nothing can have been done. Refused, no
 * such host, no route, or no socket to send it on (this process or the system out of file descriptors,
 * no local port left).
 */
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ConnectionRefused', 'ENETUNREACH', 'EHOSTUNREACH', 'EMFILE', 'ENFILE', 'EADDRNOTAVAIL']);

/** Whether a network error came before any byte of the request left (refused, no such host). */
export const neverSent = (cause: unknown): boolean => NOT_SENT_CODES.has(String((cause as { code?: unknown } | undefined)?.code));

function mayHaveActed(reason: RetryReason, status: number | undefined, cause: unknown): boolean {
  if (reason === 'status') return status === undefined || !NOT_ACTED_STATUSES.has(status);
  if (reason === 'network') return !neverSent(cause);
  return true;
}

/**
 * An external call the service refused for good (4xx other than 408 and 429): retrying cannot help, the
 * caller turns it into a reply event (and compensation where there is one).
 */
export class TerminalError extends ExternalCallError {
  override name = 'TerminalError';
  readonly retryable = false;
  /** A refusal (4xx) says that this request was not carried out. */
  readonly mayHaveActed = false;

  constructor(init: ExternalCallErrorInit) {
    super(init, 'EXTERNAL_CALL_REJECTED');
  }
}

/** The answers by which a service judged a request and refused it: bad request, conflict, gone, unprocessable. */
const REFUSAL_STATUSES = new Set([400, 409, 410, 422]);

/**
 * Whether `error` is the service's refusal of the request: final, the thing asked for will not be done.
 * Any other 4xx (401, 403, 404, 405…) says the call did not reach a service that could judge it (its
 * credentials, a wrong GATEWAY_ADDR): a fault of ours for an operator to mend, not an answer to act on.
 */
export const isRefusal = (error: unknown): error is TerminalError =>
  error instanceof TerminalError && error.status !== undefined && REFUSAL_STATUSES.has(error.status);

/** `code` of the TerminalError for a declined charge (HTTP 402 from the payments service). */
export const PAYMENT_DECLINED = 'PAYMENT_DECLINED';

/** Statuses that a retry can fix although they are 4xx. */
const RETRYABLE_4XX = new Set([408, 429]);

/** Whether an HTTP error status is worth retrying: 5xx, 408 and 429. */
export const isRetryableStatus = (status: number): boolean => status >= 500 || RETRYABLE_4XX.has(status);

/**
 * The error for a failed answer with `status`: RetryableError for 5xx/408/429, TerminalError otherwise.
 * `codes` names statuses with a meaning for this operation (payments: 402 → PAYMENT_DECLINED).
 */
export function errorForStatus(init: {
  service: string;
  operation: string;
  status: number;
  body?: unknown;
  location?: string | null | undefined;
  codes?: Readonly<Record<number, string>> | undefined;
  retryAfterSeconds?: number | undefined;
}): RetryableError | TerminalError {
  const { codes, retryAfterSeconds, ...rest } = init;
  const base = { ...rest, code: codes?.[init.status] };
  return isRetryableStatus(init.status)
    ? new RetryableError({ ...base, reason: 'status', retryAfterSeconds })
    : new TerminalError(base);
}

/**
 * Whether a failed external call may be retried. Following Restate, only a TerminalError is final:
 * anything unexpected is retried too, and the retry budget (dead letters) bounds it.
 */
export const isRetryable = (error: unknown): boolean => !(error instanceof TerminalError);

function describe(init: ExternalCallErrorInit): string {
  const what = `${init.service}.${init.operation}`;
  if (init.status !== undefined) {
    return `${what} failed with HTTP ${init.status}` + (init.location ? ` (a redirect to ${init.location.slice(0, 200)}, not followed)` : '');
  }
  if (init.cause instanceof Error) return `${what} failed: ${init.cause.message}`;
  return `${what} failed`;
}
