import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { MODES, call, startTestService, type TestService } from '../support/service';

for (const mode of MODES) {
  describe(`GET /ready of the service (${mode})`, () => {
    let t: TestService;

    beforeAll(async () => {
      t = await startTestService(mode);
    });
    afterAll(async () => {
      await t.close();
    });

    it('checks the store, its migrations, the bus and the outbox (API.md)', async () => {
      const ready = await call(t.url, 'GET', '/ready');
      expect(ready.status).toBe(200);
      expect(ready.json).toMatchObject({ status: 'ready', checks: { store: 'ok', migrations: 'ok', bus: 'ok', outbox: 'ok' } });
    });
  });
}
