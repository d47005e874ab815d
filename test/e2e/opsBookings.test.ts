import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import type { ActorEvent } from '../../src/actors/runtime';
import { MODES, call, eventually, startTestService, type TestService } from '../support/service';

const NOW = '2030-01-01T00:00:00.000Z';
const EMAIL = 'ann@example.com';
const PRICE = { amount: '50.30', currency: 'GBP' };
const metadata = { correlation_id: 'test' };

/** Longer than `eventually`'s own bound, so that a read model that never converges fails with its diff. */
const POLLING_TEST_MS = 15_000;

const plus = (at: string, seconds: number) => new Date(Date.parse(at) + seconds * 1000).toISOString();

interface TicketStory {
  ticketId: string;
  bookingId: string;
  /** The clock when the ticket's facts are committed; `confirmed_at` is this, the receipt's reply a second later, the print two. */
  at: string;
  receipt: { receipt_number: string; issued_at: string };
  then?: 'refund' | 'cancel';
}

/**
 * Commits a ticket's facts through the runtime. The events are queued into the actor's mailbox together,
 * so they are applied before any reply a ticket handler would send for the same ticket.
 */
async function tellTicket(t: TestService, story: TicketStory): Promise<void> {
  t.clock!.set(story.at);
  const { ticketId, bookingId, at } = story;
  const events: ActorEvent[] = [
    { type: 'ticket.confirm', now: at, ticket_id: ticketId, booking_id: bookingId, customer_email: EMAIL, price: PRICE, payment_reference: ticketId },
    { type: 'receipts.issued', now: plus(at, 1), ...story.receipt },
    { type: 'files.printed', now: plus(at, 2), file_name: `${ticketId}-ticket.html` },
  ];
  if (story.then === 'refund') events.push({ type: 'ticket.refund', now: plus(at, 3) }, { type: 'refunds.completed', now: plus(at, 4) });
  if (story.then === 'cancel') events.push({ type: 'ticket.cancel', now: plus(at, 3), ticket_id: ticketId, booking_id: bookingId, customer_email: EMAIL, price: PRICE });
  await Promise.all(events.map((event, i) => t.service.runtime.send(`ticket/${ticketId}`, event, { create: i === 0, metadata })));
}

async function book(t: TestService, showId: string, at: string, numberOfTickets: number): Promise<string> {
  t.clock!.set(at);
  const booked = await call(t.url, 'POST', '/api/book-tickets', { show_id: showId, number_of_tickets: numberOfTickets, customer_email: EMAIL });
  expect(booked.status).toBe(201);
  return booked.json.booking_id as string;
}

const ticket = (ticketId: string, at: string, receipt: TicketStory['receipt'], refundedAt: string | null = null) => ({
  ticket_id: ticketId,
  price_amount: '50.30',
  price_currency: 'GBP',
  customer_email: EMAIL,
  confirmed_at: at,
  printed_at: plus(at, 2),
  printed_file_name: `${ticketId}-ticket.html`,
  receipt_issued_at: receipt.issued_at,
  receipt_number: receipt.receipt_number,
  refunded_at: refundedAt,
});

async function pages(t: TestService, path: string): Promise<unknown[]> {
  const seen: unknown[] = [];
  for (let next: string | undefined = path, page = 0; next !== undefined; page++) {
    if (page > 10) throw new Error('the Link chain does not end');
    const response = await call(t.url, 'GET', next);
    expect(response.status).toBe(200);
    seen.push(...response.json);
    next = /<([^>]+)>; rel="next"/.exec(response.headers.get('link') ?? '')?.[1];
  }
  return seen;
}

