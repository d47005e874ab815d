import { describe, expect, it } from 'bun:test';
import { vipBundleMachine } from '../../machines/vipBundle/vipBundle.machine';
import { given } from '../support/machineHarness';

const NOW = '2030-01-01T10:00:00.000Z';
const LATER = '2030-01-01T10:05:00.000Z';
const DEADLINE = '2030-01-01T10:15:00.000Z';

const started = {
  type: 'vipBundle.start', now: NOW, vip_bundle_id: 'v1', booking_id: 'b1', show_id: 's1', number_of_tickets: 2,
  customer_email: 'ann@example.com', passengers: ['Ann', 'Bob'], inbound_flight_id: 'f-in', returned_flight_id: 'f-ret', deadline_at: DEADLINE,
} as const;
const ticketsBooked = { type: 'tickets.booked', now: NOW } as const;
const flightBooked = (leg: 'inbound' | 'return') => ({ type: 'flights.booked', now: NOW, leg, ticket_ids: [`${leg}-t1`, `${leg}-t2`] }) as const;
const flightFailed = (leg: 'inbound' | 'return') => ({ type: 'flights.failed', now: LATER, leg, reason: 'no such flight' }) as const;
const flightCancelled = (leg: 'inbound' | 'return') => ({ type: 'flights.cancelled', now: LATER, leg }) as const;
const taxiBooked = { type: 'taxi.booked', now: LATER, booking_id: 'taxi-1' } as const;
const taxiFailed = { type: 'taxi.failed', now: LATER, reason: 'no taxi' } as const;
const ticketsCancelled = { type: 'tickets.cancelled', now: LATER } as const;
const expired = { type: 'vipBundle.expire', now: DEADLINE, due_at: DEADLINE } as const;

const bookFlight = (leg: 'inbound' | 'return', flightId: string) => ({
  type: 'BookFlight', vip_bundle_id: 'v1', leg, flight_id: flightId, customer_email: 'ann@example.com',
  passenger_names: ['Ann', 'Bob'], reference_id: 'v1', idempotency_key: `v1-${leg}`,
});
const cancelFlight = (leg: 'inbound' | 'return') => ({ type: 'CancelFlightTickets', vip_bundle_id: 'v1', leg, ticket_ids: [`${leg}-t1`, `${leg}-t2`] });
const cancelTickets = { type: 'CancelShowTickets', vip_bundle_id: 'v1', booking_id: 'b1' };

const checkStep = (dueAt: string) => ({ type: 'vipBundle.checkStep', now: dueAt, due_at: dueAt }) as const;
/** NOW plus a minute: the first check of a step asked at NOW. */
const FIRST_CHECK = '2030-01-01T10:01:00.000Z';

const atInboundFlight = [started, ticketsBooked] as const;
const atReturnFlight = [...atInboundFlight, flightBooked('inbound')] as const;
const atTaxi = [...atReturnFlight, flightBooked('return')] as const;

