import { describe, expect, it } from 'bun:test';
import { Elysia } from 'elysia';
import { createRateLimit } from '../../src/http/rateLimit';
import { ManualClock } from '../../src/kernel/clock';
import { createLogger } from '../../src/observability/logger';

describe('the rate limit', () => {
  describe('when its counter store keeps failing (Redis down)', () => {
    it('lets every request through and logs it at most once a minute, with how many went unlimited since', async () => {
      const lines: Array<Record<string, unknown>> = [];
      const clock = new ManualClock();
      const rateLimit = createRateLimit({
        rules: { auth: { limit: 1, windowMs: 60_000 }, holds: { limit: 1, windowMs: 60_000 } },
        counter: { increment: () => Promise.reject(new Error('Redis does not answer')), close: async () => {} },
        clock,
        userOf: () => undefined,
        trustedProxyHops: 0,
        logger: createLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
      });
      const app = new Elysia().use(rateLimit).post('/login', () => 'ok', { rateLimit: 'auth' });
      const login = async () => (await app.handle(new Request('http://localhost/login', { method: 'POST' }))).status;

      for (let i = 0; i < 4; i++) {
        expect(await login()).toBe(200);
        clock.advance(20_000);
      }
      expect(await login()).toBe(200);
      clock.advance(40_000);
      expect(await login()).toBe(200);

      expect(lines.map((line) => [line.level, line.msg, line.unlimited_since_last_log])).toEqual([
        ['warn', 'rate limit store unavailable; requests are not limited', 1],
        ['warn', 'rate limit store unavailable; requests are not limited', 3],
        ['warn', 'rate limit store unavailable; requests are not limited', 2],
      ]);
    });
  });
});
