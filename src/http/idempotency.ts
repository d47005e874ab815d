import { Elysia, ElysiaCustomStatusResponse, StatusMap } from 'elysia';
import type { Store, StoredResponse, Tx } from '../actors/ports';
import type { Clock } from '../kernel/clock';
import type { Logger } from '../observability/logger';
import { problemResponses } from './openapiProblems';
import { problem } from './problem';
import { CORRELATION_ID_HEADER, rawBodyOf, REQUEST_ID_HEADER, requestTarget, TRACE_ID_HEADER } from './requestContext';

/** Who is calling, for the key's scope: two callers never share a key. */
export type CallerOf = (request: Request) => string | Promise<string>;

export interface IdempotencyOptions {
  store: Store;
  clock: Clock;
  /** Caller identity; 'anonymous' until auth provides one. */
  callerOf?: CallerOf;
  /** How long a claim blocks a concurrent duplicate before a crashed claimer's key frees up. */
  lockMs?: number;
  /** How long a completed key is kept (API.md: at least 24 h). */
  ttlMs?: number;
  /** Told when a record cannot be completed after its response. */
  logger?: Logger;
}

/**
 * Given to handlers of `idempotent` routes. `complete` writes the response record inside the handler's
 * own transaction ("the record is written in the same transaction as the change it guards") and returns
 * the Response to send, built from exactly what was stored. Without a key it only builds the Response.
 */
export interface IdempotencyHandle {
  /** The request's key, undefined when the client sent none. */
  readonly key: string | undefined;
  complete(tx: Tx, status: number, body?: unknown, headers?: Record<string, string>): Promise<Response>;
}

/**
 * Rewrites a raw request body before it is fingerprinted, so that a secret in it (a password) is kept
 * only in a form that cannot be guessed offline. Equal bodies must give equal results.
 */
export type RedactBody = (rawBody: string) => string | Promise<string>;

/**
 * `idempotent: true` accepts a key; `'required'` refuses requests without one (400); `{ redact }`
 * accepts a key and fingerprints the body as `redact` rewrites it.
 */
export type IdempotencyMode = boolean | 'required' | { redact: RedactBody };

export const IDEMPOTENCY_KEY_HEADER = 'Idempotency-Key';
export const LEGACY_IDEMPOTENCY_KEY_HEADER = 'X-Idempotency-Key';
export const REPLAYED_HEADER = 'Idempotent-Replayed';
const MAX_KEY_LENGTH = 255;
const DEFAULT_LOCK_MS = 60_000;
const DEFAULT_TTL_MS = 24 * 60 * 60 * 1000;

/** Headers that belong to one request, never to a stored response. */
const PER_REQUEST_HEADERS = new Set(
  [CORRELATION_ID_HEADER, REQUEST_ID_HEADER, TRACE_ID_HEADER, 'content-length', 'date', 'set-cookie', 'ratelimit', 'ratelimit-policy', 'retry-after'].map((h) => h.toLowerCase()),
);

interface Claim {
  scope: string;
  key: string;
  /** When it was claimed (the record's `created_at`), so that only this claim is ever released. */
  claimedAt: string;
  /** The handler completed the record in its transaction. */
  completedInTx: boolean;
  /** The claim was completed or released after the response; later hooks leave it alone. */
  settled: boolean;
}

/**
 * The idempotency-key mechanism of API.md as a named route option (STYLE.md §5):
 *
 * ```ts
 * .post('/bookings', handler, { body: BookingBody, idempotent: true })
 * ```
 *
 * Before the handler the key (`Idempotency-Key`, or `X-Idempotency-Key`) is claimed for the scope
 * caller + method + route template, with a fingerprint of method, path and raw body (or the body as the
 * route's `redact` rewrites it: `idempotent: { redact }` for bodies holding a secret). A completed key
 * replays the stored status, body and headers with `Idempotent-Replayed: true`; the same key with
 * another body is 422 IDEMPOTENCY_KEY_REUSED; a duplicate while the first still runs is 409
 * REQUEST_IN_PROGRESS with `Retry-After`. After the handler, a record it did not complete in its
 * transaction is completed with the response (2xx, 3xx, 4xx); a 5xx, or a 4xx problem that says
 * `retryable: true` (a race lost too often), releases the claim so a retry runs.
 * Requests without a key just run (unless the mode is `'required'`).
 */
