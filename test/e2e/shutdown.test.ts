import { describe, expect, it } from 'bun:test';
import { mintToken } from '../support/auth';
import { call, startTestService } from '../support/service';

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
