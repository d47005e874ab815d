import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { opsHeaders } from '../support/auth';
import { MODES, call, startTestService, type TestService } from '../support/service';

const NOW = '2030-01-01T00:00:00.000Z';
const nextOf = (link: string | null) => /<([^>]+)>; rel="next"/.exec(link ?? '')?.[1];

for (const mode of MODES) {
  describe(`the debugger's actor search (${mode})`, () => {
    let t: TestService;

    beforeAll(async () => {
      t = await startTestService(mode, { clockAt: NOW });
    });
    afterAll(async () => {
      await t.close();
    });

    it('pages with ?limit= and Link, most recently changed first, through actors changed at the same instant', async () => {
      const ops = opsHeaders(t);
      const venues: string[] = [];
      for (let i = 0; i < 3; i++) venues.push((await call(t.url, 'POST', '/api/venues', { name: `V${i}`, location: 'L' }, ops)).json.venue_id);
      t.clock!.advance(1_000);
      for (let i = 3; i < 5; i++) venues.push((await call(t.url, 'POST', '/api/venues', { name: `V${i}`, location: 'L' }, ops)).json.venue_id);

      const seen: string[] = [];
      let next: string | undefined = '/api/actors?kind=venue&limit=2';
      let pages = 0;
      while (next !== undefined) {
        const page = await call(t.url, 'GET', next, undefined, ops);
        expect(page.status).toBe(200);
        expect(page.json.length).toBeLessThanOrEqual(2);
        seen.push(...page.json.map((a: { address: string }) => a.address));
        next = nextOf(page.headers.get('link'));
        pages += 1;
      }
      expect(pages).toBe(3);
      expect(seen).toHaveLength(5);
      expect(new Set(seen)).toEqual(new Set(venues.map((id) => `venue/${id}`)));
      // The two created later come first.
      expect(new Set(seen.slice(0, 2))).toEqual(new Set(venues.slice(3).map((id) => `venue/${id}`)));
      expect((await call(t.url, 'GET', '/api/actors?kind=venue', undefined, ops)).headers.get('link')).toBeNull();
      for (const query of ['limit=0', 'limit=101', 'cursor=nope']) expect((await call(t.url, 'GET', `/api/actors?${query}`, undefined, ops)).status).toBe(400);
    });

    it('serves the page so that no other site can frame it', async () => {
      const page = await fetch(`${t.url}/debug`);
      expect(page.status).toBe(200);
      expect([page.headers.get('content-security-policy'), page.headers.get('x-frame-options'), page.headers.get('x-content-type-options')]).toEqual([
        "frame-ancestors 'none'",
        'DENY',
        'nosniff',
      ]);
    });

    it('searches `q` as literal text: % and _ are not wildcards', async () => {
      const ops = opsHeaders(t);
      const show = { dead_nation_id: crypto.randomUUID(), number_of_tickets: 5, start_time: '2031-01-01T20:00:00Z', title: 'Gig 100%_sold', venue: 'Hall' };
      const created = await call(t.url, 'POST', '/api/shows', show);
      expect(created.status).toBe(201);
      const found = async (q: string) =>
        (await call(t.url, 'GET', `/api/actors?q=${encodeURIComponent(q)}`, undefined, ops)).json.map((a: { address: string }) => a.address);
      const [address] = await found('gig 100%_sold');
      expect(address).toContain(created.json.show_id);
      expect(await found('%')).toEqual([address]);
      expect(await found('gig 1_0')).toEqual([]);
      expect(await found('g_g')).toEqual([]);
    });
  });
}
