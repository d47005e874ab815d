import {
  context,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, TracerProvider, type SpanProcessor } from '@opentelemetry/sdk-trace';

export interface TracingOptions {
  serviceName: string;
  /** OTLP/HTTP base endpoint (`OTEL_EXPORTER_OTLP_ENDPOINT`); spans are only exported when set. */
  otlpEndpoint?: string | undefined;
  /** Extra processors, e.g. a SimpleSpanProcessor over an InMemorySpanExporter in tests. */
  spanProcessors?: SpanProcessor[];
}

export interface SpanOptions {
  kind?: SpanKind;
  /** Continue this W3C `traceparent` (e.g. from a message's metadata) instead of the active context. */
  traceparent?: string | undefined;
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
  /** Exports what is buffered and stops exporting. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();

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
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': options.serviceName }),
    spanProcessors: processors,
  });
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(propagator);
  trace.setGlobalTracerProvider(provider);
  const tracer = provider.getTracer(options.serviceName);

  return {
    tracer,
    withSpan(name, attributes, fn, spanOptions = {}) {
      const parent = spanOptions.traceparent === undefined
        ? context.active()
        : propagator.extract(ROOT_CONTEXT, { traceparent: spanOptions.traceparent }, recordGetter);
      return tracer.startActiveSpan(name, { attributes, kind: spanOptions.kind ?? SpanKind.INTERNAL }, parent, async (span) => {
        try {
          return await fn(span);
        } catch (error) {
          recordError(span, error);
          throw error;
        } finally {
          span.end();
        }
      });
    },
    currentTraceparent() {
      const span = trace.getActiveSpan();
      return span === undefined ? undefined : traceparentOf(span.spanContext());
    },
    extract(headers) {
      const value = headers instanceof Headers ? headers.get('traceparent') : headers.traceparent;
      if (value === null || value === undefined) return ROOT_CONTEXT;
      return propagator.extract(ROOT_CONTEXT, { traceparent: value }, recordGetter);
    },
    traceparentOf,
    async shutdown() {
      const global = trace.getTracerProvider();
      if (global instanceof ProxyTracerProvider && global.getDelegate() === provider) trace.disable();
      await provider.shutdown();
    },
  };
}

/** Marks a span failed with the error that ended it. */
export function recordError(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

function traceparentOf(spanContext: SpanContext): string {
  const flags = (spanContext.traceFlags & 0xff).toString(16).padStart(2, '0');
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

function tracesUrl(endpoint: string): string {
  const base = endpoint.replace(/\/+$/, '');
  return base.endsWith('/v1/traces') ? base : `${base}/v1/traces`;
}

const recordGetter = {
  get: (carrier: Record<string, string>, key: string) => carrier[key],
  keys: (carrier: Record<string, string>) => Object.keys(carrier),
};
