import { openapi } from '@elysiajs/openapi';
import { trace } from '@opentelemetry/api';
import { Elysia, ParseError, type AnyElysia } from 'elysia';
import type { Store } from '../actors/ports';
import type { IdSource } from '../kernel/ids';
import { Throttle } from '../kernel/throttle';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { recordError, type Tracing } from '../observability/tracing';
import { healthRoutes, type ReadinessCheck } from './health';
import { BEARER_SCHEME, documentProblems, successResponse } from './openapiProblems';
import { PROBLEM_CONTENT_TYPE, problemResponse, toProblem, unsupportedMediaType } from './problem';
import { createRequestContext, mediaTypeOf, requestContextOf, requestTarget } from './requestContext';

const OPENAPI_JSON_PATH = '/openapi/json';

/** The paths a route template matches: `:id` one segment, `*` the rest, a trailing slash or not. */
function templatePattern(template: string): RegExp {
  const segments = template.replace(/\/$/, '').split('/').map((segment) =>
    segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${segments.join('/')}/?$`);
}

/** At most one warning this often while a dependency's outage makes requests fail with 503. */
const UNAVAILABLE_LOG_EVERY_MS = 10_000;

/** The version of @scalar/api-reference the OpenAPI page loads. */
const SCALAR_VERSION = '1.76.4';

export interface AppDeps {
  store: Store;
  metrics: Metrics;
  tracing: Tracing;
  logger: Logger;
  ids: IdSource;
  /** Feature plugins (one per resource), mounted after the infrastructure routes. */
  plugins: AnyElysia[];
  /** Readiness conditions besides the store and its migrations (bus, outbox, …). */
  readinessChecks?: ReadinessCheck[];
  /** Whether the service is stopping: `/ready` then answers 503 whatever the checks say. */
  isStopping?: () => boolean;
  /** Version shown in the OpenAPI document. */
  version?: string;
}

/**
 * Builds the HTTP application (not listening): request context and tracing, the one error mapper,
 * HTTP metrics and access log, `/health`, `/ready`, `/metrics`, the OpenAPI document at `/openapi`
 * (JSON at `/openapi/json`) and the feature plugins.
 */
export function createApp(deps: AppDeps) {
  const { store, metrics, tracing, logger, ids } = deps;
  const withProblems = new WeakMap<object, object>();
  const unavailableLog = new Throttle(UNAVAILABLE_LOG_EVERY_MS);
  // Every route of the app, known once it is built (the document is only asked for after start-up).
  let routes: () => AnyElysia['routes'] = () => [];
  let templates: { method: string; path: string; pattern: RegExp }[] | undefined;
  /** Every route's template and the paths it matches, built once, when first needed (the app is built by then). */
  const routeTemplates = () => {
    templates ??= routes().map(({ method, path }) => ({
      method,
      path: path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path,
      pattern: templatePattern(path),
    }));
    return templates;
  };
  const app = new Elysia()
    .use(createRequestContext({
      tracing,
      ids,
      routeOf: (method, path) => routeTemplates().find((route) => route.method === method && route.pattern.test(path))?.path,
      onFinish: (r) => {
        metrics.observeHttpRequest(r);
        logger.info('request', {
          method: r.method,
          route: r.route,
          status: r.status,
          duration_ms: Math.round(r.durationSeconds * 1000),
          correlation_id: r.correlationId,
          trace_id: r.traceId,
        });
      },
    }))
    // The one place where errors become responses; registered before any route so that it covers all.
    .onError({ as: 'global' }, ({ error, request }) => {
      // Elysia parses form bodies itself, before the media-type check of requestContext.ts: a broken
      // multipart body is a body that is not JSON (415), not malformed JSON.
      const type = mediaTypeOf(request);
      const p = toProblem(error instanceof ParseError && type !== 'application/json' ? unsupportedMediaType(type) : error);
      if (p.status === 503) {
        // A dependency that is down (the database, the bus) refuses every request alike: the access
        // log has each one; this says why, once per interval, with how many were refused since.
        const refused = unavailableLog.hit();
        if (refused !== undefined) {
          const cause = error instanceof Error ? error.cause : undefined;
          logger.warn('requests refused: a dependency is unavailable', {
            code: p.body.code,
            cause: cause instanceof Error ? cause.message : cause === undefined ? p.body.detail : String(cause),
            refused_since_last_log: refused,
            correlation_id: requestContextOf(request)?.correlationId,
          });
        }
      } else if (p.status >= 500) {
        const span = trace.getActiveSpan();
        if (span !== undefined) recordError(span, error);
        logger.error('request failed', {
          err: error,
          method: request.method,
          url: requestTarget(request.url).pathname,
          correlation_id: requestContextOf(request)?.correlationId,
        });
      }
      return problemResponse(p);
    })
    // The generated document gets every route's error responses (openapiProblems.ts), once per version of it.
    .onAfterHandle({ as: 'global' }, ({ path, responseValue }) => {
      if (path !== OPENAPI_JSON_PATH || typeof responseValue !== 'object' || responseValue === null) return;
      let documented = withProblems.get(responseValue);
      if (documented === undefined) {
        documented = documentProblems(responseValue, routes());
        withProblems.set(responseValue, documented);
      }
      return documented;
    })
    .use(openapi({
      path: '/openapi',
      // The page loads Scalar from jsDelivr: a pinned version, never whatever `latest` is that day, runs
      // on this origin (where /debug keeps an ops token).
      scalar: { version: SCALAR_VERSION },
      documentation: {
        info: {
          title: 'Tickets API',
          version: deps.version ?? '0.0.0',
          description: 'Shows, bookings, the ticket provider\'s webhook, refunds, seat holds, search and VIP bundles. '
            + 'Every error is application/problem+json with a stable `code` (listed per response); a request that changes '
            + 'state takes an `Idempotency-Key`, and a repeat gets the first answer. A path that no route below matches, '
            + 'with any method, is 404 `ROUTE_NOT_FOUND`. This document is `GET /openapi/json`, and its page `GET /openapi` '
            + '(neither needs a token).',
        },
        // The error body, for feature routes to reference as `#/components/schemas/Problem`.
        components: {
          securitySchemes: { [BEARER_SCHEME]: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } },
          schemas: {
            Problem: {
              type: 'object',
              description: `RFC 9457 problem details, sent as ${PROBLEM_CONTENT_TYPE}`,
              required: ['type', 'title', 'status', 'code', 'detail', 'error', 'errors', 'retryable'],
              properties: {
                type: { type: 'string', format: 'uri' },
                title: { type: 'string' },
                status: { type: 'integer' },
                code: { type: 'string', description: 'Stable upper-snake error code, e.g. SOLD_OUT' },
                detail: { type: 'string' },
                error: { type: 'string', description: 'Same as detail (clients of the old system read it)' },
                errors: {
                  type: 'object',
                  description: 'Field-level messages keyed by dotted field path; {} when none',
                  additionalProperties: { type: 'array', items: { type: 'string' } },
                },
                retryable: { type: 'boolean' },
              },
            },
          },
        },
      },
    }))
    .use(healthRoutes({ store, checks: deps.readinessChecks ?? [], logger, ...(deps.isStopping ? { isStopping: deps.isStopping } : {}) }))
    .get('/metrics', async () => new Response(await metrics.exposition(), { headers: { 'content-type': metrics.contentType } }), {
      detail: { summary: 'Prometheus exposition', tags: ['operations'], responses: successResponse(200, 'Metrics in the text exposition format', { contentType: 'text/plain' }) },
    });
  for (const plugin of deps.plugins) app.use(plugin);
  routes = () => app.routes;
  return app;
}
