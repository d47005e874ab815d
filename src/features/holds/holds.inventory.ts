import type { Message, Tx } from '../../actors/ports';
import type { InlineHandler } from '../../actors/runtime';
import { conflict } from '../../kernel/errors';
import { heldASeat, reclaimLapsedHolds, recordBookingSeats, SHOW_HOLD_POLICY, takeSeatsForExtraTickets } from '../showCapacity';

/** Labels of numbered seats; empty for a general-admission hold, whose size is `quantity`. */
type HoldFact = {
  hold_id: string;
  event_id: string;
  user_id?: string;
  seats: string[];
  quantity?: number;
  expires_at?: string;
  /** On a sale: the ticket issued for each seat (`seat` null for general admission). */
  tickets?: { ticket_id: string; seat: string | null }[];
};

export interface HoldLimits {
  /** Live holds one user may have at once, over all events. */
  maxLiveHoldsPerUser: number;
}

const quantityOf = (fact: HoldFact) => fact.quantity ?? fact.seats.length;

/**
 * The inventory of holds, changed in the transaction that commits each hold fact; any refusal rolls the
 * whole command back (no hold actor, no seat taken).
 *
 * Placing a hold first writes the user's `hold_users` row, so that one user's holds are placed one at
 * a time (its row lock, held to commit) and the limits counted next — live holds over all events,
 * seats held live or bought on this event — cannot be passed by two holds at once. Then numbered
 * seats are taken with a conditional UPDATE each, in label order (two holds crossing seat orders lock
 * in the same order and never deadlock), or general-admission seats with one conditional UPDATE of the
 * show's capacity. Every hold has a `holds` row, which its later facts move by compare-and-set.
 * A sold numbered seat keeps its ticket's id, so that the ticket's refund or cancellation frees it
 * (general-admission seats come back through the show's inventory, like a booking's).
 */
export function holdInventory(limits: HoldLimits): InlineHandler {
  return {
    name: 'holdInventory',
    handles: ['HoldPlaced_v1', 'HoldRenewed_v1', 'HoldExpiryMoved_v1', 'HoldReleased_v1', 'HoldExpired_v1', 'TicketsSold_v1', 'TicketRefunded_v1', 'TicketBookingCanceled_v1'],
    async apply(tx, message) {
      const fact = message.data as HoldFact;
      switch (message.name) {
        case 'HoldPlaced_v1':
          return reserve(tx, fact, message, limits);
        case 'HoldRenewed_v1':
        case 'HoldExpiryMoved_v1':
          return extend(tx, fact);
        case 'TicketsSold_v1':
          return sell(tx, fact, message.occurredAt);
        case 'HoldReleased_v1':
          return giveBack(tx, fact, 'released');
        case 'HoldExpired_v1':
          return giveBack(tx, fact, 'expired');
        default:
          return heldASeat(message) ? giveBackSoldTicket(tx, String(message.data.ticket_id), String(message.data.booking_id)) : undefined;
      }
    },
  };
}

async function reserve(tx: Tx, fact: HoldFact, message: Message, limits: HoldLimits): Promise<void> {
  const now = message.occurredAt;
  const quantity = quantityOf(fact);
  await tx.execute(
    'INSERT INTO hold_users (user_id, last_hold_at) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET last_hold_at = excluded.last_hold_at',
    [fact.user_id, now],
  );
  // Counted after taking the lock: each statement of a READ COMMITTED transaction takes a new snapshot,
  // so this sees every hold committed by the transactions that held the lock before.
  const [held] = await tx.query<{ holds: number; seats: number; max_seats: number | null }>(
    `SELECT (SELECT COUNT(*) FROM holds WHERE user_id = $1 AND status = 'held' AND held_until > $3) AS holds,
            (SELECT COALESCE(SUM(quantity - returned), 0) FROM holds WHERE event_id = $2 AND user_id = $1 AND (status = 'sold' OR (status = 'held' AND held_until > $3))) AS seats,
            (SELECT max_seats_per_user FROM catalogue_events WHERE event_id = $2) AS max_seats`,
    [fact.user_id, fact.event_id, now],
  );
  if (Number(held!.holds) + 1 > limits.maxLiveHoldsPerUser) throw conflict('LIMIT_REACHED', `at most ${limits.maxLiveHoldsPerUser} live holds per user`);
  const maxSeats = held!.max_seats === null ? SHOW_HOLD_POLICY.max_seats_per_user : Number(held!.max_seats);
  if (Number(held!.seats) + quantity > maxSeats) throw conflict('LIMIT_REACHED', `at most ${maxSeats} seats per user for this event`);

  if (fact.seats.length === 0) await takeGeneralAdmission(tx, fact.event_id, quantity, now);
  for (const label of [...fact.seats].sort()) {
    const taken = await tx.execute(
      `UPDATE event_seats SET status = 'held', hold_id = $1, user_id = $2, held_until = $3
       WHERE event_id = $4 AND label = $5 AND (status = 'available' OR (status = 'held' AND held_until <= $6))`,
      [fact.hold_id, fact.user_id, fact.expires_at, fact.event_id, label, now],
    );
    if (taken !== 1) throw conflict('SEAT_UNAVAILABLE', `seat ${label} is not available`);
  }
  await tx.execute(
    "INSERT INTO holds (hold_id, event_id, user_id, quantity, status, held_until) VALUES ($1, $2, $3, $4, 'held', $5)",
    [fact.hold_id, fact.event_id, fact.user_id, quantity, fact.expires_at],
  );
}

