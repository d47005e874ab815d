import type { Message } from '../../actors/ports';
import type { InlineHandler } from '../../actors/runtime';
import { placeholders } from '../../kernel/statementShapes';

type SeatsListed = { event_id: string; seats: Array<{ label: string; price: { amount: string; currency: string } }>; hold_policy: { ttl_seconds: number; max_renewals: number; max_seats_per_user: number } };

/**
 * The catalogue tables, written in the transaction that commits each catalogue fact, so a GET right
 * after a 201 sees it (read-your-writes) and the seat rows exist before any hold can reference them.
 */
export const catalogueTables: InlineHandler = {
  name: 'catalogueTables',
  handles: ['VenueCreated_v1', 'PerformerCreated_v1', 'EventCreated_v1', 'EventSeatsListed_v1'],
  async apply(tx, message: Message) {
    const d = message.data as Record<string, any>;
    switch (message.name) {
      case 'VenueCreated_v1':
        await tx.execute('INSERT INTO venues (venue_id, name, location, created_at) VALUES ($1, $2, $3, $4)', [d.venue_id, d.name, d.location, d.created_at]);
        return;
      case 'PerformerCreated_v1':
        await tx.execute('INSERT INTO performers (performer_id, name, description, created_at) VALUES ($1, $2, $3, $4)', [d.performer_id, d.name, d.description, d.created_at]);
        return;
      case 'EventCreated_v1':
        // The hold policy arrives with EventSeatsListed_v1 in the same transaction; defaults until then.
        await tx.execute(
          `INSERT INTO catalogue_events (event_id, name, description, start_time, venue, performers, ttl_seconds, max_renewals, max_seats_per_user, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, 900, 2, 10, $7)`,
          [d.event_id, d.name, d.description, d.start_time, JSON.stringify(d.venue), JSON.stringify(d.performers), d.created_at],
        );
        return;
      default: {
        const listed = d as SeatsListed;
        const p = listed.hold_policy;
        await tx.execute('UPDATE catalogue_events SET ttl_seconds = $1, max_renewals = $2, max_seats_per_user = $3 WHERE event_id = $4', [p.ttl_seconds, p.max_renewals, p.max_seats_per_user, listed.event_id]);
        for (let i = 0; i < listed.seats.length; i += 200) {
          const chunk = listed.seats.slice(i, i + 200);
          const values = chunk.map((_, j) => `($1, ${placeholders(4, j * 4 + 2)})`).join(', ');
          await tx.execute(
            `INSERT INTO event_seats (event_id, label, label_order, price_amount, price_currency) VALUES ${values}`,
            [listed.event_id, ...chunk.flatMap((s) => [s.label, seatOrderKey(s.label), s.price.amount, s.price.currency])],
          );
        }
      }
    }
  },
};

/**
 * The key seats are ordered by (`event_seats.label_order`, migration 0018): the label with each run of
 * 1 to 11 ASCII digits left-padded with zeros to 12, so that A2 comes before A10 and "Row 2 Seat 10"
 * after "Row 2 Seat 9"; everything else compares byte by byte, as labels did before.
 */
export const seatOrderKey = (label: string): string => label.replace(/[0-9]+/g, (digits) => (digits.length <= 11 ? digits.padStart(12, '0') : digits));
