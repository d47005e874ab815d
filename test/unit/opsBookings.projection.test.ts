import { describe, expect, it } from 'bun:test';
import type { Message } from '../../src/actors/ports';
import { project } from '../../src/messaging/projections';
import { opsBookingsProjection, type OpsBookingRow } from '../../src/features/bookings/opsBookings.projection';
import { opsTicketsProjection, type OpsTicketRow } from '../../src/features/bookings/opsTickets.projection';

const BOOKING = 'b0000000-0000-4000-8000-000000000001';
const OTHER_BOOKING = 'b0000000-0000-4000-8000-000000000002';
const SHOW = '50000000-0000-4000-8000-000000000001';
const T1 = 't0000000-0000-4000-8000-000000000001';
const T2 = 't0000000-0000-4000-8000-000000000002';
const PRICE = { amount: '50.30', currency: 'GBP' };

let position = 0;
function fact(name: string, actor: string, data: Record<string, unknown>, occurredAt: string): Message {
  position += 1;
  return { id: `m-${position}`, name, kind: 'event', actor, actorSeq: position, position, data, metadata: { correlation_id: 'corr-1' }, occurredAt };
}

const ticketFields = (ticketId: string, bookingId: string) => ({ ticket_id: ticketId, booking_id: bookingId, customer_email: 'ann@example.com', price: PRICE });

const bookingMade = (bookingId = BOOKING, at = '2030-01-01T10:00:00.000Z') =>
  fact('BookingMade_v1', `booking/${bookingId}`, {
    booking_id: bookingId, show_id: SHOW, number_of_tickets: 2, customer_email: 'ann@example.com', vip_bundle_id: null, booked_at: at,
  }, at);
const confirmed = (ticketId: string, bookingId = BOOKING, at = '2030-01-01T10:01:00.000Z') =>
  fact('TicketBookingConfirmed_v1', `ticket/${ticketId}`, { ...ticketFields(ticketId, bookingId), confirmed_at: at }, at);
const receiptIssued = (ticketId: string, issuedAt = '2030-01-01T10:02:00.000Z', bookingId = BOOKING, at = '2030-01-01T10:02:01.000Z') =>
  fact('TicketReceiptIssued_v1', `ticket/${ticketId}`, { ticket_id: ticketId, booking_id: bookingId, receipt_number: `R-${ticketId.slice(-1)}`, issued_at: issuedAt }, at);
const printed = (ticketId: string, bookingId = BOOKING, at = '2030-01-01T10:03:00.000Z') =>
  fact('TicketPrinted_v1', `ticket/${ticketId}`, { ticket_id: ticketId, booking_id: bookingId, file_name: `${ticketId}-ticket.html`, printed_at: at }, at);
const refunded = (ticketId: string, bookingId = BOOKING, at = '2030-01-02T09:00:00.000Z') =>
  fact('TicketRefunded_v1', `ticket/${ticketId}`, { ...ticketFields(ticketId, bookingId), refunded_at: at }, at);
const canceled = (ticketId: string, bookingId = BOOKING, at = '2030-01-01T11:00:00.000Z') =>
  fact('TicketBookingCanceled_v1', `ticket/${ticketId}`, { ...ticketFields(ticketId, bookingId), canceled_at: at }, at);

const bookingsAfter = (...facts: Message[]) => project(opsBookingsProjection, facts);
const ticketsAfter = (...facts: Message[]) => project(opsTicketsProjection, facts);

const madeRow: OpsBookingRow = {
  booking_id: BOOKING,
  show_id: SHOW,
  number_of_tickets: 2,
  customer_email: 'ann@example.com',
  booked_at: '2030-01-01T10:00:00.000Z',
  last_update: '2030-01-01T10:00:00.000Z',
};

const confirmedRow: OpsTicketRow = {
  ticket_id: T1,
  booking_id: BOOKING,
  price_amount: '50.30',
  price_currency: 'GBP',
  customer_email: 'ann@example.com',
  confirmed_at: '2030-01-01T10:01:00.000Z',
  printed_at: null,
  printed_file_name: null,
  receipt_issued_at: null,
  receipt_number: null,
  refunded_at: null,
  canceled_at: null,
};

/** Every order of `items` (small inputs only). */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) => permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]));
}

