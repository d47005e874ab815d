import { assertEvent, assign, emit, setup } from 'xstate';
import type { CallNote } from '../shared/calls';
import type { Price } from '../shared/money';
import { addMs, cancelTimer, setTimer } from '../shared/timers';

/**
 * A hold on seats of an event (`hold/<hold_id>`; the hold id is the booking id): it starts in `held`
 * (the database took the seats in the transaction that commits HoldPlaced_v1, or the command was
 * refused) and ends `sold`, `released` or `expired`. Expiry is a durable timer at `expiresAt`; a
 * confirmation stamped at or after `expiresAt` expires the hold instead, and a payment that arrives for
 * an expired hold is handed back (RefundHoldPayment) — never kept.
 *
 * Paying is durable intent first: `hold.pay` records the charge (method, amount, idempotency key) in
 * `paying` with a recovery timer before any money moves. The charge's outcome comes back as
 * `hold.confirm` or `payment.declined`; if neither has come when the timer fires (the process that was
 * charging died), the hold asks for the charge again (ChargeHoldPayment, same idempotency key, so the
 * payments service answers with the first charge's outcome) and the answer comes back the same way.
 * A charge started with less than its window (the recovery timer's wait) left extends the hold, once,
 * to the end of that window (HoldExpiryMoved_v1, reason `charge`), so that a customer who confirmed in
 * time is not charged, then refunded, because the payments service answered after `expiresAt`. The
 * extension is for that charge only: a decline gives the hold its own `expiresAt` back (reason
 * `declined`), so a card that declines never holds seats longer.
 */
export interface HoldSeat {
  /** null for a general-admission seat (a show): any place, no label. */
  label: string | null;
  price: Price;
}

export interface HoldTicket {
  ticket_id: string;
  seat: string | null;
  price: Price;
}

/** A charge the hold has started and not yet seen the outcome of. */
export interface PendingPayment {
  method: string;
  amount: Price;
  idempotencyKey: string;
  /** When the hold charges again itself if no outcome has arrived. */
  checkAt: string;
  /** The wait before `checkAt`; doubled after each check that finds no outcome (up to PAYMENT_CHECK_MAX_MS). */
  checkAfterMs?: number;
}

/**
 * How long a charge may go without an outcome before the hold charges again (the charger died), when
 * `hold.pay` does not say (`payment_check_seconds`, from the service's configuration).
 */
export const PAYMENT_CHECK_MS = 30_000;
/** The longest wait between two checks of a charge that still has no outcome. */
export const PAYMENT_CHECK_MAX_MS = 60 * 60_000;

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
  | { type: 'hold.pay'; now: string; payment_method: string; amount: Price; payment_check_seconds?: number }
  | { type: 'hold.checkPayment'; now: string; due_at: string }
  /** `idempotency_key`: the charge declined (absent in events of earlier versions: the one out). */
  | { type: 'payment.declined'; now: string; idempotency_key?: string; call?: CallNote }
  /** The charge's outcome; `payment_id` null for a hold with nothing to pay. */
  | { type: 'hold.confirm'; now: string; payment_id: string | null; ticket_ids: string[]; idempotency_key?: string; call?: CallNote };

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
  /** Charges started, declined ones included: each new one after a decline gets its own idempotency key. */
  paymentAttempts?: number;
  /** The hold was extended for a charge that started near its end (at most once). */
  extendedForPayment?: boolean;
  /** While a charge runs on an extension: the `expiresAt` the hold had before it, given back on a decline. */
  expiresBeforeCharge?: string | null;
  payment?: PendingPayment | null;
  paymentId: string | null;
  tickets: HoldTicket[];
}

/** How long a charge may go without an outcome: the wait before the hold's recovery charges again. */
const chargeWindowMs = (event: { payment_check_seconds?: number }): number =>
  event.payment_check_seconds === undefined ? PAYMENT_CHECK_MS : event.payment_check_seconds * 1000;

/**
 * The time a charge needs on its hold: a window for its own answer, then a window for the recovery that
 * charges again when that answer never came. With less left, the hold is extended to this (once).
 */
const chargeTimeMs = (event: { payment_check_seconds?: number }): number => 2 * chargeWindowMs(event);

const labels = (context: HoldContext) => context.seats.flatMap((s) => (s.label === null ? [] : [s.label]));
const placeFacts = (context: HoldContext) => ({ hold_id: context.holdId, event_id: context.eventId, seats: labels(context), quantity: context.seats.length });

/** Whether `event` is the decline of the charge `context` has out (a decline of earlier versions names none). */
const declinesChargeOut = (context: HoldContext, event: HoldEvent): boolean =>
  event.type === 'payment.declined' && (event.idempotency_key === undefined || event.idempotency_key === context.payment?.idempotencyKey);

