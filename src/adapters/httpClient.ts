import type { z } from 'zod';
import type { CallContext, CallOutcome, OnCall } from './call';
import { errorForStatus, neverSent, RetryableError, TerminalError } from './errors';
import { activeTraceparent, inSpan, SpanKind } from '../kernel/tracing';

/** The part of `fetch` the client uses; tests pass their own. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** One client per external service. */
export interface HttpClientOptions {
  /** Name of the external service, for errors and observations (`receipts`). */
  service: string;
  /** Base URL the paths are appended to (`GATEWAY_ADDR`), with or without a trailing slash. */
  baseUrl: string;
  /** Upper bound of one call, answer body included. */
  timeoutMs?: number;
  fetch?: FetchLike;
  onCall?: OnCall;
}

/** One call: what to send, and what this operation makes of some statuses. */
export interface HttpRequest {
  /** Port operation this call implements (`issueReceipt`), for errors and observations. */
  operation: string;
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Path below the base URL, parameters already encoded (see `pathSegment`). */
  path: string;
  /** A string is sent as is, anything else as JSON. */
  body?: unknown;
  /** Defaults to `text/plain; charset=utf-8` for a string body and `application/json` otherwise. */
  contentType?: string;
  headers?: Record<string, string>;
  context: CallContext;
  /** Non-2xx statuses that mean success for this operation (files: 409 = the file already exists). */
  successStatuses?: readonly number[];
  /** Codes for error statuses with a meaning for this operation (payments: 402 → PAYMENT_DECLINED). */
  errorCodes?: Readonly<Record<number, string>>;
  /**
   * Sends on a connection of its own, never on one kept from an earlier call. For a service that does
   * not deduplicate: a kept connection the service has closed meanwhile fails as the request is sent
   * (a reset), which reads as "may have acted" and leaves the call to an operator, although the service
   * never got it.
   */
  freshConnection?: boolean;
}

/** A successful answer: its status and its body (parsed JSON, text, or null when empty). */
export interface HttpResponse<T = unknown> {
  status: number;
  body: T;
}

/** Sends requests to one external service and sorts every failure into RetryableError or TerminalError. */
export interface HttpClient {
  request(request: HttpRequest): Promise<HttpResponse>;
  /** Same, and the body must match `schema` (else RetryableError `bad_response`: the effect may have happened). */
  request<T>(request: HttpRequest, schema: z.ZodType<T>): Promise<HttpResponse<T>>;
}

/** Upper bound of a call when none is configured. */
export const DEFAULT_TIMEOUT_MS = 5_000;
/** Header names of the call context on the wire (API.md, last paragraph of "External services"). */
export const CORRELATION_ID_HEADER = 'Correlation-ID';
/** W3C trace context header. */
export const TRACEPARENT_HEADER = 'traceparent';

/** Error bodies are kept for diagnosis, not as an archive. */
const MAX_ERROR_TEXT = 2_000;
/**
 * The most of an answer's body that is read (1 MiB; the answers of API.md are a few hundred bytes). A
 * success past it is a `bad_response`; an error answer is judged by its status, on the part read.
 * Without a bound, memory would follow whatever a service sends, for every call in flight.
 */
export const MAX_ANSWER_BYTES = 1 << 20;

/** Encodes one path parameter. */
export const pathSegment = (value: string): string => encodeURIComponent(value);

/**
 * THE HTTP client of every adapter: JSON (or text) bodies, `Correlation-ID` and `traceparent` headers,
 * a timeout covering the whole exchange, redirects not followed, and the failure classification of API.md: network error,
 * timeout, 5xx, 408, 429 → RetryableError; other 4xx → TerminalError (status and body kept).
 */
