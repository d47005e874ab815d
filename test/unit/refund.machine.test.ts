import { describe, expect, it } from 'bun:test';
import { MAX_STEP_CHECKS, refundMachine } from '../../machines/refund/refund.machine';
import { STEP_CHECK_MS } from '../../machines/shared/stepChecks';
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

  describe('when a step gets no reply (its command dead-lettered)', () => {
    const at = (ms: number) => new Date(Date.parse(NOW) + ms).toISOString();
    const checkAt = (ms: number) => ({ type: 'refund.checkStep', now: at(ms), due_at: at(ms) }) as const;
    const voided = { type: 'receipts.voided', now: NOW } as const;

    it('schedules a check of each step when it asks for it', () => {
      expect(given(refundMachine).when(requested).timers.set).toEqual([{ name: 'stepCheck', dueAt: at(STEP_CHECK_MS), event: { type: 'refund.checkStep' } }]);
      expect(given(refundMachine, requested).when(voided).timers.set).toEqual([{ name: 'stepCheck', dueAt: at(STEP_CHECK_MS), event: { type: 'refund.checkStep' } }]);
    });

    it('asks for the step again with the same key at its check, then waits twice as long', () => {
      const voiding = given(refundMachine, requested).when(checkAt(STEP_CHECK_MS));
      expect(voiding.state).toBe('voidingReceipt');
      expect(voiding.commands).toEqual([{ type: 'VoidReceipt', ticket_id: 't1', reason: 'customer request', idempotent_id: 'void-t1' }]);
      expect(voiding.timers.set).toEqual([{ name: 'stepCheck', dueAt: at(3 * STEP_CHECK_MS), event: { type: 'refund.checkStep' } }]);

      const refunding = given(refundMachine, requested, voided).when(checkAt(STEP_CHECK_MS));
      expect(refunding.commands).toEqual([{ type: 'RefundPayment', ticket_id: 't1', payment_reference: 'pay-1', reason: 'customer request', deduplication_id: 'refund-t1' }]);
    });

    it('stops asking after MAX_STEP_CHECKS checks (about five hours), leaving the step to an operator', () => {
      let dueMs = STEP_CHECK_MS;
      let afterMs = STEP_CHECK_MS;
      const events: object[] = [requested];
      for (let made = 0; made < MAX_STEP_CHECKS; made++) {
        const out = given(refundMachine, ...(events as [typeof requested])).when(checkAt(dueMs));
        expect(out.commands.map((c) => c.type)).toEqual(['VoidReceipt']);
        events.push(checkAt(dueMs));
        afterMs = Math.min(afterMs * 2, 60 * 60_000);
        dueMs += afterMs;
      }
      expect(given(refundMachine, ...(events as [typeof requested])).when(checkAt(dueMs)).rejected).toBe(true);
    });

    it('ignores a check that is not the current one, and any check once refunded', () => {
      expect(given(refundMachine, requested).when(checkAt(1_000)).rejected).toBe(true);
      const done = given(refundMachine, requested, voided, { type: 'payments.refunded', now: NOW });
      expect(done.when(checkAt(STEP_CHECK_MS)).rejected).toBe(true);
    });
  });
});
