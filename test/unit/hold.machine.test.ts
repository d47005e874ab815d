import { describe, expect, it } from 'bun:test';
import { holdMachine } from '../../machines/hold/hold.machine';
import { given } from '../support/machineHarness';

const NOW = '2030-01-01T00:00:00.000Z';
const EXPIRES = '2030-01-01T00:01:00.000Z';
const price = { amount: '25.00', currency: 'EUR' };
const placed = {
  type: 'hold.place', now: NOW, hold_id: 'h1', event_id: 'e1', user_id: 'u1', customer_email: 'ann@example.com',
  seats: [{ label: 'A1', price }, { label: 'A2', price }], ttl_seconds: 60, max_renewals: 1,
} as const;
const confirm = (now: string) => ({ type: 'hold.confirm', now, payment_id: 'p1', ticket_ids: ['t1', 't2'] }) as const;

describe('hold machine', () => {
  describe('when new', () => {
    it('is held, tells HoldPlaced_v1 and schedules its expiry on hold.place', () => {
      const out = given(holdMachine).when(placed);
      expect(out.state).toBe('held');
      expect(out.facts).toEqual([{ type: 'HoldPlaced_v1', hold_id: 'h1', event_id: 'e1', user_id: 'u1', seats: ['A1', 'A2'], expires_at: EXPIRES }]);
      expect(out.timers.set).toEqual([{ name: 'expiry', dueAt: EXPIRES, event: { type: 'hold.expire' } }]);
    });
  });

  describe('when held', () => {
    it('renews from now and moves the timer on hold.renew, at most max_renewals times', () => {
      const renew = { type: 'hold.renew', now: '2030-01-01T00:00:30.000Z' } as const;
      const out = given(holdMachine, placed).when(renew);
      expect(out.state).toBe('held');
      expect(out.timers.set).toEqual([{ name: 'expiry', dueAt: '2030-01-01T00:01:30.000Z', event: { type: 'hold.expire' } }]);
      expect(given(holdMachine, placed, renew).when(renew).rejected).toBe(true);
    });

    it('refuses hold.renew at or after expires_at', () => {
      expect(given(holdMachine, placed).when({ type: 'hold.renew', now: EXPIRES }).rejected).toBe(true);
    });

    it('expires on its current timer and ignores a stale one', () => {
      expect(given(holdMachine, placed).when({ type: 'hold.expire', now: EXPIRES, due_at: '2030-01-01T00:00:10.000Z' }).rejected).toBe(true);
      const out = given(holdMachine, placed).when({ type: 'hold.expire', now: EXPIRES, due_at: EXPIRES });
      expect(out.state).toBe('expired');
      expect(out.facts).toEqual([{ type: 'HoldExpired_v1', hold_id: 'h1', event_id: 'e1', seats: ['A1', 'A2'] }]);
    });

    it('sells with tickets and cancels the timer on hold.confirm before expires_at', () => {
      const out = given(holdMachine, placed).when(confirm('2030-01-01T00:00:59.999Z'));
      expect(out.state).toBe('sold');
      expect(out.status).toBe('done');
      expect(out.facts).toEqual([{
        type: 'TicketsSold_v1', hold_id: 'h1', booking_id: 'h1', event_id: 'e1', user_id: 'u1', payment_id: 'p1', seats: ['A1', 'A2'],
        tickets: [{ ticket_id: 't1', seat: 'A1', price }, { ticket_id: 't2', seat: 'A2', price }],
      }]);
      expect(out.timers.cancel).toEqual(['expiry']);
    });

    it('expires and refunds the payment on hold.confirm at or after expires_at', () => {
      const out = given(holdMachine, placed).when(confirm(EXPIRES));
      expect(out.state).toBe('expired');
      expect(out.facts.map((f) => f.type)).toEqual(['HoldExpired_v1']);
      expect(out.commands).toEqual([{ type: 'RefundHoldPayment', hold_id: 'h1', payment_id: 'p1', reason: 'payment arrived after the hold expired' }]);
    });

    it('is released on hold.release', () => {
      const out = given(holdMachine, placed).when({ type: 'hold.release', now: NOW });
      expect(out.state).toBe('released');
      expect(out.facts).toEqual([{ type: 'HoldReleased_v1', hold_id: 'h1', event_id: 'e1', seats: ['A1', 'A2'] }]);
    });
  });

  describe('when expired or released', () => {
    it('refunds a payment that arrives late, and sells nothing', () => {
      for (const ended of [{ type: 'hold.expire', now: EXPIRES, due_at: EXPIRES } as const, { type: 'hold.release', now: NOW } as const]) {
        const out = given(holdMachine, placed, ended).when(confirm(EXPIRES));
        expect(out.facts).toEqual([]);
        expect(out.commands.map((c) => c.type)).toEqual(['RefundHoldPayment']);
      }
    });
  });
});
