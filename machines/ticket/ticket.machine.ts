import { assertEvent, assign, emit, setup } from 'xstate';
import type { Price } from '../shared/money';
import { firstCheck, nextCheck, STEP_CHECK_TIMER, type StepCheck } from '../shared/stepChecks';
import { setTimer } from '../shared/timers';

/**
 * One ticket (`ticket/<ticket_id>`), confirmed or cancelled by the ticket provider's webhook or issued
 * by a confirmed hold. While active it collects its receipt and its printed file (in either order);
 * a refund moves it to `refunding` (once its receipt is issued) until the refund actor reports the
 * money returned.
 *
 * A refund that waits for the receipt asks for it again at its step check (stepChecks.ts), as a refund
 * asks for its steps: the receipt's issue may have been dead-lettered while the receipts service was
 * down, and the refund would otherwise wait for an operator. Asking again redrives that dead letter,
 * whose receipt keeps its idempotency key.
 */
export type TicketEvent =
  | { type: 'ticket.confirm'; now: string; ticket_id: string; booking_id: string; customer_email: string; price: Price; payment_reference: string | null }
  | { type: 'ticket.cancel'; now: string; ticket_id: string; booking_id: string; customer_email: string; price: Price }
  | { type: 'receipts.issued'; now: string; receipt_number: string; issued_at: string }
  | { type: 'files.printed'; now: string; file_name: string }
  | { type: 'ticket.refund'; now: string }
  | { type: 'refunds.completed'; now: string }
  | { type: 'ticket.checkReceipt'; now: string; due_at: string };

/** How often a refund that waits for the receipt asks for it again: with the doubling waits, about five hours. */
export const MAX_RECEIPT_CHECKS = 10;

export interface TicketContext {
  ticketId: string;
  bookingId: string;
  customerEmail: string;
  price: Price;
  /**
   * What the payments service refunds: the ticket id for webhook tickets, the charge id for held seats,
   * null for a free ticket of a hold (nothing was charged).
   */
  paymentReference: string | null;
  confirmedAt: string | null;
  receiptNumber: string | null;
  receiptIssuedAt: string | null;
  printedFileName: string | null;
  /** When a refund that waits for the receipt asks for it again; absent in tickets of earlier versions. */
  receiptCheck?: StepCheck | null;
}

const ticketFacts = (context: TicketContext) => ({
  ticket_id: context.ticketId,
  booking_id: context.bookingId,
  customer_email: context.customerEmail,
  price: context.price,
});

