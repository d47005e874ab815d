import { describe, expect, it } from 'bun:test';
import { Registry } from 'prom-client';
import { createDomainMetrics } from '../../src/observability/domainMetrics';

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
});