async function takeGeneralAdmission(tx: Tx, showId: string, quantity: number, now: string): Promise<void> {
  const take = () => tx.execute('UPDATE shows SET seats_held = seats_held + $1 WHERE show_id = $2 AND seats_taken + seats_held + $1 <= number_of_tickets', [quantity, showId]);
  let taken = await take();
  if (taken === 0 && (await reclaimLapsedHolds(tx, showId, now)) > 0) taken = await take();
  if (taken === 0) throw conflict('SEAT_UNAVAILABLE', `fewer than ${quantity} seats are available`);
}

async function extend(tx: Tx, fact: HoldFact): Promise<void> {
  const extended = await tx.execute("UPDATE holds SET held_until = $1 WHERE hold_id = $2 AND status = 'held'", [fact.expires_at, fact.hold_id]);
  const seats = await tx.execute(
    "UPDATE event_seats SET held_until = $1 WHERE event_id = $2 AND hold_id = $3 AND status = 'held'",
    [fact.expires_at, fact.event_id, fact.hold_id],
  );
  if (extended !== 1 || seats !== fact.seats.length) throw conflict('HOLD_EXPIRED', 'the hold has expired and its seats were taken');
}

async function sell(tx: Tx, fact: HoldFact, soldAt: string): Promise<void> {
  const quantity = quantityOf(fact);
  const sold = await tx.execute("UPDATE holds SET status = 'sold', sold_at = $2 WHERE hold_id = $1 AND status = 'held'", [fact.hold_id, soldAt]);
  // One UPDATE per numbered seat (each keeps its ticket's id), sent together: one round trip on Postgres.
  const soldSeats = await Promise.all(
    (fact.tickets ?? []).filter((ticket) => ticket.seat !== null).map((ticket) =>
      tx.execute(
        "UPDATE event_seats SET status = 'sold', held_until = NULL, ticket_id = $3 WHERE event_id = $1 AND hold_id = $2 AND label = $4 AND status = 'held'",
        [fact.event_id, fact.hold_id, ticket.ticket_id, ticket.seat],
      )),
  );
  const seats = soldSeats.reduce((sum, changed) => sum + changed, 0);
  if (sold !== 1 || seats !== fact.seats.length) throw conflict('HOLD_EXPIRED', 'the hold has expired and its seats were taken');
  if (fact.seats.length > 0) return;
  await tx.execute('UPDATE shows SET seats_held = seats_held - $1, seats_taken = seats_taken + $1 WHERE show_id = $2', [quantity, fact.event_id]);
  // Like a booking's seats: a refunded or cancelled ticket of the sale gives its seat back, once.
  const ticketsBefore = await recordBookingSeats(tx, fact.hold_id, fact.event_id, quantity);
  if (ticketsBefore > quantity) await takeSeatsForExtraTickets(tx, fact.hold_id, fact.event_id, ticketsBefore - quantity);
}

async function giveBack(tx: Tx, fact: HoldFact, status: 'released' | 'expired'): Promise<void> {
  await tx.execute(
    "UPDATE event_seats SET status = 'available', hold_id = NULL, user_id = NULL, held_until = NULL WHERE event_id = $1 AND hold_id = $2 AND status = 'held'",
    [fact.event_id, fact.hold_id],
  );
  // Compare-and-set: a lapsed general-admission hold may already have been reclaimed by a taker.
  const ended = await tx.query<{ quantity: number }>("UPDATE holds SET status = $1 WHERE hold_id = $2 AND status = 'held' RETURNING quantity", [status, fact.hold_id]);
  if (ended[0] && fact.seats.length === 0) {
    await tx.execute('UPDATE shows SET seats_held = seats_held - $1 WHERE show_id = $2', [Number(ended[0].quantity), fact.event_id]);
  }
}

/**
 * A ticket of a sale refunded or cancelled (each ticket emits one of the two, once): its numbered seat
 * is free again, and it no longer counts against its buyer's `max_seats_per_user` (a ticket's booking
 * id is its hold's id). A general-admission seat comes back through the show's inventory.
 */
async function giveBackSoldTicket(tx: Tx, ticketId: string, holdId: string): Promise<void> {
  await tx.execute("UPDATE holds SET returned = returned + 1 WHERE hold_id = $1 AND status = 'sold' AND returned < quantity", [holdId]);
  await tx.execute(
    "UPDATE event_seats SET status = 'available', hold_id = NULL, user_id = NULL, held_until = NULL, ticket_id = NULL WHERE ticket_id = $1 AND status = 'sold'",
    [ticketId],
  );
}