export function createIdempotency(options: IdempotencyOptions) {
  const { store, clock } = options;
  const callerOf = options.callerOf ?? (() => 'anonymous');
  const lockMs = options.lockMs ?? DEFAULT_LOCK_MS;
  const ttlMs = options.ttlMs ?? DEFAULT_TTL_MS;
  const claims = new WeakMap<Request, Claim>();
  /**
   * Claims of this instance that a 5xx should have released but the store could not (it was down when
   * the request failed), by scope and key: the next request with that key here releases it first, rather
   * than answering REQUEST_IN_PROGRESS until the claim's lock runs out. Other instances wait for the lock.
   */
  const unreleased = new Map<string, Claim>();
  const claimId = (scope: string, key: string) => `${scope}\n${key}`;
  /** Frees a claim; when the store cannot (it is down), the next request with its key here frees it first. */
  const release = async (claim: Claim) => {
    try {
      await store.releaseIdempotency(claim.scope, claim.key, claim.claimedAt);
    } catch {
      // Claims whose lock has run out need no release any more: they are forgotten.
      const lockedUntil = (c: Claim) => Date.parse(c.claimedAt) + lockMs;
      for (const [id, stale] of unreleased) if (lockedUntil(stale) <= clock.now().getTime()) unreleased.delete(id);
      unreleased.set(claimId(claim.scope, claim.key), claim);
    }
  };

  const handleFor = (request: Request): IdempotencyHandle => ({
    key: keyOf(request) ?? undefined,
    async complete(tx, status, body, headers = {}) {
      const stored = storedFrom(status, body, headers);
      const claim = claims.get(request);
      if (claim !== undefined) {
        await tx.completeIdempotency(claim.scope, claim.key, stored);
        claim.completedInTx = true;
      }
      return toResponse(stored);
    },
  });

  return new Elysia({ name: 'idempotency' }).macro({
    idempotent(mode: IdempotencyMode) {
      // Always the same hooks (a conditional return would lose the `idempotency` type in handlers);
      // with `false` they do nothing because no claim is ever made.
      return {
        detail: {
          parameters: mode === false ? [] : [{
            name: IDEMPOTENCY_KEY_HEADER,
            in: 'header',
            // Either name will do, so neither is required by itself.
            required: false,
            description: `A repeat with the same key and body gets the first answer; the same key with another body is 422${mode === 'required' ? `. Required: this header or ${LEGACY_IDEMPOTENCY_KEY_HEADER} (400 IDEMPOTENCY_KEY_REQUIRED without either)` : ''}`,
            schema: { type: 'string', minLength: 1, maxLength: MAX_KEY_LENGTH },
          }, {
            name: LEGACY_IDEMPOTENCY_KEY_HEADER,
            in: 'header',
            required: false,
            description: `The same as ${IDEMPOTENCY_KEY_HEADER}, for clients that send this name; both at once must carry the same key (400 otherwise)`,
            schema: { type: 'string', minLength: 1, maxLength: MAX_KEY_LENGTH },
          }],
          // A route that takes a key changes state, and its commit gives up with 409 CONCURRENT_UPDATE
          // (retryable) after waiting about 5 s for row locks that others hold (store/postgres.ts).
          responses: problemResponses(
            mode === false ? {} : { 400: mode === 'required' ? ['IDEMPOTENCY_KEY_REQUIRED'] : [], 409: ['REQUEST_IN_PROGRESS', 'CONCURRENT_UPDATE'], 422: ['IDEMPOTENCY_KEY_REUSED'] },
          ),
        },
        async beforeHandle({ request, route }) {
          if (mode === false) return;
          const key = keyOf(request);
          // Which of two different keys a retry will send cannot be known: taking either could act twice.
          const legacy = request.headers.get(LEGACY_IDEMPOTENCY_KEY_HEADER);
          if (key !== null && legacy !== null && legacy.trim() !== key) {
            return problem(400, 'VALIDATION_FAILED', 'The request is not valid', {
              errors: { [IDEMPOTENCY_KEY_HEADER]: [`differs from ${LEGACY_IDEMPOTENCY_KEY_HEADER}: send one key`] },
            });
          }
          if (key === null || (key === '' && mode === 'required')) {
            if (mode !== 'required') return;
            return problem(400, 'IDEMPOTENCY_KEY_REQUIRED', `This route requires an ${IDEMPOTENCY_KEY_HEADER} header`, { errors: { [IDEMPOTENCY_KEY_HEADER]: ['required'] } });
          }
          // A blank key is a client bug (an unset variable): running the request unguarded would let its retry act twice.
          const invalid = key === '' ? 'must not be empty' : key.length > MAX_KEY_LENGTH ? `must be at most ${MAX_KEY_LENGTH} characters` : undefined;
          if (invalid !== undefined) {
            return problem(400, 'VALIDATION_FAILED', 'The request is not valid', { errors: { [IDEMPOTENCY_KEY_HEADER]: [invalid] } });
          }
          const scope = `${await callerOf(request)} ${request.method} ${route}`;
          const url = requestTarget(request.url);
          const rawBody = await rawBodyOf(request);
          const body = typeof mode === 'object' ? await mode.redact(rawBody) : rawBody;
          const fingerprint = await sha256(`${request.method}\n${url.pathname}${url.search}\n${body}`);
          const stranded = unreleased.get(claimId(scope, key));
          if (stranded !== undefined) {
            await store.releaseIdempotency(scope, key, stranded.claimedAt);
            unreleased.delete(claimId(scope, key));
          }
          const now = clock.now().getTime();
          const outcome = await store.claimIdempotency({
            scope,
            key,
            fingerprint,
            now: new Date(now).toISOString(),
            lockedUntil: new Date(now + lockMs).toISOString(),
            expiresAt: new Date(now + ttlMs).toISOString(),
          });
          switch (outcome.outcome) {
            case 'claimed':
              claims.set(request, { scope, key, claimedAt: new Date(now).toISOString(), completedInTx: false, settled: false });
              return;
            case 'replay':
              return toResponse(outcome.response, { [REPLAYED_HEADER]: 'true' });
            case 'mismatch':
              return problem(422, 'IDEMPOTENCY_KEY_REUSED', `This ${IDEMPOTENCY_KEY_HEADER} was used with a different request`);
            case 'in_progress':
              return problem(409, 'REQUEST_IN_PROGRESS', `A request with this ${IDEMPOTENCY_KEY_HEADER} is still being processed`, {
                retryable: true,
                headers: { 'retry-after': '1' },
              });
          }
        },
        resolve: ({ request }) => ({ idempotency: handleFor(request) }),
        // mapResponse runs before the response is sent, for handler results and mapped errors alike,
        // so a retry arriving right after the response already finds the key completed.
        async mapResponse({ request, responseValue, set }) {
          const claim = claims.get(request);
          if (claim === undefined || claim.settled) return;
          claim.settled = true;
          const stored = await storedFromResult(responseValue, set);
          if (stored.status >= 500 || saysRetry(stored)) {
            // Only an in-progress claim is dropped: a record the handler completed in a committed
            // transaction survives, and a rolled-back one frees the key for the retry.
            await release(claim);
            return;
          }
          if (!claim.completedInTx) {
            try {
              await store.completeIdempotency(claim.scope, claim.key, stored);
            } catch (error) {
              // The change is made (routes that complete afterwards are the ones whose repeat has no
              // second effect): answering a 503 would tell the client that nothing was. The key is
              // freed, if the store lets it, so that a retry runs again and answers the same.
              options.logger?.warn('the idempotency record could not be completed after its response; a retry with this key runs again', { key: claim.key, scope: claim.scope, err: error });
              await release(claim);
            }
          }
          if (!(responseValue instanceof Response)) return toResponse(stored);
        },
      };
    },
  });
}