/** `hold-<hold_id>` for the first charge; a charge after a decline (no money moved) is a new one. */
const idempotencyKeyOf = (holdId: string, attempt: number) => (attempt === 1 ? `hold-${holdId}` : `hold-${holdId}-${attempt}`);

export const holdMachine = setup({
  types: { context: {} as HoldContext, events: {} as HoldEvent },
  guards: {
    canRenew: ({ context, event }) => event.type === 'hold.renew' && context.renewals < context.maxRenewals && event.now < context.expiresAt,
    isCurrentDeadline: ({ context, event }) => event.type === 'hold.expire' && event.due_at === context.expiresAt,
    isCurrentCheck: ({ context, event }) => event.type === 'hold.checkPayment' && event.due_at === context.payment?.checkAt,
    isLive: ({ context, event }) => event.now < context.expiresAt,
    isPaid: ({ event }) => event.type === 'hold.confirm' && event.payment_id !== null,
    /**
     * A decline of the charge out now. One of an earlier charge (declined already, answered again to a
     * second confirm or to the recovery) must not end the later one: the hold would charge a third time
     * while the second may still go through.
     */
    isOfChargeOut: ({ context, event }) => declinesChargeOut(context, event),
    /** The decline of the charge out now, which had extended the hold: its own expiry comes back. */
    isOfChargeOutOnExtension: ({ context, event }) => declinesChargeOut(context, event) && typeof context.expiresBeforeCharge === 'string',
    /** A live hold whose first charge near its end needs more time than is left. */
    isLiveButShortForCharge: ({ context, event }) =>
      event.type === 'hold.pay' && event.now < context.expiresAt && !context.extendedForPayment
      && addMs(event.now, chargeTimeMs(event)) > context.expiresAt,
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
    assignPayment: assign(({ context, event }) => {
      assertEvent(event, 'hold.pay');
      const attempt = (context.paymentAttempts ?? 0) + 1;
      const checkAfterMs = chargeWindowMs(event);
      return {
        paymentAttempts: attempt,
        payment: {
          method: event.payment_method,
          amount: event.amount,
          idempotencyKey: idempotencyKeyOf(context.holdId, attempt),
          checkAt: addMs(event.now, checkAfterMs),
          checkAfterMs,
        },
      };
    }),
    // A check that found no outcome yet asks again later, so a charge request lost for good (its handler
    // dead-lettered) is still retried, less and less often.
    assignNextCheck: assign(({ context, event }) => {
      assertEvent(event, 'hold.checkPayment');
      const payment = context.payment!;
      const checkAfterMs = Math.min((payment.checkAfterMs ?? PAYMENT_CHECK_MS) * 2, PAYMENT_CHECK_MAX_MS);
      return { payment: { ...payment, checkAt: addMs(event.now, checkAfterMs), checkAfterMs } };
    }),
    assignChargeWindow: assign(({ context, event }) => {
      assertEvent(event, 'hold.pay');
      return { expiresAt: addMs(event.now, chargeTimeMs(event)), extendedForPayment: true, expiresBeforeCharge: context.expiresAt };
    }),
    restoreOwnExpiry: assign(({ context }) => ({ expiresAt: context.expiresBeforeCharge!, expiresBeforeCharge: null })),
    clearPayment: assign({ payment: null }),
    assignSold: assign(({ context, event }) => {
      assertEvent(event, 'hold.confirm');
      return {
        payment: null,
        paymentId: event.payment_id,
        tickets: context.seats.map((seat, i) => ({ ticket_id: event.ticket_ids[i] ?? '', seat: seat.label, price: seat.price })),
      };
    }),
    scheduleExpiry: emit(({ context }) => setTimer('expiry', context.expiresAt, { type: 'hold.expire' })),
    cancelExpiry: emit(() => cancelTimer('expiry')),
    schedulePaymentCheck: emit(({ context }) => setTimer('paymentCheck', context.payment!.checkAt, { type: 'hold.checkPayment' })),
    cancelPaymentCheck: emit(() => cancelTimer('paymentCheck')),
    tellPlaced: emit(({ context }) => ({ type: 'HoldPlaced_v1', ...placeFacts(context), user_id: context.userId, expires_at: context.expiresAt })),
    tellRenewed: emit(({ context }) => ({ type: 'HoldRenewed_v1', ...placeFacts(context), expires_at: context.expiresAt, renewals: context.renewals })),
    tellExtendedForCharge: emit(({ context }) => ({ type: 'HoldExpiryMoved_v1', ...placeFacts(context), expires_at: context.expiresAt, reason: 'charge' })),
    tellOwnExpiryBack: emit(({ context }) => ({ type: 'HoldExpiryMoved_v1', ...placeFacts(context), expires_at: context.expiresAt, reason: 'declined' })),
    tellReleased: emit(({ context }) => ({ type: 'HoldReleased_v1', ...placeFacts(context) })),
    tellExpired: emit(({ context }) => ({ type: 'HoldExpired_v1', ...placeFacts(context) })),
    tellSold: emit(({ context }) => ({
      type: 'TicketsSold_v1',
      ...placeFacts(context),
      booking_id: context.holdId,
      user_id: context.userId,
      customer_email: context.customerEmail,
      payment_id: context.paymentId,
      tickets: context.tickets,
    })),
    askCharge: emit(({ context }) => ({
      type: 'ChargeHoldPayment',
      hold_id: context.holdId,
      amount: context.payment!.amount,
      payment_method: context.payment!.method,
      idempotency_key: context.payment!.idempotencyKey,
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
    holdId: '', eventId: '', userId: '', customerEmail: '', seats: [], ttlSeconds: 0, maxRenewals: 0, renewals: 0, expiresAt: '',
    paymentAttempts: 0, payment: null, paymentId: null, tickets: [],
  },
  states: {
    new: { on: { 'hold.place': { target: 'held', actions: ['assignHold', 'tellPlaced', 'scheduleExpiry'] } } },
    held: {
      on: {
        'hold.renew': { guard: 'canRenew', target: 'held', actions: ['assignRenewed', 'tellRenewed', 'scheduleExpiry'] },
        // Past expires_at the hold has expired whatever the timer's delay: releasing it then records that.
        'hold.release': [
          { guard: 'isLive', target: 'released', actions: ['tellReleased', 'cancelExpiry'] },
          { target: 'expired', actions: ['tellExpired', 'cancelExpiry'] },
        ],
        'hold.expire': { guard: 'isCurrentDeadline', target: 'expired', actions: 'tellExpired' },
        'hold.pay': [
          { guard: 'isLiveButShortForCharge', target: 'paying', actions: ['assignPayment', 'assignChargeWindow', 'tellExtendedForCharge', 'scheduleExpiry', 'schedulePaymentCheck'] },
          { guard: 'isLive', target: 'paying', actions: ['assignPayment', 'schedulePaymentCheck'] },
        ],
        // Directly only for a hold with nothing to pay (payment_id null); a paid one goes through paying.
        'hold.confirm': [
          { guard: 'isLive', target: 'sold', actions: ['assignSold', 'tellSold', 'cancelExpiry'] },
          { guard: 'isPaid', target: 'expired', actions: ['tellExpired', 'askRefundLatePayment', 'cancelExpiry'] },
          { target: 'expired', actions: ['tellExpired', 'cancelExpiry'] },
        ],
      },
    },
    // Renew and release wait for the charge's outcome; the expiry still runs, and a pending charge is
    // then settled from `expired` (refunded if it went through).
    paying: {
      on: {
        'hold.confirm': [
          { guard: 'isLive', target: 'sold', actions: ['assignSold', 'tellSold', 'cancelExpiry', 'cancelPaymentCheck'] },
          { target: 'expired', actions: ['clearPayment', 'tellExpired', 'askRefundLatePayment', 'cancelExpiry', 'cancelPaymentCheck'] },
        ],
        'payment.declined': [
          { guard: 'isOfChargeOutOnExtension', target: 'held', actions: ['clearPayment', 'cancelPaymentCheck', 'restoreOwnExpiry', 'tellOwnExpiryBack', 'scheduleExpiry'] },
          { guard: 'isOfChargeOut', target: 'held', actions: ['clearPayment', 'cancelPaymentCheck'] },
        ],
        'hold.expire': { guard: 'isCurrentDeadline', target: 'expired', actions: 'tellExpired' },
        'hold.checkPayment': { guard: 'isCurrentCheck', actions: ['askCharge', 'assignNextCheck', 'schedulePaymentCheck'] },
      },
    },
    // Not final: a late payment can still arrive here and must be refunded; a charge started before the
    // expiry and never answered is asked for again, so that its money comes back too.
    expired: {
      on: {
        'hold.confirm': { guard: 'isPaid', actions: ['clearPayment', 'askRefundLatePayment', 'cancelPaymentCheck'] },
        'payment.declined': { guard: 'isOfChargeOut', actions: ['clearPayment', 'cancelPaymentCheck'] },
        'hold.checkPayment': { guard: 'isCurrentCheck', actions: ['askCharge', 'assignNextCheck', 'schedulePaymentCheck'] },
      },
    },
    released: { on: { 'hold.confirm': { guard: 'isPaid', actions: 'askRefundLatePayment' } } },
    sold: { type: 'final' },
  },
});
