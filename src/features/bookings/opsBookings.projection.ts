import type { Message, SqlExecutor } from '../../actors/ports';
import { defineProjection, rowsOf } from '../../messaging/projections';
import { hasReceiptIssuedOn, opsTicketsProjection, text } from './opsTickets.projection';
import { keysetAfter } from '../../kernel/statementShapes';

/**
 * One booking in the ops read model. A ticket fact may be applied before its BookingMade_v1 (the
 * provider confirms tickets of a booking we have not committed yet): it opens a row with only the key
 * and `last_update`, which BookingMade_v1 fills later.
 */
export type OpsBookingRow = {
  booking_id: string;
  show_id: string | null;
  number_of_tickets: number | null;
  customer_email: string | null;
  booked_at: string | null;
  /** `occurredAt` of the latest fact about the booking or one of its tickets. */
  last_update: string;
};

/** A booking whose BookingMade_v1 has been applied: the only bookings the ops routes show. */
export type MadeBooking = { [K in keyof OpsBookingRow]: NonNullable<OpsBookingRow[K]> };

type Opening = Pick<OpsBookingRow, 'show_id' | 'number_of_tickets' | 'customer_email' | 'booked_at'>;

/**
 * The facts that open a booking, and what each says of it:
 * - BookingMade_v1: a booking of book-tickets or of a VIP bundle;
 * - BookingRefused_v1: a VIP bundle's booking whose seats were refused, shown as asked for (booked when
 *   refused), so that a ticket the provider confirms for it anyway, and its refund, are seen by ops;
 * - TicketsSold_v1: a hold that was bought (the hold id is the booking id, its event stands for the
 *   show), booked when sold.
 * The last two carry `customer_email` since 2026-12-06; a booking opened by an older one takes the
 * e-mail of its tickets' facts (a refused VIP booking with no ticket stays hidden, as it was).
 */
const OPENINGS = new Map<string, (fact: Message) => Opening>([
  ['BookingMade_v1', (fact) => ({
    show_id: text(fact.data.show_id),
    number_of_tickets: Number(fact.data.number_of_tickets),
    customer_email: text(fact.data.customer_email),
    booked_at: text(fact.data.booked_at) ?? fact.occurredAt,
  })],
  ['BookingRefused_v1', (fact) => ({
    show_id: text(fact.data.show_id),
    number_of_tickets: Number(fact.data.number_of_tickets),
    customer_email: text(fact.data.customer_email),
    booked_at: text(fact.data.refused_at) ?? fact.occurredAt,
  })],
  ['TicketsSold_v1', (fact) => ({
    show_id: text(fact.data.event_id),
    number_of_tickets: Number(fact.data.quantity),
    customer_email: text(fact.data.customer_email),
    booked_at: fact.occurredAt,
  })],
]);

/** The ticket facts that move a booking's `last_update`: every fact its tickets' read model applies. */
const TICKET_FACTS = opsTicketsProjection.handles;

/** The end of a made booking (a VIP compensation cancelled it, Dead Nation refused it): it moves `last_update` only. */
const BOOKING_ENDINGS = ['BookingCanceled_v1', 'BookingFailed_v1'];

/** Times are UTC strings of one format, so the latest is the greatest; taking it makes any order converge. */
const latest = (a: string, b: string): string => (a >= b ? a : b);

/**
 * The bookings of the ops read model (`GET /api/ops/bookings[/:id]`), their tickets being in
 * opsTickets. Tickets sold elsewhere (empty `booking_id`) touch no booking.
 */
export const opsBookingsProjection = defineProjection<OpsBookingRow>({
  name: 'opsBookings',
  table: 'ops_bookings',
  key: 'booking_id',
  columns: { booking_id: 'text', show_id: 'text', number_of_tickets: 'integer', customer_email: 'text', booked_at: 'text', last_update: 'text' },
  indexes: { booked: ['booked_at', 'booking_id'] },
  handles: [...OPENINGS.keys(), ...BOOKING_ENDINGS, ...TICKET_FACTS],
  keyOf: (fact) => {
    const bookingId = text(fact.data.booking_id);
    return bookingId === null ? [] : [bookingId];
  },
  evolve(row, fact, key) {
    const opening = OPENINGS.get(fact.name);
    if (opening) {
      const opened = opening(fact);
      return { booking_id: key, ...opened, customer_email: opened.customer_email ?? row?.customer_email ?? null, last_update: latest(row?.last_update ?? fact.occurredAt, fact.occurredAt) };
    }
    if (BOOKING_ENDINGS.includes(fact.name)) return row && { ...row, last_update: latest(row.last_update, fact.occurredAt) };
    if (!TICKET_FACTS.includes(fact.name)) return row;
    if (!row) return { booking_id: key, show_id: null, number_of_tickets: null, customer_email: null, booked_at: null, last_update: fact.occurredAt };
    const lastUpdate = latest(row.last_update, fact.occurredAt);
    // A booking opened without an e-mail (a hold sold before TicketsSold_v1 carried it) takes its tickets'.
    const email = row.booked_at !== null && row.customer_email === null ? text(fact.data.customer_email) : null;
    if (email !== null) return { ...row, customer_email: email, last_update: lastUpdate };
    return lastUpdate === row.last_update ? row : { ...row, last_update: lastUpdate };
  },
});

const isMade = (row: OpsBookingRow): row is MadeBooking =>
  row.show_id !== null && row.number_of_tickets !== null && row.customer_email !== null && row.booked_at !== null;

/** One made booking, or null (also while only facts of its tickets have arrived). */
export async function findMadeBooking(db: SqlExecutor, bookingId: string): Promise<MadeBooking | null> {
  const [row] = await rowsOf(opsBookingsProjection, db, 'WHERE booking_id = $1 AND booked_at IS NOT NULL', [bookingId]);
  return row && isMade(row) ? row : null;
}

/** Which made bookings to list: after the key `[booked_at, booking_id]`, at most `limit`, with a receipt issued on a day. */
export interface MadeBookingsPage {
  limit?: number | undefined;
  after?: readonly string[] | undefined;
  /** `YYYY-MM-DD`: only bookings having a shown ticket whose receipt was issued that UTC day. */
  receiptIssuedOn?: string | undefined;
}

/** Made bookings, newest first (`booked_at`, then `booking_id`, descending); `limit + 1` rows when limited, to tell a next page. */
export async function listMadeBookings(db: SqlExecutor, page: MadeBookingsPage): Promise<MadeBooking[]> {
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  const where = ['booked_at IS NOT NULL'];
  if (page.after) {
    where.push(keysetAfter(['booked_at', 'booking_id'], [param(page.after[0]), param(page.after[1])], 'desc'));
  }
  if (page.receiptIssuedOn !== undefined) where.push(hasReceiptIssuedOn(page.receiptIssuedOn, param));
  const limit = page.limit === undefined ? '' : ` LIMIT ${page.limit + 1}`;
  const rows = await rowsOf(opsBookingsProjection, db, `WHERE ${where.join(' AND ')} ORDER BY booked_at DESC, booking_id DESC${limit}`, params);
  return rows.filter(isMade);
}
