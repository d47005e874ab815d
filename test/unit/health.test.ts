import { describe, expect, it } from 'bun:test';
import { healthRoutes } from '../../src/http/health';
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
});
