import { assertEvent, assign, emit, setup } from 'xstate';
import { firstCheck, nextCheck, STEP_CHECK_TIMER, type StepCheck } from '../shared/stepChecks';
import { setTimer } from '../shared/timers';

/**
 * The refund of one ticket (`refund/<ticket_id>`): void its receipt, then return the money, then tell.
 * Each step is an outbound command whose handler replies with an event; the handlers retry until the
 * external call succeeds (or dead-letter it for ops), so a refund never silently stops half-way.
 * One actor per ticket is what makes a repeated refund request join the first instead of paying twice.
 * A ticket nothing was charged for (a free ticket of a hold: no payment reference) has its receipt
 * voided and no money to return.
 *
 * A step whose reply does not come (its command dead-lettered while the receipts or payments service
 * was down) is asked again, with the same idempotency key, at its step check: STEP_CHECK_MS after it
 * was asked, then twice as long each time (stepChecks.ts), MAX_STEP_CHECKS times: about five hours in
 * all. A service that still refuses it then (a refund it cannot make) leaves it to an operator, who
 * sees its dead letter.
 */
export type RefundEvent =
  | { type: 'refund.request'; now: string; ticket_id: string; payment_reference: string | null; reason: string }
  | { type: 'receipts.voided'; now: string }
  | { type: 'payments.refunded'; now: string }
  | { type: 'refund.checkStep'; now: string; due_at: string };

/** How often a refund asks again for a step that gets no reply: with the doubling waits, about five hours. */
export const MAX_STEP_CHECKS = 10;

export interface RefundContext {
  ticketId: string;
  /** What the payments service refunds; null when nothing was charged. */
  paymentReference: string | null;
  reason: string;
  requestedAt: string;
  /** When the step in flight is asked again if no reply has come; absent in refunds begun before step checks. */
  stepCheck?: StepCheck | null;
}

export const refundMachine = setup({
  types: { context: {} as RefundContext, events: {} as RefundEvent },
  guards: {
    nothingCharged: ({ context }) => context.paymentReference === null,
    isCurrentCheck: ({ context, event }) =>
      event.type === 'refund.checkStep' && event.due_at === context.stepCheck?.at && (context.stepCheck.made ?? 0) < MAX_STEP_CHECKS,
  },
  actions: {
    assignRequest: assign(({ event }) => {
      assertEvent(event, 'refund.request');
      return { ticketId: event.ticket_id, paymentReference: event.payment_reference, reason: event.reason, requestedAt: event.now };
    }),
    assignFirstCheck: assign({ stepCheck: ({ event }) => firstCheck(event.now) }),
    assignNextCheck: assign({ stepCheck: ({ context, event }) => nextCheck(context.stepCheck, event.now) }),
    scheduleStepCheck: emit(({ context }) => setTimer(STEP_CHECK_TIMER, context.stepCheck!.at, { type: 'refund.checkStep' })),
    askVoidReceipt: emit(({ context }) => ({
      type: 'VoidReceipt',
      ticket_id: context.ticketId,
      reason: context.reason,
      idempotent_id: `void-${context.ticketId}`,
    })),
    askRefundPayment: emit(({ context }) => ({
      type: 'RefundPayment',
      ticket_id: context.ticketId,
      payment_reference: context.paymentReference!,
      reason: context.reason,
      deduplication_id: `refund-${context.ticketId}`,
    })),
    tellRefundCompleted: emit(({ context, event }) => ({
      type: 'TicketRefundCompleted_v1',
      ticket_id: context.ticketId,
      payment_reference: context.paymentReference,
      completed_at: event.now,
    })),
  },
}).createMachine({
  id: 'refund-v1',
  initial: 'new',
  context: { ticketId: '', paymentReference: '', reason: '', requestedAt: '' },
  states: {
    new: { on: { 'refund.request': { target: 'voidingReceipt', actions: ['assignRequest', 'askVoidReceipt', 'assignFirstCheck', 'scheduleStepCheck'] } } },
    voidingReceipt: {
      on: {
        'receipts.voided': [
          { guard: 'nothingCharged', target: 'refunded', actions: 'tellRefundCompleted' },
          { target: 'refundingPayment', actions: ['askRefundPayment', 'assignFirstCheck', 'scheduleStepCheck'] },
        ],
        'refund.checkStep': { guard: 'isCurrentCheck', actions: ['askVoidReceipt', 'assignNextCheck', 'scheduleStepCheck'] },
      },
    },
    refundingPayment: {
      on: {
        'payments.refunded': { target: 'refunded', actions: 'tellRefundCompleted' },
        'refund.checkStep': { guard: 'isCurrentCheck', actions: ['askRefundPayment', 'assignNextCheck', 'scheduleStepCheck'] },
      },
    },
    refunded: { type: 'final' },
  },
});
