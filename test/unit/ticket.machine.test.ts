import { describe, expect, it } from 'bun:test';
import { STEP_CHECK_MAX_MS, STEP_CHECK_MS } from '../../machines/shared/stepChecks';
import { MAX_RECEIPT_CHECKS, ticketMachine } from '../../machines/ticket/ticket.machine';
import { given } from '../support/machineHarness';

const NOW = '2030-01-01T10:00:00.000Z';
const price = { amount: '50.30', currency: 'GBP' };
const confirmed = { type: 'ticket.confirm', now: NOW, ticket_id: 't1', booking_id: 'b1', customer_email: 'ann@example.com', price, payment_reference: 't1' } as const;
const canceled = { type: 'ticket.cancel', now: NOW, ticket_id: 't1', booking_id: 'b1', customer_email: 'ann@example.com', price } as const;
const receipt = { type: 'receipts.issued', now: NOW, receipt_number: 'R-1', issued_at: NOW } as const;
const printed = { type: 'files.printed', now: NOW, file_name: 't1-ticket.html' } as const;
const ticketFields = { ticket_id: 't1', booking_id: 'b1', customer_email: 'ann@example.com', price };

describe('ticket machine', () => {
  describe('when new', () => {
    it('tells TicketBookingConfirmed_v1 on ticket.confirm', () => {
      const out = given(ticketMachine).when(confirmed);
      expect(out.state).toBe('active');
      expect(out.facts).toEqual([{ type: 'TicketBookingConfirmed_v1', ...ticketFields, confirmed_at: NOW }]);
    });

    it('tells TicketBookingCanceled_v1 on ticket.cancel, even never confirmed', () => {
      const out = given(ticketMachine).when(canceled);
      expect(out.state).toBe('canceled');
      expect(out.facts).toEqual([{ type: 'TicketBookingCanceled_v1', ...ticketFields, confirmed_at: null, canceled_at: NOW }]);
    });

    it('rejects receipts.issued before any confirmation', () => {
      expect(given(ticketMachine).when(receipt).rejected).toBe(true);
    });
  });

  describe('when active', () => {
    it('records its receipt once on receipts.issued', () => {
      const out = given(ticketMachine, confirmed).when(receipt);
      expect(out.facts).toEqual([{ type: 'TicketReceiptIssued_v1', ticket_id: 't1', booking_id: 'b1', receipt_number: 'R-1', issued_at: NOW }]);
      expect(given(ticketMachine, confirmed, receipt).when(receipt).rejected).toBe(true);
    });

    it('records its printed file once on files.printed, in either order with the receipt', () => {
      const out = given(ticketMachine, confirmed, receipt).when(printed);
      expect(out.facts).toEqual([{ type: 'TicketPrinted_v1', ticket_id: 't1', booking_id: 'b1', file_name: 't1-ticket.html', printed_at: NOW }]);
      expect(given(ticketMachine, confirmed, printed).when(receipt).rejected).toBe(false);
      expect(given(ticketMachine, confirmed, printed).when(printed).rejected).toBe(true);
    });

    it('rejects a second ticket.confirm', () => {
      expect(given(ticketMachine, confirmed).when(confirmed).rejected).toBe(true);
    });

    it('asks for a refund with its payment reference on ticket.refund', () => {
      const out = given(ticketMachine, { ...confirmed, payment_reference: 'pay-9' }, receipt).when({ type: 'ticket.refund', now: NOW });
      expect(out.state).toBe('refunding');
      expect(out.commands).toEqual([{ type: 'RefundTicket', ticket_id: 't1', booking_id: 'b1', payment_reference: 'pay-9' }]);
    });

    it('is cancelled on ticket.cancel, telling that it had been confirmed', () => {
      const out = given(ticketMachine, confirmed).when(canceled);
      expect(out.state).toBe('canceled');
      expect(out.facts).toEqual([{ type: 'TicketBookingCanceled_v1', ...ticketFields, confirmed_at: NOW, canceled_at: NOW }]);
    });
  });

  describe('when a refund is asked for before the receipt is issued', () => {
    const refund = { type: 'ticket.refund', now: NOW } as const;

    it('asks for nothing yet, so that the void cannot come before the receipt', () => {
      const out = given(ticketMachine, confirmed).when(refund);
      expect(out.state).toBe('refundAwaitingReceipt');
      expect(out.commands).toEqual([]);
    });

    it('records the receipt and then asks for the refund on receipts.issued', () => {
      const out = given(ticketMachine, confirmed, refund).when(receipt);
      expect(out.state).toBe('refunding');
      expect(out.facts).toEqual([{ type: 'TicketReceiptIssued_v1', ticket_id: 't1', booking_id: 'b1', receipt_number: 'R-1', issued_at: NOW }]);
      expect(out.commands).toEqual([{ type: 'RefundTicket', ticket_id: 't1', booking_id: 'b1', payment_reference: 't1' }]);
    });

    it('rejects a second ticket.refund and a ticket.cancel: the refund under way wins', () => {
      expect(given(ticketMachine, confirmed, refund).when(refund).rejected).toBe(true);
      expect(given(ticketMachine, confirmed, refund).when(canceled).rejected).toBe(true);
    });

    // The receipt's issue may have been dead-lettered (the receipts service down past the retry budget):
    // the refund would wait for it for ever, so the ticket asks for it again, as a refund asks for its steps.
    const at = (ms: number) => new Date(Date.parse(NOW) + ms).toISOString();
    const checkAt = (ms: number) => ({ type: 'ticket.checkReceipt', now: at(ms), due_at: at(ms) }) as const;

    it('schedules a check of the receipt a minute later', () => {
      expect(given(ticketMachine, confirmed).when(refund).timers.set).toEqual([{ name: 'stepCheck', dueAt: at(STEP_CHECK_MS), event: { type: 'ticket.checkReceipt' } }]);
    });

    it('asks for the receipt again at its check, then twice as late each time, at most MAX_RECEIPT_CHECKS times', () => {
      const first = given(ticketMachine, confirmed, refund).when(checkAt(STEP_CHECK_MS));
      expect([first.state, first.commands]).toEqual(['refundAwaitingReceipt', [{ type: 'AskReceiptAgain', ticket_id: 't1' }]]);
      expect(first.timers.set).toEqual([{ name: 'stepCheck', dueAt: at(3 * STEP_CHECK_MS), event: { type: 'ticket.checkReceipt' } }]);
      const events: { type: string; now: string; due_at?: string }[] = [confirmed, refund];
      let due = STEP_CHECK_MS;
      let wait = STEP_CHECK_MS;
      for (let made = 0; made < MAX_RECEIPT_CHECKS; made++) {
        events.push(checkAt(due));
        wait = Math.min(wait * 2, STEP_CHECK_MAX_MS);
        due += wait;
      }
      expect(given(ticketMachine, ...(events as never[])).when(checkAt(due)).rejected).toBe(true);
    });

    it('ignores a check that is not the current one, and every check once the receipt is issued', () => {
      expect(given(ticketMachine, confirmed, refund).when(checkAt(STEP_CHECK_MS + 1)).rejected).toBe(true);
      expect(given(ticketMachine, confirmed, refund, receipt).when(checkAt(STEP_CHECK_MS)).rejected).toBe(true);
    });
  });

  describe('when refunding', () => {
    it('rejects a second ticket.refund, so a repeat never refunds twice', () => {
      expect(given(ticketMachine, confirmed, receipt, { type: 'ticket.refund', now: NOW }).when({ type: 'ticket.refund', now: NOW }).rejected).toBe(true);
    });

    it('tells TicketRefunded_v1 on refunds.completed', () => {
      const out = given(ticketMachine, confirmed, receipt, { type: 'ticket.refund', now: NOW }).when({ type: 'refunds.completed', now: NOW });
      expect(out.state).toBe('refunded');
      expect(out.facts).toEqual([{ type: 'TicketRefunded_v1', ...ticketFields, refunded_at: NOW }]);
    });
  });

  describe('when cancelled', () => {
    it('rejects ticket.refund', () => {
      expect(given(ticketMachine, canceled).when({ type: 'ticket.refund', now: NOW }).rejected).toBe(true);
    });
  });
});
