import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { createLogger } from '../../src/observability/logger';
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

describe('GET /ready of the service (embedded) when the disk is full', () => {
  let t: TestService;
  const warnings: string[] = [];

  beforeAll(async () => {
    t = await startTestService('embedded', { logger: createLogger({ level: 'warn', write: (line) => warnings.push(line) }) });
  });
  afterAll(async () => {
    await t.close();
  });

  it('answers writes with 503 STORE_UNAVAILABLE and Retry-After, and reports the store not ready', async () => {
    expect((await call(t.url, 'GET', '/ready')).status).toBe(200);
    // The database may not grow past its size now: what SQLite answers on a full disk.
    const [size] = await t.service.store.query<{ page_count: number }>('PRAGMA page_count');
    await t.service.store.execute(`PRAGMA max_page_count = ${size!.page_count}`);
    let refused: Awaited<ReturnType<typeof call>> | undefined;
    // The first shows may still fit in the pages there are.
    for (let i = 0; i < 200 && refused === undefined; i++) {
      const created = await call(t.url, 'POST', '/api/shows', {
        dead_nation_id: crypto.randomUUID(), number_of_tickets: 10, start_time: '2099-06-01T20:00:00Z', title: 'Full', venue: 'Disk',
      });
      if (created.status !== 201) refused = created;
    }
    expect(refused?.status).toBe(503);
    expect(refused?.json).toMatchObject({ code: 'STORE_UNAVAILABLE', retryable: true });
    expect(refused?.headers.get('retry-after')).toBe('1');
    const ready = await call(t.url, 'GET', '/ready');
    expect(ready.status).toBe(503);
    expect(ready.json).toMatchObject({ code: 'NOT_READY', errors: { store: ['unavailable'] } });
    const logged = warnings.map((line) => JSON.parse(line)).find((line) => line.msg === 'readiness check failed' && line.check === 'store');
    expect(logged?.err.message).toMatch(/^disk full or I\/O error \d+ s ago: database or disk is full$/);
  });
});
