import { describe, expect, it } from 'bun:test';
import { bookingMachine } from '../../machines/booking/booking.machine';
import { given } from '../support/machineHarness';

const NOW = '2030-01-01T10:00:00.000Z';
const made = {
  type: 'booking.make', now: NOW, booking_id: 'b1', show_id: 's1', number_of_tickets: 2, customer_email: 'ann@example.com',
} as const;

describe('booking machine', () => {
  describe('when new', () => {
    it('tells BookingMade_v1 and waits for Dead Nation on booking.make', () => {
      const out = given(bookingMachine).when(made);
      expect(out.state).toBe('placing');
      expect(out.facts).toEqual([{
        type: 'BookingMade_v1', booking_id: 'b1', show_id: 's1', number_of_tickets: 2,
        customer_email: 'ann@example.com', vip_bundle_id: null, booked_at: NOW,
      }]);
      expect(out.commands).toEqual([]);
    });

    it('rejects deadNation.booked', () => {
      expect(given(bookingMachine).when({ type: 'deadNation.booked', now: NOW }).rejected).toBe(true);
    });
  });

  describe('when placing with Dead Nation', () => {
    it('is placed on deadNation.booked', () => {
      const out = given(bookingMachine, made).when({ type: 'deadNation.booked', now: NOW });
      expect(out.state).toBe('placed');
      expect(out.facts).toEqual([{ type: 'BookingPlaced_v1', booking_id: 'b1', placed_at: NOW }]);
    });

    it('fails and tells why on deadNation.failed', () => {
      const out = given(bookingMachine, made).when({ type: 'deadNation.failed', now: NOW, reason: 'unknown event' });
      expect(out.state).toBe('failed');
      expect(out.status).toBe('done');
      expect(out.facts).toEqual([{ type: 'BookingFailed_v1', booking_id: 'b1', show_id: 's1', reason: 'unknown event', failed_at: NOW }]);
    });
  });

  describe('when made for a VIP bundle', () => {
    const forBundle = { ...made, vip_bundle_id: 'v1' } as const;

    it('reports the placement to the bundle', () => {
      const out = given(bookingMachine, forBundle).when({ type: 'deadNation.booked', now: NOW });
      expect(out.state).toBe('placed');
      expect(out.commands).toEqual([{ type: 'ReportBundleTickets', vip_bundle_id: 'v1', booking_id: 'b1', outcome: 'placed', reason: null }]);
    });

    it('reports the refusal to the bundle', () => {
      const out = given(bookingMachine, forBundle).when({ type: 'deadNation.failed', now: NOW, reason: 'unknown event' });
      expect(out.state).toBe('failed');
      expect(out.facts.map((f) => f.type)).toEqual(['BookingFailed_v1']);
      expect(out.commands).toEqual([{ type: 'ReportBundleTickets', vip_bundle_id: 'v1', booking_id: 'b1', outcome: 'failed', reason: 'unknown event' }]);
    });

    it('is recorded as refused, with no seats and nothing to place, when its seats were refused', () => {
      const out = given(bookingMachine).when({ ...forBundle, type: 'booking.refuse', reason: 'not enough seats available' });
      expect(out.state).toBe('refused');
      expect(out.status).toBe('done');
      expect(out.context).toMatchObject({ bookingId: 'b1', vipBundleId: 'v1' });
      expect(out.facts).toEqual([{
        type: 'BookingRefused_v1', booking_id: 'b1', show_id: 's1', number_of_tickets: 2, customer_email: forBundle.customer_email, vip_bundle_id: 'v1',
        reason: 'not enough seats available', refused_at: NOW,
      }]);
      expect(out.commands).toEqual([]);
      expect(given(bookingMachine, { ...forBundle, type: 'booking.refuse', reason: 'x' }).when(forBundle).rejected).toBe(true);
      expect(given(bookingMachine, forBundle).when({ ...forBundle, type: 'booking.refuse', reason: 'x' }).rejected).toBe(true);
    });

    it('reports nothing for a booking of book-tickets', () => {
      expect(given(bookingMachine, made).when({ type: 'deadNation.booked', now: NOW }).commands).toEqual([]);
      expect(given(bookingMachine, made).when({ type: 'deadNation.failed', now: NOW, reason: 'x' }).commands).toEqual([]);
    });
  });

  describe('when placed', () => {
    it('is cancelled on booking.cancel', () => {
      const out = given(bookingMachine, made, { type: 'deadNation.booked', now: NOW }).when({ type: 'booking.cancel', now: NOW, reason: 'vip bundle failed' });
      expect(out.state).toBe('canceled');
      expect(out.facts).toEqual([{ type: 'BookingCanceled_v1', booking_id: 'b1', show_id: 's1', reason: 'vip bundle failed', canceled_at: NOW }]);
    });

    it('rejects a second booking.make', () => {
      expect(given(bookingMachine, made, { type: 'deadNation.booked', now: NOW }).when(made).rejected).toBe(true);
    });
  });

  describe('when cancelled', () => {
    it('rejects booking.cancel', () => {
      expect(given(bookingMachine, made, { type: 'booking.cancel', now: NOW, reason: 'x' }).when({ type: 'booking.cancel', now: NOW, reason: 'x' }).rejected).toBe(true);
    });
  });
});
