import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { authHeaders, opsHeaders } from '../support/auth';
import { MODES, call, eventually, startTestService, type TestService } from '../support/service';

const NOW = '2030-01-01T00:00:00.000Z';
const eur = (amount: string) => ({ amount, currency: 'EUR' });

for (const mode of MODES) {
  describe(`a customer's bookings (${mode})`, () => {
    let t: TestService;

    beforeAll(async () => {
      t = await startTestService(mode, { clockAt: NOW });
    });
    afterAll(async () => {
      await t.close();
    });

    const createEvent = async () => {
      const ops = opsHeaders(t);
      const venue = await call(t.url, 'POST', '/api/venues', { name: 'Olympia', location: 'Dublin' }, ops);
      const created = await call(t.url, 'POST', '/api/events', {
        name: 'Night', venue_id: venue.json.venue_id, start_time: '2031-01-01T20:00:00Z',
        seats: ['A1', 'A2', 'A3', 'B1'].map((label) => ({ label, price: eur('25.00') })),
      }, ops);
      expect(created.status).toBe(201);
      return created.json.event_id as string;
    };
    /** Holds `seats` for `headers`' user and confirms the hold; resolves to the confirm's body. */
    const buy = async (headers: Record<string, string>, eventId: string, seats: string[]) => {
      const placed = await call(t.url, 'POST', '/api/holds', { event_id: eventId, seats }, headers);
      expect(placed.status).toBe(201);
      const confirmed = await call(t.url, 'POST', `/api/holds/${placed.json.hold_id}/confirm`, { payment_method: 'pm_card_visa' }, headers);
      expect(confirmed.status).toBe(200);
      return confirmed.json as { booking_id: string; tickets: { ticket_id: string; seat: string }[] };
    };

    describe('when a customer has confirmed holds', () => {
      it('lists them newest first with their tickets, from the moment the confirm answered', async () => {
        const ann = authHeaders(t);
        const eventId = await createEvent();
        const first = await buy(ann, eventId, ['A2', 'A1']);
        t.clock!.advance(1_000);
        const second = await buy(ann, eventId, ['B1']);
        const charges = t.simulators.payments.charges();

        const listed = await call(t.url, 'GET', '/api/me/bookings', undefined, ann);
        expect(listed.status).toBe(200);
        expect(listed.json.map((b: { booking_id: string }) => b.booking_id)).toEqual([second.booking_id, first.booking_id]);
        expect(listed.json[1]).toEqual({
          booking_id: first.booking_id,
          event_id: eventId,
          seats: ['A1', 'A2'],
          quantity: 2,
          total: eur('50.00'),
          payment_id: charges.find((c) => c.payment_reference === first.booking_id)!.payment_id,
          booked_at: NOW,
          tickets: first.tickets.map((ticket) => ({ ticket_id: ticket.ticket_id, seat: ticket.seat, price: eur('25.00'), status: 'confirmed' })),
        });
        const one = await call(t.url, 'GET', `/api/bookings/${first.booking_id.toUpperCase()}`, undefined, ann);
        expect(one.status).toBe(200);
        expect(one.json).toEqual(listed.json[1]);
      });

      it('pages with ?limit= and Link, and refuses a limit outside 1..100', async () => {
        const bob = authHeaders(t);
        const eventId = await createEvent();
        const bought = [];
        for (const seat of ['A1', 'A2', 'A3']) {
          bought.push((await buy(bob, eventId, [seat])).booking_id);
          t.clock!.advance(1_000);
        }
        const first = await call(t.url, 'GET', '/api/me/bookings?limit=2', undefined, bob);
        expect(first.json.map((b: { booking_id: string }) => b.booking_id)).toEqual([bought[2], bought[1]]);
        const next = /<([^>]+)>; rel="next"/.exec(first.headers.get('link') ?? '')?.[1];
        expect(next).toBeDefined();
        const rest = await call(t.url, 'GET', next!, undefined, bob);
        expect(rest.json.map((b: { booking_id: string }) => b.booking_id)).toEqual([bought[0]]);
        expect(rest.headers.get('link')).toBeNull();
        for (const limit of ['0', '101']) expect((await call(t.url, 'GET', `/api/me/bookings?limit=${limit}`, undefined, bob)).status).toBe(400);
      });

      it('shows a refunded ticket as refunded', async () => {
        const carol = authHeaders(t);
        const bought = await buy(carol, await createEvent(), ['A1']);
        const ticketId = bought.tickets[0]!.ticket_id;
        await eventually(async () => expect((await t.service.runtime.get(`ticket/${ticketId}`))?.state).toBe('active'));
        expect((await call(t.url, 'PUT', `/api/ticket-refund/${ticketId}`)).status).toBe(202);
        await eventually(async () => {
          const booking = (await call(t.url, 'GET', `/api/bookings/${bought.booking_id}`, undefined, carol)).json;
          expect(booking.tickets[0].status).toBe('refunded');
        });
      });
    });

    describe('when ops read the bookings', () => {
      it('lists a booking bought through a hold like one of book-tickets, with its tickets, receipts and prints', async () => {
        const eventId = await createEvent();
        const bought = await buy(authHeaders(t, { email: 'dora@example.com' }), eventId, ['A2', 'A1']);
        await eventually(async () => {
          const ops = await call(t.url, 'GET', `/api/ops/bookings/${bought.booking_id}`);
          expect(ops.status).toBe(200);
          expect(ops.json).toMatchObject({ booking_id: bought.booking_id, show_id: eventId, number_of_tickets: 2, customer_email: 'dora@example.com' });
          expect(ops.json.tickets.map((x: { ticket_id: string }) => x.ticket_id).sort()).toEqual(bought.tickets.map((x) => x.ticket_id).sort());
          for (const ticket of ops.json.tickets) expect(ticket.receipt_number !== null && ticket.printed_file_name !== null).toBe(true);
        });
        const listed = (await call(t.url, 'GET', '/api/ops/bookings')).json.map((b: { booking_id: string }) => b.booking_id);
        expect(listed).toContain(bought.booking_id);
      });
    });

    describe('when ops read the timeline of a booking bought through a hold', () => {
      it('finds it by the booking id, and answers 400 for an id that is not a UUID', async () => {
        const bought = await buy(authHeaders(t), await createEvent(), ['A1']);
        const report = await call(t.url, 'GET', `/api/bookings/${bought.booking_id}/timeline`, undefined, opsHeaders(t));
        expect(report.status).toBe(200);
        expect(report.json).toMatchObject({ address: `hold/${bought.booking_id}`, state: 'sold' });
        // The charge the confirm route made comes before the command that carried its outcome.
        const charge = report.json.timeline.findIndex((e: { kind: string; name: string }) => e.kind === 'external.call' && e.name === 'payments.charge');
        expect(report.json.timeline[charge]).toMatchObject({ status: 'ok', data: { service: 'payments', operation: 'charge', outcome: 'ok' } });
        expect(charge).toBeLessThan(report.json.timeline.findIndex((e: { kind: string; name: string }) => e.kind === 'command' && e.name === 'hold.confirm'));
        // The handler that issues the tickets only tells actors: a delivery, not a call to another service.
        await eventually(async () => {
          const { timeline } = (await call(t.url, 'GET', `/api/bookings/${bought.booking_id}/timeline`, undefined, opsHeaders(t))).json;
          const issued = timeline.filter((e: { handler?: string }) => e.handler === 'issueHoldTickets');
          expect(issued.map((e: { kind: string; status: string }) => [e.kind, e.status])).toEqual([['delivery', 'processed']]);
        });
        expect((await call(t.url, 'GET', `/api/bookings/${crypto.randomUUID()}/timeline`, undefined, opsHeaders(t))).status).toBe(404);
        expect((await call(t.url, 'GET', '/api/bookings/nope/timeline', undefined, opsHeaders(t))).status).toBe(400);
      });
    });

    describe('when the booking is not the caller\'s', () => {
      it('answers 404 to another customer, for a hold not confirmed and for an unknown id; 401 without a token; 400 for a bad id', async () => {
        const ann = authHeaders(t);
        const eventId = await createEvent();
        const bought = await buy(ann, eventId, ['A3']);
        const other = authHeaders(t);
        const refused = await call(t.url, 'GET', `/api/bookings/${bought.booking_id}`, undefined, other);
        expect(refused.status).toBe(404);
        expect(refused.json.code).toBe('BOOKING_NOT_FOUND');
        expect((await call(t.url, 'GET', '/api/me/bookings', undefined, other)).json).toEqual([]);
        const held = await call(t.url, 'POST', '/api/holds', { event_id: eventId, seats: ['B1'] }, ann);
        expect((await call(t.url, 'GET', `/api/bookings/${held.json.hold_id}`, undefined, ann)).status).toBe(404);
        expect((await call(t.url, 'GET', `/api/bookings/${crypto.randomUUID()}`, undefined, ann)).status).toBe(404);
        expect((await call(t.url, 'GET', `/api/bookings/${bought.booking_id}`)).status).toBe(401);
        expect((await call(t.url, 'GET', '/api/me/bookings')).status).toBe(401);
        expect((await call(t.url, 'GET', '/api/bookings/nope', undefined, ann)).status).toBe(400);
      });
    });
  });
}
