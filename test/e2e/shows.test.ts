import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { mintToken } from '../support/auth';
import { MODES, call, startTestService, type TestService } from '../support/service';

const NOW = '2030-01-01T00:00:00.000Z';
const show = (overrides: Record<string, unknown> = {}) => ({
  dead_nation_id: crypto.randomUUID(), number_of_tickets: 10, start_time: '2030-06-01T20:00:00+02:00', title: 'Night', venue: 'Hall', ...overrides,
});

for (const mode of MODES) {
  describe(`shows and book-tickets (${mode})`, () => {
    let t: TestService;
    beforeAll(async () => {
      t = await startTestService(mode, { clockAt: NOW });
    });
    afterAll(async () => {
      await t.close();
    });

    describe('when a show is created', () => {
      it('answers 201 with its id and lists it with its start time in UTC', async () => {
        const created = await call(t.url, 'POST', '/api/shows', show({ dead_nation_id: 'dn-listed', title: 'Listed' }));
        expect(created.status).toBe(201);
        expect(created.json.show_id).toMatch(/^[0-9a-f-]{36}$/);
        const list = await call(t.url, 'GET', '/api/shows');
        expect(list.json).toContainEqual({
          show_id: created.json.show_id, dead_nation_id: 'dn-listed', number_of_tickets: 10, available_tickets: 10,
          start_time: '2030-06-01T18:00:00.000Z', title: 'Listed', venue: 'Hall',
        });
      });

      it('reads a start time written with a lower-case t and z (RFC 3339 allows them), kept in UTC with Z', async () => {
        const created = await call(t.url, 'POST', '/api/shows', show({ dead_nation_id: 'dn-lower', start_time: '2030-06-02t20:00:00.5z' }));
        expect(created.status).toBe(201);
        const listed = ((await call(t.url, 'GET', '/api/shows')).json as Array<{ dead_nation_id: string; start_time: string }>).find((s) => s.dead_nation_id === 'dn-lower');
        expect(listed?.start_time).toBe('2030-06-02T20:00:00.500Z');
      });

      it('refuses a duplicate dead_nation_id with 409 and writes nothing', async () => {
        expect((await call(t.url, 'POST', '/api/shows', show({ dead_nation_id: 'dn-dup' }))).status).toBe(201);
        const before = (await call(t.url, 'GET', '/api/shows')).json.length;
        const again = await call(t.url, 'POST', '/api/shows', show({ dead_nation_id: 'dn-dup' }));
        expect([again.status, again.json.code, again.json.errors]).toEqual([409, 'SHOW_ALREADY_EXISTS', { dead_nation_id: ['taken by another show'] }]);
        expect((await call(t.url, 'GET', '/api/shows')).json.length).toBe(before);
      });

      it('refuses bad input with field errors and a past start with 422', async () => {
        const bad = await call(t.url, 'POST', '/api/shows', show({ number_of_tickets: 0, title: '' }));
        expect(bad.status).toBe(400);
        expect(Object.keys(bad.json.errors).sort()).toEqual(['number_of_tickets', 'title']);
        // Each count is refused in its own terms: its bound, not zod's safe-integer range or "Infinity".
        const countErrors = async (count: string) => {
          const body = JSON.stringify(show({ venue: undefined })).replace('"number_of_tickets":10', `"number_of_tickets":${count}`);
          const answer = await fetch(`${t.url}/api/shows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
          return [count, answer.status, ((await answer.json()) as { errors: unknown }).errors];
        };
        for (const [count, message] of [['9007199254740993', 'at most 1000000'], ['1e309', 'at most 1000000'], ['-1e309', 'at least 1'], ['2.5', 'a whole number'], ['"2"', 'a whole number']]) {
          expect(await countErrors(count!)).toEqual([count, 400, { number_of_tickets: [message], venue: ['required'] }]);
        }
        const past = await call(t.url, 'POST', '/api/shows', show({ start_time: '2029-12-31T23:00:00Z' }));
        expect(past.status).toBe(422);
        expect(past.json.code).toBe('START_TIME_IN_PAST');
        // Past the year 9999 in UTC is not a time RFC 3339 can write back: a bad value, not one in the past.
        const tooLate = await call(t.url, 'POST', '/api/shows', show({ start_time: '9999-12-31T23:59:59-01:00' }));
        expect([tooLate.status, tooLate.json.code, Object.keys(tooLate.json.errors)]).toEqual([400, 'VALIDATION_FAILED', ['start_time']]);
        // A time that does not exist is refused for that alone, without a word about the year 10000.
        for (const start_time of ['2031-07-01T25:00:00Z', '2031-13-01T20:00:00Z', '2031-07-01T23:59:60Z']) {
          const impossible = await call(t.url, 'POST', '/api/shows', show({ start_time }));
          expect([impossible.status, impossible.json.errors.start_time]).toEqual([400, ['Invalid ISO datetime']]);
        }
      });
    });

    describe('when a one-line text field holds a control character', () => {
      it('refuses it with 400 at its field and writes nothing; blanks around the text are trimmed as before', async () => {
        const listed = async () => (await call(t.url, 'GET', '/api/shows')).json.length as number;
        const before = await listed();
        for (const title of ['Night\u0007Show', 'Night\u001b[31mShow', 'Night\nShow', 'Night\tShow', 'Night\u0085Show', 'Night\u007fShow', 'Night\u2028Show']) {
          const refused = await call(t.url, 'POST', '/api/shows', show({ title }));
          expect([JSON.stringify(title), refused.status, refused.json.errors]).toEqual([JSON.stringify(title), 400, { title: ['must not contain control characters (a line break, a tab, an escape)'] }]);
        }
        expect(await listed()).toBe(before);
        const trimmed = await call(t.url, 'POST', '/api/shows', show({ title: '\tNight Show\n' }));
        expect(trimmed.status).toBe(201);
        const listedShow = (await call(t.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === trimmed.json.show_id);
        expect(listedShow.title).toBe('Night Show');
      });
    });

    describe('when a text field holds what no store can keep', () => {
      it('refuses U+0000 or an unpaired surrogate with 400 at its field, not 500, and writes nothing', async () => {
        const listed = async () => (await call(t.url, 'GET', '/api/shows')).json.length as number;
        const before = await listed();
        const nul = await call(t.url, 'POST', '/api/shows', show({ title: 'Night\u0000Show' }));
        expect([nul.status, nul.json.code, nul.json.errors]).toEqual([400, 'VALIDATION_FAILED', { title: ['must not contain U+0000 or an unpaired surrogate'] }]);
        const surrogate = await call(t.url, 'POST', '/api/tickets-status', {
          tickets: [{ ticket_id: crypto.randomUUID(), booking_id: 'b\ud800', status: 'confirmed', price: { amount: '1.00', currency: 'EUR' }, customer_email: 'a@example.com' }],
        }, { 'Idempotency-Key': crypto.randomUUID() });
        expect([surrogate.status, Object.keys(surrogate.json.errors)]).toEqual([400, ['tickets.0.booking_id']]);
        expect(await listed()).toBe(before);
        // The same in a query or a path parameter (it was a 500 on PostgreSQL).
        const ops = { authorization: `Bearer ${mintToken({ role: 'ops' })}` };
        const query = await call(t.url, 'GET', '/api/actors?q=a%00b', undefined, ops);
        expect([query.status, query.json.errors]).toEqual([400, { q: ['must not contain U+0000 or an unpaired surrogate'] }]);
        const path = await call(t.url, 'GET', `/api/actors/${encodeURIComponent('booking/a\u0000b')}/timeline`, undefined, ops);
        expect([path.status, path.json.errors]).toEqual([400, { address: ['must not contain U+0000 or an unpaired surrogate'] }]);
        // Bytes that are not UTF-8 once percent-decoded, refused as in a body (not searched for as U+FFFD);
        // a `%` without two hex digits is itself, and UTF-8 written in percents is read.
        for (const search of ['q=%FF', 'q=caf%C3', '%FF=1']) {
          const refused = await call(t.url, 'GET', `/api/search/events?${search}`);
          expect([search, refused.status, refused.json.code]).toEqual([search, 400, 'VALIDATION_FAILED']);
        }
        const bad = await call(t.url, 'GET', '/api/search/events?q=%FF');
        expect(bad.json.errors).toEqual({ q: ['is not UTF-8 once percent-decoded'] });
        for (const search of ['q=50%', 'q=caf%C3%A9', 'q=a+b']) expect([search, (await call(t.url, 'GET', `/api/search/events?${search}`)).status]).toEqual([search, 200]);
        // Every query parameter is one value: a repeated one says so, where the route reads it; one it
        // does not read is ignored, as any unknown parameter is (a cache buster).
        const twice = await call(t.url, 'GET', '/api/shows?limit=1&limit=2');
        expect([twice.status, twice.json.errors]).toEqual([400, { limit: ['given more than once'] }]);
        expect((await call(t.url, 'GET', '/api/shows?_=1&_=2')).status).toBe(200);
      });
    });

    describe('when shows are listed with a limit', () => {
      it('orders by start_time and pages through Link', async () => {
        for (const day of ['03', '01', '02']) {
          await call(t.url, 'POST', '/api/shows', show({ start_time: `2031-01-${day}T10:00:00Z`, title: `Day ${day}` }));
        }
        const all = (await call(t.url, 'GET', '/api/shows')).json as Array<{ start_time: string }>;
        expect(all.map((s) => s.start_time)).toEqual([...all.map((s) => s.start_time)].sort());
        const first = await call(t.url, 'GET', '/api/shows?limit=2');
        expect(first.json.length).toBe(2);
        const seen = [...first.json];
        let link = first.headers.get('link');
        while (link) {
          const next = await call(t.url, 'GET', /<([^>]+)>/.exec(link)![1]!);
          seen.push(...next.json);
          link = next.headers.get('link');
        }
        expect(seen).toEqual(all);
        expect((await call(t.url, 'GET', '/api/shows?limit=0')).status).toBe(400);
        expect((await call(t.url, 'GET', `/api/shows?limit=${encodeURIComponent('[1]')}`)).status).toBe(400);
        // Only decimal digits: no hex, exponent, sign or padding read as a number.
        for (const limit of ['0x2', '1e1', '+2', ' 2', '']) {
          const refused = await call(t.url, 'GET', `/api/shows?limit=${encodeURIComponent(limit)}`);
          expect([limit, refused.status, Object.keys(refused.json.errors)]).toEqual([limit, 400, ['limit']]);
        }
      });
    });

    describe('when tickets are booked', () => {
      it('answers 201 with a booking id and takes the seats', async () => {
        const { json } = await call(t.url, 'POST', '/api/shows', show({ number_of_tickets: 5 }));
        const booked = await call(t.url, 'POST', '/api/book-tickets', { show_id: json.show_id, number_of_tickets: 3, customer_email: 'ann@example.com' });
        expect(booked.status).toBe(201);
        expect(booked.json.booking_id).toMatch(/^[0-9a-f-]{36}$/);
        const listed = (await call(t.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === json.show_id);
        expect(listed.available_tickets).toBe(2);
      });

      it('answers 400 SOLD_OUT with the old error text when seats are short', async () => {
        const { json } = await call(t.url, 'POST', '/api/shows', show({ number_of_tickets: 1 }));
        const refused = await call(t.url, 'POST', '/api/book-tickets', { show_id: json.show_id, number_of_tickets: 2, customer_email: 'ann@example.com' });
        expect(refused.status).toBe(400);
        expect(refused.json).toMatchObject({ code: 'SOLD_OUT', error: 'not enough seats available' });
      });

      it('books a show named by its id in upper case', async () => {
        const { json } = await call(t.url, 'POST', '/api/shows', show());
        const booked = await call(t.url, 'POST', '/api/book-tickets', { show_id: json.show_id.toUpperCase(), number_of_tickets: 1, customer_email: 'ann@example.com' });
        expect(booked.status).toBe(201);
        const listed = (await call(t.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === json.show_id);
        expect(listed.available_tickets).toBe(listed.number_of_tickets - 1);
      });

      it('answers 404 for an unknown show and 400 for bad input', async () => {
        const unknown = await call(t.url, 'POST', '/api/book-tickets', { show_id: crypto.randomUUID(), number_of_tickets: 1, customer_email: 'ann@example.com' });
        expect([unknown.status, unknown.json.code, unknown.json.errors]).toEqual([404, 'SHOW_NOT_FOUND', { show_id: ['unknown show'] }]);
        // Any 8-4-4-4-12 hex id is a UUID (here the NCS variant): unknown, not malformed.
        const ncs = await call(t.url, 'POST', '/api/book-tickets', { show_id: '12345678-1234-1234-1234-123456789012', number_of_tickets: 1, customer_email: 'ann@example.com' });
        expect(ncs.status).toBe(404);
        const bad = await call(t.url, 'POST', '/api/book-tickets', { show_id: 'nope', number_of_tickets: 0, customer_email: 'not-an-email' });
        expect(bad.status).toBe(400);
        expect(Object.keys(bad.json.errors).sort()).toEqual(['customer_email', 'number_of_tickets', 'show_id']);
        // An address mail cannot be delivered to (65 characters before the @) is refused, and books nothing.
        const undeliverable = await call(t.url, 'POST', '/api/book-tickets', { show_id: crypto.randomUUID(), number_of_tickets: 1, customer_email: `${'a'.repeat(65)}@example.com` });
        expect(undeliverable.status).toBe(400);
        expect(undeliverable.json.errors.customer_email).toEqual(['at most 64 characters before the @']);
      });

      it('never oversells: 50 concurrent 2-seat bookings on a 2-seat show give exactly one 201', async () => {
        const { json } = await call(t.url, 'POST', '/api/shows', show({ number_of_tickets: 2 }));
        const results = await Promise.all(
          Array.from({ length: 50 }, (_, i) => call(t.url, 'POST', '/api/book-tickets', { show_id: json.show_id, number_of_tickets: 2, customer_email: `c${i}@example.com` })),
        );
        const statuses = results.map((r) => r.status);
        expect(statuses.filter((s) => s === 201).length).toBe(1);
        expect(statuses.filter((s) => s === 400).length).toBe(49);
        expect(results.filter((r) => r.status === 400).every((r) => r.json.code === 'SOLD_OUT')).toBe(true);
      });

      it('replays a booking with the same Idempotency-Key instead of booking twice', async () => {
        const { json } = await call(t.url, 'POST', '/api/shows', show({ number_of_tickets: 4 }));
        const body = { show_id: json.show_id, number_of_tickets: 2, customer_email: 'ann@example.com' };
        const first = await call(t.url, 'POST', '/api/book-tickets', body, { 'Idempotency-Key': 'book-1' });
        const again = await call(t.url, 'POST', '/api/book-tickets', body, { 'Idempotency-Key': 'book-1' });
        expect(again.status).toBe(201);
        expect(again.json).toEqual(first.json);
        expect(again.headers.get('idempotent-replayed')).toBe('true');
        const listed = (await call(t.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === json.show_id);
        expect(listed.available_tickets).toBe(2);
      });
    });
  });
}

describe('book-tickets over two instances (distributed)', () => {
  let first: TestService;
  let second: TestService;
  beforeAll(async () => {
    first = await startTestService('distributed', { clockAt: NOW });
    second = await startTestService('distributed', { clockAt: NOW, joining: first });
  });
  // Graceful stops let both instances' handlers finish the burst's deliveries first.
  afterAll(async () => {
    await second.close();
    await first.close();
  }, 30_000);

  it('sells exactly 100 seats to 200 concurrent 1-seat buyers of a 100-seat show, never a 5xx', async () => {
    const { json } = await call(first.url, 'POST', '/api/shows', show({ number_of_tickets: 100 }));
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        call(i % 2 === 0 ? first.url : second.url, 'POST', '/api/book-tickets', { show_id: json.show_id, number_of_tickets: 1, customer_email: `c${i}@example.com` })),
    );
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((s) => s === 201).length).toBe(100);
    expect(statuses.filter((s) => s === 400).length).toBe(100);
    const listed = (await call(second.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === json.show_id);
    expect(listed.available_tickets).toBe(0);
  });
});
