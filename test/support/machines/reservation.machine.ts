import { assertEvent, assign, emit, setup } from 'xstate';
import { addMs, cancelTimer, setTimer } from '../../../machines/shared/timers';

/**
 * A small machine that exercises everything the runtime must handle: creation by a first event, facts,
 * an outbound command, a durable timer that is set, re-set and cancelled, a guard on a stale timer,
 * and final states, without depending on any real machine of the product.
 */
export type ReservationEvent =
  | { type: 'reservation.open'; now: string; reservation_id: string; seats: number; ttl_ms: number }
  | { type: 'reservation.renew'; now: string }
  | { type: 'reservation.expire'; now: string; due_at: string }
  | { type: 'reservation.confirm'; now: string };

interface Context {
  reservationId: string;
  seats: number;
  ttlMs: number;
  expiresAt: string;
  renewals: number;
}

export const MAX_RENEWALS = 2;

export const reservationMachine = setup({
  types: { context: {} as Context, events: {} as ReservationEvent },
  guards: {
    canRenew: ({ context }) => context.renewals < MAX_RENEWALS,
    isCurrentDeadline: ({ context, event }) => event.type === 'reservation.expire' && event.due_at === context.expiresAt,
  },
  actions: {
    assignOpened: assign(({ event }) => {
      assertEvent(event, 'reservation.open');
      return { reservationId: event.reservation_id, seats: event.seats, ttlMs: event.ttl_ms, expiresAt: addMs(event.now, event.ttl_ms), renewals: 0 };
    }),
    assignRenewed: assign(({ context, event }) => {
      assertEvent(event, 'reservation.renew');
      return { expiresAt: addMs(event.now, context.ttlMs), renewals: context.renewals + 1 };
    }),
    scheduleExpiry: emit(({ context }) => setTimer('expiry', context.expiresAt, { type: 'reservation.expire' })),
    cancelExpiry: emit(() => cancelTimer('expiry')),
    tellOpened: emit(({ context }) => ({ type: 'ReservationOpened_v1', reservation_id: context.reservationId, seats: context.seats, expires_at: context.expiresAt })),
    tellExpired: emit(({ context }) => ({ type: 'ReservationExpired_v1', reservation_id: context.reservationId })),
    tellConfirmed: emit(({ context }) => ({ type: 'ReservationConfirmed_v1', reservation_id: context.reservationId })),
    askCharge: emit(({ context }) => ({ type: 'ChargeCard', reservation_id: context.reservationId, seats: context.seats })),
  },
}).createMachine({
  id: 'reservation-v1',
  initial: 'new',
  context: { reservationId: '', seats: 0, ttlMs: 0, expiresAt: '', renewals: 0 },
  states: {
    new: { on: { 'reservation.open': { target: 'open', actions: ['assignOpened', 'tellOpened', 'scheduleExpiry'] } } },
    open: {
      on: {
        'reservation.renew': { guard: 'canRenew', target: 'open', actions: ['assignRenewed', 'scheduleExpiry'] },
        'reservation.expire': { guard: 'isCurrentDeadline', target: 'expired', actions: ['tellExpired'] },
        'reservation.confirm': { target: 'confirmed', actions: ['tellConfirmed', 'askCharge', 'cancelExpiry'] },
      },
    },
    expired: { type: 'final' },
    confirmed: { type: 'final' },
  },
});
