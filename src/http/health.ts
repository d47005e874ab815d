import { Elysia } from 'elysia';
import type { Store } from '../actors/ports';
import type { Logger } from '../observability/logger';
import { systemClock, type Clock } from '../kernel/clock';
import { Throttle } from '../kernel/throttle';
import { withTimeout } from '../kernel/timeout';
import { problemResponses, successResponse } from './openapiProblems';
import { problem } from './problem';

/** A named readiness condition; it passes when `check` resolves. */
export interface ReadinessCheck {
  name: string;
  check: () => Promise<void>;
}

export interface HealthOptions {
  store: Pick<Store, 'ping' | 'pendingMigrations' | 'unknownMigrations'>;
  /** More conditions (bus, outbox, …) besides the store and its migrations. */
  checks?: ReadinessCheck[];
  logger: Logger;
  /** A check that has not answered after this long fails. */
  timeoutMs?: number;
  /** Whether the service is stopping (draining before it closes): not ready, whatever the checks say. */
  isStopping?: () => boolean;
  clock?: Clock;
}

const DEFAULT_TIMEOUT_MS = 2_000;
/**
 * A check that keeps failing is logged at most this often, with how many probes failed since: a load
 * balancer probes every few seconds, and an outage of Redis was a warning per probe per instance.
 */
const FAILURE_LOG_EVERY_MS = 10_000;

/**
 * `GET /health`: 200 `ok` while the process is up. `GET /ready`: 200 `{"status":"ready","checks":{…}}`
 * when the store answers, its migrations are applied and every extra check passes; otherwise 503
 * NOT_READY naming the failed checks in `errors` (the underlying errors are logged, not returned), or
 * `stopping` once a stop began: a load balancer then sends nothing more, while the requests it sent are
 * still answered.
 */
export function healthRoutes(options: HealthOptions) {
  const { store, logger } = options;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const clock = options.clock ?? systemClock;
  /** The checks failing now, each with its log throttle. */
  const failing = new Map<string, Throttle>();
  const noteFailure = (name: string, error: unknown) => {
    const first = !failing.has(name);
    const throttle = failing.get(name) ?? new Throttle(FAILURE_LOG_EVERY_MS, () => clock.now().getTime());
    failing.set(name, throttle);
    const failures = throttle.hit();
    if (failures === undefined) return;
    logger.warn('readiness check failed', { check: name, err: error, ...(first ? {} : { failures_since_last_log: failures }) });
  };
  const notePass = (name: string) => {
    if (failing.delete(name)) logger.info('readiness check passes again', { check: name });
  };
  const checks: ReadinessCheck[] = [
    { name: 'store', check: () => store.ping() },
    {
      name: 'migrations',
      check: async () => {
        const [pending, unknown] = await Promise.all([store.pendingMigrations(), store.unknownMigrations()]);
        if (pending.length > 0) throw new NotReady(`pending migrations: ${pending.join(', ')}`);
        if (unknown.length > 0) throw new NotReady(`migrated by a newer version: ${unknown.join(', ')}`);
      },
    },
    ...(options.checks ?? []),
  ];

  return new Elysia({ name: 'health' })
    .get('/health', () => new Response('ok', { headers: { 'content-type': 'text/plain;charset=utf-8' } }), {
      detail: { summary: 'Liveness', tags: ['operations'], responses: successResponse(200, '`ok`', { contentType: 'text/plain' }) },
    })
    .get('/ready', async () => {
      if (options.isStopping?.() === true) {
        return problem(503, 'NOT_READY', 'Not ready: stopping', { errors: { stopping: ['the service is stopping: send requests to another instance'] }, retryable: true });
      }
      const results = await Promise.all(checks.map((c) => run(c, timeoutMs)));
      const storeDown = results[checks.findIndex((c) => c.name === 'store')] !== undefined;
      const failed: Record<string, string[]> = {};
      const errors = new Map<string, unknown>();
      const summary: Record<string, 'ok' | 'failed'> = {};
      results.forEach((result, i) => {
        let name = checks[i]!.name;
        // Migrations are read from the store: with the store down that says nothing about them, and a
        // store too busy to read them in time (its connections all waiting on locks) is the store's failure.
        if (name === 'migrations' && storeDown) return;
        if (name === 'migrations' && result?.timedOut) name = 'store';
        summary[name] = result === undefined ? 'ok' : 'failed';
        if (result !== undefined) {
          failed[name] = [result.reason];
          errors.set(name, result.error);
        }
      });
      for (const name of Object.keys(summary)) {
        if (errors.has(name)) noteFailure(name, errors.get(name));
        else notePass(name);
      }
      if (Object.keys(failed).length > 0) {
        return problem(503, 'NOT_READY', `Not ready: ${Object.keys(failed).join(', ')}`, { errors: failed, retryable: true });
      }
      return { status: 'ready', checks: summary };
    }, {
      detail: {
        summary: 'Readiness: store, migrations and every registered check',
        tags: ['operations'],
        responses: { ...problemResponses({ 503: ['NOT_READY'] }), ...successResponse(200, 'Ready, with the outcome of each check', { contentType: 'application/json', schema: READY_SCHEMA }) },
      },
    });
}

/** `{"status":"ready","checks":{"store":"ok",…}}` */
const READY_SCHEMA = {
  type: 'object',
  required: ['status', 'checks'],
  properties: { status: { const: 'ready' }, checks: { type: 'object', additionalProperties: { const: 'ok' } } },
};

/** A readiness failure whose message is safe to show (no internals). */
export class NotReady extends Error {
  override name = 'NotReady';
}

class NoAnswer extends NotReady {}

async function run(c: ReadinessCheck, timeoutMs: number): Promise<{ reason: string; error: unknown; timedOut: boolean } | undefined> {
  try {
    await withTimeout(c.check(), timeoutMs, () => new NoAnswer(`no answer within ${timeoutMs} ms`));
    return undefined;
  } catch (error) {
    return { reason: error instanceof NotReady ? error.message : 'unavailable', error, timedOut: error instanceof NoAnswer };
  }
}
