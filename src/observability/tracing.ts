import {
  context,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { setGlobalErrorHandler, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  SamplingDecision,
  TracerProvider,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { withTimeout } from '../kernel/timeout';
import { activeTraceparent, inSpan, ROUTINE_SPAN_ATTRIBUTE, traceparentOf, type SpanOptions } from '../kernel/tracing';

export { recordError } from '../kernel/tracing';

export interface TracingOptions {
  serviceName: string;
  /** `service.instance.id` and `service.version` of every span's resource, to tell instances and releases apart. */
  instanceId?: string;
  version?: string;
  /** OTLP/HTTP base endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`); spans are only exported when set. */
  otlpEndpoint?: string | undefined;
  /** Extra processors, e.g. a SimpleSpanProcessor over an InMemorySpanExporter in tests. */
  spanProcessors?: SpanProcessor[];
  /** Told when spans cannot be exported (the collector is down), also at shutdown: traces are never worth failing for. */
  onExportError?: (error: unknown) => void;
}

/** Hand-written tracing: auto-instrumentation does not work on Bun, so spans are started explicitly. */
export interface Tracing {
  readonly tracer: Tracer;
  /**
   * Runs `fn` inside a new active span (child of the active one, or of `options.traceparent`), records
   * a thrown error on it and ends it when `fn` settles.
   */
  withSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => T | Promise<T>, options?: SpanOptions): Promise<T>;
  /** The W3C `traceparent` of the active span, to put into messages and outgoing calls; undefined outside a span. */
  currentTraceparent(): string | undefined;
  /** The context that continues the `traceparent` header in `headers` (the root context when absent or invalid). */
  extract(headers: Headers | Record<string, string | undefined>): Context;
  /** The `traceparent` of a span context. */
  traceparentOf(spanContext: SpanContext): string;
  /** Exports what is buffered and stops exporting; an export that fails is reported, never thrown. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();

/** The root sampler while spans are exported: every trace the service starts, but a routine one. */
const recordingAllButRoutine: Sampler = {
  shouldSample: (_context, _traceId, _name, _kind, attributes) =>
    ({ decision: attributes[ROUTINE_SPAN_ATTRIBUTE] === true ? SamplingDecision.NOT_RECORD : SamplingDecision.RECORD_AND_SAMPLED }),
  toString: () => 'AllButRoutine',
};

/** How long a shutdown waits for the last spans to be exported. */
const SHUTDOWN_FLUSH_MS = 2000;

/**
 * Creates the tracer provider. The AsyncLocalStorage context manager and the W3C propagator are
 * registered globally when no other is (they are process-wide by nature; a second call reuses them),
 * and so is the provider, so that libraries using `trace.getTracer` join the same traces.
 * Export is batched in the background and never delays a request.
 */
export function createTracing(options: TracingOptions): Tracing {
  const processors: SpanProcessor[] = [...(options.spanProcessors ?? [])];
  if (options.otlpEndpoint) {
    processors.push(new BatchSpanProcessor({ exporter: new OTLPTraceExporter({ url: tracesUrl(options.otlpEndpoint) }) }));
  }
  // The SDK reports failed exports to its global error handler, which by default only tells its own diag logger.
  // Exports run on a timer inside whatever context was active when it was set: the report is made
  // outside it, so that its log line does not carry the ids of an unrelated request.
  const onExportError = options.onExportError ?? (() => undefined);
  const reportExportError = (error: unknown) => context.with(ROOT_CONTEXT, () => onExportError(error));
  if (options.otlpEndpoint) setGlobalErrorHandler(reportExportError);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': options.serviceName,
      ...(options.instanceId === undefined ? {} : { 'service.instance.id': options.instanceId }),
      ...(options.version === undefined ? {} : { 'service.version': options.version }),
    }),
    spanProcessors: processors,
    // With nowhere to send spans, the traces this service starts are not recorded: their spans still
    // carry ids (X-Trace-ID, the journal, messages' traceparent) but cost next to nothing. Nor are
    // routine ones (ROUTINE_SPAN_ATTRIBUTE). A caller's sampled trace is still recorded and continued
    // as sampled.
    sampler: new ParentBasedSampler({ root: processors.length === 0 ? new AlwaysOffSampler() : recordingAllButRoutine }),
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(propagator);
  trace.setGlobalTracerProvider(provider);
  const tracer = provider.getTracer(options.serviceName);

  return {
    tracer,
    withSpan: (name, attributes, fn, spanOptions = {}) => inSpan(name, attributes, fn, spanOptions),
    currentTraceparent: activeTraceparent,
    extract(headers) {
      const value = headers instanceof Headers ? headers.get('traceparent') : headers.traceparent;
      if (value === null || value === undefined) return ROOT_CONTEXT;
      return propagator.extract(ROOT_CONTEXT, { traceparent: value }, recordGetter);
    },
    traceparentOf,
    async shutdown() {
      const global = trace.getTracerProvider();
      if (global instanceof ProxyTracerProvider && global.getDelegate() === provider) trace.disable();
      // The exporter retries a collector that does not answer for up to its own 10 s: a stop waits less.
      try {
        await withTimeout(provider.shutdown(), SHUTDOWN_FLUSH_MS, () => new Error(`traces not flushed within ${SHUTDOWN_FLUSH_MS} ms`));
      } catch (error) {
        reportExportError(error);
      }
    },
  };
}



function tracesUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, '');
  return base.endsWith('/v1/traces') ? base : `${base}/v1/traces`;
}

const recordGetter = {
  get: (carrier: Record<string, string>, key: string) => carrier[key],
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
};
