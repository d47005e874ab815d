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