describe('opsBookings projection', () => {
  describe('when nothing happened yet', () => {
    it('opens a row with the booking on BookingMade_v1', () => {
      expect(bookingsAfter(bookingMade())).toEqual(new Map([[BOOKING, madeRow]]));
    });

    it('opens a row with only the key and last_update on a ticket fact of a booking it has not seen', () => {
      expect(bookingsAfter(confirmed(T1, OTHER_BOOKING))).toEqual(
        new Map([[OTHER_BOOKING, { booking_id: OTHER_BOOKING, show_id: null, number_of_tickets: null, customer_email: null, booked_at: null, last_update: '2030-01-01T10:01:00.000Z' }]]),
      );
    });

    it('touches no booking on ticket facts with an empty booking_id', () => {
      expect(bookingsAfter(confirmed(T1, ''), receiptIssued(T1, undefined, ''), printed(T1, ''), refunded(T1, ''))).toEqual(new Map());
    });

    it('keeps no row for facts it does not handle', () => {
      expect(bookingsAfter(fact('BookingPlaced_v1', `booking/${BOOKING}`, { booking_id: BOOKING, placed_at: '2030-01-01T10:00:01.000Z' }, '2030-01-01T10:00:01.000Z'))).toEqual(new Map());
    });
  });

  describe('when the booking is made', () => {
    it('moves last_update on each ticket fact of the booking', () => {
      expect(bookingsAfter(bookingMade(), confirmed(T1)).get(BOOKING)?.last_update).toBe('2030-01-01T10:01:00.000Z');
      expect(bookingsAfter(bookingMade(), confirmed(T1), receiptIssued(T1)).get(BOOKING)?.last_update).toBe('2030-01-01T10:02:01.000Z');
      expect(bookingsAfter(bookingMade(), confirmed(T1), receiptIssued(T1), printed(T1)).get(BOOKING)?.last_update).toBe('2030-01-01T10:03:00.000Z');
      expect(bookingsAfter(bookingMade(), confirmed(T1), refunded(T1)).get(BOOKING)?.last_update).toBe('2030-01-02T09:00:00.000Z');
      expect(bookingsAfter(bookingMade(), confirmed(T1), canceled(T1)).get(BOOKING)?.last_update).toBe('2030-01-01T11:00:00.000Z');
    });

    it('keeps the booking itself unchanged by ticket facts', () => {
      expect(bookingsAfter(bookingMade(), confirmed(T1), refunded(T1)).get(BOOKING)).toEqual({ ...madeRow, last_update: '2030-01-02T09:00:00.000Z' });
    });

    it('returns the same row for a ticket fact older than its last_update', () => {
      const row = bookingsAfter(bookingMade(), refunded(T1)).get(BOOKING)!;
      expect(opsBookingsProjection.evolve(row, confirmed(T1), BOOKING)).toBe(row);
    });

    it('leaves other bookings alone', () => {
      const rows = bookingsAfter(bookingMade(), bookingMade(OTHER_BOOKING, '2030-01-01T12:00:00.000Z'), confirmed(T1), printed(T2, OTHER_BOOKING, '2030-01-01T12:05:00.000Z'));
      expect(rows.get(BOOKING)?.last_update).toBe('2030-01-01T10:01:00.000Z');
      expect(rows.get(OTHER_BOOKING)).toMatchObject({ booked_at: '2030-01-01T12:00:00.000Z', last_update: '2030-01-01T12:05:00.000Z' });
    });
  });

  describe('when ticket facts arrive before BookingMade_v1', () => {
    it('fills the row when the booking arrives, keeping the latest last_update', () => {
      expect(bookingsAfter(confirmed(T1), receiptIssued(T1), bookingMade()).get(BOOKING)).toEqual({ ...madeRow, last_update: '2030-01-01T10:02:01.000Z' });
    });

    it('converges to the same row for every order of the facts', () => {
      const facts = [bookingMade(), confirmed(T1), receiptIssued(T1), printed(T1), refunded(T1)];
      const expected = bookingsAfter(...facts);
      expect(expected.get(BOOKING)).toEqual({ ...madeRow, last_update: '2030-01-02T09:00:00.000Z' });
      for (const order of permutations(facts)) expect(bookingsAfter(...order)).toEqual(expected);
    });
  });
});

