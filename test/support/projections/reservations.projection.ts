import type { Message, SqlExecutor } from '../../../src/actors/ports';
import { defineProjection, rowsOf } from '../../../src/messaging/projections';

/** One reservation as the reservations read model shows it. */
export type ReservationRow = {
  reservation_id: string;
  seats: number;
  status: 'open' | 'expired' | 'confirmed';
  opened_at: string;
  updated_at: string;
  /** Every status the reservation went through, in order: a fact applied twice would show here. */
  history: string[];
};

const STATUS_OF: Record<string, ReservationRow['status']> = {
  ReservationExpired_v1: 'expired',
  ReservationConfirmed_v1: 'confirmed',
};

/**
 * The reservations read model of the test machine (test/support/machines/reservation.machine.ts): one row
 * per reservation with its seats and status.
 */
export const reservationsProjection = defineProjection<ReservationRow>({
  name: 'reservations',
  table: 'reservations_view',
  key: 'reservation_id',
  columns: { reservation_id: 'text', seats: 'integer', status: 'text', opened_at: 'text', updated_at: 'text', history: 'json' },
  indexes: { by_status: ['status', 'updated_at'] },
  handles: ['ReservationOpened_v1', 'ReservationExpired_v1', 'ReservationConfirmed_v1'],
  keyOf: (fact: Message) => String(fact.data.reservation_id),
  evolve(row, fact) {
    if (fact.name === 'ReservationOpened_v1') {
      return {
        reservation_id: String(fact.data.reservation_id),
        seats: Number(fact.data.seats),
        status: 'open',
        opened_at: fact.occurredAt,
        updated_at: fact.occurredAt,
        history: ['open'],
      };
    }
    const status = STATUS_OF[fact.name];
    if (!row || !status) return row;
    return { ...row, status, updated_at: fact.occurredAt, history: [...row.history, status] };
  },
});

/** Reservations in one status, oldest first: the query a route would use. */
export function reservationsIn(db: SqlExecutor, status: ReservationRow['status']): Promise<ReservationRow[]> {
  return rowsOf(reservationsProjection, db, 'WHERE status = $1 ORDER BY opened_at, reservation_id', [status]);
}

/** Every reservation row, by id. */
export function allReservations(db: SqlExecutor): Promise<ReservationRow[]> {
  return rowsOf(reservationsProjection, db, 'ORDER BY reservation_id');
}
