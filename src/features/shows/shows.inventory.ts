import type { Message, Tx } from '../../actors/ports';
import type { InlineHandler } from '../../actors/runtime';
import { AppError, conflict, notFound } from '../../kernel/errors';
import { heldASeat, reclaimLapsedHolds, recordBookingSeats, takeSeatsForExtraTickets } from '../showCapacity';

/**
 * The seat inventory of shows, kept inside the transaction that commits each fact, so capacity is
 * enforced by the database and never by a read-then-write: a booking takes its seats with one
 * conditional UPDATE, counting the seats of general-admission holds (../showCapacity.ts), or the whole
 * command is refused (SOLD_OUT). Seats come back when a booking fails
 * or is cancelled, and one at a time when one of its confirmed tickets is cancelled or refunded; `booking_seats`
 * counts what each booking still holds so that no seat is given back twice, and how many valid tickets
 * it has, so that a seat is never given back while a valid ticket still needs it (the provider may
 * confirm more tickets than were booked: each one past the seats booked takes a seat when one is left).
 */
export const showInventory: InlineHandler = {
  name: 'showInventory',
  handles: ['ShowCreated_v1', 'BookingMade_v1', 'BookingFailed_v1', 'BookingCanceled_v1', 'TicketBookingConfirmed_v1', 'TicketBookingCanceled_v1', 'TicketRefunded_v1'],
  // Every shared-row change below is one conditional UPDATE (or a compare-and-set on the booking's own row).
  groupable: true,
  async apply(tx, message) {
    switch (message.name) {
      case 'ShowCreated_v1':
        return addShow(tx, message);
      case 'BookingMade_v1':
        return takeSeats(tx, message);
      case 'BookingFailed_v1':
      case 'BookingCanceled_v1':
        return releaseBooking(tx, String(message.data.booking_id));
      case 'TicketBookingConfirmed_v1':
        return countTicket(tx, String(message.data.booking_id));
      default:
        return heldASeat(message) ? releaseTicketSeat(tx, String(message.data.booking_id)) : undefined;
    }
  },
};

async function addShow(tx: Tx, message: Message): Promise<void> {
  const d = message.data;
  const added = await tx.execute(
    `INSERT INTO shows (show_id, dead_nation_id, number_of_tickets, start_time, title, venue, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (dead_nation_id) DO NOTHING`,
    [d.show_id, d.dead_nation_id, d.number_of_tickets, d.start_time, d.title, d.venue, d.created_at],
  );
  if (added === 0) throw conflict('SHOW_ALREADY_EXISTS', `a show with dead_nation_id ${String(d.dead_nation_id)} already exists`, { dead_nation_id: ['taken by another show'] });
}

async function takeSeats(tx: Tx, message: Message): Promise<void> {
  const { booking_id: bookingId, show_id: showId, number_of_tickets: seats } = message.data;
  // Seats held by general-admission holds count against the capacity too; lapsed ones are reclaimed
  // only when they stand in the way, so the hot path stays one conditional UPDATE.
  const take = () => tx.execute(
    'UPDATE shows SET seats_taken = seats_taken + $1 WHERE show_id = $2 AND seats_taken + seats_held + $1 <= number_of_tickets',
    [seats, showId],
  );
  // The row of the booking is written together with the UPDATE (one round trip): when no seats are
  // taken the command fails and the transaction, row included, is rolled back.
  const [first, ticketsBefore] = await Promise.all([take(), recordBookingSeats(tx, String(bookingId), String(showId), Number(seats))]);
  let taken = first;
  if (taken === 0 && (await reclaimLapsedHolds(tx, String(showId), message.occurredAt)) > 0) taken = await take();
  if (taken === 0) {
    const [show] = await tx.query('SELECT 1 AS found FROM shows WHERE show_id = $1', [showId]);
    if (!show) throw notFound(`show ${String(showId)}`, 'SHOW_NOT_FOUND', { show_id: ['unknown show'] });
    throw new AppError({ code: 'SOLD_OUT', status: 400, detail: 'not enough seats available' });
  }
  if (ticketsBefore > Number(seats)) await takeSeatsForExtraTickets(tx, String(bookingId), String(showId), ticketsBefore - Number(seats));
}

