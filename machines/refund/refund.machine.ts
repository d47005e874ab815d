import { assertEvent, assign, emit, setup } from 'xstate';

/**
 * The refund of one ticket (`refund/<ticket_id>`): void its receipt, then return the money, then tell.
 * Each step is an outbound command whose handler replies with an event; the handlers retry until the
 * external call succeeds (or dead-letter it for ops), so a refund never silently stops half-way.
 * One actor per ticket is what makes a repeated refund request join the first instead of paying twice.
 * A ticket nothing was charged for (a free ticket of a hold: no payment reference) has its receipt
 * voided and no money to return.
 */
export type RefundEvent =
  | { type: 'refund.request'; now: string; ticket_id: string; payment_reference: string | null; reason: string }
  | { type: 'receipts.voided'; now: string }
  | { type: 'payments.refunded'; now: string };

export interface RefundContext {
  ticketId: string;
  /** What the payments service refunds; null when nothing was charged. */
  paymentReference: string | null;
  reason: string;
  requestedAt: string;
}

export const refundMachine = setup({
  types: { context: {} as RefundContext, events: {} as RefundEvent },
  guards: {
    nothingCharged: ({ context }) => context.paymentReference === null,
  },
  actions: {
    assignRequest: assign(({ event }) => {
      assertEvent(event, 'refund.request');
      return { ticketId: event.ticket_id, paymentReference: event.payment_reference, reason: event.reason, requestedAt: event.now };
    }),
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
    new: { on: { 'refund.request': { target: 'voidingReceipt', actions: ['assignRequest', 'askVoidReceipt'] } } },
    voidingReceipt: {
      on: {
        'receipts.voided': [
          { guard: 'nothingCharged', target: 'refunded', actions: 'tellRefundCompleted' },
          { target: 'refundingPayment', actions: 'askRefundPayment' },
        ],
      },
    },
    refundingPayment: { on: { 'payments.refunded': { target: 'refunded', actions: 'tellRefundCompleted' } } },
    refunded: { type: 'final' },
  },
});
