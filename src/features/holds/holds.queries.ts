import type { SqlExecutor } from '../../actors/ports';
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
  const rows = want.labels
    ? await db.query<Row>(
        `SELECT label, price_amount, price_currency FROM event_seats WHERE event_id = $1 AND label IN (${want.labels.map((_, i) => `$${i + 2}`).join(', ')}) ORDER BY label`,
        [eventId, ...want.labels],
      )
    : await db.query<Row>(
        `SELECT label, price_amount, price_currency FROM event_seats
         WHERE event_id = $1 AND (status = 'available' OR (status = 'held' AND held_until <= $2)) ORDER BY label LIMIT ${Number(want.quantity)}`,
        [eventId, now],
      );
  return rows.map((r) => ({ label: r.label, price: { amount: r.price_amount, currency: r.price_currency } }));
}
