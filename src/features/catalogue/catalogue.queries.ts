import type { SqlExecutor } from '../../actors/ports';
import { liveHeldSeatsSql, SHOW_HOLD_POLICY } from '../showCapacity';
import type { EventDetails } from './catalogue.model';
import { paddedToPowerOfTwo, placeholders } from '../../kernel/statementShapes';

interface EventRow {
  event_id: string;
  name: string;
  description: string;
  start_time: string;
  venue: string;
  performers: string;
  ttl_seconds: number;
  max_renewals: number;
  max_seats_per_user: number;
}

interface SeatRow {
  label: string;
  status: 'available' | 'held' | 'sold';
  price_amount: string;
  price_currency: string;
}

/**
 * Live status of a seat at `$2` (now): a hold whose `held_until` has passed reads `available` at once,
 * before its expiry timer has cleaned the row up.
 */
const LIVE_STATUS = "CASE WHEN status = 'sold' THEN 'sold' WHEN status = 'held' AND held_until > $2 THEN 'held' ELSE 'available' END";

/** A venue's name and location, or null. */
export async function findVenue(db: SqlExecutor, venueId: string) {
  const [row] = await db.query<{ venue_id: string; name: string; location: string }>('SELECT venue_id, name, location FROM venues WHERE venue_id = $1', [venueId]);
  return row ?? null;
}

/** The performers of `ids` that exist, in the order asked. */
export async function findPerformers(db: SqlExecutor, ids: readonly string[]) {
  if (ids.length === 0) return [];
  const padded = paddedToPowerOfTwo(ids);
  const rows = await db.query<{ performer_id: string; name: string }>(
    `SELECT performer_id, name FROM performers WHERE performer_id IN (${placeholders(padded.length)})`,
    padded,
  );
  const byId = new Map(rows.map((r) => [r.performer_id, r]));
  return ids.flatMap((id) => (byId.has(id) ? [byId.get(id)!] : []));
}

/**
 * One event with every seat's live status and the counts, or null. A show of `POST /api/shows` is a
 * general-admission event: it is read from the shows' inventory (its capacity, seats sold and live holds).
 */
export async function findEvent(db: SqlExecutor, eventId: string, now: string): Promise<EventDetails | null> {
  const [row] = await db.query<EventRow>(
    'SELECT event_id, name, description, start_time, venue, performers, ttl_seconds, max_renewals, max_seats_per_user FROM catalogue_events WHERE event_id = $1',
    [eventId],
  );
  if (!row) return findShowAsEvent(db, eventId, now);
  const seats = await db.query<SeatRow>(
    `SELECT label, ${LIVE_STATUS} AS status, price_amount, price_currency FROM event_seats WHERE event_id = $1 ORDER BY label_order, label`,
    [eventId, now],
  );
  const counts = { available: 0, held: 0, sold: 0 };
  for (const seat of seats) counts[seat.status] += 1;
  return {
    event_id: row.event_id,
    name: row.name,
    description: row.description,
    start_time: row.start_time,
    general_admission: false,
    venue: JSON.parse(row.venue),
    performers: JSON.parse(row.performers),
    hold_policy: { ttl_seconds: Number(row.ttl_seconds), max_renewals: Number(row.max_renewals), max_seats_per_user: Number(row.max_seats_per_user) },
    seats: seats.map((s) => ({ label: s.label, status: s.status, price: { amount: s.price_amount, currency: s.price_currency } })),
    counts,
  };
}

async function findShowAsEvent(db: SqlExecutor, showId: string, now: string): Promise<EventDetails | null> {
  // Held: the show's general-admission holds still live at `now` (a lapsed one reads free at once).
  const [show] = await db.query<{ show_id: string; title: string; start_time: string; venue: string; number_of_tickets: number; seats_taken: number; held: number }>(
    `SELECT show_id, title, start_time, venue, number_of_tickets, seats_taken,
            ${liveHeldSeatsSql('$1', '$2')} AS held
     FROM shows WHERE show_id = $1`,
    [showId, now],
  );
  if (!show) return null;
  const sold = Number(show.seats_taken);
  const held = Number(show.held);
  return {
    event_id: show.show_id,
    name: show.title,
    description: '',
    start_time: show.start_time,
    general_admission: true,
    venue: { venue_id: null, name: show.venue, location: '' },
    performers: [],
    hold_policy: { ...SHOW_HOLD_POLICY },
    seats: [],
    counts: { available: Number(show.number_of_tickets) - sold - held, held, sold },
  };
}
