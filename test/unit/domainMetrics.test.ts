import { describe, expect, it } from 'bun:test';
import { Registry } from 'prom-client';
import { createDomainMetrics } from '../../src/observability/domainMetrics';
import { SCRAPE_QUERY_TIMEOUT_MS } from '../../src/observability/metrics';

describe('domain metrics', () => {
  it('still answers a scrape while the database is away, keeping the last timers_overdue', async () => {
    const registry = new Registry();
    let overdue: () => Promise<number> = async () => 3;
    createDomainMetrics(registry, () => overdue());
    expect(await registry.metrics()).toMatch(/^timers_overdue 3$/m);
    overdue = async () => {
      throw new Error('Failed to connect');
    };
    expect(await registry.metrics()).toMatch(/^timers_overdue 3$/m);
  });

  it('answers a scrape within a second or so while the database hangs, keeping the last timers_overdue', async () => {
    const registry = new Registry();
    let overdue: () => Promise<number> = async () => 2;
    createDomainMetrics(registry, () => overdue());
    await registry.metrics();
    overdue = () => new Promise<number>(() => undefined);
    const startedAt = performance.now();
    const text = await registry.metrics();
    expect(performance.now() - startedAt).toBeLessThan(SCRAPE_QUERY_TIMEOUT_MS + 500);
    expect(text).toMatch(/^timers_overdue 2$/m);
  });
});

describe('business metrics', () => {
  const fact = (name: string, data: Record<string, unknown> = {}) => ({ name, data }) as never;

  it('counts a bought hold as a booking, like one of book-tickets', async () => {
    const registry = new Registry();
    const metrics = createDomainMetrics(registry, async () => 0);
    metrics.observeCommitted([fact('BookingMade_v1'), fact('TicketsSold_v1'), fact('TicketsSold_v1')]);
    expect(await registry.metrics()).toMatch(/^bookings_total 3$/m);
  });

  it('adds revenue in minor units, so that the total has no rounding error', async () => {
    const registry = new Registry();
    const metrics = createDomainMetrics(registry, async () => 0);
    for (let i = 0; i < 3; i++) {
      metrics.observeCommitted([
        fact('TicketBookingConfirmed_v1', { price: { amount: '50.30', currency: 'GBP' } }),
        fact('TicketBookingConfirmed_v1', { price: { amount: '10.00', currency: 'GBP' } }),
      ]);
    }
    expect(await registry.metrics()).toMatch(/^revenue_total\{currency="GBP"\} 180\.9$/m);
  });

  it('adds the price of refunded tickets apart, so that net revenue is revenue_total minus refunded_revenue_total', async () => {
    const registry = new Registry();
    const metrics = createDomainMetrics(registry, async () => 0);
    metrics.observeCommitted([
      fact('TicketBookingConfirmed_v1', { price: { amount: '50.30', currency: 'GBP' } }),
      fact('TicketBookingConfirmed_v1', { price: { amount: '10.10', currency: 'GBP' } }),
      fact('TicketRefunded_v1', { price: { amount: '50.30', currency: 'GBP' } }),
      fact('TicketRefunded_v1', { price: { amount: '0.00', currency: 'XXX' } }),
    ]);
    const text = await registry.metrics();
    expect(text).toMatch(/^revenue_total\{currency="GBP"\} 60\.4$/m);
    expect(text).toMatch(/^refunded_revenue_total\{currency="GBP"\} 50\.3$/m);
    expect(text).toMatch(/^refunded_revenue_total\{currency="XXX"\} 0$/m);
    expect(text).toMatch(/^tickets_refunded_total 2$/m);
  });
});