async function releaseBooking(tx: Tx, bookingId: string): Promise<void> {
  // Compare-and-set on the count read, so a ticket released concurrently is never given back twice.
  for (;;) {
    const [held] = await tx.query<{ show_id: string; seats: number }>('SELECT show_id, seats FROM booking_seats WHERE booking_id = $1', [bookingId]);
    if (!held || Number(held.seats) === 0) return;
    const seats = Number(held.seats);
    if ((await tx.execute('UPDATE booking_seats SET seats = 0 WHERE booking_id = $1 AND seats = $2', [bookingId, seats])) === 1) {
      await tx.execute('UPDATE shows SET seats_taken = seats_taken - $1 WHERE show_id = $2', [seats, held.show_id]);
      return;
    }
  }
}

/**
 * A ticket confirmed for a booking: one more valid ticket. One past the seats the booking holds takes a
 * seat (takeSeatsForExtraTickets). For a booking not made yet (or never made here: the provider's own
 * ids), the ticket is counted on a row with no show, which the booking takes over (recordBookingSeats).
 */
async function countTicket(tx: Tx, bookingId: string): Promise<void> {
  if (bookingId === '') return;
  const [counted] = await tx.query<{ show_id: string | null; seats: number; tickets: number }>(
    `INSERT INTO booking_seats (booking_id, show_id, seats, tickets) VALUES ($1, NULL, 0, 1)
     ON CONFLICT (booking_id) DO UPDATE SET tickets = booking_seats.tickets + 1
     RETURNING show_id, seats, tickets`,
    [bookingId],
  );
  if (counted === undefined || counted.show_id === null || Number(counted.tickets) <= Number(counted.seats)) return;
  await takeSeatsForExtraTickets(tx, bookingId, counted.show_id, 1);
}

/**
 * A valid ticket of the booking cancelled or refunded: its seat comes back, unless the booking's other
 * valid tickets need every seat it holds. (A row from before tickets were counted has 0: a seat back
 * per ticket, as then.)
 *
 * The members of a group commit share one transaction and their statements interleave, so no member
 * may read the row and then write it: each statement below decides and writes the count at once, on
 * the row as it is. Releasing and keeping exclude each other; when another member moved the row
 * between the two (neither matched), they are tried again on the row as it is then.
 */
async function releaseTicketSeat(tx: Tx, bookingId: string): Promise<void> {
  if (bookingId === '') return;
  for (let attempt = 0; attempt < 10; attempt++) {
    const [released] = await tx.query<{ show_id: string }>(
      `UPDATE booking_seats SET seats = seats - 1, tickets = CASE WHEN tickets > 0 THEN tickets - 1 ELSE 0 END
        WHERE booking_id = $1 AND seats >= 1 AND seats > tickets - 1 RETURNING show_id`,
      [bookingId],
    );
    if (released !== undefined) {
      await tx.execute('UPDATE shows SET seats_taken = seats_taken - 1 WHERE show_id = $1', [released.show_id]);
      return;
    }
    const kept = await tx.execute(
      'UPDATE booking_seats SET tickets = tickets - 1 WHERE booking_id = $1 AND tickets > 0 AND NOT (seats >= 1 AND seats > tickets - 1)',
      [bookingId],
    );
    if (kept === 1) return;
    // Neither: no such row, or a row with no ticket and no seat left; else another member moved it.
    const [row] = await tx.query<{ seats: number; tickets: number }>('SELECT seats, tickets FROM booking_seats WHERE booking_id = $1', [bookingId]);
    if (row === undefined || (Number(row.tickets) === 0 && Number(row.seats) === 0)) return;
  }
  throw new Error(`the seats of booking ${bookingId} kept changing while a ticket's seat was given back`);
}
