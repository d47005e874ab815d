import { describe, expect, it } from 'bun:test';
import { mintToken } from '../support/auth';
import { call, startTestService } from '../support/service';
import { startTcpProxy } from '../support/tcpProxy';
import { createLogger } from '../../src/observability/logger';

describe('a graceful stop', () => {
  it('ends the debugger\'s open event streams at once instead of waiting out SHUTDOWN_TIMEOUT_MS for them', async () => {
    const t = await startTestService('embedded', { env: { SHUTDOWN_TIMEOUT_MS: '5000' } });
    const ops = mintToken({ role: 'ops' });
    const venue = await call(t.url, 'POST', '/api/venues', { name: 'Hall', location: 'Dublin' }, { authorization: `Bearer ${ops}` });
    const stream = await fetch(`${t.url}/api/actors/${encodeURIComponent(`venue/${venue.json.venue_id}`)}/events?access_token=${ops}`);
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    const reader = stream.body!.getReader();
    expect(new TextDecoder().decode((await reader.read()).value)).toStartWith('event: ready');

    const startedAt = performance.now();
    await t.close();
    expect(performance.now() - startedAt).toBeLessThan(2_000);
    // The stream was ended by the server, not cut.
    let done = false;
    while (!done) done = (await reader.read()).done;
  });
});

describe('a graceful stop while the network to PostgreSQL is partitioned', () => {
  it('ends within its shutdown timeout and a few seconds, not when the lost statements would fail', async () => {
    const first = await startTestService('distributed');
    const url = new URL(first.shared!.postgresUrl);
    const proxy = startTcpProxy(`${url.hostname}:${url.port || '5432'}`);
    const warnings: string[] = [];
    try {
      const second = await startTestService('distributed', {
        joining: first,
        env: { POSTGRES_URL: first.shared!.postgresUrl.replace(url.host, proxy.address), SHUTDOWN_TIMEOUT_MS: '1000' },
        logger: createLogger({ level: 'warn', write: (line) => warnings.push(line) }),
      });
      const ops = { authorization: `Bearer ${mintToken({ role: 'ops' })}` };
      expect((await call(second.url, 'POST', '/api/venues', { name: 'Hall', location: 'Dublin' }, ops)).status).toBe(201);
      proxy.partition();
      // A request and the service's own loops (timers every 20 ms) now wait on statements that get no answer.
      const stuck = fetch(`${second.url}/api/venues`, { method: 'POST', headers: { 'content-type': 'application/json', ...ops }, body: JSON.stringify({ name: 'Cellar', location: 'Cork' }) }).catch(() => undefined);
      await Bun.sleep(500);
      const startedAt = performance.now();
      await second.close();
      // The shutdown timeout (1 s), then at most STOP_PARTS_MS (2 s) for the parts, and their last retries.
      expect(performance.now() - startedAt).toBeLessThan(6_000);
      await stuck;
      expect(warnings.map((line) => JSON.parse(line).msg)).toContain('the parts of the service did not stop in time: the database connections are closed, failing what waits on them');
    } finally {
      proxy.heal();
      proxy.cut();
      await first.close();
    }
  });
});
