import { describe, expect, it } from 'bun:test';
import { refundMachine } from '../../machines/refund/refund.machine';
import { given } from '../support/machineHarness';

const NOW = '2030-01-01T10:00:00.000Z';
const requested = { type: 'refund.request', now: NOW, ticket_id: 't1', payment_reference: 'pay-1', reason: 'customer request' } as const;

describe('refund machine', () => {
  describe('when new', () => {
    it('asks to void the receipt on refund.request', () => {
      const out = given(refundMachine).when(requested);
      expect(out.state).toBe('voidingReceipt');
      expect(out.commands).toEqual([{ type: 'VoidReceipt', ticket_id: 't1', reason: 'customer request', idempotent_id: 'void-t1' }]);
    });
  });

  describe('when voiding the receipt', () => {
    it('asks to refund the payment with the refund-<ticket_id> key on receipts.voided', () => {
      const out = given(refundMachine, requested).when({ type: 'receipts.voided', now: NOW });
      expect(out.state).toBe('refundingPayment');
      expect(out.commands).toEqual([{ type: 'RefundPayment', ticket_id: 't1', payment_reference: 'pay-1', reason: 'customer request', deduplication_id: 'refund-t1' }]);
    });

    it('completes without a payment refund on receipts.voided when nothing was charged', () => {
      const free = { ...requested, payment_reference: null };
      const out = given(refundMachine, free).when({ type: 'receipts.voided', now: NOW });
      expect(out.state).toBe('refunded');
      expect(out.status).toBe('done');
      expect(out.commands).toEqual([]);
      expect(out.facts).toEqual([{ type: 'TicketRefundCompleted_v1', ticket_id: 't1', payment_reference: null, completed_at: NOW }]);
    });

    it('rejects a second refund.request, which joins the first', () => {
      expect(given(refundMachine, requested).when(requested).rejected).toBe(true);
    });

    it('rejects payments.refunded before the receipt is voided', () => {
      expect(given(refundMachine, requested).when({ type: 'payments.refunded', now: NOW }).rejected).toBe(true);
    });
  });

  describe('when refunding the payment', () => {
    it('completes on payments.refunded', () => {
      const out = given(refundMachine, requested, { type: 'receipts.voided', now: NOW }).when({ type: 'payments.refunded', now: NOW });
      expect(out.state).toBe('refunded');
      expect(out.status).toBe('done');
      expect(out.facts).toEqual([{ type: 'TicketRefundCompleted_v1', ticket_id: 't1', payment_reference: 'pay-1', completed_at: NOW }]);
    });
  });
});
