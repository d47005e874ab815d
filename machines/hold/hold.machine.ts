import { assertEvent, assign, emit, setup } from 'xstate';
import type { Price } from '../shared/money';
import { addMs, cancelTimer, setTimer } from '../shared/timers';

/**
 * A booking of numbered seats (`hold/<hold_id>`; the hold id is the booking id): it starts in `held`
 * (the seats are taken by the database in the transaction that commits HoldPlaced_v1, or the command is
 * refused) and ends `sold`, `released` or `expired`. Expiry is a durable timer at `expiresAt`; a
 * confirmation stamped at or after `expiresAt` expires the hold instead, and a payment that arrives
 * for an expired hold is handed back (RefundHoldPayment) — never kept.
 */
export interface HoldSeat {
  label: string;
  price: Price;
}

export interface HoldTicket {
  ticket_id: string;
  seat: string;
  price: Price;
}

export type HoldEvent =
  | {
      type: 'hold.place';
      now: string;
      hold_id: string;
      event_id: string;
      user_id: string;
      customer_email: string;
      seats: HoldSeat[];
      ttl_seconds: number;
      max_renewals: number;
    }
  | { type: 'hold.renew'; now: string }
  | { type: 'hold.release'; now: string }
  | { type: 'hold.expire'; now: string; due_at: string }
  | { type: 'hold.confirm'; now: string; payment_id: string; ticket_ids: string[] };

export interface HoldContext {
  holdId: string;
  eventId: string;
  userId: string;
  customerEmail: string;
  seats: HoldSeat[];
  ttlSeconds: number;
  maxRenewals: number;
  renewals: number;
  expiresAt: string;
  paymentId: string | null;
  tickets: HoldTicket[];
}

const labels = (context: HoldContext) => context.seats.map((s) => s.label);

export const holdMachine = setup({
  types: { context: {} as HoldContext, events: {} as HoldEvent },
  guards: {
    canRenew: ({ context, event }) => event.type === 'hold.renew' && context.renewals < context.maxRenewals && event.now < context.expiresAt,
    isCurrentDeadline: ({ context, event }) => event.type === 'hold.expire' && event.due_at === context.expiresAt,
    isLive: ({ context, event }) => event.now < context.expiresAt,
  },
  actions: {
    assignHold: assign(({ event }) => {
      assertEvent(event, 'hold.place');
      return {
        holdId: event.hold_id,
        eventId: event.event_id,
        userId: event.user_id,
        customerEmail: event.customer_email,
        seats: event.seats,
        ttlSeconds: event.ttl_seconds,
        maxRenewals: event.max_renewals,
        renewals: 0,
        expiresAt: addMs(event.now, event.ttl_seconds * 1000),
      };
    }),
    assignRenewed: assign(({ context, event }) => {
      assertEvent(event, 'hold.renew');
      return { renewals: context.renewals + 1, expiresAt: addMs(event.now, context.ttlSeconds * 1000) };
    }),
    assignSold: assign(({ context, event }) => {
      assertEvent(event, 'hold.confirm');
      return {
        paymentId: event.payment_id,
        tickets: context.seats.map((seat, i) => ({ ticket_id: event.ticket_ids[i] ?? '', seat: seat.label, price: seat.price })),
      };
    }),
    scheduleExpiry: emit(({ context }) => setTimer('expiry', context.expiresAt, { type: 'hold.expire' })),
    cancelExpiry: emit(() => cancelTimer('expiry')),
    tellPlaced: emit(({ context }) => ({
      type: 'HoldPlaced_v1',
      hold_id: context.holdId,
      event_id: context.eventId,
      user_id: context.userId,
      seats: labels(context),
      expires_at: context.expiresAt,
    })),
    tellRenewed: emit(({ context }) => ({
      type: 'HoldRenewed_v1',
      hold_id: context.holdId,
      event_id: context.eventId,
      seats: labels(context),
      expires_at: context.expiresAt,
      renewals: context.renewals,
    })),
    tellReleased: emit(({ context }) => ({ type: 'HoldReleased_v1', hold_id: context.holdId, event_id: context.eventId, seats: labels(context) })),
    tellExpired: emit(({ context }) => ({ type: 'HoldExpired_v1', hold_id: context.holdId, event_id: context.eventId, seats: labels(context) })),
    tellSold: emit(({ context }) => ({
      type: 'TicketsSold_v1',
      hold_id: context.holdId,
      booking_id: context.holdId,
      event_id: context.eventId,
      user_id: context.userId,
      payment_id: context.paymentId,
      seats: labels(context),
      tickets: context.tickets,
    })),
    askRefundLatePayment: emit(({ context, event }) => {
      assertEvent(event, 'hold.confirm');
      return { type: 'RefundHoldPayment', hold_id: context.holdId, payment_id: event.payment_id, reason: 'payment arrived after the hold expired' };
    }),
  },
}).createMachine({
  id: 'hold-v1',
  initial: 'new',
  context: {
    holdId: '', eventId: '', userId: '', customerEmail: '', seats: [], ttlSeconds: 0, maxRenewals: 0, renewals: 0, expiresAt: '', paymentId: null, tickets: [],
  },
  states: {
    new: { on: { 'hold.place': { target: 'held', actions: ['assignHold', 'tellPlaced', 'scheduleExpiry'] } } },
    held: {
      on: {
        'hold.renew': { guard: 'canRenew', target: 'held', actions: ['assignRenewed', 'tellRenewed', 'scheduleExpiry'] },
        'hold.release': { target: 'released', actions: ['tellReleased', 'cancelExpiry'] },
        'hold.expire': { guard: 'isCurrentDeadline', target: 'expired', actions: 'tellExpired' },
        'hold.confirm': [
          { guard: 'isLive', target: 'sold', actions: ['assignSold', 'tellSold', 'cancelExpiry'] },
          { target: 'expired', actions: ['tellExpired', 'askRefundLatePayment', 'cancelExpiry'] },
        ],
      },
    },
    // Not final: a late payment can still arrive here and must be refunded.
    expired: { on: { 'hold.confirm': { target: 'expired', actions: 'askRefundLatePayment' } } },
    released: { on: { 'hold.confirm': { target: 'released', actions: 'askRefundLatePayment' } } },
    sold: { type: 'final' },
  },
});
