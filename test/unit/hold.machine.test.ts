import { describe, expect, it } from 'bun:test';
import { holdMachine, PAYMENT_CHECK_MS } from '../../machines/hold/hold.machine';
import { given } from '../support/machineHarness';

const NOW = '2030-01-01T00:00:00.000Z';
const EXPIRES = '2030-01-01T00:01:00.000Z';
const price = { amount: '25.00', currency: 'EUR' };
const placed = {
  type: 'hold.place', now: NOW, hold_id: 'h1', event_id: 'e1', user_id: 'u1', customer_email: 'ann@example.com',
  seats: [{ label: 'A1', price }, { label: 'A2', price }], ttl_seconds: 60, max_renewals: 1,
} as const;
const confirm = (now: string) => ({ type: 'hold.confirm', now, payment_id: 'p1', ticket_ids: ['t1', 't2'] }) as const;
const PAID_AT = NOW;
const CHECK_AT = new Date(Date.parse(PAID_AT) + PAYMENT_CHECK_MS).toISOString();
const pay = { type: 'hold.pay', now: PAID_AT, payment_method: 'pm_card_visa', amount: { amount: '50.00', currency: 'EUR' } } as const;
const check = { type: 'hold.checkPayment', now: CHECK_AT, due_at: CHECK_AT } as const;
const expire = { type: 'hold.expire', now: EXPIRES, due_at: EXPIRES } as const;
const chargeCommand = { type: 'ChargeHoldPayment', hold_id: 'h1', amount: { amount: '50.00', currency: 'EUR' }, payment_method: 'pm_card_visa', idempotency_key: 'hold-h1' };

