import type { Message, SqlExecutor } from '../../actors/ports';
import { defineProjection, rowsOf } from '../../messaging/projections';
import { inStoredFormat } from '../../kernel/clock';
import { paddedToPowerOfTwo, placeholders } from '../../kernel/statementShapes';

/** One ticket in the ops read model; every column but the key is null until a fact sets it. */
export type OpsTicketRow = {
  ticket_id: string;
  /** Null for tickets sold elsewhere (the webhook's empty `booking_id`). */
  booking_id: string | null;
  price_amount: string | null;
  price_currency: string | null;
  customer_email: string | null;
  confirmed_at: string | null;
  printed_at: string | null;
  printed_file_name: string | null;
  receipt_issued_at: string | null;
  receipt_number: string | null;
  refunded_at: string | null;
  /** When the provider cancelled the ticket; the ticket stays shown with its receipt, which stays valid. */
  canceled_at: string | null;
};

/** A ticket the ops routes show: confirmed (also if cancelled since), so its booking, price and e-mail are known. */
export type ShownOpsTicket = OpsTicketRow & {
  booking_id: string;
  price_amount: string;
  price_currency: string;
  customer_email: string;
  confirmed_at: string;
};

/** A fact's string field, null when absent or empty (the webhook's `booking_id` of tickets sold elsewhere). */
export const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);

/** The receipts service's `issued_at` in the one stored time format, so that day ranges compare as text. */
function utc(value: unknown): string | null {
  const raw = text(value);
  return raw === null ? null : inStoredFormat(raw);
}

/** The columns each fact owns; no two facts set the same one, so the order they arrive in does not matter. */
const OWN_FIELDS = new Map<string, (fact: Message) => Partial<OpsTicketRow>>([
  ['TicketBookingConfirmed_v1', (fact) => ({ confirmed_at: text(fact.data.confirmed_at) ?? fact.occurredAt })],
  ['TicketReceiptIssued_v1', (fact) => ({ receipt_number: text(fact.data.receipt_number), receipt_issued_at: utc(fact.data.issued_at) })],
  ['TicketPrinted_v1', (fact) => ({ printed_file_name: text(fact.data.file_name), printed_at: text(fact.data.printed_at) ?? fact.occurredAt })],
  ['TicketRefunded_v1', (fact) => ({ refunded_at: text(fact.data.refunded_at) ?? fact.occurredAt })],
  ['TicketBookingCanceled_v1', (fact) => ({ canceled_at: text(fact.data.canceled_at) ?? fact.occurredAt })],
]);

const emptyTicket = (ticketId: string): OpsTicketRow => ({
  ticket_id: ticketId,
  booking_id: null,
  price_amount: null,
  price_currency: null,
  customer_email: null,
  confirmed_at: null,
  printed_at: null,
  printed_file_name: null,
  receipt_issued_at: null,
  receipt_number: null,
  refunded_at: null,
  canceled_at: null,
});

/**
 * The tickets of the ops read model (`GET /api/ops/bookings[/:id]`): one row per ticket with its price,
 * receipt, printed file and refund. Facts about one ticket may be applied in any order (a rebuild, a
 * ticket whose booking comes later): each fact fills only its own columns, and the booking, price and
 * e-mail, which every fact carrying them states alike, are taken from the first that does. A ticket the
 * provider cancelled stays shown (unlike in `GET /api/tickets`): its receipt was issued and is not voided
 * by a cancellation, so the booking stays in the report of that receipt's day.
 */
export const opsTicketsProjection = defineProjection<OpsTicketRow>({
  name: 'opsTickets',
  table: 'ops_tickets',
  key: 'ticket_id',
  columns: {
    ticket_id: 'text',
    booking_id: 'text',
    price_amount: 'text',
    price_currency: 'text',
    customer_email: 'text',
    confirmed_at: 'text',
    printed_at: 'text',
    printed_file_name: 'text',
    receipt_issued_at: 'text',
    receipt_number: 'text',
    refunded_at: 'text',
    canceled_at: 'text',
  },
  indexes: { booking: ['booking_id', 'confirmed_at', 'ticket_id'], receipt_issued: ['receipt_issued_at'] },
  handles: [...OWN_FIELDS.keys()],
  keyOf: (fact) => String(fact.data.ticket_id),
  evolve(row, fact, key) {
    const own = OWN_FIELDS.get(fact.name);
    if (!own) return row;
    const before = row ?? emptyTicket(key);
    const price = fact.data.price as { amount?: unknown; currency?: unknown } | undefined;
    return {
      ...before,
      booking_id: before.booking_id ?? text(fact.data.booking_id),
      price_amount: before.price_amount ?? text(price?.amount),
      price_currency: before.price_currency ?? text(price?.currency),
      customer_email: before.customer_email ?? text(fact.data.customer_email),
      ...own(fact),
    };
  },
});

const SHOWN = 'confirmed_at IS NOT NULL';

const isShown = (row: OpsTicketRow): row is ShownOpsTicket =>
  row.booking_id !== null && row.price_amount !== null && row.price_currency !== null && row.customer_email !== null && row.confirmed_at !== null;

/** Bound parameters per query stay far below both databases' limits. */
const IDS_PER_QUERY = 512;

/** The shown tickets of these bookings, each booking's in `confirmed_at`, then `ticket_id` order. */
export async function shownTicketsOf(db: SqlExecutor, bookingIds: readonly string[]): Promise<Map<string, ShownOpsTicket[]>> {
  const byBooking = new Map<string, ShownOpsTicket[]>();
  for (let start = 0; start < bookingIds.length; start += IDS_PER_QUERY) {
    const ids = paddedToPowerOfTwo(bookingIds.slice(start, start + IDS_PER_QUERY));
    const rows = await rowsOf(opsTicketsProjection, db, `WHERE booking_id IN (${placeholders(ids.length)}) AND ${SHOWN} ORDER BY confirmed_at, ticket_id`, ids);
    for (const row of rows.filter(isShown)) {
      const tickets = byBooking.get(row.booking_id);
      if (tickets) tickets.push(row);
      else byBooking.set(row.booking_id, [row]);
    }
  }
  return byBooking;
}

/**
 * A condition on a bookings query: the booking has a shown ticket whose receipt was issued on `day`
 * (`YYYY-MM-DD`, UTC). `param` binds a value and returns its placeholder.
 */
export function hasReceiptIssuedOn(day: string, param: (value: unknown) => string): string {
  const from = `${day}T00:00:00.000Z`;
  const to = new Date(Date.parse(from) + 86_400_000).toISOString();
  return `booking_id IN (SELECT booking_id FROM ${opsTicketsProjection.table} WHERE ${SHOWN} AND receipt_issued_at >= ${param(from)} AND receipt_issued_at < ${param(to)})`;
}
