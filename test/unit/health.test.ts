import { describe, expect, it } from 'bun:test';
import { healthRoutes } from '../../src/http/health';
import { ManualClock } from '../../src/kernel/clock';
import { createLogger } from '../../src/observability/logger';

const never = () => new Promise<never>(() => {});

async function ready(store: Parameters<typeof healthRoutes>[0]['store']) {
  const app = healthRoutes({ store, logger: createLogger({ level: 'silent' }), timeoutMs: 50 });
  const response = await app.handle(new Request('http://localhost/ready'));
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('GET /ready', () => {
  describe('when the store answers but cannot read its migrations in time (its connections all waiting on locks)', () => {
    it('reports the store busy, not the migrations', async () => {
      const answer = await ready({ ping: async () => {}, pendingMigrations: never, unknownMigrations: async () => [] });

      expect(answer.status).toBe(503);
      expect(answer.body).toMatchObject({ code: 'NOT_READY', errors: { store: ['no answer within 50 ms'] } });
      expect(answer.body.errors).not.toHaveProperty('migrations');
    });
  });

  describe('when migrations are pending', () => {
    it('reports the migrations', async () => {
      const answer = await ready({ ping: async () => {}, pendingMigrations: async () => ['0099_next'], unknownMigrations: async () => [] });

      expect(answer.body).toMatchObject({ code: 'NOT_READY', errors: { migrations: ['pending migrations: 0099_next'] } });
    });
  });

  describe('when a check keeps failing while a load balancer probes every few seconds', () => {
    it('logs its failure at most every 10 s, with the probes that failed since, and once when it passes again', async () => {
      const lines: Array<Record<string, unknown>> = [];
      const clock = new ManualClock();
      let redisUp = false;
      const app = healthRoutes({
        store: { ping: async () => {}, pendingMigrations: async () => [], unknownMigrations: async () => [] },
        checks: [{ name: 'bus', check: async () => { if (!redisUp) throw new Error('Redis does not answer'); } }],
        logger: createLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
        clock,
      });
      const probe = async () => (await app.handle(new Request('http://localhost/ready'))).status;
      const logged = () => lines.map((line) => [line.level, line.msg, line.check, line.failures_since_last_log]);

      for (let i = 0; i < 5; i++) {
        expect(await probe()).toBe(503);
        clock.advance(2_000);
      }
      expect(logged()).toEqual([['warn', 'readiness check failed', 'bus', undefined]]);

      expect(await probe()).toBe(503);
      redisUp = true;
      expect(await probe()).toBe(200);
      expect(await probe()).toBe(200);
      expect(logged()).toEqual([
        ['warn', 'readiness check failed', 'bus', undefined],
        ['warn', 'readiness check failed', 'bus', 5],
        ['info', 'readiness check passes again', 'bus', undefined],
      ]);
    });
  });
});