describe('vipBundle machine', () => {
  it('is versioned and serializes for the visualizer with every state', () => {
    const definition = JSON.parse(JSON.stringify(vipBundleMachine.toJSON())) as { id: string; states: Record<string, unknown> };
    expect(definition.id).toBe('vipBundle-v1');
    expect(Object.keys(definition.states)).toEqual([
      'new', 'bookingTickets', 'bookingInboundFlight', 'bookingReturnFlight', 'bookingTaxi',
      'abandoningTickets', 'abandoningInboundFlight', 'abandoningReturnFlight', 'abandoningTaxi',
      'cancellingReturnFlight', 'cancellingInboundFlight', 'cancellingTickets', 'finalized', 'failed',
    ]);
  });

  describe('when new', () => {
    it('tells VipBundleInitialized_v1, asks for the tickets and schedules its deadline and a check of the step on vipBundle.start', () => {
      const out = given(vipBundleMachine).when(started);
      expect(out.state).toBe('bookingTickets');
      expect(out.facts).toEqual([{
        type: 'VipBundleInitialized_v1', vip_bundle_id: 'v1', booking_id: 'b1', show_id: 's1', number_of_tickets: 2, customer_email: 'ann@example.com',
        passengers: ['Ann', 'Bob'], inbound_flight_id: 'f-in', returned_flight_id: 'f-ret', deadline_at: DEADLINE, initialized_at: NOW,
      }]);
      expect(out.commands).toEqual([{ type: 'BookShowTickets', vip_bundle_id: 'v1', booking_id: 'b1', show_id: 's1', number_of_tickets: 2, customer_email: 'ann@example.com' }]);
      expect(out.timers.set).toEqual([
        { name: 'deadline', dueAt: DEADLINE, event: { type: 'vipBundle.expire' } },
        { name: 'stepCheck', dueAt: '2030-01-01T10:01:00.000Z', event: { type: 'vipBundle.checkStep' } },
      ]);
    });

    it('rejects tickets.booked', () => {
      expect(given(vipBundleMachine).when(ticketsBooked).rejected).toBe(true);
    });
  });

  describe('when booking tickets', () => {
    it('books the inbound flight with key <bundle id>-inbound on tickets.booked', () => {
      const out = given(vipBundleMachine, started).when(ticketsBooked);
      expect(out.state).toBe('bookingInboundFlight');
      expect(out.facts).toEqual([{ type: 'VipBundleTicketsBooked_v1', vip_bundle_id: 'v1', booking_id: 'b1', booked_at: NOW }]);
      expect(out.commands).toEqual([bookFlight('inbound', 'f-in')]);
    });

    it('fails with nothing to undo on tickets.failed', () => {
      const out = given(vipBundleMachine, started).when({ type: 'tickets.failed', now: LATER, reason: 'not enough seats available' });
      expect(out.state).toBe('failed');
      expect(out.status).toBe('done');
      expect(out.facts).toEqual([
        { type: 'VipBundleTicketsFailed_v1', vip_bundle_id: 'v1', booking_id: 'b1', reason: 'not enough seats available', failed_at: LATER },
        { type: 'VipBundleFailed_v1', vip_bundle_id: 'v1', booking_id: 'b1', reason: 'tickets: not enough seats available', failed_at: LATER },
      ]);
      expect(out.commands).toEqual([]);
      expect((out.context.legs as { tickets: unknown }).tickets).toEqual({ status: 'failed', reason: 'not enough seats available' });
    });

    it('waits for the booking in flight on vipBundle.expire', () => {
      const out = given(vipBundleMachine, started).when(expired);
      expect(out.state).toBe('abandoningTickets');
      expect(out.commands).toEqual([]);
      expect(out.context.reason).toBe('the deadline passed');
    });

    it('rejects flights.booked', () => {
      expect(given(vipBundleMachine, started).when(flightBooked('inbound')).rejected).toBe(true);
    });
  });

  describe('when booking the inbound flight', () => {
    it('books the return flight on flights.booked for the inbound leg', () => {
      const out = given(vipBundleMachine, ...atInboundFlight).when(flightBooked('inbound'));
      expect(out.state).toBe('bookingReturnFlight');
      expect(out.facts).toEqual([{ type: 'VipBundleFlightBooked_v1', vip_bundle_id: 'v1', leg: 'inbound', flight_id: 'f-in', ticket_ids: ['inbound-t1', 'inbound-t2'], booked_at: NOW }]);
      expect(out.commands).toEqual([bookFlight('return', 'f-ret')]);
    });

    it('rejects flights.booked for the return leg', () => {
      expect(given(vipBundleMachine, ...atInboundFlight).when(flightBooked('return')).rejected).toBe(true);
    });

    it('cancels the tickets, and no flight, on flights.failed', () => {
      const out = given(vipBundleMachine, ...atInboundFlight).when(flightFailed('inbound'));
      expect(out.state).toBe('cancellingTickets');
      expect(out.facts).toEqual([{ type: 'VipBundleFlightFailed_v1', vip_bundle_id: 'v1', leg: 'inbound', flight_id: 'f-in', reason: 'no such flight', failed_at: LATER }]);
      expect(out.commands).toEqual([cancelTickets]);
      expect(out.timers.cancel).toEqual(['deadline']);
    });

    it('waits for the flight in flight on vipBundle.expire', () => {
      const out = given(vipBundleMachine, ...atInboundFlight).when(expired);
      expect(out.state).toBe('abandoningInboundFlight');
      expect(out.commands).toEqual([]);
    });
  });

  describe('when booking the return flight', () => {
    it('books the taxi for every passenger in the first one\'s name on flights.booked', () => {
      const out = given(vipBundleMachine, ...atReturnFlight).when(flightBooked('return'));
      expect(out.state).toBe('bookingTaxi');
      expect(out.commands).toEqual([{
        type: 'BookTaxi', vip_bundle_id: 'v1', customer_email: 'ann@example.com', number_of_passengers: 2, passenger_name: 'Ann', reference_id: 'v1', idempotency_key: 'v1-taxi',
      }]);
    });

    it('cancels the inbound flight on flights.failed', () => {
      const out = given(vipBundleMachine, ...atReturnFlight).when(flightFailed('return'));
      expect(out.state).toBe('cancellingInboundFlight');
      expect(out.commands).toEqual([cancelFlight('inbound')]);
      expect(out.timers.cancel).toEqual(['deadline']);
      expect(out.context.reason).toBe('return flight: no such flight');
    });

    it('ignores a repeated flights.booked for the inbound leg', () => {
      expect(given(vipBundleMachine, ...atReturnFlight).when(flightBooked('inbound')).rejected).toBe(true);
    });
  });

  describe('when booking the taxi', () => {
    it('is finalized on taxi.booked', () => {
      const out = given(vipBundleMachine, ...atTaxi).when(taxiBooked);
      expect(out.state).toBe('finalized');
      expect(out.status).toBe('done');
      expect(out.facts).toEqual([
        { type: 'VipBundleTaxiBooked_v1', vip_bundle_id: 'v1', taxi_booking_id: 'taxi-1', booked_at: LATER },
        { type: 'VipBundleFinalized_v1', vip_bundle_id: 'v1', booking_id: 'b1', finalized_at: LATER },
      ]);
      expect(out.commands).toEqual([]);
    });

    it('cancels the return flight first on taxi.failed', () => {
      const out = given(vipBundleMachine, ...atTaxi).when(taxiFailed);
      expect(out.state).toBe('cancellingReturnFlight');
      expect(out.facts).toEqual([{ type: 'VipBundleTaxiFailed_v1', vip_bundle_id: 'v1', reason: 'no taxi', failed_at: LATER }]);
      expect(out.commands).toEqual([cancelFlight('return')]);
      expect(out.timers.cancel).toEqual(['deadline']);
    });

    it('waits for the taxi in flight on vipBundle.expire', () => {
      expect(given(vipBundleMachine, ...atTaxi).when(expired).state).toBe('abandoningTaxi');
    });
  });

  describe('when cancelling the return flight', () => {
    const cancelling = [...atTaxi, taxiFailed] as const;

    it('cancels the inbound flight on flights.cancelled for the return leg', () => {
      const out = given(vipBundleMachine, ...cancelling).when(flightCancelled('return'));
      expect(out.state).toBe('cancellingInboundFlight');
      expect(out.facts).toEqual([{ type: 'VipBundleFlightCancelled_v1', vip_bundle_id: 'v1', leg: 'return', ticket_ids: ['return-t1', 'return-t2'], cancelled_at: LATER }]);
      expect(out.commands).toEqual([cancelFlight('inbound')]);
    });

    it('rejects flights.cancelled for the inbound leg', () => {
      expect(given(vipBundleMachine, ...cancelling).when(flightCancelled('inbound')).rejected).toBe(true);
    });

    it('rejects vipBundle.expire', () => {
      expect(given(vipBundleMachine, ...cancelling).when(expired).rejected).toBe(true);
    });
  });

  describe('when cancelling the inbound flight', () => {
    it('cancels the tickets on flights.cancelled for the inbound leg', () => {
      const out = given(vipBundleMachine, ...atReturnFlight, flightFailed('return')).when(flightCancelled('inbound'));
      expect(out.state).toBe('cancellingTickets');
      expect(out.commands).toEqual([cancelTickets]);
    });
  });

  describe('when cancelling the tickets', () => {
    it('fails with every booked leg compensated on tickets.cancelled', () => {
      const out = given(vipBundleMachine, ...atTaxi, taxiFailed, flightCancelled('return'), flightCancelled('inbound')).when(ticketsCancelled);
      expect(out.state).toBe('failed');
      expect(out.status).toBe('done');
      expect(out.facts).toEqual([
        { type: 'VipBundleTicketsCancelled_v1', vip_bundle_id: 'v1', booking_id: 'b1', cancelled_at: LATER },
        { type: 'VipBundleFailed_v1', vip_bundle_id: 'v1', booking_id: 'b1', reason: 'taxi: no taxi', failed_at: LATER },
      ]);
      const legs = out.context.legs as Record<string, { status: string }>;
      expect([legs.tickets!.status, legs.inbound!.status, legs.return!.status, legs.taxi!.status]).toEqual(['compensated', 'compensated', 'compensated', 'failed']);
    });
  });

  describe('when the deadline passed while booking tickets', () => {
    it('cancels tickets booked late on tickets.booked', () => {
      const out = given(vipBundleMachine, started, expired).when(ticketsBooked);
      expect(out.state).toBe('cancellingTickets');
      expect(out.commands).toEqual([cancelTickets]);
    });

    it('fails with the deadline as reason on tickets.failed', () => {
      const out = given(vipBundleMachine, started, expired).when({ type: 'tickets.failed', now: LATER, reason: 'not enough seats available' });
      expect(out.state).toBe('failed');
      expect(out.facts.at(-1)).toMatchObject({ type: 'VipBundleFailed_v1', reason: 'the deadline passed' });
    });
  });

  describe('when the deadline passed while booking the inbound flight', () => {
    it('cancels the flight booked late on flights.booked', () => {
      const out = given(vipBundleMachine, ...atInboundFlight, expired).when(flightBooked('inbound'));
      expect(out.state).toBe('cancellingInboundFlight');
      expect(out.commands).toEqual([cancelFlight('inbound')]);
    });

    it('cancels the tickets on flights.failed', () => {
      const out = given(vipBundleMachine, ...atInboundFlight, expired).when(flightFailed('inbound'));
      expect(out.state).toBe('cancellingTickets');
      expect(out.commands).toEqual([cancelTickets]);
    });
  });

  describe('when the deadline passed while booking the return flight', () => {
    it('cancels the return flight booked late, not the taxi, on flights.booked', () => {
      const out = given(vipBundleMachine, ...atReturnFlight, expired).when(flightBooked('return'));
      expect(out.state).toBe('cancellingReturnFlight');
      expect(out.commands).toEqual([cancelFlight('return')]);
    });

    it('cancels the inbound flight on flights.failed', () => {
      const out = given(vipBundleMachine, ...atReturnFlight, expired).when(flightFailed('return'));
      expect(out.state).toBe('cancellingInboundFlight');
      expect(out.commands).toEqual([cancelFlight('inbound')]);
    });
  });

  describe('when the deadline passed while booking the taxi', () => {
    it('is finalized on taxi.booked, the taxi being the last step', () => {
      const out = given(vipBundleMachine, ...atTaxi, expired).when(taxiBooked);
      expect(out.state).toBe('finalized');
      expect(out.facts.map((f) => f.type)).toEqual(['VipBundleTaxiBooked_v1', 'VipBundleFinalized_v1']);
      // Everything is booked: no failure to report.
      expect(out.context.reason).toBeNull();
    });

    it('cancels the return flight on taxi.failed', () => {
      const out = given(vipBundleMachine, ...atTaxi, expired).when(taxiFailed);
      expect(out.state).toBe('cancellingReturnFlight');
      expect(out.commands).toEqual([cancelFlight('return')]);
      expect(out.context.reason).toBe('the deadline passed');
    });
  });

  describe('when a step gets no reply (its command dead-lettered)', () => {
    it('asks for the flight again with the same key at the check, and checks again twice as late', () => {
      const out = given(vipBundleMachine, ...atInboundFlight).when(checkStep(FIRST_CHECK));
      expect(out.state).toBe('bookingInboundFlight');
      expect(out.facts).toEqual([]);
      expect(out.commands).toEqual([bookFlight('inbound', 'f-in')]);
      expect(out.timers.set).toEqual([{ name: 'stepCheck', dueAt: '2030-01-01T10:03:00.000Z', event: { type: 'vipBundle.checkStep' } }]);
    });

    it('waits at most an hour between two checks', () => {
      const dueTimes = [FIRST_CHECK];
      for (let i = 0; i < 7; i++) {
        const out = given(vipBundleMachine, ...atInboundFlight, ...dueTimes.slice(0, -1).map(checkStep)).when(checkStep(dueTimes.at(-1)!));
        expect(out.commands).toEqual([bookFlight('inbound', 'f-in')]);
        dueTimes.push(out.timers.set[0]!.dueAt);
      }
      const waits = dueTimes.slice(1).map((dueAt, i) => Date.parse(dueAt) - Date.parse(dueTimes[i]!));
      expect(waits).toEqual([120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000]);
    });

    it('ignores a check that is not the current one', () => {
      expect(given(vipBundleMachine, ...atInboundFlight).when(checkStep('2030-01-01T10:00:30.000Z')).rejected).toBe(true);
      expect(given(vipBundleMachine, ...atInboundFlight, checkStep(FIRST_CHECK)).when(checkStep(FIRST_CHECK)).rejected).toBe(true);
    });

    it('asks for the step in flight again after the deadline', () => {
      const out = given(vipBundleMachine, ...atInboundFlight, expired).when(checkStep(FIRST_CHECK));
      expect(out.state).toBe('abandoningInboundFlight');
      expect(out.commands).toEqual([bookFlight('inbound', 'f-in')]);
    });

    it('asks again for each compensation step, and checks the next step anew once one replies', () => {
      const cancelling = given(vipBundleMachine, ...atTaxi).when(taxiFailed);
      expect(cancelling.timers.set).toEqual([{ name: 'stepCheck', dueAt: '2030-01-01T10:06:00.000Z', event: { type: 'vipBundle.checkStep' } }]);
      expect(given(vipBundleMachine, ...atTaxi, taxiFailed).when(checkStep('2030-01-01T10:06:00.000Z')).commands).toEqual([cancelFlight('return')]);
      const atTickets = [...atInboundFlight, flightFailed('inbound')] as const;
      expect(given(vipBundleMachine, ...atTickets).when(checkStep('2030-01-01T10:06:00.000Z')).commands).toEqual([cancelTickets]);
    });

    it('leaves no check behind once final', () => {
      const out = given(vipBundleMachine, ...atTaxi).when(taxiBooked);
      expect(out.status).toBe('done');
      expect(given(vipBundleMachine, ...atTaxi, taxiBooked).when(checkStep(FIRST_CHECK)).rejected).toBe(true);
    });
  });

  describe('when finalized', () => {
    it('rejects vipBundle.expire', () => {
      expect(given(vipBundleMachine, ...atTaxi, taxiBooked).when(expired).rejected).toBe(true);
    });
  });
});
