import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { call, eventually, MODES, startTestService, type TestService } from '../support/service';

/** The value of one series in a Prometheus exposition (0 when absent). */
function valueOf(exposition: string, series: string): number {
  const line = exposition.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('metrics after a booking and a ticket flow', () => {
  let t: TestService;
  beforeAll(async () => {
    t = await startTestService('embedded', { clockAt: '2030-01-01T00:00:00.000Z' });
  });
  afterAll(async () => {
    await t.close();
  });

  it('moves the HTTP, actor, outbox, handler and business series', async () => {
    const scrape = async () => (await call(t.url, 'GET', '/metrics')).text;
    const before = await scrape();
    const show = await call(t.url, 'POST', '/api/shows', { dead_nation_id: 'dn-metrics', number_of_tickets: 1, start_time: '2030-06-01T20:00:00Z', title: 'M', venue: 'V' });
    await call(t.url, 'POST', '/api/book-tickets', { show_id: show.json.show_id, number_of_tickets: 1, customer_email: 'm@example.com' });
    await call(t.url, 'POST', '/api/book-tickets', { show_id: show.json.show_id, number_of_tickets: 1, customer_email: 'm@example.com' });
    await call(t.url, 'POST', '/api/tickets-status', {
      tickets: [{ ticket_id: crypto.randomUUID(), booking_id: '', status: 'confirmed', price: { amount: '50.30', currency: 'GBP' }, customer_email: 'm@example.com' }],
    }, { 'Idempotency-Key': 'metrics-1' });

    await eventually(async () => {
      const after = await scrape();
      expect(valueOf(after, 'http_requests_total{method="POST",route="/api/book-tickets",status="201"}')).toBe(1);
      expect(valueOf(after, 'http_requests_total{method="POST",route="/api/book-tickets",status="400"}')).toBe(1);
      // A route at its plugin's prefix is labelled as clients call it, without a trailing slash.
      expect(valueOf(after, 'http_requests_total{method="POST",route="/api/shows",status="201"}')).toBe(1);
      expect(after).not.toContain('route="/api/shows/"');
      expect(valueOf(after, 'actor_commands_total{kind="booking",outcome="accepted"}')).toBeGreaterThanOrEqual(1);
      expect(valueOf(after, 'actor_commands_total{kind="booking",outcome="rejected"}')).toBe(1);
      expect(valueOf(after, 'bookings_total')).toBe(valueOf(before, 'bookings_total') + 1);
      expect(valueOf(after, 'tickets_sold_total')).toBe(1);
      expect(valueOf(after, 'revenue_total{currency="GBP"}')).toBeCloseTo(50.3);
      expect(valueOf(after, 'outbox_published_total{source="relay"}')).toBeGreaterThan(0);
      expect(valueOf(after, 'handler_duration_seconds_count{handler="issueReceipt"}')).toBe(1);
      expect(valueOf(after, 'outbox_depth')).toBe(0);
      expect(after).toMatch(/^timers_overdue 0$/m);
      expect(after).toMatch(/^consumer_lag\{/m);
    });
  });
});

for (const mode of MODES) {
  describe(`metrics of an instance (${mode})`, () => {
    let t: TestService;
    beforeAll(async () => {
      t = await startTestService(mode);
    });
    afterAll(async () => {
      await t.close();
    });

    // Embedded too: a lost or deleted DATA_DIR/bus.db loses what it held, as Redis can.
    it('has the delivery audit running: its series, and its checkpoint at the head of the log', async () => {
      expect((await call(t.url, 'GET', '/metrics')).text).toMatch(/^delivery_audit_recovered_total 0$/m);
      await eventually(async () => expect((await t.service.store.query("SELECT name FROM checkpoints WHERE name = 'delivery-audit'")).length).toBe(1));
    });
  });
}