describe('opsTickets projection', () => {
  describe('when nothing happened yet', () => {
    it('opens a row with price, e-mail and booking on TicketBookingConfirmed_v1', () => {
      expect(ticketsAfter(confirmed(T1))).toEqual(new Map([[T1, confirmedRow]]));
    });

    it('opens a partial row on TicketReceiptIssued_v1 before the confirmation', () => {
      expect(ticketsAfter(receiptIssued(T1)).get(T1)).toEqual({
        ...confirmedRow, price_amount: null, price_currency: null, customer_email: null, confirmed_at: null,
        receipt_issued_at: '2030-01-01T10:02:00.000Z', receipt_number: 'R-1',
      });
    });

    it('keeps booking_id null for a ticket sold elsewhere (empty booking_id)', () => {
      expect(ticketsAfter(confirmed(T1, '')).get(T1)).toEqual({ ...confirmedRow, booking_id: null });
    });

    it('keeps the booking_id of a booking no fact has made yet', () => {
      expect(ticketsAfter(confirmed(T1, OTHER_BOOKING)).get(T1)?.booking_id).toBe(OTHER_BOOKING);
    });
  });

  describe('when the ticket is confirmed', () => {
    it('records the receipt number and issue time on TicketReceiptIssued_v1', () => {
      expect(ticketsAfter(confirmed(T1), receiptIssued(T1)).get(T1)).toEqual({ ...confirmedRow, receipt_issued_at: '2030-01-01T10:02:00.000Z', receipt_number: 'R-1' });
    });

    it('stores a receipt issued with an offset in UTC with Z', () => {
      expect(ticketsAfter(confirmed(T1), receiptIssued(T1, '2030-01-02T01:30:00+02:00')).get(T1)?.receipt_issued_at).toBe('2030-01-01T23:30:00.000Z');
    });

    it('records the file name and print time on TicketPrinted_v1', () => {
      expect(ticketsAfter(confirmed(T1), printed(T1)).get(T1)).toEqual({ ...confirmedRow, printed_at: '2030-01-01T10:03:00.000Z', printed_file_name: `${T1}-ticket.html` });
    });

    it('records the refund time on TicketRefunded_v1, keeping everything else', () => {
      expect(ticketsAfter(confirmed(T1), receiptIssued(T1), printed(T1), refunded(T1)).get(T1)).toEqual({
        ...confirmedRow,
        printed_at: '2030-01-01T10:03:00.000Z',
        printed_file_name: `${T1}-ticket.html`,
        receipt_issued_at: '2030-01-01T10:02:00.000Z',
        receipt_number: 'R-1',
        refunded_at: '2030-01-02T09:00:00.000Z',
      });
    });

    it('keeps the row with canceled_at on TicketBookingCanceled_v1, so later facts cannot revive it', () => {
      expect(ticketsAfter(confirmed(T1), canceled(T1), receiptIssued(T1)).get(T1)).toEqual({
        ...confirmedRow, canceled_at: '2030-01-01T11:00:00.000Z', receipt_issued_at: '2030-01-01T10:02:00.000Z', receipt_number: 'R-1',
      });
    });

    it('returns the same row for a fact it does not handle', () => {
      const row = ticketsAfter(confirmed(T1)).get(T1)!;
      expect(opsTicketsProjection.evolve(row, bookingMade(), T1)).toBe(row);
    });
  });

  describe('when facts about tickets arrive in any order', () => {
    it('converges to the same rows for every order of the facts', () => {
      const facts = [confirmed(T1), receiptIssued(T1), printed(T1), refunded(T1), confirmed(T2, BOOKING, '2030-01-01T10:05:00.000Z')];
      const expected = ticketsAfter(...facts);
      expect([...expected.keys()].sort()).toEqual([T1, T2]);
      expect(expected.get(T1)?.refunded_at).toBe('2030-01-02T09:00:00.000Z');
      for (const order of permutations(facts)) expect(ticketsAfter(...order)).toEqual(expected);
    });

    it('converges for a cancelled ticket too', () => {
      const facts = [confirmed(T1), receiptIssued(T1), canceled(T1)];
      const expected = ticketsAfter(...facts);
      for (const order of permutations(facts)) expect(ticketsAfter(...order)).toEqual(expected);
    });
  });

  describe('when a hold was bought before TicketsSold_v1 carried the e-mail', () => {
    it("opens its booking from the sale and takes the e-mail from its tickets' facts", () => {
      const hold = 'h0000000-0000-4000-8000-000000000001';
      const sold = fact('TicketsSold_v1', `hold/${hold}`, { hold_id: hold, booking_id: hold, event_id: SHOW, seats: ['A1'], quantity: 1, user_id: 'u1', payment_id: 'p1', tickets: [] }, '2030-01-01T10:00:00.000Z');
      const rows = bookingsAfter(sold, confirmed(T1, hold));
      expect(rows.get(hold)).toEqual({ booking_id: hold, show_id: SHOW, number_of_tickets: 1, customer_email: 'ann@example.com', booked_at: '2030-01-01T10:00:00.000Z', last_update: '2030-01-01T10:01:00.000Z' });
      // A booking's own e-mail is never replaced by its tickets'.
      expect(bookingsAfter(bookingMade(), fact('TicketBookingConfirmed_v1', `ticket/${T2}`, { ...ticketFields(T2, BOOKING), customer_email: 'bob@example.com' }, '2030-01-01T10:01:00.000Z')).get(BOOKING)?.customer_email).toBe('ann@example.com');
    });
  });

  describe('when the booking itself ends (cancelled by a VIP compensation, refused by Dead Nation)', () => {
    it('moves last_update, and changes nothing else of the booking', () => {
      for (const [name, field] of [['BookingCanceled_v1', 'canceled_at'], ['BookingFailed_v1', 'failed_at']] as const) {
        const at = '2030-01-01T12:00:00.000Z';
        const rows = bookingsAfter(bookingMade(), fact(name, `booking/${BOOKING}`, { booking_id: BOOKING, show_id: SHOW, reason: 'x', [field]: at }, at));
        expect(rows.get(BOOKING)).toEqual({ ...bookingsAfter(bookingMade()).get(BOOKING)!, last_update: at });
      }
    });
  });
});