/** A problem that tells the client to repeat the request (409 CONCURRENT_UPDATE): its key must let the repeat run. */
function saysRetry(stored: StoredResponse): boolean {
  if (!stored.headers['content-type']?.startsWith('application/problem+json')) return false;
  try {
    return (JSON.parse(stored.body) as { retryable?: unknown }).retryable === true;
  } catch {
    return false;
  }
}

/** The key sent (either header), '' when one was sent blank, null when neither was sent. */
function keyOf(request: Request): string | null {
  const key = request.headers.get(IDEMPOTENCY_KEY_HEADER) ?? request.headers.get(LEGACY_IDEMPOTENCY_KEY_HEADER);
  return key === null ? null : key.trim();
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

function storedFrom(status: number, body: unknown, headers: Record<string, string>): StoredResponse {
  if (body === undefined || body === null) return { status, body: '', headers: { ...headers } };
  if (typeof body === 'string') return { status, body, headers: { 'content-type': 'text/plain;charset=utf-8', ...headers } };
  return { status, body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } };
}

interface ResponseSet {
  status?: number | keyof typeof StatusMap;
  headers: Record<string, string | number>;
}

/** What Elysia will send for a handler result, as a record to store. */
async function storedFromResult(value: unknown, set: ResponseSet): Promise<StoredResponse> {
  const setHeaders = Object.fromEntries(Object.entries(set.headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  if (value instanceof Response) {
    const headers: Record<string, string> = { ...setHeaders };
    value.headers.forEach((v, k) => {
      headers[k] = v;
    });
    return { status: value.status, body: await value.clone().text(), headers: storable(headers) };
  }
  if (value instanceof ElysiaCustomStatusResponse) {
    return storedFrom(Number(value.code), value.response, storable(setHeaders));
  }
  const status = typeof set.status === 'number' ? set.status : StatusMap[set.status ?? 'OK'];
  return storedFrom(status, value, storable(setHeaders));
}

function storable(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([k]) => !PER_REQUEST_HEADERS.has(k.toLowerCase())));
}

function toResponse(stored: StoredResponse, extra: Record<string, string> = {}): Response {
  const empty = stored.body === '' || stored.status === 204 || stored.status === 304;
  return new Response(empty ? null : stored.body, { status: stored.status, headers: { ...stored.headers, ...extra } });
}
