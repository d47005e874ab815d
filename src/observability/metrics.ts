import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { withTimeout } from '../kernel/timeout';

/** One finished HTTP request, as counted by the HTTP metrics. */
export interface HttpObservation {
  method: string;
  /** The route template (`/api/shows/:id`), or `unmatched` when no route matched. */
  route: string;
  status: number;
  durationSeconds: number;
}

/**
 * The service's Prometheus metrics. It owns its registry (never prom-client's global one); other modules
 * register their own metrics on `registry` so that `GET /metrics` exposes them all.
 */
export interface Metrics {
  readonly registry: Registry;
  observeHttpRequest(observation: HttpObservation): void;
  /** The text exposition of every metric in the registry. */
  exposition(): Promise<string>;
  /** The content type of `exposition()`. */
  readonly contentType: string;
}

/** Route label for requests that matched no route, so unknown paths cannot blow up label cardinality. */
export const UNMATCHED_ROUTE = 'unmatched';

/**
 * How long a gauge may wait for the database while a scrape collects it: a hung database must not make
 * the whole scrape time out (Prometheus would see the instance down and lose every series). Past it
 * the gauge keeps its last value.
 */
export const SCRAPE_QUERY_TIMEOUT_MS = 1_000;

/** `query` for a gauge's collect, given up after SCRAPE_QUERY_TIMEOUT_MS. */
export const forScrape = <T>(query: Promise<T>): Promise<T> =>
  withTimeout(query, SCRAPE_QUERY_TIMEOUT_MS, () => new Error(`no answer within ${SCRAPE_QUERY_TIMEOUT_MS} ms`));

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** Creates a registry with the process default metrics and the HTTP request counter and histogram. */
export function createMetrics(): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const requests = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from request to response headers, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });

  return {
    registry,
    contentType: registry.contentType,
    observeHttpRequest({ method, route, status, durationSeconds }) {
      const labels = { method: KNOWN_METHODS.has(method) ? method : 'OTHER', route, status: String(status) };
      requests.inc(labels);
      duration.observe(labels, durationSeconds);
    },
    exposition: () => registry.metrics(),
  };
}
