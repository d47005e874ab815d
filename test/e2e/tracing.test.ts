import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { createAdapters } from '../../src/adapters';
import { startGateway, type RunningGateway } from '../../src/adapters/gateway';
import { systemClock } from '../../src/kernel/clock';
import { randomIds } from '../../src/kernel/ids';
import { call, eventually, startTestService, type TestService } from '../support/service';

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  links?: Array<{ traceId: string; spanId: string }>;
}

const SPAN_KIND = { server: 2, client: 3, producer: 4, consumer: 5 } as const;

/** A minimal OTLP/HTTP (JSON) receiver: what the service exports lands in `spans`. */
function startOtlpReceiver() {
  const spans: ReceivedSpan[] = [];
  const resources: Record<string, unknown>[] = [];
  const server = Bun.serve({
    port: 0,
    async fetch(request) {
      const body = (await request.json()) as {
        resourceSpans?: Array<{ resource?: { attributes?: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans?: Array<{ spans?: ReceivedSpan[] }> }>;
      };
      for (const rs of body.resourceSpans ?? []) {
        resources.push(Object.fromEntries((rs.resource?.attributes ?? []).map((a) => [a.key, a.value.stringValue])));
        for (const ss of rs.scopeSpans ?? []) spans.push(...(ss.spans ?? []));
      }
      return Response.json({});
    },
  });
  return { url: `http://localhost:${server.port}`, spans, resources, stop: () => server.stop(true) };
}

describe('tracing across every hop', () => {
  let receiver: ReturnType<typeof startOtlpReceiver>;
  let gateway: RunningGateway;
  let t: TestService;

  beforeAll(async () => {
    receiver = startOtlpReceiver();
    gateway = startGateway({ port: 0 });
    t = await startTestService('embedded', {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
      services: createAdapters({ gatewayAddr: gateway.url, clock: systemClock, ids: randomIds }),
    });
  });
  afterAll(async () => {
    await gateway.stop(false);
    receiver.stop();
  });

  it('makes one trace of webhook → actor → handler → external call → reply → next transition → its fact', async () => {
    const incoming = `00-${'ab'.repeat(16)}-${'cd'.repeat(8)}-01`;
    const ticketId = crypto.randomUUID();
    const sent = await call(t.url, 'POST', '/api/tickets-status', {
      tickets: [{ ticket_id: ticketId, booking_id: '', status: 'confirmed', price: { amount: '9.99', currency: 'EUR' }, customer_email: 'trace@example.com' }],
    }, { 'Idempotency-Key': crypto.randomUUID(), traceparent: incoming });
    expect(sent.status).toBe(200);
    const traceId = sent.headers.get('x-trace-id');
    expect(traceId).toBe('ab'.repeat(16));
    // A caller's unsampled trace is continued unsampled: nothing of it is exported, the outbox's batch included.
    const unsampledTrace = 'ef'.repeat(16);
    const quietTicket = crypto.randomUUID();
    expect((await call(t.url, 'POST', '/api/tickets-status', {
      tickets: [{ ticket_id: quietTicket, booking_id: '', status: 'confirmed', price: { amount: '9.99', currency: 'EUR' }, customer_email: 'quiet@example.com' }],
    }, { 'Idempotency-Key': crypto.randomUUID(), traceparent: `00-${unsampledTrace}-${'cd'.repeat(8)}-00` })).status).toBe(200);
    await eventually(async () => expect((await t.service.runtime.get(`ticket/${ticketId}`))?.context.receiptNumber).not.toBeNull(), 15_000);
    await eventually(async () => expect((await t.service.runtime.get(`ticket/${quietTicket}`))?.context.receiptNumber).not.toBeNull(), 15_000);
    const [issued] = await t.service.store.query<{ metadata: string }>("SELECT metadata FROM messages WHERE actor = $1 AND name = 'TicketReceiptIssued_v1'", [`ticket/${ticketId}`]);
    await t.close();

    const inTrace = receiver.spans.filter((s) => s.traceId === traceId);
    const one = (predicate: (s: ReceivedSpan) => boolean, what: string) => {
      const found = inTrace.filter(predicate);
      if (found.length !== 1) throw new Error(`expected one ${what}, found ${found.length}: ${inTrace.map((s) => s.name).join(', ')}`);
      return found[0]!;
    };
    const server = one((s) => s.kind === SPAN_KIND.server, 'server span');
    expect(server.parentSpanId).toBe('cd'.repeat(8));
    const confirm = one((s) => s.name === 'actor ticket ticket.confirm', 'confirm transition');
    expect(confirm.parentSpanId).toBe(server.spanId);
    expect(one((s) => s.name === 'store commit' && s.parentSpanId === confirm.spanId, 'its commit')).toBeDefined();
    const receiptHandler = one((s) => s.kind === SPAN_KIND.consumer && s.name.startsWith('issueReceipt'), 'receipt handler');
    expect(receiptHandler.parentSpanId).toBe(confirm.spanId);
    const receiptCall = one((s) => s.kind === SPAN_KIND.client && s.name === 'receipts issueReceipt', 'receipts call');
    expect(receiptCall.parentSpanId).toBe(receiptHandler.spanId);
    const gatewayCall = gateway.simulators.calls({ service: 'receipts' }).find((c) => (c.request as { ticket_id: string }).ticket_id === ticketId);
    expect(gatewayCall?.traceparent).toBe(`00-${traceId}-${receiptCall.spanId}-01`);
    const replied = one((s) => s.name === 'actor ticket receipts.issued', 'reply transition');
    expect(replied.parentSpanId).toBe(receiptHandler.spanId);
    // The reply's fact carries the reply transition's span, which the handlers of that fact continue.
    expect((JSON.parse(issued!.metadata) as { traceparent: string }).traceparent).toBe(`00-${traceId}-${replied.spanId}-01`);
    const publish = receiver.spans.filter((s) => s.kind === SPAN_KIND.producer && s.name === 'outbox publish' && (s.links ?? []).some((l) => l.traceId === traceId));
    expect(publish.length).toBeGreaterThan(0);
    // Every span says which instance and release made it.
    expect(receiver.resources.length).toBeGreaterThan(0);
    for (const resource of receiver.resources) expect(resource).toMatchObject({ 'service.name': 'tickets', 'service.instance.id': expect.any(String), 'service.version': expect.stringMatching(/^\d+\.\d+\.\d+/) });
    expect(receiver.spans.filter((s) => s.traceId === unsampledTrace || (s.links ?? []).some((l) => l.traceId === unsampledTrace))).toEqual([]);
  }, 60_000);
});
