import { afterAll, describe, expect, it } from 'bun:test';
import { healthcheck } from '../../src/cli/healthcheck';

describe('tickets healthcheck', () => {
  const server = Bun.serve({
    port: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      if (path === '/ready') {
        // As the service answers while its database hangs: after its own 2 s check.
        await Bun.sleep(2_100);
        return Response.json({ status: 503, code: 'NOT_READY', errors: { store: ['no answer within 2000 ms'] } }, { status: 503 });
      }
      return new Response('ok');
    },
  });
  afterAll(() => server.stop(true));

  it('exits 0 on a 200', async () => {
    const lines: string[] = [];
    expect(await healthcheck({ port: server.port!, write: (line) => lines.push(line) })).toBe(0);
    expect(lines).toEqual([`http://127.0.0.1:${server.port}/health: 200`]);
  });

  it("waits out the service's own 2 s checks and says why it is not ready", async () => {
    const lines: string[] = [];
    expect(await healthcheck({ port: server.port!, path: '/ready', write: (line) => lines.push(line) })).toBe(1);
    expect(lines).toEqual([`http://127.0.0.1:${server.port}/ready: 503 store: no answer within 2000 ms`]);
  });
});
