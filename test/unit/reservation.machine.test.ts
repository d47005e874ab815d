import { describe, expect, it } from 'bun:test';
import { given } from '../support/machineHarness';
import { reservationMachine } from '../support/machines/reservation.machine';

const opened = { type: 'reservation.open', now: '2030-01-01T00:00:00.000Z', reservation_id: 'r1', seats: 2, ttl_ms: 60_000 } as const;
const renewed = (now: string) => ({ type: 'reservation.renew', now }) as const;

describe('reservation machine (runtime test machine)', () => {
  describe('when new', () => {
    it('opens, tells and schedules its expiry on reservation.open', () => {
      const out = given(reservationMachine).when(opened);
      expect(out.state).toBe('open');
      expect(out.facts).toEqual([{ type: 'ReservationOpened_v1', reservation_id: 'r1', seats: 2, expires_at: '2030-01-01T00:01:00.000Z' }]);
      expect(out.timers.set).toEqual([{ name: 'expiry', dueAt: '2030-01-01T00:01:00.000Z', event: { type: 'reservation.expire' } }]);
    });

    it('rejects reservation.confirm', () => {
      expect(given(reservationMachine).when({ type: 'reservation.confirm', now: opened.now }).rejected).toBe(true);
    });
  });

  describe('when open', () => {
    it('moves the deadline on reservation.renew', () => {
      const out = given(reservationMachine, opened).when(renewed('2030-01-01T00:00:30.000Z'));
      expect(out.context.expiresAt).toBe('2030-01-01T00:01:30.000Z');
      expect(out.timers.set[0]?.dueAt).toBe('2030-01-01T00:01:30.000Z');
    });

    it('rejects a third renewal on reservation.renew', () => {
      const out = given(reservationMachine, opened, renewed('2030-01-01T00:00:10.000Z'), renewed('2030-01-01T00:00:20.000Z')).when(renewed('2030-01-01T00:00:30.000Z'));
      expect(out.rejected).toBe(true);
    });

    it('expires on the current deadline on reservation.expire', () => {
      const out = given(reservationMachine, opened).when({ type: 'reservation.expire', now: '2030-01-01T00:01:00.000Z', due_at: '2030-01-01T00:01:00.000Z' });
      expect(out.state).toBe('expired');
      expect(out.status).toBe('done');
      expect(out.facts).toEqual([{ type: 'ReservationExpired_v1', reservation_id: 'r1' }]);
    });

    it('ignores a stale deadline on reservation.expire', () => {
      const out = given(reservationMachine, opened, renewed('2030-01-01T00:00:30.000Z')).when({ type: 'reservation.expire', now: '2030-01-01T00:01:00.000Z', due_at: '2030-01-01T00:01:00.000Z' });
      expect(out.rejected).toBe(true);
      expect(out.state).toBe('open');
    });

    it('confirms, asks for a charge and cancels its expiry on reservation.confirm', () => {
      const out = given(reservationMachine, opened).when({ type: 'reservation.confirm', now: '2030-01-01T00:00:10.000Z' });
      expect(out.state).toBe('confirmed');
      expect(out.facts.map((f) => f.type)).toEqual(['ReservationConfirmed_v1']);
      expect(out.commands).toEqual([{ type: 'ChargeCard', reservation_id: 'r1', seats: 2 }]);
      expect(out.timers.cancel).toEqual(['expiry']);
    });
  });
});
