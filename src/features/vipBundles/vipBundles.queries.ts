import type { SqlExecutor } from '../../actors/ports';
import type { InlineHandler } from '../../actors/runtime';

/** The handler that records the tickets of VIP bookings and refunds those confirmed during or after compensation. */
export const REFUND_LATE_TICKETS_HANDLER = 'refundVipBundleTickets';

/**
 * Indexes each bundle by its booking id in the commit that creates the bundle (VipBundleInitialized_v1),
 * so that a ticket confirmed for that booking is linked to the bundle whenever it comes: the 201 hands
 * the booking id out before the saga has made the booking.
 */
export const vipBundleBookings: InlineHandler = {
  name: 'vipBundleBookings',
  handles: ['VipBundleInitialized_v1'],
  groupable: true,
  async apply(tx, message) {
    await tx.execute('INSERT INTO vip_bundle_bookings (booking_id, vip_bundle_id) VALUES ($1, $2) ON CONFLICT (booking_id) DO NOTHING', [
      message.data.booking_id,
      message.data.vip_bundle_id,
    ]);
  },
};

/** The VIP bundle whose booking has this id; null for a booking of book-tickets or an unknown id. */
export async function bundleOfBooking(db: SqlExecutor, bookingId: string): Promise<string | null> {
  const [row] = await db.query<{ vip_bundle_id: string }>('SELECT vip_bundle_id FROM vip_bundle_bookings WHERE booking_id = $1', [bookingId]);
  return row?.vip_bundle_id ?? null;
}

/** Records a ticket confirmed for a bundle's booking; a repeat is a no-op. */
export async function recordBundleTicket(
  db: SqlExecutor,
  ticket: { ticket_id: string; vip_bundle_id: string; booking_id: string; confirmed_at: string },
): Promise<void> {
  await db.execute(
    'INSERT INTO vip_bundle_tickets (ticket_id, vip_bundle_id, booking_id, confirmed_at) VALUES ($1, $2, $3, $4) ON CONFLICT (ticket_id) DO NOTHING',
    [ticket.ticket_id, ticket.vip_bundle_id, ticket.booking_id, ticket.confirmed_at],
  );
}

/** The tickets confirmed so far for a bundle's booking, in id order. */
export async function ticketsOfBundle(db: SqlExecutor, vipBundleId: string): Promise<string[]> {
  const rows = await db.query<{ ticket_id: string }>('SELECT ticket_id FROM vip_bundle_tickets WHERE vip_bundle_id = $1 ORDER BY ticket_id', [vipBundleId]);
  return rows.map((row) => row.ticket_id);
}

/**
 * Whether a step of the bundle's compensation sits in the dead letters: the bundle's latest command (the
 * cancellation, or the booking step whose outcome the compensation waits for; an earlier one was
 * answered, or asked again by the bundle's step check), a step of its booking (placing it with Dead
 * Nation, reporting the answer), or a step of the refund of one of its tickets (the ticket's
 * `RefundTicket`, anything of its refund actor, or the handler that refunds tickets confirmed late). A
 * redriven letter no longer counts.
 */
export async function hasStuckCompensation(db: SqlExecutor, vipBundleId: string, bookingId: string): Promise<boolean> {
  const rows = await db.query(
    `SELECT 1 AS found FROM dead_letters d JOIN messages m ON m.id = d.message_id
      WHERE d.status = 'dead' AND (
        (m.actor = $1 AND m.actor_seq = (SELECT MAX(actor_seq) FROM messages WHERE actor = $1 AND kind = 'command'))
        OR m.actor = $4
        OR m.actor IN (SELECT 'refund/' || ticket_id FROM vip_bundle_tickets WHERE vip_bundle_id = $2)
        OR ((m.name = 'RefundTicket' OR d.handler = $3) AND m.actor IN (SELECT 'ticket/' || ticket_id FROM vip_bundle_tickets WHERE vip_bundle_id = $2))
      )
      LIMIT 1`,
    [`vipBundle/${vipBundleId}`, vipBundleId, REFUND_LATE_TICKETS_HANDLER, `booking/${bookingId}`],
  );
  return rows.length > 0;
}
