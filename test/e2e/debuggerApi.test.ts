import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { authHeaders, opsHeaders } from '../support/auth';
import { expectProblem } from '../support/problems';
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

    it('serves the page so that no other site can frame it, and no script but its own runs in it', async () => {
      const page = await fetch(`${t.url}/debug`);
      expect(page.status).toBe(200);
      const html = await page.text();
      const [, script] = /<script>([\s\S]*?)<\/script>/.exec(html)!;
      const hash = new Bun.CryptoHasher('sha256').update(script!).digest('base64');
      expect([page.headers.get('content-security-policy'), page.headers.get('x-frame-options'), page.headers.get('x-content-type-options')]).toEqual([
        `default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'`,
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

    it('searches `q` case-insensitively beyond ASCII too, in either mode, and pages through what it finds', async () => {
      const ops = opsHeaders(t);
      const addresses: string[] = [];
      for (const title of ['Концерт Ångström', 'концерт ångström encore']) {
        const created = await call(t.url, 'POST', '/api/shows', { dead_nation_id: crypto.randomUUID(), number_of_tickets: 5, start_time: '2031-01-01T20:00:00Z', title, venue: 'Hall' });
        expect(created.status).toBe(201);
        addresses.unshift(`show/${created.json.show_id}`);
        t.clock!.advance(1_000);
      }
      const found = async (q: string) =>
        (await call(t.url, 'GET', `/api/actors?q=${encodeURIComponent(q)}`, undefined, ops)).json.map((a: { address: string }) => a.address);
      expect(await found('КОНЦЕРТ ÅNGSTRÖM')).toEqual(addresses);
      expect(await found('концерт ångström')).toEqual(addresses);
      expect(await found('ENCORE')).toEqual([addresses[0]]);
      const first = await call(t.url, 'GET', `/api/actors?limit=1&q=${encodeURIComponent('ÅNGSTRÖM')}`, undefined, ops);
      expect(first.json.map((a: { address: string }) => a.address)).toEqual([addresses[0]]);
      const second = await call(t.url, 'GET', nextOf(first.headers.get('link'))!, undefined, ops);
      expect([second.json.map((a: { address: string }) => a.address), second.headers.get('link')]).toEqual([[addresses[1]], null]);
    });
  });

  describe(`the debugger's live event stream (${mode})`, () => {
    let t: TestService;
    let venue: string;
    const eventsOf = (address: string) => `${t.url}/api/actors/${encodeURIComponent(address)}/events`;

    beforeAll(async () => {
      t = await startTestService(mode, { clockAt: NOW });
      venue = `venue/${(await call(t.url, 'POST', '/api/venues', { name: 'Hall', location: 'Dublin' }, opsHeaders(t))).json.venue_id}`;
    });
    afterAll(async () => {
      await t.close();
    });

    const opsToken = () => opsHeaders(t).authorization!.slice('Bearer '.length);
    /** The first chunk of a stream, then the stream is closed. */
    const firstOf = async (response: Response, open: AbortController) => {
      const first = await response.body!.getReader().read();
      open.abort();
      return new TextDecoder().decode(first.value);
    };

    it('takes the ops token in an Authorization header as well as in ?access_token=', async () => {
      const open = new AbortController();
      const stream = await fetch(eventsOf(venue), { headers: opsHeaders(t), signal: open.signal });
      expect(stream.status).toBe(200);
      expect(await firstOf(stream, open)).toStartWith('event: ready');
      expect((await fetch(eventsOf(venue), { headers: authHeaders(t) })).status).toBe(403);
      const badToken = await fetch(eventsOf(venue), { headers: { authorization: 'Bearer nope' } });
      const noToken = await fetch(eventsOf(venue));
      // A token no header could carry is a bad token too: 401, not a 500.
      const unsendable = await fetch(`${eventsOf(venue)}?access_token=a%0Ab`);
      // Each 401 carries its challenge (RFC 9110), as on every other bearer route.
      expect([badToken, noToken, unsendable].map((r) => [r.status, r.headers.get('www-authenticate')])).toEqual([
        [401, 'Bearer realm="tickets", error="invalid_token"'],
        [401, 'Bearer realm="tickets"'],
        [401, 'Bearer realm="tickets", error="invalid_token"'],
      ]);
    });

    it('checks the token before the address, as every other bearer route does: 401 or 403 for a bad address too', async () => {
      const noToken = await fetch(eventsOf('bad'));
      expect([noToken.status, noToken.headers.get('www-authenticate'), ((await noToken.json()) as { code: string }).code]).toEqual([401, 'Bearer realm="tickets"', 'UNAUTHORIZED']);
      const customer = await fetch(eventsOf('bad'), { headers: authHeaders(t) });
      expect([customer.status, ((await customer.json()) as { code: string }).code]).toEqual([403, 'FORBIDDEN']);
      const ops = await fetch(eventsOf('bad'), { headers: opsHeaders(t) });
      expect([ops.status, ((await ops.json()) as { code: string }).code]).toEqual([400, 'VALIDATION_FAILED']);
    });

    it('asks proxies not to buffer it and nobody to cache it', async () => {
      const open = new AbortController();
      const stream = await fetch(`${eventsOf(venue)}?access_token=${opsToken()}`, { signal: open.signal });
      expect([stream.status, stream.headers.get('content-type'), stream.headers.get('cache-control'), stream.headers.get('x-accel-buffering')]).toEqual([200, 'text/event-stream', 'no-store', 'no']);
      expect(await firstOf(stream, open)).toStartWith('event: ready');
    });

    it('tells of a change of what happened to its messages too (a failed delivery), not only of a new state', async () => {
      const show = await call(t.url, 'POST', '/api/shows', { dead_nation_id: crypto.randomUUID(), number_of_tickets: 5, start_time: '2099-01-01T20:00:00Z', title: 'Live', venue: 'Hall' });
      const address = `show/${show.json.show_id}`;
      const [message] = await t.service.store.query<{ id: string }>('SELECT id FROM messages WHERE actor = $1', [address]);
      const open = new AbortController();
      const stream = await fetch(`${eventsOf(address)}?access_token=${opsToken()}`, { signal: open.signal });
      const reader = stream.body!.getReader();
      const decoder = new TextDecoder();
      expect(decoder.decode((await reader.read()).value)).toStartWith('event: ready');

      await t.service.store.execute(
        'INSERT INTO delivery_attempts (handler, effect, message_id, attempt, error, at) VALUES ($1, $2, $3, $4, $5, $6)',
        ['probeHandler', 'external', message!.id, 1, 'service unavailable', NOW],
      );

      let received = '';
      const deadline = Date.now() + 5_000;
      while (!received.includes('event: changed') && Date.now() < deadline) {
        const chunk = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => undefined)]);
        if (chunk?.value) received += decoder.decode(chunk.value);
      }
      open.abort();
      expect(received).toContain('event: changed');
    });

    it('reads the id of an address in either case, as every other route does', async () => {
      const upper = venue.replace(/\/(.*)$/, (_, id: string) => `/${id.toUpperCase()}`);
      const timeline = await fetch(`${t.url}/api/actors/${encodeURIComponent(upper)}/timeline`, { headers: opsHeaders(t) });
      expect(timeline.status).toBe(200);
      expect(((await timeline.json()) as { address: string }).address).toBe(venue);
      const open = new AbortController();
      const stream = await fetch(`${eventsOf(upper)}?access_token=${opsToken()}`, { signal: open.signal });
      expect(stream.status).toBe(200);
      open.abort();
    });

    it('answers an unknown actor with the same 404 as its timeline', async () => {
      const unknown = `hold/${crypto.randomUUID()}`;
      const stream = await expectProblem(await fetch(`${eventsOf(unknown)}?access_token=${opsToken()}`), 404, 'NOT_FOUND');
      const timeline = await expectProblem(await fetch(`${t.url}/api/actors/${encodeURIComponent(unknown)}/timeline`, { headers: opsHeaders(t) }), 404, 'NOT_FOUND');
      expect(stream).toEqual(timeline);
    });
  });
}