describe('hold machine', () => {
  describe('when new', () => {
    it('is held, tells HoldPlaced_v1 and schedules its expiry on hold.place', () => {
      const out = given(holdMachine).when(placed);
      expect(out.state).toBe('held');
      expect(out.facts).toEqual([{ type: 'HoldPlaced_v1', hold_id: 'h1', event_id: 'e1', user_id: 'u1', seats: ['A1', 'A2'], quantity: 2, expires_at: EXPIRES }]);
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
      expect(out.facts).toEqual([{ type: 'HoldExpired_v1', hold_id: 'h1', event_id: 'e1', seats: ['A1', 'A2'], quantity: 2 }]);
    });

    it('sells with tickets and cancels the timer on hold.confirm before expires_at', () => {
      const out = given(holdMachine, placed).when(confirm('2030-01-01T00:00:59.999Z'));
      expect(out.state).toBe('sold');
      expect(out.status).toBe('done');
      expect(out.facts).toEqual([{
        type: 'TicketsSold_v1', hold_id: 'h1', booking_id: 'h1', event_id: 'e1', user_id: 'u1', customer_email: placed.customer_email, payment_id: 'p1', seats: ['A1', 'A2'], quantity: 2,
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
      expect(out.facts).toEqual([{ type: 'HoldReleased_v1', hold_id: 'h1', event_id: 'e1', seats: ['A1', 'A2'], quantity: 2 }]);
    });

    it('expires instead on hold.release at or after expires_at, before its timer has fired', () => {
      const out = given(holdMachine, placed).when({ type: 'hold.release', now: EXPIRES });
      expect(out.state).toBe('expired');
      expect(out.facts).toEqual([{ type: 'HoldExpired_v1', hold_id: 'h1', event_id: 'e1', seats: ['A1', 'A2'], quantity: 2 }]);
      expect(out.timers.cancel).toEqual(['expiry']);
    });
  });

  describe('when held, paying', () => {
    it('records the charge and sets its recovery timer on hold.pay, before any money moves', () => {
      const out = given(holdMachine, placed).when(pay);
      expect(out.state).toBe('paying');
      expect(out.context.payment).toEqual({ method: 'pm_card_visa', amount: { amount: '50.00', currency: 'EUR' }, idempotencyKey: 'hold-h1', checkAt: CHECK_AT, checkAfterMs: PAYMENT_CHECK_MS });
      expect(out.timers.set).toEqual([{ name: 'paymentCheck', dueAt: CHECK_AT, event: { type: 'hold.checkPayment' } }]);
      expect(out.facts).toEqual([]);
      expect(out.commands).toEqual([]);
    });

    it('sets the recovery timer after the payment_check_seconds of hold.pay, when given', () => {
      const out = given(holdMachine, placed).when({ ...pay, payment_check_seconds: 2 });
      const checkAt = '2030-01-01T00:00:02.000Z';
      expect(out.context.payment).toMatchObject({ checkAt });
      expect(out.timers.set).toEqual([{ name: 'paymentCheck', dueAt: checkAt, event: { type: 'hold.checkPayment' } }]);
      expect(given(holdMachine, placed, { ...pay, payment_check_seconds: 2 }).when({ ...check, now: checkAt, due_at: checkAt }).commands).toEqual([chargeCommand]);
    });

    it('refuses hold.pay at or after expires_at', () => {
      expect(given(holdMachine, placed).when({ ...pay, now: EXPIRES }).rejected).toBe(true);
    });

    it('refuses renew, release and a second hold.pay while the charge is out', () => {
      for (const event of [{ type: 'hold.renew', now: PAID_AT }, { type: 'hold.release', now: PAID_AT }, pay] as const) {
        expect(given(holdMachine, placed, pay).when(event).rejected).toBe(true);
      }
    });

    it('sells and cancels both timers on hold.confirm before expires_at', () => {
      const out = given(holdMachine, placed, pay).when(confirm('2030-01-01T00:00:11.000Z'));
      expect(out.state).toBe('sold');
      expect(out.facts.map((f) => f.type)).toEqual(['TicketsSold_v1']);
      expect(out.timers.cancel).toEqual(['expiry', 'paymentCheck']);
      expect(out.context).toMatchObject({ paymentId: 'p1', payment: null });
    });

    it('expires and refunds on hold.confirm at or after expires_at', () => {
      const out = given(holdMachine, placed, pay).when(confirm(EXPIRES));
      expect(out.state).toBe('expired');
      expect(out.facts.map((f) => f.type)).toEqual(['HoldExpired_v1']);
      expect(out.commands).toEqual([{ type: 'RefundHoldPayment', hold_id: 'h1', payment_id: 'p1', reason: 'payment arrived after the hold expired' }]);
      expect(out.timers.cancel).toEqual(['expiry', 'paymentCheck']);
    });

    it('goes back to held on payment.declined, and the next charge gets a key of its own', () => {
      const out = given(holdMachine, placed, pay).when({ type: 'payment.declined', now: PAID_AT });
      expect(out.state).toBe('held');
      expect(out.context.payment).toBeNull();
      expect(out.timers.cancel).toEqual(['paymentCheck']);
      const again = given(holdMachine, placed, pay, { type: 'payment.declined', now: PAID_AT }).when(pay);
      expect((again.context.payment as { idempotencyKey: string }).idempotencyKey).toBe('hold-h1-2');
    });

    it('ignores the decline of an earlier charge while a later one is out: only its own outcome moves it', () => {
      const declinedFirst = { type: 'payment.declined', now: PAID_AT, idempotency_key: 'hold-h1' } as const;
      const stale = given(holdMachine, placed, pay, declinedFirst, pay).when(declinedFirst);
      expect(stale.rejected).toBe(true);
      expect(stale.state).toBe('paying');
      expect((stale.context.payment as { idempotencyKey: string }).idempotencyKey).toBe('hold-h1-2');
      const own = given(holdMachine, placed, pay, declinedFirst, pay).when({ ...declinedFirst, idempotency_key: 'hold-h1-2' });
      expect(own.state).toBe('held');
      // Expired meanwhile: the later charge is still asked for by its recovery, whatever the earlier one said.
      const expiredPaying = given(holdMachine, placed, pay, declinedFirst, pay, expire).when(declinedFirst);
      expect([expiredPaying.rejected, expiredPaying.state]).toEqual([true, 'expired']);
    });

    it('asks for the charge again with the same key when its recovery timer fires with no outcome', () => {
      const out = given(holdMachine, placed, pay).when(check);
      expect(out.state).toBe('paying');
      expect(out.commands).toEqual([chargeCommand]);
      expect(given(holdMachine, placed, pay).when({ ...check, due_at: PAID_AT }).rejected).toBe(true);
    });

    it('checks again later after each check that finds no outcome, waiting twice as long each time', () => {
      const at = (ms: number) => new Date(Date.parse(CHECK_AT) + ms).toISOString();
      const first = given(holdMachine, placed, pay).when(check);
      expect(first.timers.set).toEqual([{ name: 'paymentCheck', dueAt: at(2 * PAYMENT_CHECK_MS), event: { type: 'hold.checkPayment' } }]);
      const secondAt = at(2 * PAYMENT_CHECK_MS);
      const second = given(holdMachine, placed, pay, check).when({ type: 'hold.checkPayment', now: secondAt, due_at: secondAt });
      expect(second.commands).toEqual([chargeCommand]);
      expect(second.timers.set).toEqual([
        { name: 'paymentCheck', dueAt: new Date(Date.parse(secondAt) + 4 * PAYMENT_CHECK_MS).toISOString(), event: { type: 'hold.checkPayment' } },
      ]);
    });

    it('extends a hold that has less than two charge windows left, once, to two windows after hold.pay', () => {
      const late = { ...pay, now: '2030-01-01T00:00:45.000Z' } as const;
      const extendedTo = new Date(Date.parse(late.now) + 2 * PAYMENT_CHECK_MS).toISOString();
      const checkAt = new Date(Date.parse(late.now) + PAYMENT_CHECK_MS).toISOString();
      const out = given(holdMachine, placed).when(late);
      expect(out.state).toBe('paying');
      expect(out.context.expiresAt).toBe(extendedTo);
      expect(out.facts).toEqual([{ type: 'HoldExpiryMoved_v1', hold_id: 'h1', event_id: 'e1', seats: ['A1', 'A2'], quantity: 2, expires_at: extendedTo, reason: 'charge' }]);
      expect(out.timers.set).toEqual([
        { name: 'expiry', dueAt: extendedTo, event: { type: 'hold.expire' } },
        { name: 'paymentCheck', dueAt: checkAt, event: { type: 'hold.checkPayment' } },
      ]);
      // The charge answered after the original expires_at, inside the window: sold.
      expect(given(holdMachine, placed, late).when(confirm('2030-01-01T00:01:05.000Z')).state).toBe('sold');
      // No answer at all: the recovery check comes a window before the extended expiry, so the charge it
      // makes again still finds the hold live (sold, not charged and then refunded).
      const recheck = { type: 'hold.checkPayment', now: checkAt, due_at: checkAt } as const;
      expect(given(holdMachine, placed, late).when(recheck).commands).toEqual([{ ...chargeCommand }]);
      const recovered = given(holdMachine, placed, late, recheck).when(confirm(new Date(Date.parse(checkAt) + 1_000).toISOString()));
      expect(recovered.state).toBe('sold');
      expect(recovered.commands).toEqual([]);
      // A hold with two windows left is not extended.
      expect(given(holdMachine, placed).when({ ...pay, now: '2030-01-01T00:00:00.000Z' }).facts).toEqual([]);
      // Declined: the hold gets its own expires_at back (the extension was for the charge only) ...
      const declined = given(holdMachine, placed, late).when({ type: 'payment.declined', now: '2030-01-01T00:00:50.000Z' });
      expect(declined.state).toBe('held');
      expect(declined.context.expiresAt).toBe(EXPIRES);
      expect(declined.facts).toEqual([{ type: 'HoldExpiryMoved_v1', hold_id: 'h1', event_id: 'e1', seats: ['A1', 'A2'], quantity: 2, expires_at: EXPIRES, reason: 'declined' }]);
      expect(declined.timers.set).toEqual([{ name: 'expiry', dueAt: EXPIRES, event: { type: 'hold.expire' } }]);
      // ... and a charge started again is not extended a second time.
      const again = given(holdMachine, placed, late, { type: 'payment.declined', now: '2030-01-01T00:00:50.000Z' }).when({ ...pay, now: '2030-01-01T00:00:55.000Z' });
      expect(again.state).toBe('paying');
      expect(again.context.expiresAt).toBe(EXPIRES);
      expect(again.facts).toEqual([]);
      // A decline that comes after the hold's own expires_at: it expires on its (now past) timer.
      const lateDecline = given(holdMachine, placed, late).when({ type: 'payment.declined', now: '2030-01-01T00:01:05.000Z' });
      expect(lateDecline.context.expiresAt).toBe(EXPIRES);
      expect(given(holdMachine, placed, late, { type: 'payment.declined', now: '2030-01-01T00:01:05.000Z' }).when({ ...expire, now: '2030-01-01T00:01:05.000Z' }).state).toBe('expired');
    });

    it('still expires on its timer, keeping the charge pending', () => {
      const out = given(holdMachine, placed, pay).when(expire);
      expect(out.state).toBe('expired');
      expect(out.facts.map((f) => f.type)).toEqual(['HoldExpired_v1']);
      expect(out.context.payment).toMatchObject({ idempotencyKey: 'hold-h1' });
    });
  });

  describe('when expired while paying', () => {
    it('asks for the charge again when the recovery timer fires, and refunds what comes back', () => {
      expect(given(holdMachine, placed, pay, expire).when(check).commands).toEqual([chargeCommand]);
      const late = given(holdMachine, placed, pay, expire).when(confirm(CHECK_AT));
      expect(late.state).toBe('expired');
      expect(late.commands.map((c) => c.type)).toEqual(['RefundHoldPayment']);
      expect(late.context.payment).toBeNull();
      expect(late.timers.cancel).toEqual(['paymentCheck']);
    });

    it('asks for nothing once the outcome has come back', () => {
      expect(given(holdMachine, placed, pay, expire, confirm(EXPIRES)).when(check).rejected).toBe(true);
      expect(given(holdMachine, placed, pay, expire, { type: 'payment.declined', now: EXPIRES }).when(check).rejected).toBe(true);
    });
  });

  describe('when held with nothing to pay', () => {
    it('sells on hold.confirm without a payment, and tickets without a label for general admission', () => {
      const free = { amount: '0.00', currency: 'XXX' };
      const ga = { ...placed, seats: [{ label: null, price: free }, { label: null, price: free }] };
      expect(given(holdMachine).when(ga).facts[0]).toMatchObject({ type: 'HoldPlaced_v1', seats: [], quantity: 2 });
      const out = given(holdMachine, ga).when({ type: 'hold.confirm', now: NOW, payment_id: null, ticket_ids: ['t1', 't2'] });
      expect(out.state).toBe('sold');
      expect(out.facts[0]).toMatchObject({ type: 'TicketsSold_v1', payment_id: null, seats: [], quantity: 2, tickets: [{ ticket_id: 't1', seat: null, price: free }, { ticket_id: 't2', seat: null, price: free }] });
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
