import type { Message, Tx } from '../../actors/ports';
import type { InlineHandler } from '../../actors/runtime';
import { conflict } from '../../kernel/errors';

type HoldFact = { hold_id: string; event_id: string; user_id?: string; seats: string[]; expires_at?: string };

/**
 * The seat inventory of holds, changed in the transaction that commits each hold fact. Reserving takes
 * every seat with a conditional UPDATE (free = `available`, or `held` past `held_until`) one seat at a
 * time in label order — so two holds crossing seat orders lock in the same order and never deadlock —
 * and refuses the whole command (rollback: no hold actor, no seat row changed) unless all were taken.
 */
export const holdInventory: InlineHandler = {
  name: 'holdInventory',
  handles: ['HoldPlaced_v1', 'HoldRenewed_v1', 'HoldReleased_v1', 'HoldExpired_v1', 'TicketsSold_v1'],
  async apply(tx, message) {
    const fact = message.data as HoldFact;
    switch (message.name) {
      case 'HoldPlaced_v1':
        return reserve(tx, fact, message);
      case 'HoldRenewed_v1':
        return extend(tx, fact);
      case 'TicketsSold_v1':
        return sell(tx, fact);
      default:
        await tx.execute(
          "UPDATE event_seats SET status = 'available', hold_id = NULL, user_id = NULL, held_until = NULL WHERE event_id = $1 AND hold_id = $2 AND status = 'held'",
          [fact.event_id, fact.hold_id],
        );
    }
  },
};

async function reserve(tx: Tx, fact: HoldFact, message: Message): Promise<void> {
  const now = message.occurredAt;
  for (const label of [...fact.seats].sort()) {
    const taken = await tx.execute(
      `UPDATE event_seats SET status = 'held', hold_id = $1, user_id = $2, held_until = $3
       WHERE event_id = $4 AND label = $5 AND (status = 'available' OR (status = 'held' AND held_until <= $6))`,
      [fact.hold_id, fact.user_id, fact.expires_at, fact.event_id, label, now],
    );
    if (taken !== 1) throw conflict('SEAT_UNAVAILABLE', `seat ${label} is not available`);
  }
  // Counted after taking the seats, in the same transaction: what this user holds live or has bought.
  const [row] = await tx.query<{ held: number; limit_: number }>(
    `SELECT COUNT(*) AS held, (SELECT max_seats_per_user FROM catalogue_events WHERE event_id = $1) AS limit_
     FROM event_seats WHERE event_id = $1 AND user_id = $2 AND (status = 'sold' OR (status = 'held' AND held_until > $3))`,
    [fact.event_id, fact.user_id, now],
  );
  if (row && Number(row.held) > Number(row.limit_)) throw conflict('LIMIT_REACHED', `at most ${Number(row.limit_)} seats per user for this event`);
}

async function extend(tx: Tx, fact: HoldFact): Promise<void> {
  const extended = await tx.execute(
    "UPDATE event_seats SET held_until = $1 WHERE event_id = $2 AND hold_id = $3 AND status = 'held'",
    [fact.expires_at, fact.event_id, fact.hold_id],
  );
  if (extended !== fact.seats.length) throw conflict('HOLD_EXPIRED', 'the hold has expired and its seats were taken');
}

async function sell(tx: Tx, fact: HoldFact): Promise<void> {
  const sold = await tx.execute(
    "UPDATE event_seats SET status = 'sold', held_until = NULL WHERE event_id = $1 AND hold_id = $2 AND status = 'held'",
    [fact.event_id, fact.hold_id],
  );
  if (sold !== fact.seats.length) throw conflict('HOLD_EXPIRED', 'the hold has expired and its seats were taken');
}