export const ticketMachine = setup({
  types: { context: {} as TicketContext, events: {} as TicketEvent },
  guards: {
    awaitsReceipt: ({ context }) => context.confirmedAt !== null && context.receiptNumber === null,
    awaitsPrint: ({ context }) => context.confirmedAt !== null && context.printedFileName === null,
    hasReceipt: ({ context }) => context.receiptNumber !== null,
    isCurrentCheck: ({ context, event }) =>
      event.type === 'ticket.checkReceipt' && event.due_at === context.receiptCheck?.at && (context.receiptCheck.made ?? 0) < MAX_RECEIPT_CHECKS,
  },
  actions: {
    assignTicket: assign(({ event }) => {
      assertEvent(event, ['ticket.confirm', 'ticket.cancel']);
      return {
        ticketId: event.ticket_id,
        bookingId: event.booking_id,
        customerEmail: event.customer_email,
        price: event.price,
        paymentReference: event.type === 'ticket.confirm' ? event.payment_reference : event.ticket_id,
        confirmedAt: event.type === 'ticket.confirm' ? event.now : null,
      };
    }),
    assignReceipt: assign(({ event }) => {
      assertEvent(event, 'receipts.issued');
      return { receiptNumber: event.receipt_number, receiptIssuedAt: event.issued_at };
    }),
    assignPrinted: assign(({ event }) => {
      assertEvent(event, 'files.printed');
      return { printedFileName: event.file_name };
    }),
    tellConfirmed: emit(({ context }) => ({ type: 'TicketBookingConfirmed_v1', ...ticketFacts(context), confirmed_at: context.confirmedAt })),
    // `confirmed_at` null: the ticket never held a seat of its booking, so its cancellation frees none.
    tellCanceled: emit(({ context, event }) => ({ type: 'TicketBookingCanceled_v1', ...ticketFacts(context), confirmed_at: context.confirmedAt, canceled_at: event.now })),
    tellReceiptIssued: emit(({ context }) => ({
      type: 'TicketReceiptIssued_v1',
      ticket_id: context.ticketId,
      booking_id: context.bookingId,
      receipt_number: context.receiptNumber,
      issued_at: context.receiptIssuedAt,
    })),
    tellPrinted: emit(({ context, event }) => ({
      type: 'TicketPrinted_v1',
      ticket_id: context.ticketId,
      booking_id: context.bookingId,
      file_name: context.printedFileName,
      printed_at: event.now,
    })),
    askRefund: emit(({ context }) => ({
      type: 'RefundTicket',
      ticket_id: context.ticketId,
      booking_id: context.bookingId,
      payment_reference: context.paymentReference,
    })),
    assignFirstCheck: assign({ receiptCheck: ({ event }) => firstCheck(event.now) }),
    assignNextCheck: assign({ receiptCheck: ({ context, event }) => nextCheck(context.receiptCheck, event.now) }),
    scheduleReceiptCheck: emit(({ context }) => setTimer(STEP_CHECK_TIMER, context.receiptCheck!.at, { type: 'ticket.checkReceipt' })),
    askReceiptAgain: emit(({ context }) => ({ type: 'AskReceiptAgain', ticket_id: context.ticketId })),
    tellRefunded: emit(({ context, event }) => ({ type: 'TicketRefunded_v1', ...ticketFacts(context), refunded_at: event.now })),
  },
}).createMachine({
  id: 'ticket-v1',
  initial: 'new',
  context: {
    ticketId: '',
    bookingId: '',
    customerEmail: '',
    price: { amount: '0.00', currency: 'XXX' },
    paymentReference: '',
    confirmedAt: null,
    receiptNumber: null,
    receiptIssuedAt: null,
    printedFileName: null,
  },
  on: {
    // Replies of the receipt and print handlers may arrive after a cancellation or a refund began.
    'receipts.issued': { guard: 'awaitsReceipt', actions: ['assignReceipt', 'tellReceiptIssued'] },
    'files.printed': { guard: 'awaitsPrint', actions: ['assignPrinted', 'tellPrinted'] },
  },
  states: {
    new: {
      on: {
        'ticket.confirm': { target: 'active', actions: ['assignTicket', 'tellConfirmed'] },
        'ticket.cancel': { target: 'canceled', actions: ['assignTicket', 'tellCanceled'] },
      },
    },
    active: {
      on: {
        'ticket.cancel': { target: 'canceled', actions: 'tellCanceled' },
        'ticket.refund': [
          { guard: 'hasReceipt', target: 'refunding', actions: 'askRefund' },
          { target: 'refundAwaitingReceipt', actions: ['assignFirstCheck', 'scheduleReceiptCheck'] },
        ],
      },
    },
    // The refund voids the receipt first: a void sent before the receipt is issued would void nothing
    // and leave the receipt issued afterwards valid, so the refund waits for it (and wins over a cancel).
    refundAwaitingReceipt: {
      on: {
        'receipts.issued': { guard: 'awaitsReceipt', target: 'refunding', actions: ['assignReceipt', 'tellReceiptIssued', 'askRefund'] },
        'ticket.checkReceipt': { guard: 'isCurrentCheck', actions: ['askReceiptAgain', 'assignNextCheck', 'scheduleReceiptCheck'] },
      },
    },
    refunding: { on: { 'refunds.completed': { target: 'refunded', actions: 'tellRefunded' } } },
    canceled: {},
    refunded: {},
  },
});