export function createHttpClient(options: HttpClientOptions): HttpClient {
  const { service, onCall } = options;
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const doFetch: FetchLike = options.fetch ?? ((input, init) => fetch(input, init));

  async function exchange(request: HttpRequest, schema?: z.ZodType): Promise<HttpResponse> {
    const { operation } = request;
    // Answers uncompressed: they are small, and a compressed one is inflated in full before
    // MAX_ANSWER_BYTES can stop reading it.
    const headers: Record<string, string> = { accept: 'application/json', 'accept-encoding': 'identity', ...request.headers };
    headers[CORRELATION_ID_HEADER] = request.context.correlationId;
    if (request.context.traceparent !== undefined) headers[TRACEPARENT_HEADER] = request.context.traceparent;
    let payload: string | undefined;
    if (request.body !== undefined) {
      const text = typeof request.body === 'string';
      payload = text ? (request.body as string) : JSON.stringify(request.body);
      headers['content-type'] = request.contentType ?? (text ? 'text/plain; charset=utf-8' : 'application/json');
    }

    const signal = AbortSignal.timeout(timeoutMs);
    let response: Response;
    let body: unknown;
    let whole: boolean;
    try {
      // A redirect is an answer of its own (terminal), never followed: following one would send the
      // body, the correlation id and the idempotency key to wherever the Location points.
      response = await doFetch(`${baseUrl}${request.path}`, {
        method: request.method,
        headers,
        body: payload,
        signal,
        redirect: 'manual',
        // Bun's meaning of `keepalive`: false is a connection for this request alone.
        ...(request.freshConnection === true ? { keepalive: false } : {}),
      });
      ({ body, whole } = await readBody(response));
    } catch (error) {
      const timedOut = signal.aborted || (error instanceof DOMException && error.name === 'TimeoutError');
      throw new RetryableError({
        service,
        operation,
        reason: timedOut ? 'timeout' : 'network',
        cause: error,
        message: timedOut
          ? `${service}.${operation} got no answer within ${timeoutMs} ms`
          : `${service}.${operation} ${neverSent(error) ? 'could not reach' : 'got no usable answer from'} ${baseUrl}: ${networkMessage(error)}`,
      });
    }

    const status = response.status;
    const ok = (status >= 200 && status < 300) || (request.successStatuses?.includes(status) ?? false);
    if (!ok) {
      throw errorForStatus({
        service,
        operation,
        status,
        body: typeof body === 'string' ? body.slice(0, MAX_ERROR_TEXT) : body,
        codes: request.errorCodes,
        retryAfterSeconds: retryAfter(response.headers.get('retry-after')),
        location: status >= 300 && status < 400 ? response.headers.get('location') : null,
      });
    }
    const badResponse = (why: string, cause?: unknown) =>
      new RetryableError({
        service,
        operation,
        status,
        body: whole ? body : undefined,
        reason: 'bad_response',
        cause,
        message: `${service}.${operation} answered ${status} with ${why}`,
      });
    if (!whole) throw badResponse(`a body of more than ${MAX_ANSWER_BYTES} bytes`);
    if (schema === undefined) return { status, body };
    const parsed = schema.safeParse(body);
    if (!parsed.success) throw badResponse(`an unexpected body (${firstIssue(parsed.error)})`, parsed.error);
    return { status, body: parsed.data };
  }

  return {
    request(request: HttpRequest, schema?: z.ZodType): Promise<HttpResponse<never>> {
      const attributes = { 'http.request.method': request.method, 'peer.service': service, 'tickets.operation': request.operation };
      // A CLIENT span per call; the traceparent sent is the span's own, so the service's spans nest under it.
      return inSpan(`${service} ${request.operation}`, attributes, async (span) => {
        const startedAt = performance.now();
        let outcome: CallOutcome = 'success';
        try {
          const traced = { ...request, context: { ...request.context, traceparent: activeTraceparent() ?? request.context.traceparent } };
          const response = (await exchange(traced, schema)) as HttpResponse<never>;
          span.setAttribute('http.response.status_code', response.status);
          return response;
        } catch (error) {
          outcome = error instanceof TerminalError ? 'terminal' : 'retryable';
          const status = (error as { status?: unknown }).status;
          if (typeof status === 'number') span.setAttribute('http.response.status_code', status);
          throw error;
        } finally {
          onCall?.({ service, operation: request.operation, outcome, durationSeconds: (performance.now() - startedAt) / 1000 });
          request.context.onOutcome?.(outcome);
        }
      }, { kind: SpanKind.CLIENT, traceparent: request.context.traceparent });
    },
  };
}

/**
 * The body parsed as JSON when it is JSON, whatever its media type says (services are not always careful
 * with it, and the schema checks the shape anyway), else the text; null when empty. Past
 * MAX_ANSWER_BYTES the rest is not read (`whole` false) and the part read is kept as text.
 */
async function readBody(response: Response): Promise<{ body: unknown; whole: boolean }> {
  const { text, whole } = await readText(response);
  if (!whole) return { body: text, whole };
  if (text === '') return { body: null, whole };
  try {
    return { body: JSON.parse(text), whole };
  } catch {
    return { body: text, whole };
  }
}

async function readText(response: Response): Promise<{ text: string; whole: boolean }> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (response.body === null) return { text: '', whole: true };
  if (declared > MAX_ANSWER_BYTES) {
    await response.body.cancel();
    return { text: '', whole: false };
  }
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { text: Buffer.concat(chunks).toString('utf8'), whole: true };
    if (size + value.byteLength > MAX_ANSWER_BYTES) {
      chunks.push(value.subarray(0, MAX_ANSWER_BYTES - size));
      await reader.cancel();
      return { text: Buffer.concat(chunks).toString('utf8'), whole: false };
    }
    chunks.push(value);
    size += value.byteLength;
  }
}

/** The first thing wrong with an answer, where it is: `ticket_ids: at least 1 item`. */
function firstIssue(error: z.ZodError): string {
  const [issue] = error.issues;
  if (issue === undefined) return 'no detail';
  return issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
}

/** The message of a network error, without the advice Bun's fetch adds to it for its own callers. */
function networkMessage(error: unknown): string {
  const code = (error as { code?: unknown } | undefined)?.code;
  // Bun asks about a typo in the URL for any failure to open a socket, this one included.
  if (code === 'EMFILE' || code === 'ENFILE') return `${code}: no socket could be opened (too many open files)`;
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/\s*For more information, pass `verbose: true` in the second argument to fetch\(\)\.?/, '');
}

/** `Retry-After` in seconds: delay-seconds, or an HTTP-date (RFC 9110 §10.2.3) counted from now. */
function retryAfter(value: string | null): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? seconds : undefined;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
}
