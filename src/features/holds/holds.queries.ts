import type { SqlExecutor } from '../../actors/ports';
import { keysetAfter, paddedToPowerOfTwo, placeholders } from '../../kernel/statementShapes';
import { SHOW_HOLD_POLICY } from '../showCapacity';

export interface HoldPolicy {
  ttlSeconds: number;
  maxRenewals: number;
  maxSeatsPerUser: number;
  /** A show of `POST /api/shows`: held by quantity against its capacity, no numbered seats. */
  generalAdmission: boolean;
}

/** What a hold needs of an event or show: its policy (a show has the defaults), or null when neither exists. */
export async function holdPolicyOf(db: SqlExecutor, eventId: string): Promise<HoldPolicy | null> {
  const [row] = await db.query<{ ttl_seconds: number; max_renewals: number; max_seats_per_user: number }>(
    'SELECT ttl_seconds, max_renewals, max_seats_per_user FROM catalogue_events WHERE event_id = $1',
    [eventId],
  );
  if (row) return { ttlSeconds: Number(row.ttl_seconds), maxRenewals: Number(row.max_renewals), maxSeatsPerUser: Number(row.max_seats_per_user), generalAdmission: false };
  const [show] = await db.query('SELECT 1 AS found FROM shows WHERE show_id = $1', [eventId]);
  if (!show) return null;
  return { ttlSeconds: SHOW_HOLD_POLICY.ttl_seconds, maxRenewals: SHOW_HOLD_POLICY.max_renewals, maxSeatsPerUser: SHOW_HOLD_POLICY.max_seats_per_user, generalAdmission: true };
}

/** The seats of `labels` with their prices (those that exist), or the first `quantity` free ones at `now`. */
export async function seatsFor(db: SqlExecutor, eventId: string, want: { labels?: readonly string[]; quantity?: number }, now: string) {
  type Row = { label: string; price_amount: string; price_currency: string };
  const labels = want.labels && paddedToPowerOfTwo(want.labels);
  const rows = labels
    ? await db.query<Row>(
        `SELECT label, price_amount, price_currency FROM event_seats WHERE event_id = $1 AND label IN (${placeholders(labels.length, 2)}) ORDER BY label_order, label`,
        [eventId, ...labels],
      )
    : await db.query<Row>(
        `SELECT label, price_amount, price_currency FROM event_seats
         WHERE event_id = $1 AND (status = 'available' OR (status = 'held' AND held_until <= $2)) ORDER BY label_order, label LIMIT ${Number(want.quantity)}`,
        [eventId, now],
      );
  return rows.map((r) => ({ label: r.label, price: { amount: r.price_amount, currency: r.price_currency } }));
}

/** A hold that was sold: a booking of its user. */
export interface SoldHold {
  hold_id: string;
  user_id: string;
  sold_at: string;
}

/** The sold hold `holdId`, or null when there is none (unknown, or not sold). */
export async function soldHold(db: SqlExecutor, holdId: string): Promise<SoldHold | null> {
  const [row] = await db.query<SoldHold>("SELECT hold_id, user_id, sold_at FROM holds WHERE hold_id = $1 AND status = 'sold'", [holdId]);
  return row ?? null;
}

/** `userId`'s sold holds, newest first, after the key `[sold_at, hold_id]`, at most `limit + 1` (for pageOf). */
export async function soldHoldsOf(db: SqlExecutor, userId: string, page: { limit: number; after?: readonly string[] }): Promise<SoldHold[]> {
  const params: unknown[] = [userId];
  let after = '';
  if (page.after) {
    params.push(page.after[0], page.after[1]);
    after = `AND ${keysetAfter(['sold_at', 'hold_id'], ['$2', '$3'], 'desc')}`;
  }
  return db.query<SoldHold>(
    `SELECT hold_id, user_id, sold_at FROM holds WHERE user_id = $1 AND status = 'sold' ${after}
      ORDER BY sold_at DESC, hold_id DESC LIMIT ${page.limit + 1}`,
    params,
  );
}

/** The state of each actor of `addresses` that exists. */
export async function actorStates(db: SqlExecutor, addresses: readonly string[]): Promise<Map<string, string>> {
  if (addresses.length === 0) return new Map();
  const padded = paddedToPowerOfTwo(addresses);
  const rows = await db.query<{ address: string; state: string }>(`SELECT address, state FROM actors WHERE address IN (${placeholders(padded.length)})`, padded);
  return new Map(rows.map((row) => [row.address, row.state]));
}
