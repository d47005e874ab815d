import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { authHeaders, opsHeaders } from '../support/auth';
import { MODES, call, eventually, startTestService, type TestService } from '../support/service';

const NOW = '2030-01-01T00:00:00.000Z';
const eur = (amount: string) => ({ amount, currency: 'EUR' });

for (const mode of MODES) {
  describe(`catalogue (${mode})`, () => {
    let t: TestService;
    let ops: Record<string, string>;

    beforeAll(async () => {
      t = await startTestService(mode, { clockAt: NOW });
      ops = opsHeaders(t);
    });
    afterAll(async () => {
      await t.close();
    });

    const createVenue = async () => (await call(t.url, 'POST', '/api/venues', { name: 'Olympia', location: 'Dublin' }, ops)).json.venue_id as string;

    describe('when creating', () => {
      it('requires the ops role for venues, performers and events', async () => {
        expect((await call(t.url, 'POST', '/api/venues', { name: 'V', location: 'L' })).status).toBe(401);
        expect((await call(t.url, 'POST', '/api/venues', { name: 'V', location: 'L' }, authHeaders(t))).status).toBe(403);
        expect((await call(t.url, 'POST', '/api/performers', { name: 'P' }, authHeaders(t))).status).toBe(403);
        expect((await call(t.url, 'POST', '/api/events', {}, authHeaders(t))).status).toBe(403);
      });

      it('refuses a start time in the past, an unknown venue and duplicate seat labels', async () => {
        const venueId = await createVenue();
        const event = { name: 'E', venue_id: venueId, start_time: '2031-01-01T20:00:00Z', seats: [{ label: 'A1', price: eur('10.00') }] };
        expect((await call(t.url, 'POST', '/api/events', { ...event, start_time: '2029-01-01T00:00:00Z' }, ops)).status).toBe(422);
        expect((await call(t.url, 'POST', '/api/events', { ...event, venue_id: crypto.randomUUID() }, ops)).json.code).toBe('VENUE_NOT_FOUND');
        expect((await call(t.url, 'POST', '/api/events', { ...event, seats: [...event.seats, ...event.seats] }, ops)).status).toBe(400);
      });

      it('refuses seats that could not be charged together, says only what is wrong, and knows a label in any Unicode form', async () => {
        const venueId = await createVenue();
        const event = { name: 'E', venue_id: venueId, start_time: '2031-01-01T20:00:00Z' };
        const tooDear = await call(t.url, 'POST', '/api/events', { ...event, seats: [{ label: 'A1', price: eur('999999999999.99') }, { label: 'A2', price: eur('0.01') }] }, ops);
        expect([tooDear.status, tooDear.json.errors]).toEqual([400, { seats: ['the seats together must cost at most 999999999999.99'] }]);
        // A malformed price has its own error, not also a total it cannot have.
        const malformed = await call(t.url, 'POST', '/api/events', { ...event, seats: [{ label: 'A1', price: eur('10') }] }, ops);
        expect([malformed.status, Object.keys(malformed.json.errors)]).toEqual([400, ['seats.0.price.amount']]);
        const none = await call(t.url, 'POST', '/api/events', { ...event, seats: [] }, ops);
        expect(none.status).toBe(400);
        expect(none.json.errors.seats).toHaveLength(1);
        // é2 composed when created, decomposed (e + U+0301) when held: one seat.
        const created = await call(t.url, 'POST', '/api/events', { ...event, seats: [{ label: '\u00e92', price: eur('10.00') }] }, ops);
        expect(created.status).toBe(201);
        const hold = await call(t.url, 'POST', '/api/holds', { event_id: created.json.event_id, seats: ['e\u03012'] }, authHeaders(t));
        expect([hold.status, hold.json.seats]).toEqual([201, ['\u00e92']]);
      });

      it('refuses a price its currency cannot be paid in, and keeps an amount written with leading zeros in its one form', async () => {
        const venueId = await createVenue();
        const event = { name: 'E', venue_id: venueId, start_time: '2031-01-01T20:00:00Z' };
        const yen = await call(t.url, 'POST', '/api/events', { ...event, seats: [{ label: 'A1', price: { amount: '0.50', currency: 'JPY' } }] }, ops);
        expect([yen.status, yen.json.errors]).toEqual([400, { 'seats.0.price.amount': ['JPY has no minor unit: the amount must end in .00'] }]);
        const noCurrency = await call(t.url, 'POST', '/api/events', { ...event, seats: [{ label: 'A1', price: { amount: '1.00', currency: 'XXX' } }] }, ops);
        expect([noCurrency.status, noCurrency.json.errors]).toEqual([400, { 'seats.0.price.amount': ['XXX means no currency: only 0.00 (a free seat)'] }]);
        const padded = await call(t.url, 'POST', '/api/events', { ...event, seats: [{ label: 'A1', price: eur('0010.00') }] }, ops);
        expect(padded.status).toBe(201);
        const read = await call(t.url, 'GET', `/api/events/${padded.json.event_id}`);
        expect(read.json.seats.map((seat: { price: unknown }) => seat.price)).toEqual([eur('10.00')]);
      });
    });

    describe('when an event exists', () => {
      it('returns every seat ordered by label with counts, and records EventCreated_v1 with names denormalised', async () => {
        const venueId = await createVenue();
        const performer = await call(t.url, 'POST', '/api/performers', { name: 'Róisín Murphy', description: 'singer' }, ops);
        expect(performer.status).toBe(201);
        const created = await call(t.url, 'POST', '/api/events', {
          name: 'Night', description: 'A night out', venue_id: venueId, performer_ids: [performer.json.performer_id], start_time: '2031-01-01T20:00:00Z',
          seats: [{ label: 'B1', price: eur('20.00') }, { label: 'A1', price: eur('30.00') }], hold_policy: { ttl_seconds: 60, max_renewals: 1, max_seats_per_user: 4 },
        }, ops);
        expect(created.status).toBe(201);
        const eventId = created.json.event_id as string;

        const event = await call(t.url, 'GET', `/api/events/${eventId}`);
        expect(event.status).toBe(200);
        expect(event.json).toEqual({
          event_id: eventId, name: 'Night', description: 'A night out', start_time: '2031-01-01T20:00:00.000Z', general_admission: false,
          venue: { venue_id: venueId, name: 'Olympia', location: 'Dublin' },
          performers: [{ performer_id: performer.json.performer_id, name: 'Róisín Murphy' }],
          hold_policy: { ttl_seconds: 60, max_renewals: 1, max_seats_per_user: 4 },
          seats: [{ label: 'A1', status: 'available', price: eur('30.00') }, { label: 'B1', status: 'available', price: eur('20.00') }],
          counts: { available: 2, held: 0, sold: 0 },
        });

        const fact = await eventually(async () => {
          const [row] = await t.service.store.query<{ payload: string }>("SELECT payload FROM data_lake WHERE name = 'EventCreated_v1' AND actor = $1", [`event/${eventId}`]);
          expect(row).toBeDefined();
          return JSON.parse(row!.payload);
        });
        expect(fact).toMatchObject({
          event_id: eventId, name: 'Night', description: 'A night out', start_time: '2031-01-01T20:00:00.000Z',
          venue: { venue_id: venueId, name: 'Olympia', location: 'Dublin' }, performers: [{ performer_id: performer.json.performer_id, name: 'Róisín Murphy' }],
          seat_count: 2, created_at: NOW,
        });
      });

      it('orders seats by label as people read them (numbers by value) on both stores, and holds by quantity take neighbours', async () => {
        const labels = ['b1', 'B10', 'A10', 'A1', 'B9', 'a1', 'A2', 'A12', 'A11', 'Row 2 Seat 10', 'Row 2 Seat 9', 'Row 10 Seat 1', 'A-2', 'B1'];
        const created = await call(t.url, 'POST', '/api/events', {
          name: 'Order', venue_id: await createVenue(), start_time: '2031-01-01T20:00:00Z', seats: labels.map((label) => ({ label, price: eur('10.00') })),
        }, ops);
        expect(created.status).toBe(201);
        const sorted = ['A-2', 'A1', 'A2', 'A10', 'A11', 'A12', 'B1', 'B9', 'B10', 'Row 2 Seat 9', 'Row 2 Seat 10', 'Row 10 Seat 1', 'a1', 'b1'];
        expect(((await call(t.url, 'GET', `/api/events/${created.json.event_id}`)).json.seats as { label: string }[]).map((s) => s.label)).toEqual(sorted);
        const first = await call(t.url, 'POST', '/api/holds', { event_id: created.json.event_id, quantity: 3 }, authHeaders(t));
        expect(first.status).toBe(201);
        expect(first.json.seats).toEqual(['A-2', 'A1', 'A2']);
        const next = await call(t.url, 'POST', '/api/holds', { event_id: created.json.event_id, quantity: 2 }, authHeaders(t));
        expect(next.json.seats).toEqual(['A10', 'A11']);
        // Seats named in a hold come back in the same order.
        const named = await call(t.url, 'POST', '/api/holds', { event_id: created.json.event_id, seats: ['B10', 'B9', 'B1'] }, authHeaders(t));
        expect(named.json.seats).toEqual(['B1', 'B9', 'B10']);
      });

      it('answers 404 for an unknown event and 400 for a non-UUID id', async () => {
        expect((await call(t.url, 'GET', `/api/events/${crypto.randomUUID()}`)).status).toBe(404);
        expect((await call(t.url, 'GET', '/api/events/nope')).status).toBe(400);
      });
    });

    describe('when a show exists', () => {
      it('reads it as a general-admission event with counts and no seat labels', async () => {
        const show = await call(t.url, 'POST', '/api/shows', { dead_nation_id: `dn-${crypto.randomUUID()}`, number_of_tickets: 5, start_time: '2031-06-01T20:00:00Z', title: 'Gig', venue: 'Hall' });
        const event = await call(t.url, 'GET', `/api/events/${show.json.show_id}`);
        expect(event.status).toBe(200);
        expect(event.json).toMatchObject({ event_id: show.json.show_id, name: 'Gig', general_admission: true, seats: [], counts: { available: 5, held: 0, sold: 0 }, venue: { name: 'Hall' } });
      });
    });
  });
}
