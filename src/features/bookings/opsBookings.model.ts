import { z } from 'zod';
import { UuidInput } from '../../http/schemas';
import { CURSOR_TIME, CURSOR_UUID, cursorParam, listCursor, optionalLimitParam } from '../../http/pagination';
import type { MadeBooking } from './opsBookings.projection';
import type { ShownOpsTicket } from './opsTickets.projection';

/** Cursors of `GET /api/ops/bookings`: `[booked_at, booking_id]` of the last booking of the previous page. */
export const OPS_BOOKINGS_CURSOR = listCursor('ops.bookings', CURSOR_TIME, CURSOR_UUID);

/** `GET /api/ops/bookings` query: a real UTC date, and paging (everything unless `limit`). */
export const OpsBookingsQuery = z.object({
  receipt_issue_date: z.iso.date('a date YYYY-MM-DD that exists').optional(),
  limit: optionalLimitParam,
  /** The `[booked_at, booking_id]` of the last booking of the previous page. */
  cursor: cursorParam(OPS_BOOKINGS_CURSOR).optional(),
});

/** `:id` of an ops booking: a UUID. */
export const OpsBookingParams = z.object({ id: UuidInput });

/** A ticket of a booking as ops see it; unset times are null. */
export const OpsTicket = z.object({
  ticket_id: z.string(),
  price_amount: z.string(),
  price_currency: z.string(),
  customer_email: z.string(),
  confirmed_at: z.string(),
  printed_at: z.string().nullable(),
  printed_file_name: z.string().nullable(),
  receipt_issued_at: z.string().nullable(),
  receipt_number: z.string().nullable(),
  refunded_at: z.string().nullable(),
});
export type OpsTicket = z.infer<typeof OpsTicket>;

/** A booking as ops see it, in the detail and in every item of the list. */
export const OpsBooking = z.object({
  booking_id: z.string(),
  show_id: z.string(),
  number_of_tickets: z.number().int(),
  customer_email: z.string(),
  booked_at: z.string(),
  last_update: z.string(),
  tickets: z.array(OpsTicket),
});
export type OpsBooking = z.infer<typeof OpsBooking>;

/** The API form of a booking and its shown tickets (already in order). */
export function toOpsBooking(booking: MadeBooking, tickets: readonly ShownOpsTicket[]): OpsBooking {
  return {
    booking_id: booking.booking_id,
    show_id: booking.show_id,
    number_of_tickets: booking.number_of_tickets,
    customer_email: booking.customer_email,
    booked_at: booking.booked_at,
    last_update: booking.last_update,
    tickets: tickets.map((t) => ({
      ticket_id: t.ticket_id,
      price_amount: t.price_amount,
      price_currency: t.price_currency,
      customer_email: t.customer_email,
      confirmed_at: t.confirmed_at,
      printed_at: t.printed_at,
      printed_file_name: t.printed_file_name,
      receipt_issued_at: t.receipt_issued_at,
      receipt_number: t.receipt_number,
      refunded_at: t.refunded_at,
    })),
  };
}
