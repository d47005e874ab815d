import { afterEach, describe, expect, it } from 'bun:test';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { context, SpanStatusCode } from '@opentelemetry/api';
import { globalErrorHandler } from '@opentelemetry/core';
import { AppError } from '../../src/kernel/errors';
import { CORRELATION_ID_KEY } from '../../src/observability/logger';
import { createTracing, type Tracing } from '../../src/observability/tracing';

const CALLER = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`;

describe('tracing', () => {
  let tracing: Tracing | undefined;
  afterEach(async () => {
    await tracing?.shutdown();
    tracing = undefined;
  });

  describe('when spans go nowhere (no exporter, no processor)', () => {
    it('records none of the traces it starts, yet gives their spans ids and an unsampled traceparent', async () => {
      tracing = createTracing({ serviceName: 'test' });
      const seen = await tracing.withSpan('root', {}, (span) => ({ recording: span.isRecording(), traceparent: tracing?.currentTraceparent() }));
      expect(seen.recording).toBe(false);
      expect(seen.traceparent).toMatch(/^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-00$/);
    });

    it('records and continues a trace its caller sampled', async () => {
      tracing = createTracing({ serviceName: 'test' });
      const seen = await tracing.withSpan('child', {}, (span) => ({ recording: span.isRecording(), traceparent: tracing?.currentTraceparent() }), { traceparent: CALLER });
      expect(seen.recording).toBe(true);
      expect(seen.traceparent).toMatch(new RegExp(`^00-${'ab'.repeat(16)}-[0-9a-f]{16}-01$`));
    });
  });

  describe('when spans cannot be exported', () => {
    it("reports the failure outside whatever request was active, so that its log line carries no request's ids", async () => {
      const seen: unknown[] = [];
      tracing = createTracing({ serviceName: 'test', otlpEndpoint: 'http://127.0.0.1:9', onExportError: () => seen.push(context.active().getValue(CORRELATION_ID_KEY) ?? 'none') });
      await context.with(context.active().setValue(CORRELATION_ID_KEY, 'some-request'), async () => {
        globalErrorHandler(new Error('export failed'));
      });
      expect(seen).toEqual(['none']);
    });
  });

  describe('when spans are exported', () => {
    it('records the traces it starts', async () => {
      const exporter = new InMemorySpanExporter();
      tracing = createTracing({ serviceName: 'test', spanProcessors: [new SimpleSpanProcessor({ exporter })] });
      const traceparent = await tracing.withSpan('root', {}, () => tracing?.currentTraceparent());
      expect(traceparent).toMatch(/-01$/);
      expect(exporter.getFinishedSpans().map((span) => span.name)).toEqual(['root']);
    });

    it('marks a span ERROR when its work fails (a retryable 409 too), but not when it was refused (a 4xx AppError): that is an outcome, noted as an event', async () => {
      const exporter = new InMemorySpanExporter();
      tracing = createTracing({ serviceName: 'test', spanProcessors: [new SimpleSpanProcessor({ exporter })] });
      const run = (name: string, error: Error) => tracing!.withSpan(name, {}, () => Promise.reject(error)).catch(() => undefined);
      await run('refused', new AppError({ code: 'SOLD_OUT', status: 400, detail: 'not enough seats available' }));
      await run('unavailable', new AppError({ code: 'STORE_UNAVAILABLE', status: 503, detail: 'down' }));
      await run('locked', new AppError({ code: 'CONCURRENT_UPDATE', status: 409, detail: 'locked', retryable: true }));
      await run('broken', new Error('boom'));

      const span = (name: string) => exporter.getFinishedSpans().find((s) => s.name === name)!;
      expect(span('refused').status.code).toBe(SpanStatusCode.UNSET);
      expect(span('refused').events.map((e) => [e.name, e.attributes])).toEqual([['refused', { 'refusal.code': 'SOLD_OUT', 'refusal.detail': 'not enough seats available' }]]);
      expect(span('unavailable').status.code).toBe(SpanStatusCode.ERROR);
      expect(span('locked').status.code).toBe(SpanStatusCode.ERROR);
      expect(span('broken').status).toEqual({ code: SpanStatusCode.ERROR, message: 'boom' });
    });

    it('reports spans it cannot export, and still shuts down, when the collector is down', async () => {
      const closed = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
      const endpoint = `http://127.0.0.1:${closed.port}`;
      closed.stop(true);
      const errors: unknown[] = [];
      tracing = createTracing({ serviceName: 'test', otlpEndpoint: endpoint, onExportError: (error) => errors.push(error) });
      await tracing.withSpan('root', {}, () => undefined);
      await tracing.shutdown();
      tracing = undefined;
      expect(errors.length).toBeGreaterThan(0);
    });
  });
});
