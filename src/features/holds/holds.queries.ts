import type { SqlExecutor } from '../../actors/ports';

/** What a hold needs of an event: its policy (null when the event has no numbered seats or does not exist). */
export async function holdPolicyOf(db: SqlExecutor, eventId: string) {
  const [row] = await db.query<{ ttl_seconds: number; max_renewals: number; max_seats_per_user: number }>(
    'SELECT ttl_seconds, max_renewals, max_seats_per_user FROM catalogue_events WHERE event_id = $1',
    [eventId],
  );
  return row ? { ttlSeconds: Number(row.ttl_seconds), maxRenewals: Number(row.max_renewals), maxSeatsPerUser: Number(row.max_seats_per_user) } : null;
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
