import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Link,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';
import { AppError } from './errors';

/**
 * Spans, written by hand (auto-instrumentation does not work on Bun), on the vendor-neutral
 * OpenTelemetry API: without a registered SDK every call is a no-op, so any layer may trace.
 * src/observability registers the SDK and the W3C propagator at start-up.
 */
export interface SpanOptions {
  kind?: SpanKind;
  /** Continue this W3C `traceparent` (a message's, a timer's) instead of the active context. */
  traceparent?: string | undefined;
  /** Traces this span relates to without being their child (a timer links to what scheduled it). */
  links?: readonly (string | undefined)[];
}

/**
 * Set on a span when it is started to say that it is routine (a liveness or readiness probe, a metrics
 * scrape): the tracer provider records it only when it continues a sampled trace, so that probes every
 * few seconds on every instance do not fill the trace store.
 */
export const ROUTINE_SPAN_ATTRIBUTE = 'tickets.routine';

const TRACER = 'tickets';
const getter = { keys: (carrier: Record<string, string>) => Object.keys(carrier), get: (carrier: Record<string, string>, key: string) => carrier[key] };

/** The span context a `traceparent` header carries, or undefined when it is not a valid one. */
export function spanContextOf(traceparent: string | undefined): SpanContext | undefined {
  if (!traceparent) return undefined;
  const ctx = propagation.extract(ROOT_CONTEXT, { traceparent }, getter);
  return trace.getSpanContext(ctx);
}

/** The W3C `traceparent` of a span context. */
export function traceparentOf(spanContext: SpanContext): string {
  return `00-${spanContext.traceId}-${spanContext.spanId}-${(spanContext.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The `traceparent` of the active span, or undefined outside any span. */
export function activeTraceparent(): string | undefined {
  const span = trace.getActiveSpan();
  return span && span.spanContext().traceId !== '00000000000000000000000000000000' ? traceparentOf(span.spanContext()) : undefined;
}

/** Marks a span failed with the error that ended it. */
export function recordError(span: Span, error: unknown): void {
  span.recordException(error instanceof Error ? error : String(error));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
}

/**
 * Runs `fn` in a new active span: a child of `options.traceparent` when given, else of the active
 * span. A thrown error is recorded on the span (a 4xx AppError as a `refused` event, the span's status
 * left unset); the span ends when `fn` settles.
 */
export function inSpan<T>(name: string, attributes: Attributes, fn: (span: Span) => T | Promise<T>, options: SpanOptions = {}): Promise<T> {
  const parentContext = spanContextOf(options.traceparent);
  const parent = parentContext ? trace.setSpanContext(ROOT_CONTEXT, parentContext) : context.active();
  const links: Link[] = (options.links ?? []).flatMap((tp) => {
    const linked = spanContextOf(tp);
    return linked ? [{ context: linked }] : [];
  });
  return trace.getTracer(TRACER).startActiveSpan(name, { attributes, kind: options.kind ?? SpanKind.INTERNAL, links }, parent, async (span) => {
    try {
      return await fn(span);
    } catch (error) {
      // A refusal (sold out, not allowed in this state, not found) is an outcome, not a failure of
      // the span's work: error alerts must not fire on the normal path of a purchase. A retryable 4xx
      // (a race lost too often, a row locked for seconds) is a failure to look at.
      if (error instanceof AppError && error.status < 500 && !error.retryable) {
        span.addEvent('refused', { 'refusal.code': error.code, 'refusal.detail': error.detail });
      } else {
        recordError(span, error);
      }
      throw error;
    } finally {
      span.end();
    }
  });
}

export { SpanKind };