for (const mode of MODES) {
  describe(`ops read model of bookings (${mode})`, () => {
    let t: TestService;
    let showId: string;
    let a: string;
    let b: string;
    let c: string;
    const [t1, t2, t3, t4] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
    const receipt1 = { receipt_number: 'R-0001', issued_at: '2030-01-02T10:00:05+01:00' };
    const receipt2 = { receipt_number: 'R-0002', issued_at: '2030-01-02T09:10:05.000Z' };
    const receipt3 = { receipt_number: 'R-0003', issued_at: '2030-01-03T08:00:05.000Z' };

    beforeAll(async () => {
      t = await startTestService(mode, { clockAt: NOW });
      const created = await call(t.url, 'POST', '/api/shows', {
        dead_nation_id: crypto.randomUUID(), number_of_tickets: 20, start_time: '2030-06-01T20:00:00Z', title: 'Night', venue: 'Hall',
      });
      showId = created.json.show_id;
      a = await book(t, showId, '2030-01-01T10:00:00.000Z', 3);
      b = await book(t, showId, '2030-01-01T11:00:00.000Z', 1);
      c = await book(t, showId, '2030-01-01T12:00:00.000Z', 1);
      await tellTicket(t, { ticketId: t1, bookingId: a, at: '2030-01-02T09:00:00.000Z', receipt: receipt1 });
      await tellTicket(t, { ticketId: t2, bookingId: a, at: '2030-01-02T09:10:00.000Z', receipt: receipt2, then: 'refund' });
      await tellTicket(t, { ticketId: t4, bookingId: a, at: '2030-01-02T09:20:00.000Z', receipt: { receipt_number: 'R-0004', issued_at: '2030-01-02T09:20:05.000Z' }, then: 'cancel' });
      await tellTicket(t, { ticketId: t3, bookingId: c, at: '2030-01-03T08:00:00.000Z', receipt: receipt3 });
    });
    afterAll(async () => {
      await t.close();
    });

    const detailOfA = () => ({
      booking_id: a,
      show_id: showId,
      number_of_tickets: 3,
      customer_email: EMAIL,
      booked_at: '2030-01-01T10:00:00.000Z',
      last_update: '2030-01-02T09:20:00.000Z',
      tickets: [
        ticket(t1, '2030-01-02T09:00:00.000Z', { ...receipt1, issued_at: '2030-01-02T09:00:05.000Z' }),
        ticket(t2, '2030-01-02T09:10:00.000Z', receipt2, '2030-01-02T09:10:04.000Z'),
        // Cancelled by the provider: its receipt was issued (and stays valid), so ops keep seeing it.
        ticket(t4, '2030-01-02T09:20:00.000Z', { receipt_number: 'R-0004', issued_at: '2030-01-02T09:20:05.000Z' }),
      ],
    });

    describe('when a booking has confirmed, printed, refunded and cancelled tickets', () => {
      it('shows the booking with all its confirmed tickets in confirmation order, times in UTC', async () => {
        await eventually(async () => {
          const detail = await call(t.url, 'GET', `/api/ops/bookings/${a}`);
          expect(detail.status).toBe(200);
          expect(detail.json).toEqual(detailOfA());
        });
      }, POLLING_TEST_MS);

      it('shows a booking without tickets with an empty list', async () => {
        const detail = await call(t.url, 'GET', `/api/ops/bookings/${b}`);
        expect(detail.json).toEqual({
          booking_id: b, show_id: showId, number_of_tickets: 1, customer_email: EMAIL,
          booked_at: '2030-01-01T11:00:00.000Z', last_update: '2030-01-01T11:00:00.000Z', tickets: [],
        });
      });
    });

    describe('when bookings are listed', () => {
      it('lists them newest first, each as its detail', async () => {
        await eventually(async () => {
          const list = await call(t.url, 'GET', '/api/ops/bookings');
          expect(list.status).toBe(200);
          expect(list.json.map((booking: { booking_id: string }) => booking.booking_id)).toEqual([c, b, a]);
          expect(list.json[2]).toEqual(detailOfA());
          expect(list.json[0].tickets).toEqual([ticket(t3, '2030-01-03T08:00:00.000Z', receipt3)]);
        });
      }, POLLING_TEST_MS);

      it('keeps the bookings with a receipt issued on the UTC date of receipt_issue_date', async () => {
        const onSecond = await call(t.url, 'GET', '/api/ops/bookings?receipt_issue_date=2030-01-02');
        expect(onSecond.json).toEqual([detailOfA()]);
        const onThird = await call(t.url, 'GET', '/api/ops/bookings?receipt_issue_date=2030-01-03');
        expect(onThird.json.map((booking: { booking_id: string }) => booking.booking_id)).toEqual([c]);
        const none = await call(t.url, 'GET', '/api/ops/bookings?receipt_issue_date=2030-01-04');
        expect(none.status).toBe(200);
        expect(none.json).toEqual([]);
      });

      it('pages with ?limit= and Link, through the whole list', async () => {
        const first = await call(t.url, 'GET', '/api/ops/bookings?limit=1');
        expect(first.json.map((booking: { booking_id: string }) => booking.booking_id)).toEqual([c]);
        expect(first.headers.get('link')).toMatch(/^<\/api\/ops\/bookings\?limit=1&cursor=[A-Za-z0-9_-]+>; rel="next"$/);
        const all = (await call(t.url, 'GET', '/api/ops/bookings')).json;
        expect(await pages(t, '/api/ops/bookings?limit=2')).toEqual(all);
        expect(await pages(t, '/api/ops/bookings?limit=1')).toEqual(all);
        const filtered = await call(t.url, 'GET', '/api/ops/bookings?receipt_issue_date=2030-01-02&limit=1');
        expect(filtered.json).toEqual([detailOfA()]);
        expect(filtered.headers.get('link')).toBeNull();
      });

      it('refuses impossible and malformed dates, bad limits and foreign cursors with 400', async () => {
        for (const query of ['receipt_issue_date=2024-02-30', 'receipt_issue_date=abc', 'receipt_issue_date=2030-1-02']) {
          const refused = await call(t.url, 'GET', `/api/ops/bookings?${query}`);
          expect(refused.status).toBe(400);
          expect(refused.headers.get('content-type')).toContain('application/problem+json');
          expect(refused.json.code).toBe('VALIDATION_FAILED');
          expect(Object.keys(refused.json.errors)).toEqual(['receipt_issue_date']);
        }
        expect((await call(t.url, 'GET', '/api/ops/bookings?receipt_issue_date=2028-02-29')).status).toBe(200);
        expect((await call(t.url, 'GET', '/api/ops/bookings?limit=0')).status).toBe(400);
        expect((await call(t.url, 'GET', '/api/ops/bookings?limit=101')).status).toBe(400);
        expect((await call(t.url, 'GET', '/api/ops/bookings?cursor=bm9wZQ')).status).toBe(400);
        // A cursor of the right shape that this list did not hand out: not a silent empty or full page.
        const forged = (key: unknown[]) => Buffer.from(JSON.stringify(key)).toString('base64url');
        const time = '2030-01-01T00:00:00.000Z';
        for (const key of [['ops.bookings', 'x', 'y'], ['ops.bookings', time, 'not-a-uuid'], ['ops.bookings', '9999-99-99', crypto.randomUUID()], [time, crypto.randomUUID()], ['tickets', time, crypto.randomUUID()]]) {
          const refused = await call(t.url, 'GET', `/api/ops/bookings?cursor=${forged(key)}`);
          expect([refused.status, Object.keys(refused.json.errors)]).toEqual([400, ['cursor']]);
        }
        expect((await call(t.url, 'GET', `/api/ops/bookings?cursor=${forged(['ops.bookings', time, crypto.randomUUID()])}`)).status).toBe(200);
      });
    });

    describe('when the id is unknown or not a UUID', () => {
      it('answers 404 for an unknown UUID', async () => {
        const unknown = await call(t.url, 'GET', `/api/ops/bookings/${crypto.randomUUID()}`);
        expect(unknown.status).toBe(404);
        expect(unknown.json.code).toBe('BOOKING_NOT_FOUND');
      });

      it('answers 400 with a field error for an id that is not a UUID', async () => {
        const bad = await call(t.url, 'GET', '/api/ops/bookings/abc');
        expect(bad.status).toBe(400);
        expect(Object.keys(bad.json.errors)).toEqual(['id']);
      });
    });

    describe('when ticket facts come before their booking', () => {
      it('hides the booking until BookingMade_v1, then shows it with the ticket', async () => {
        const d = crypto.randomUUID();
        const t5 = crypto.randomUUID();
        const receipt5 = { receipt_number: 'R-0005', issued_at: '2030-01-04T08:00:05.000Z' };
        await tellTicket(t, { ticketId: t5, bookingId: d, at: '2030-01-04T08:00:00.000Z', receipt: receipt5 });
        // The ticket is in the read model once a later booking shows up in the list: the runner applies in log order.
        const e = await book(t, showId, '2030-01-04T08:30:00.000Z', 1);
        await eventually(async () => {
          expect((await call(t.url, 'GET', '/api/ops/bookings?limit=1')).json[0]?.booking_id).toBe(e);
        });
        expect((await call(t.url, 'GET', `/api/ops/bookings/${d}`)).status).toBe(404);
        expect((await call(t.url, 'GET', '/api/ops/bookings?receipt_issue_date=2030-01-04')).json).toEqual([]);

        t.clock!.set('2030-01-04T09:00:00.000Z');
        await t.service.runtime.send(
          `booking/${d}`,
          { type: 'booking.make', now: '2030-01-04T09:00:00.000Z', booking_id: d, show_id: showId, number_of_tickets: 1, customer_email: EMAIL },
          { create: true, metadata },
        );
        const expected = {
          booking_id: d, show_id: showId, number_of_tickets: 1, customer_email: EMAIL,
          booked_at: '2030-01-04T09:00:00.000Z', last_update: '2030-01-04T09:00:00.000Z',
          tickets: [ticket(t5, '2030-01-04T08:00:00.000Z', receipt5)],
        };
        await eventually(async () => {
          expect((await call(t.url, 'GET', `/api/ops/bookings/${d}`)).json).toEqual(expected);
        });
        expect((await call(t.url, 'GET', '/api/ops/bookings?receipt_issue_date=2030-01-04')).json).toEqual([expected]);
        expect((await call(t.url, 'GET', '/api/ops/bookings')).json.map((booking: { booking_id: string }) => booking.booking_id)).toEqual([d, e, c, b, a]);
      }, POLLING_TEST_MS);
    });

    describe("when a booking's only receipted ticket is then cancelled", () => {
      it('keeps the ticket, so that the day of its receipt (which stays valid) still lists the booking', async () => {
        const f = await book(t, showId, '2030-01-05T10:00:00.000Z', 1);
        const t6 = crypto.randomUUID();
        const receipt6 = { receipt_number: 'R-0006', issued_at: '2030-01-05T11:00:05.000Z' };
        await tellTicket(t, { ticketId: t6, bookingId: f, at: '2030-01-05T11:00:00.000Z', receipt: receipt6, then: 'cancel' });
        await eventually(async () => {
          const onFifth = await call(t.url, 'GET', '/api/ops/bookings?receipt_issue_date=2030-01-05');
          expect(onFifth.json.map((booking: { booking_id: string; tickets: unknown[] }) => [booking.booking_id, booking.tickets])).toEqual([[f, [ticket(t6, '2030-01-05T11:00:00.000Z', receipt6)]]]);
        });
      }, POLLING_TEST_MS);
    });
  });
}
