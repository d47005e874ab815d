import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'bun:test';
import type { ManualClock } from '../../src/kernel/clock';
import { createDeadLetters } from '../../src/messaging/deadLetters';
import { toBusMessage } from '../../src/messaging/wire';
import { opsHeaders } from '../support/auth';
import { MODES, call, eventually, startTestService, type TestService } from '../support/service';

const NOW = '2030-01-01T00:00:00.000Z';
const DEADLINE_SECONDS = 60;
/** A short retry budget, so that a step failing past it is dead-lettered quickly. */
const RETRY_ATTEMPTS = 5;
const price = { amount: '99.00', currency: 'EUR' };

type Leg = { status: string; ticket_ids: string[] };
type Bundle = {
  vip_bundle_id: string;
  booking_id: string;
  status: string;
  state: string;
  reason: string | null;
  legs: { tickets: { status: string; reason: string | null }; inbound_flight: Leg; return_flight: Leg; taxi: { status: string; taxi_booking_id: string | null } };
};

for (const mode of MODES) {
  describe(`vip bundles (${mode})`, () => {
    let t: TestService;

    const createShow = async (seats: number): Promise<string> => {
      const created = await call(t.url, 'POST', '/api/shows', { dead_nation_id: `dn-${crypto.randomUUID()}`, number_of_tickets: seats, start_time: '2030-06-01T20:00:00Z', title: 'VIP night', venue: 'Hall' });
      expect(created.status).toBe(201);
      return created.json.show_id as string;
    };
    const availableSeats = async (showId: string): Promise<number> =>
      (await call(t.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === showId).available_tickets;
    const bookBundle = async (showId: string, overrides: Record<string, unknown> = {}) => {
      const response = await call(t.url, 'POST', '/api/book-vip-bundle', {
        customer_email: 'vip@example.com', number_of_tickets: 2, show_id: showId, passengers: ['Ann Lee', 'Bob Ray'], inbound_flight_id: 'FL-IN-1', returned_flight_id: 'FL-RET-1', ...overrides,
      });
      expect(response.status).toBe(201);
      return response.json as { vip_bundle_id: string; booking_id: string };
    };
    /** A bundle started as the route starts it, but past the route's check of the seats left: its saga finds out. */
    const startBundle = async (showId: string, numberOfTickets: number) => {
      const ids = { vip_bundle_id: crypto.randomUUID(), booking_id: crypto.randomUUID() };
      const now = t.clock!.now().toISOString();
      await t.service.runtime.send(`vipBundle/${ids.vip_bundle_id}`, {
        type: 'vipBundle.start', now, ...ids, show_id: showId, number_of_tickets: numberOfTickets,
        customer_email: 'vip@example.com', passengers: ['Ann Lee', 'Bob Ray'], inbound_flight_id: 'FL-IN-1', returned_flight_id: 'FL-RET-1',
        deadline_at: new Date(Date.parse(now) + DEADLINE_SECONDS * 1000).toISOString(),
      }, { create: true, metadata: { correlation_id: `start-${ids.vip_bundle_id}` } });
      return ids;
    };
    const bundleOf = async (id: string): Promise<Bundle> => (await call(t.url, 'GET', `/api/vip-bundles/${id}`)).json;
    const settled = (id: string, status: string) => eventually(async () => {
      const bundle = await bundleOf(id);
      expect(bundle.status).toBe(status);
      return bundle;
    });
    const transport = (operation: 'bookFlight' | 'bookTaxi' | 'cancelFlightTicket') => t.simulators.transportation.calls({ operation });
    /** The bookings this bundle asked for, by the reference id every booking call carries. */
    const bookingsOf = (id: string, operation: 'bookFlight' | 'bookTaxi') => transport(operation).filter((c) => (c.request as { reference_id: string }).reference_id === id);
    const cancelledTicketIds = () => transport('cancelFlightTicket').filter((c) => c.outcome === 'success').map((c) => (c.request as { ticket_id: string }).ticket_id);
    const confirmTicket = async (bookingId: string): Promise<string> => {
      const ticketId = crypto.randomUUID();
      const webhook = await call(t.url, 'POST', '/api/tickets-status', { tickets: [{ ticket_id: ticketId, booking_id: bookingId, status: 'confirmed', price, customer_email: 'vip@example.com' }] }, { 'Idempotency-Key': crypto.randomUUID() });
      expect(webhook.status).toBe(200);
      return ticketId;
    };
    const refundsOf = (ticketId: string) => t.simulators.payments.calls({ operation: 'refund' }).filter((c) => (c.request as { payment_reference: string }).payment_reference === ticketId);
    const expectRefundedOnce = (ticketId: string) => eventually(async () => {
      expect((await t.service.runtime.get(`ticket/${ticketId}`))?.state).toBe('refunded');
      expect(refundsOf(ticketId).length).toBe(1);
    });
    const stateOf = async (address: string) => (await t.service.runtime.get(address))?.state;
    /** Waits until the bundle's first call of `operation` has arrived (and, with latency, is still being answered). */
    const arrived = (id: string, operation: 'bookFlight' | 'bookTaxi') => eventually(() => expect(bookingsOf(id, operation).length).toBe(1));

    beforeAll(async () => {
      t = await startTestService(mode, { clockAt: NOW, env: { VIP_BUNDLE_DEADLINE_SECONDS: String(DEADLINE_SECONDS), HANDLER_RETRY_ATTEMPTS: String(RETRY_ATTEMPTS) } });
    });
    afterAll(async () => {
      await t.close();
    });
    beforeEach(() => {
      t.simulators.reset();
    });

    describe('when every step succeeds', () => {
      it('answers 201 with Location at once and finalizes with one booking per flight leg and one taxi booking', async () => {
        const showId = await createShow(10);
        const response = await call(t.url, 'POST', '/api/book-vip-bundle', {
          customer_email: 'vip@example.com', number_of_tickets: 2, show_id: showId, passengers: ['Ann Lee', 'Bob Ray'], inbound_flight_id: 'FL-IN-1', returned_flight_id: 'FL-RET-1',
        });
        expect(response.status).toBe(201);
        const { vip_bundle_id: id, booking_id: bookingId } = response.json;
        expect(response.headers.get('location')).toBe(`/api/vip-bundles/${id}`);

        const bundle = await settled(id, 'finalized');
        expect(bundle.booking_id).toBe(bookingId);
        expect(bundle.legs.tickets.status).toBe('booked');
        expect(bundle.legs.inbound_flight.status).toBe('booked');
        expect(bundle.legs.return_flight.status).toBe('booked');
        expect(bundle.legs.taxi.status).toBe('booked');

        await Bun.sleep(200);
        expect(bookingsOf(id, 'bookFlight').map((c) => c.request)).toEqual([
          { customer_email: 'vip@example.com', flight_id: 'FL-IN-1', passenger_names: ['Ann Lee', 'Bob Ray'], reference_id: id, idempotency_key: `${id}-inbound` },
          { customer_email: 'vip@example.com', flight_id: 'FL-RET-1', passenger_names: ['Ann Lee', 'Bob Ray'], reference_id: id, idempotency_key: `${id}-return` },
        ]);
        expect(bookingsOf(id, 'bookTaxi').map((c) => c.request)).toEqual([
          { customer_email: 'vip@example.com', number_of_passengers: 2, passenger_name: 'Ann Lee', reference_id: id, idempotency_key: `${id}-taxi` },
        ]);
        expect(t.simulators.transportation.taxiBookings().map((b) => b.booking_id)).toEqual([bundle.legs.taxi.taxi_booking_id!]);
        expect(bundle.legs.inbound_flight.ticket_ids.length).toBe(2);
        expect(transport('cancelFlightTicket')).toEqual([]);
        expect(t.simulators.deadNation.bookings().filter((b) => b.booking_id === bookingId).length).toBe(1);
        expect(await availableSeats(showId)).toBe(8);
        expect(await stateOf(`booking/${bookingId}`)).toBe('placed');
      });

      it("gives ops the bundle's timeline by its own id at /api/bookings/:id/timeline, as by its booking's id", async () => {
        const { vip_bundle_id: id, booking_id: bookingId } = await bookBundle(await createShow(10));
        await settled(id, 'finalized');
        const byBundle = await call(t.url, 'GET', `/api/bookings/${id}/timeline`, undefined, opsHeaders(t));
        expect(byBundle.status).toBe(200);
        expect(byBundle.json.address).toBe(`vipBundle/${id}`);
        expect(byBundle.json.timeline.map((entry: { name?: string }) => entry.name)).toContain('VipBundleFinalized_v1');
        expect((await call(t.url, 'GET', `/api/bookings/${bookingId}/timeline`, undefined, opsHeaders(t))).json.address).toBe(`booking/${bookingId}`);
        const unknown = await call(t.url, 'GET', `/api/bookings/${crypto.randomUUID()}/timeline`, undefined, opsHeaders(t));
        expect(unknown.status).toBe(404);
        expect(unknown.json.detail).toMatch(/no booking, hold or VIP bundle/);
      });

      it('returns the first answer to a repeat with the same Idempotency-Key and starts one bundle', async () => {
        const showId = await createShow(10);
        const key = crypto.randomUUID();
        const body = { customer_email: 'vip@example.com', number_of_tickets: 1, show_id: showId, passengers: ['Ann Lee'], inbound_flight_id: 'FL-IN-1', returned_flight_id: 'FL-RET-1' };
        const first = await call(t.url, 'POST', '/api/book-vip-bundle', body, { 'Idempotency-Key': key });
        const second = await call(t.url, 'POST', '/api/book-vip-bundle', body, { 'Idempotency-Key': key });
        expect(second.status).toBe(201);
        expect(second.json).toEqual(first.json);
        expect(second.headers.get('location')).toBe(first.headers.get('location'));
        expect(second.headers.get('idempotent-replayed')).toBe('true');
        await settled(first.json.vip_bundle_id, 'finalized');
        expect(await availableSeats(showId)).toBe(9);
      });
    });

    describe('when the inbound flight fails', () => {
      it('fails, cancels the booking, refunds its tickets and never calls the taxi', async () => {
        const showId = await createShow(10);
        t.simulators.transportation.setLatency(500, { operation: 'bookFlight' });
        t.simulators.transportation.failNext('bookFlight', 1, 'terminal');
        const { vip_bundle_id: id, booking_id: bookingId } = await bookBundle(showId);
        await arrived(id, 'bookFlight');
        const ticketId = await confirmTicket(bookingId);

        const bundle = await settled(id, 'failed');
        expect(bundle.reason).toStartWith('inbound flight:');
        expect([bundle.legs.tickets.status, bundle.legs.inbound_flight.status, bundle.legs.return_flight.status, bundle.legs.taxi.status]).toEqual(['compensated', 'failed', 'pending', 'pending']);
        await expectRefundedOnce(ticketId);
        await Bun.sleep(200);
        expect(bookingsOf(id, 'bookFlight').length).toBe(1);
        expect(bookingsOf(id, 'bookTaxi').length).toBe(0);
        expect(transport('cancelFlightTicket').length).toBe(0);
        expect(await stateOf(`booking/${bookingId}`)).toBe('canceled');
        expect(await availableSeats(showId)).toBe(10);
        expect(refundsOf(ticketId).length).toBe(1);
        // Ops see the airline's refusal as such in the bundle's timeline, not as a call that went well.
        const { timeline } = (await call(t.url, 'GET', `/api/bookings/${id}/timeline`, undefined, opsHeaders(t))).json;
        const flightCalls = timeline.filter((e: { kind: string; handler?: string }) => e.kind === 'external.call' && e.handler === 'bookVipBundleFlight');
        expect(flightCalls.map((e: { status: string }) => e.status)).toEqual(['refused']);
      });
    });

    describe('when the return flight fails', () => {
      it('cancels the inbound flight, refunds the tickets (also one confirmed after the bundle failed) and never calls the taxi', async () => {
        const showId = await createShow(10);
        t.simulators.transportation.setLatency(500, { operation: 'bookFlight' });
        const { vip_bundle_id: id, booking_id: bookingId } = await bookBundle(showId);
        await arrived(id, 'bookFlight');
        // Faults are decided when a call arrives: the inbound call is in, so this one is the return flight's.
        t.simulators.transportation.failNext('bookFlight', 1, 'terminal');
        t.simulators.transportation.setLatency(0, { operation: 'bookFlight' });

        const bundle = await settled(id, 'failed');
        expect([bundle.legs.tickets.status, bundle.legs.inbound_flight.status, bundle.legs.return_flight.status, bundle.legs.taxi.status]).toEqual(['compensated', 'compensated', 'failed', 'pending']);
        const lateTicketId = await confirmTicket(bookingId);
        await expectRefundedOnce(lateTicketId);
        await Bun.sleep(200);
        expect(bookingsOf(id, 'bookFlight').length).toBe(2);
        expect(bookingsOf(id, 'bookTaxi').length).toBe(0);
        expect(cancelledTicketIds().sort()).toEqual([...bundle.legs.inbound_flight.ticket_ids].sort());
        expect(transport('cancelFlightTicket').length).toBe(2);
        expect(await availableSeats(showId)).toBe(10);
        expect(refundsOf(lateTicketId).length).toBe(1);
      });
    });

    describe('when the taxi fails', () => {
      it('cancels both flights and refunds the tickets', async () => {
        const showId = await createShow(10);
        t.simulators.transportation.setLatency(500, { operation: 'bookTaxi' });
        t.simulators.transportation.failNext('bookTaxi', 1, 'terminal');
        const { vip_bundle_id: id, booking_id: bookingId } = await bookBundle(showId);
        await arrived(id, 'bookTaxi');
        const ticketId = await confirmTicket(bookingId);

        const bundle = await settled(id, 'failed');
        expect(bundle.reason).toStartWith('taxi:');
        expect([bundle.legs.tickets.status, bundle.legs.inbound_flight.status, bundle.legs.return_flight.status, bundle.legs.taxi.status]).toEqual(['compensated', 'compensated', 'compensated', 'failed']);
        await expectRefundedOnce(ticketId);
        await Bun.sleep(200);
        expect(bookingsOf(id, 'bookFlight').length).toBe(2);
        expect(bookingsOf(id, 'bookTaxi').length).toBe(1);
        expect(cancelledTicketIds().sort()).toEqual([...bundle.legs.inbound_flight.ticket_ids, ...bundle.legs.return_flight.ticket_ids].sort());
        expect(transport('cancelFlightTicket').length).toBe(4);
        expect(t.simulators.transportation.flightTickets().filter((f) => f.reference_id === id).every((f) => f.cancelled)).toBe(true);
        expect(t.simulators.transportation.taxiBookings()).toEqual([]);
        expect(await availableSeats(showId)).toBe(10);
      });

      it('does not cancel a flight again when the cancel of it comes again after the bundle has moved on (another instance catching up before its inbox row)', async () => {
        const showId = await createShow(10);
        t.simulators.transportation.failNext('bookTaxi', 1, 'terminal');
        const { vip_bundle_id: id } = await bookBundle(showId);
        const bundle = await settled(id, 'failed');
        const before = transport('cancelFlightTicket').length;
        expect(before).toBe(bundle.legs.inbound_flight.ticket_ids.length + bundle.legs.return_flight.ticket_ids.length);
        // The return leg's cancel, as another instance's catch-up saw it: its reply committed (the inbound
        // cancel asked), its inbox row not yet.
        const [returnCancel] = (await t.service.store.readActorMessages(`vipBundle/${id}`)).filter((m) => m.name === 'CancelFlightTickets' && m.data.leg === 'return');
        await t.service.store.execute("DELETE FROM inbox WHERE handler = 'cancelVipBundleFlight' AND message_id = $1", [returnCancel!.id]);
        await t.service.consumers.redeliver('cancelVipBundleFlight', toBusMessage(returnCancel!, t.clock!.now().toISOString()), 1);
        expect(transport('cancelFlightTicket').length).toBe(before);
        expect((await bundleOf(id)).status).toBe('failed');
      });
    });

    describe('when the taxi service answers 500 three times', () => {
      it('retries with the same key and finalizes with one taxi booking', async () => {
        const showId = await createShow(10);
        t.simulators.transportation.failNext('bookTaxi', 3, { status: 500 });
        const { vip_bundle_id: id } = await bookBundle(showId);

        await settled(id, 'finalized');
        await Bun.sleep(200);
        const taxiCalls = bookingsOf(id, 'bookTaxi');
        expect(taxiCalls.map((c) => c.outcome)).toEqual(['retryable', 'retryable', 'retryable', 'success']);
        expect(new Set(taxiCalls.map((c) => (c.request as { idempotency_key: string }).idempotency_key))).toEqual(new Set([`${id}-taxi`]));
        expect(t.simulators.transportation.taxiBookings().length).toBe(1);
        expect(bookingsOf(id, 'bookFlight').length).toBe(2);
        expect(transport('cancelFlightTicket')).toEqual([]);
      });
    });

    describe('when there are not enough seats', () => {
      it('answers 400 SOLD_OUT at once when the show has fewer seats left than asked, and starts nothing', async () => {
        const showId = await createShow(1);
        const bundles = async () => Number((await t.service.store.query<{ n: number }>("SELECT COUNT(*) AS n FROM actors WHERE kind = 'vipBundle'"))[0]?.n);
        const before = await bundles();
        const response = await call(t.url, 'POST', '/api/book-vip-bundle', {
          customer_email: 'vip@example.com', number_of_tickets: 2, show_id: showId, passengers: ['Ann Lee', 'Bob Ray'], inbound_flight_id: 'FL-IN-1', returned_flight_id: 'FL-RET-1',
        });
        expect([response.status, response.json.code, response.json.error]).toEqual([400, 'SOLD_OUT', 'not enough seats available']);
        expect(await bundles()).toBe(before);
        expect(await availableSeats(showId)).toBe(1);
      });

      it('fails, when they went between the request and its saga, with no flight or taxi call and no seat taken, and refunds a ticket confirmed for its booking anyway', async () => {
        const showId = await createShow(1);
        const { vip_bundle_id: id, booking_id: bookingId } = await startBundle(showId, 2);

        const bundle = await settled(id, 'failed');
        expect(bundle.legs.tickets).toMatchObject({ status: 'failed', reason: 'not enough seats available' });
        expect(bundle.reason).toBe('tickets: not enough seats available');
        expect(await stateOf(`booking/${bookingId}`)).toBe('refused');
        // The client was given the booking id: a ticket the provider confirms for it is refunded.
        const ticketId = await confirmTicket(bookingId);
        await expectRefundedOnce(ticketId);
        expect(t.simulators.transportation.calls()).toEqual([]);
        expect(t.simulators.deadNation.calls()).toEqual([]);
        expect(await availableSeats(showId)).toBe(1);
        // Ops see the refused booking as asked for, with the ticket the provider confirmed and its refund.
        await eventually(async () => {
          const ops = await call(t.url, 'GET', `/api/ops/bookings/${bookingId}`);
          expect(ops.status).toBe(200);
          expect(ops.json).toMatchObject({ booking_id: bookingId, show_id: showId, number_of_tickets: 2, customer_email: 'vip@example.com' });
          expect(ops.json.tickets.map((x: { ticket_id: string; refunded_at: string | null }) => [x.ticket_id, x.refunded_at !== null])).toEqual([[ticketId, true]]);
        });
      });
    });

    describe('when the provider confirms tickets before the saga has made the booking', () => {
      it('links them to their bundles all the same, and refunds every one of a failed bundle', async () => {
        const showId = await createShow(1);
        // The 201 hands out the booking id at once; a ticket confirmed right then races the saga's booking.
        const bundles = await Promise.all(Array.from({ length: 8 }, async () => {
          const bundle = await startBundle(showId, 2);
          return { ...bundle, ticketId: await confirmTicket(bundle.booking_id) };
        }));
        for (const { vip_bundle_id: id, ticketId } of bundles) {
          await settled(id, 'failed');
          await expectRefundedOnce(ticketId);
        }
        expect(await availableSeats(showId)).toBe(1);
      });
    });

    describe('when Dead Nation refuses the booking', () => {
      it('fails before any flight or taxi is booked, and the seats come back', async () => {
        const showId = await createShow(2);
        t.simulators.controls('deadNation').failNext('bookTickets', 1, 'terminal');
        const { vip_bundle_id: id, booking_id: bookingId } = await bookBundle(showId);

        const bundle = await settled(id, 'failed');
        expect(bundle.legs.tickets.status).toBe('failed');
        expect(bundle.legs.tickets.reason).toStartWith('Dead Nation: ');
        expect(await stateOf(`booking/${bookingId}`)).toBe('failed');
        await Bun.sleep(200);
        expect(t.simulators.transportation.calls()).toEqual([]);
        expect(await availableSeats(showId)).toBe(2);
      });
    });

    describe('when Dead Nation refuses the booking while tickets are confirmed for it', () => {
      it('refunds every ticket confirmed for it, before and after the bundle failed, and the seats come back', async () => {
        const showId = await createShow(3);
        const deadNation = t.simulators.controls('deadNation');
        deadNation.failNext('bookTickets', 1, 'terminal');
        deadNation.setLatency(300);
        try {
          const { vip_bundle_id: id, booking_id: bookingId } = await bookBundle(showId);
          // The provider knows the booking once it is asked to place it: confirmed while it is answering.
          await eventually(() => expect(t.simulators.calls({ service: 'deadNation' }).filter((c) => (c.request as { booking_id: string }).booking_id === bookingId).length).toBe(1));
          const early = await confirmTicket(bookingId);
          await settled(id, 'failed');
          const late = await confirmTicket(bookingId);

          await expectRefundedOnce(early);
          await expectRefundedOnce(late);
          expect(await availableSeats(showId)).toBe(3);
        } finally {
          deadNation.setLatency(0);
        }
      });
    });

    describe('when a compensation step fails past its retry budget', () => {
      /** A bundle whose taxi is refused, so that it compensates, and whose flight cancels meet `fault` `times` times first. */
      const compensatingBundle = async (times: number, fault: Parameters<typeof t.simulators.transportation.failNext>[2]) => {
        const showId = await createShow(10);
        t.simulators.transportation.failNext('bookTaxi', 1, 'terminal');
        t.simulators.transportation.failNext('cancelFlightTicket', times, fault);
        const { vip_bundle_id: id } = await bookBundle(showId);
        return { showId, id };
      };

      /** Redrives the dead letter of the bundle's flight cancel, as an operator would; resolves to its outcome. */
      const redriveFlightCancel = async (id: string) => {
        const [letter] = await t.service.store.query<{ id: string }>(
          "SELECT d.id FROM dead_letters d JOIN messages m ON m.id = d.message_id WHERE m.actor = $1 AND m.name = 'CancelFlightTickets' AND d.status = 'dead'",
          [`vipBundle/${id}`],
        );
        return (await createDeadLetters({ store: t.service.store, clock: t.clock!, consumers: t.service.consumers }).redrive(letter!.id)).outcome;
      };

      it('shows compensation_stuck, and fails once the dead letter is redriven', async () => {
        const { showId, id } = await compensatingBundle(RETRY_ATTEMPTS, 'retryable');

        const stuck = await settled(id, 'compensation_stuck');
        expect(stuck.state).toBe('cancellingReturnFlight');
        expect(await redriveFlightCancel(id)).toBe('redriven');

        const bundle = await settled(id, 'failed');
        expect([bundle.legs.inbound_flight.status, bundle.legs.return_flight.status]).toEqual(['compensated', 'compensated']);
        expect(cancelledTicketIds().sort()).toEqual([...bundle.legs.inbound_flight.ticket_ids, ...bundle.legs.return_flight.ticket_ids].sort());
        expect(await availableSeats(showId)).toBe(10);
      });

      it('takes a 404 to the cancel of a flight ticket the airline issued for a fault (a wrong address, a lost ticket), not for a ticket already gone: compensation_stuck until it is cancelled', async () => {
        const { id } = await compensatingBundle(1, { status: 404 });

        const stuck = await settled(id, 'compensation_stuck');
        expect(stuck.legs.return_flight.status).toBe('booked');
        expect(cancelledTicketIds()).toEqual([]);
        expect(await redriveFlightCancel(id)).toBe('redriven');

        const bundle = await settled(id, 'failed');
        expect(cancelledTicketIds().sort()).toEqual([...bundle.legs.inbound_flight.ticket_ids, ...bundle.legs.return_flight.ticket_ids].sort());
      });

      it('takes a 410 to the cancel of a flight ticket for a ticket already gone, and compensates', async () => {
        const { id } = await compensatingBundle(1, { status: 410 });

        const bundle = await settled(id, 'failed');
        expect([bundle.legs.inbound_flight.status, bundle.legs.return_flight.status]).toEqual(['compensated', 'compensated']);
        expect(transport('cancelFlightTicket').length).toBe(4);
      });
    });

    describe('when a step fails past its retry budget and the service it calls recovers', () => {
      // The bundle's step check (a minute after the step was asked) moves the clock: these come after
      // the tests that do not, and every earlier bundle is final by then.
      const pastStepCheck = () => (t.clock as ManualClock).advance(61_000);
      const deadLetterOf = async (id: string, name: string) =>
        t.service.store.query<{ id: string }>(
          "SELECT d.id FROM dead_letters d JOIN messages m ON m.id = d.message_id WHERE m.actor = $1 AND m.name = $2 AND d.status = 'dead'",
          [`vipBundle/${id}`, name],
        );

      it('asks for the compensation step again at its check and fails, with no redrive', async () => {
        const showId = await createShow(10);
        t.simulators.transportation.failNext('bookTaxi', 1, 'terminal');
        t.simulators.transportation.failNext('cancelFlightTicket', RETRY_ATTEMPTS, 'retryable');
        const { vip_bundle_id: id } = await bookBundle(showId);
        await settled(id, 'compensation_stuck');
        expect(await deadLetterOf(id, 'CancelFlightTickets')).toHaveLength(1);

        pastStepCheck();
        const bundle = await settled(id, 'failed');
        expect([bundle.legs.inbound_flight.status, bundle.legs.return_flight.status, bundle.legs.tickets.status]).toEqual(['compensated', 'compensated', 'compensated']);
        // Asked again and done: the dead letter of that step needs no operator any more.
        expect(await deadLetterOf(id, 'CancelFlightTickets')).toEqual([]);
        expect(cancelledTicketIds().sort()).toEqual([...bundle.legs.inbound_flight.ticket_ids, ...bundle.legs.return_flight.ticket_ids].sort());
        expect(await availableSeats(showId)).toBe(10);
      });

      it('asks for a refund dead-lettered during the compensation again at its check, and fails with the ticket refunded once, with no redrive', async () => {
        const showId = await createShow(10);
        t.simulators.transportation.failNext('bookTaxi', 1, 'terminal');
        const { vip_bundle_id: id, booking_id: bookingId } = await bookBundle(showId);
        await settled(id, 'failed');
        t.simulators.payments.failNext('refund', RETRY_ATTEMPTS, 'retryable');
        const ticketId = await confirmTicket(bookingId);
        const refundLetters = () => t.service.store.query<{ status: string }>(
          "SELECT d.status FROM dead_letters d JOIN messages m ON m.id = d.message_id WHERE m.actor = $1 AND m.name = 'RefundPayment'",
          [`refund/${ticketId}`],
        );
        await eventually(async () => expect(await refundLetters()).toEqual([{ status: 'dead' }]));
        expect(await stateOf(`refund/${ticketId}`)).toBe('refundingPayment');

        pastStepCheck();
        await eventually(async () => expect(await stateOf(`ticket/${ticketId}`)).toBe('refunded'));
        expect(refundsOf(ticketId).map((c) => c.outcome)).toEqual([...Array(RETRY_ATTEMPTS).fill('retryable'), 'success']);
        expect(new Set(refundsOf(ticketId).map((c) => (c.request as { deduplication_id: string }).deduplication_id))).toEqual(new Set([`refund-${ticketId}`]));
        // Asked again and done: the dead letter needs no operator any more.
        await eventually(async () => expect(await refundLetters()).toEqual([{ status: 'redriven' }]));
      });

      it('asks for a flight dead-lettered before the deadline again, with the same key, and compensates past the deadline', async () => {
        const showId = await createShow(10);
        t.simulators.transportation.failNext('bookFlight', RETRY_ATTEMPTS, 'retryable');
        const { vip_bundle_id: id } = await bookBundle(showId);
        await eventually(async () => expect(await deadLetterOf(id, 'BookFlight')).toHaveLength(1));
        expect(await availableSeats(showId)).toBe(8);

        pastStepCheck(); // also past the deadline, a minute after the start
        const bundle = await settled(id, 'failed');
        expect(bundle.reason).toBe('the deadline passed');
        const keys = [...new Set(bookingsOf(id, 'bookFlight').map((c) => (c.request as { idempotency_key: string }).idempotency_key))];
        expect(keys.every((key) => key === `${id}-inbound` || key === `${id}-return`)).toBe(true);
        expect(bookingsOf(id, 'bookTaxi').length).toBe(0);
        expect(await availableSeats(showId)).toBe(10);
      });

      it('keeps the bundle pending when the airline answers 401 (credentials, GATEWAY_ADDR): a dead letter the step check asks again, not a refusal that compensates', async () => {
        const showId = await createShow(10);
        t.simulators.transportation.failNext('bookFlight', 1, { status: 401 });
        const { vip_bundle_id: id } = await bookBundle(showId);
        await eventually(async () => expect(await deadLetterOf(id, 'BookFlight')).toHaveLength(1));
        const bundle = await bundleOf(id);
        expect([bundle.status, bundle.legs.tickets.status]).toEqual(['pending', 'booked']);
        expect(await availableSeats(showId)).toBe(8);
        expect(cancelledTicketIds()).toEqual([]);
        // Settled before the next test moves the clock: past the deadline, it compensates.
        pastStepCheck();
        expect((await settled(id, 'failed')).reason).toBe('the deadline passed');
        expect(await availableSeats(showId)).toBe(10);
      });

      it('books no flight when the dead letter of a step the bundle has since settled is redriven', async () => {
        const showId = await createShow(10);
        t.simulators.transportation.failNext('bookFlight', RETRY_ATTEMPTS, 'retryable');
        const { vip_bundle_id: id } = await bookBundle(showId);
        await eventually(async () => expect(await deadLetterOf(id, 'BookFlight')).toHaveLength(1));
        // The step check asks again and the airline refuses: the bundle fails, with no flight booked.
        t.simulators.transportation.failNext('bookFlight', 1, 'terminal');
        pastStepCheck();
        await settled(id, 'failed');
        // The step is settled: its dead letter needs no operator any more.
        expect(await deadLetterOf(id, 'BookFlight')).toEqual([]);
        const [letter] = await t.service.store.query<{ id: string }>(
          "SELECT d.id FROM dead_letters d JOIN messages m ON m.id = d.message_id WHERE m.actor = $1 AND m.name = 'BookFlight' AND d.status = 'redriven'",
          [`vipBundle/${id}`],
        );
        // A late delivery of that message all the same (a redrive that raced the check, say) books nothing.
        const late = (await createDeadLetters({ store: t.service.store, clock: t.clock!, consumers: t.service.consumers }).get(letter!.id))!;
        await t.service.consumers.redeliver(late.handler, late.message, late.attempts + 1);
        expect(bookingsOf(id, 'bookFlight').filter((c) => c.outcome === 'success')).toEqual([]);
        expect((await bundleOf(id)).status).toBe('failed');
      });

      it('asks Dead Nation again at the step check once it is back, with no redrive, when the booking call was dead-lettered without acting', async () => {
        const showId = await createShow(10);
        t.simulators.controls('deadNation').failNext('bookTickets', RETRY_ATTEMPTS, 'retryable');
        const { vip_bundle_id: id, booking_id: bookingId } = await bookBundle(showId);
        const deadLetters = () => t.service.store.query(
          "SELECT d.status FROM dead_letters d JOIN messages m ON m.id = d.message_id WHERE d.handler = 'bookAtDeadNation' AND m.actor = $1",
          [`booking/${bookingId}`],
        );
        await eventually(async () => expect(await deadLetters()).toEqual([{ status: 'dead' }]));
        expect(await stateOf(`booking/${bookingId}`)).toBe('placing');

        pastStepCheck(); // also past the deadline: the booking placed at the check is then cancelled
        const bundle = await settled(id, 'failed');
        expect(bundle.legs.tickets.status).toBe('compensated');
        const calls = t.simulators.calls({ service: 'deadNation' }).filter((c) => (c.request as { booking_id: string }).booking_id === bookingId);
        expect(calls.map((c) => c.outcome)).toEqual([...Array(RETRY_ATTEMPTS).fill('retryable'), 'success']);
        expect(await deadLetters()).toEqual([{ status: 'redriven' }]);
        expect(await availableSeats(showId)).toBe(10);
      });
    });

    describe('when the booking already has its answer but its report to the bundle was lost', () => {
      it('tells the bundle the booking\'s outcome when it asks for the tickets again, and finalizes', async () => {
        const showId = await createShow(10);
        const vipBundleId = crypto.randomUUID();
        const bookingId = crypto.randomUUID();
        const now = t.clock!.now().toISOString();
        const meta = { metadata: { correlation_id: `lost-report-${vipBundleId}` } };
        // The booking is made and placed before its bundle exists: its report cannot reach the bundle.
        await t.service.runtime.send(`booking/${bookingId}`, {
          type: 'booking.make', now, booking_id: bookingId, show_id: showId, number_of_tickets: 2, customer_email: 'vip@example.com', vip_bundle_id: vipBundleId,
        }, { ...meta, create: true });
        await eventually(async () => expect((await t.service.runtime.get(`booking/${bookingId}`))?.state).toBe('placed'));

        await t.service.runtime.send(`vipBundle/${vipBundleId}`, {
          type: 'vipBundle.start', now, vip_bundle_id: vipBundleId, booking_id: bookingId, show_id: showId, number_of_tickets: 2,
          customer_email: 'vip@example.com', passengers: ['Ann Lee', 'Bob Ray'], inbound_flight_id: 'FL-IN-1', returned_flight_id: 'FL-RET-1',
          deadline_at: new Date(Date.parse(now) + DEADLINE_SECONDS * 1000).toISOString(),
        }, { ...meta, create: true });
        const bundle = await settled(vipBundleId, 'finalized');
        expect(bundle.legs.tickets.status).toBe('booked');
        expect(await availableSeats(showId)).toBe(8);
      });
    });

    describe('when the request is wrong', () => {
      it('answers 400 with the fields, 404 for an unknown show or bundle and 400 for a bad id', async () => {
        const bundles = async () => Number((await t.service.store.query<{ n: number }>("SELECT COUNT(*) AS n FROM actors WHERE kind = 'vipBundle'"))[0]?.n);
        const bundlesBefore = await bundles();
        const bad = await call(t.url, 'POST', '/api/book-vip-bundle', { customer_email: 'nope', number_of_tickets: 0, show_id: 'x', passengers: [], inbound_flight_id: '', returned_flight_id: 'FL' });
        expect(bad.status).toBe(400);
        expect(Object.keys(bad.json.errors).sort()).toEqual(['customer_email', 'inbound_flight_id', 'number_of_tickets', 'passengers', 'show_id']);
        const noShow = await call(t.url, 'POST', '/api/book-vip-bundle', {
          customer_email: 'vip@example.com', number_of_tickets: 1, show_id: crypto.randomUUID(), passengers: ['Ann'], inbound_flight_id: 'FL1', returned_flight_id: 'FL2',
        });
        expect([noShow.status, noShow.json.code, noShow.json.errors]).toEqual([404, 'SHOW_NOT_FOUND', { show_id: ['unknown show'] }]);
        expect(await bundles()).toBe(bundlesBefore);
        const unknown = await call(t.url, 'GET', `/api/vip-bundles/${crypto.randomUUID()}`);
        expect(unknown.status).toBe(404);
        expect(unknown.json.code).toBe('VIP_BUNDLE_NOT_FOUND');
        expect((await call(t.url, 'GET', '/api/vip-bundles/abc')).status).toBe(400);
      });
    });

    // Last: it moves the service's clock past every deadline.
    describe('when the deadline passes while the inbound flight is being booked', () => {
      it('cancels the flight booked late and the booking, books nothing more and fails', async () => {
        const showId = await createShow(10);
        t.simulators.transportation.setLatency(1_000, { operation: 'bookFlight' });
        const { vip_bundle_id: id, booking_id: bookingId } = await bookBundle(showId);
        await arrived(id, 'bookFlight');
        (t.clock as ManualClock).advance((DEADLINE_SECONDS + 1) * 1000);
        await eventually(async () => expect((await bundleOf(id)).state).toBe('abandoningInboundFlight'));

        const bundle = await settled(id, 'failed');
        expect(bundle.reason).toBe('the deadline passed');
        expect([bundle.legs.tickets.status, bundle.legs.inbound_flight.status, bundle.legs.return_flight.status, bundle.legs.taxi.status]).toEqual(['compensated', 'compensated', 'pending', 'pending']);
        await Bun.sleep(200);
        // The step check falls due with the deadline and may ask for the flight again: with its one key.
        expect([...new Set(bookingsOf(id, 'bookFlight').map((c) => (c.request as { idempotency_key: string }).idempotency_key))]).toEqual([`${id}-inbound`]);
        expect(bookingsOf(id, 'bookTaxi').length).toBe(0);
        expect(cancelledTicketIds().sort()).toEqual([...bundle.legs.inbound_flight.ticket_ids].sort());
        expect(await stateOf(`booking/${bookingId}`)).toBe('canceled');
        expect(await availableSeats(showId)).toBe(10);
      });
    });
  });
}
