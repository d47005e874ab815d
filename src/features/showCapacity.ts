import type { Message, SqlExecutor, Tx } from '../actors/ports';

/**
 * The capacity of a show (a general-admission event), shared by the features that take from it:
 * `shows.seats_taken` counts seats sold (bookings, holds confirmed) and `shows.seats_held` seats of
 * general-admission holds, and every taker adds to them with one conditional UPDATE that keeps
 * `seats_taken + seats_held <= number_of_tickets`. A hold past its `held_until` still counts in
 * `seats_held` until its expiry timer runs or a taker that finds no room reclaims it
 * (`reclaimLapsedHolds`), so a lapsed hold never stops a sale.
 */

/** The seats of a show free at `now` (live holds taken off, lapsed ones not), or null when there is no such show. */
export async function seatsLeft(db: SqlExecutor, showId: string, now: string): Promise<number | null> {
  const [row] = await db.query<{ left: number }>(`SELECT ${seatsLeftSql('$2')} AS left FROM shows WHERE show_id = $1`, [showId, now]);
  return row === undefined ? null : Number(row.left);
}

/** SQL for the seats of the `shows` row in scope free at `now` (an SQL expression, e.g. `$1`). */
export const seatsLeftSql = (now: string): string => `shows.number_of_tickets - shows.seats_taken - ${liveHeldSeatsSql('shows.show_id', now)}`;

/** The hold policy of every show: shows have none of their own (API.md's defaults). */
export const SHOW_HOLD_POLICY = { ttl_seconds: 900, max_renewals: 2, max_seats_per_user: 10 } as const;

/**
 * SQL for the seats of a show's general-admission holds still live at `now` (a lapsed one reads free
 * at once, whatever `seats_held` still counts): `showId` and `now` are SQL expressions, e.g. `$1`.
 */
export const liveHeldSeatsSql = (showId: string, now: string): string =>
  `(SELECT COALESCE(SUM(quantity), 0) FROM holds WHERE event_id = ${showId} AND status = 'held' AND held_until > ${now})`;

/**
 * Gives back the seats of the show's holds that have passed `held_until` before their expiry timer ran.
 * Each hold is given back once, whoever gets there first (this, its timer, another taker): its row
 * moves `held` → `expired` by compare-and-set. Resolves to the seats given back.
 */
export async function reclaimLapsedHolds(tx: Tx, showId: string, now: string): Promise<number> {
  const lapsed = await tx.query<{ quantity: number }>(
    "UPDATE holds SET status = 'expired' WHERE event_id = $1 AND status = 'held' AND held_until <= $2 RETURNING quantity",
    [showId, now],
  );
  const seats = lapsed.reduce((sum, row) => sum + Number(row.quantity), 0);
  if (seats > 0) await tx.execute('UPDATE shows SET seats_held = seats_held - $1 WHERE show_id = $2', [seats, showId]);
  return seats;
}

/**
 * Whether the ticket of a cancellation or refund held one of its booking's seats: a ticket cancelled
 * before it was ever confirmed did not (`confirmed_at` null; facts from before that field count as held),
 * and freeing a seat for it would free the seat of another, still valid, ticket of the booking.
 */
export function heldASeat(message: Message): boolean {
  return message.name !== 'TicketBookingCanceled_v1' || message.data.confirmed_at !== null;
}

/**
 * Writes the seats a booking (or a hold's sale) takes from a show on its `booking_seats` row, and
 * resolves to the valid tickets already counted on it: tickets the provider confirmed before the
 * booking was made (a VIP bundle's booking is made after its 201) are counted on a row with no show
 * and no seat (`countTicket`), which the booking takes over here. Both sides upsert the one key, so
 * neither misses the other's count. Selected from the show, so that an unknown show writes nothing.
 */
export async function recordBookingSeats(tx: Tx, bookingId: string, showId: string, seats: number): Promise<number> {
  const [row] = await tx.query<{ tickets: number }>(
    `INSERT INTO booking_seats (booking_id, show_id, seats) SELECT $1, show_id, $3 FROM shows WHERE show_id = $2
     ON CONFLICT (booking_id) DO UPDATE SET show_id = excluded.show_id, seats = excluded.seats WHERE booking_seats.show_id IS NULL
     RETURNING tickets`,
    [bookingId, showId, seats],
  );
  return row === undefined ? 0 : Number(row.tickets);
}

/**
 * Valid tickets of a booking past the seats it holds (the provider sold more than was booked) take a
 * seat each while the show has one left: the provider's sale stands either way, and later bookings no
 * longer count on those seats.
 */
export async function takeSeatsForExtraTickets(tx: Tx, bookingId: string, showId: string, tickets: number): Promise<void> {
  for (let i = 0; i < tickets; i += 1) {
    const taken = await tx.execute(
      'UPDATE shows SET seats_taken = seats_taken + 1 WHERE show_id = $1 AND seats_taken + seats_held + 1 <= number_of_tickets',
      [showId],
    );
    if (taken === 0) return;
    await tx.execute('UPDATE booking_seats SET seats = seats + 1 WHERE booking_id = $1', [bookingId]);
  }
}
