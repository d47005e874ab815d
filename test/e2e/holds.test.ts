import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'bun:test';
import { PAYMENT_CHECK_MS, type HoldContext } from '../../machines/hold/hold.machine';
import { DECLINED_PAYMENT_METHOD } from '../../src/adapters/payments/payments.sim';
import { authHeaders, opsHeaders } from '../support/auth';
import { MODES, call, eventually, startTestService, type TestService } from '../support/service';
import { makeTempDir } from '../support/tempDir';

const NOW = '2030-01-01T00:00:00.000Z';
const TTL_SECONDS = 60;
const eur = (amount: string) => ({ amount, currency: 'EUR' });
const LABELS = ['A1', 'A2', 'A3', 'B1', 'B2', 'B3'];
const MAX_LIVE_HOLDS = 8;

for (const mode of MODES) {
  describe(`holds (${mode})`, () => {
    let t: TestService;
    let ann: Record<string, string>;
    let bob: Record<string, string>;

    beforeAll(async () => {
      // Short retry waits: a recovery that fails past its budget is dead-lettered in well under a second.
      t = await startTestService(mode, { clockAt: NOW, env: { HOLDS_MAX_LIVE_PER_USER: String(MAX_LIVE_HOLDS), HANDLER_RETRY_MAX_DELAY_MS: '20' } });
      ann = authHeaders(t);
      bob = authHeaders(t);
    });
    afterAll(async () => {
      await t.close();
    });
    beforeEach(() => {
      t.simulators.reset();
    });

    const createEvent = async (policy: Record<string, number> = {}, labels = LABELS) => {
      const ops = opsHeaders(t);
      const venue = await call(t.url, 'POST', '/api/venues', { name: 'Olympia', location: 'Dublin' }, ops);
      const created = await call(t.url, 'POST', '/api/events', {
        name: 'Night', venue_id: venue.json.venue_id, start_time: '2031-01-01T20:00:00Z',
        seats: labels.map((label) => ({ label, price: eur('25.00') })),
        hold_policy: { ttl_seconds: TTL_SECONDS, max_renewals: 2, max_seats_per_user: 4, ...policy },
      }, ops);
      expect(created.status).toBe(201);
      return created.json.event_id as string;
    };
    const hold = (eventId: string, seats: string[], headers = ann) => call(t.url, 'POST', '/api/holds', { event_id: eventId, seats }, headers);
    const seatsOf = async (eventId: string) => {
      const event = (await call(t.url, 'GET', `/api/events/${eventId}`)).json;
      return { counts: event.counts, status: Object.fromEntries(event.seats.map((s: { label: string; status: string }) => [s.label, s.status])) };
    };
    const holdActors = async () => Number((await t.service.store.query<{ n: number }>("SELECT COUNT(*) AS n FROM actors WHERE kind = 'hold'"))[0]!.n);

    describe('when many users race for one seat', () => {
      it('gives it to exactly one of 50 concurrent holds and leaves no orphan hold', async () => {
        const eventId = await createEvent();
        const before = await holdActors();
        const responses = await Promise.all(Array.from({ length: 50 }, () => hold(eventId, ['A1'], authHeaders(t))));
        expect(responses.filter((r) => r.status === 201).length).toBe(1);
        const refused = responses.filter((r) => r.status === 409);
        expect(refused.length).toBe(49);
        expect(refused.every((r) => r.json.code === 'SEAT_UNAVAILABLE')).toBe(true);
        expect(await holdActors()).toBe(before + 1);
        expect((await seatsOf(eventId)).counts).toEqual({ available: 5, held: 1, sold: 0 });
      });

      it('never deadlocks nor lets both win when two users cross seat orders', async () => {
        for (let round = 0; round < 10; round++) {
          const eventId = await createEvent();
          const [a, b] = await Promise.all([hold(eventId, ['A1', 'B1'], authHeaders(t)), hold(eventId, ['B1', 'A1'], authHeaders(t))]);
          expect([a.status, b.status].sort()).toEqual([201, 409]);
        }
      });
    });

    describe('when a hold is placed', () => {
      it('answers 422 SEAT_NOT_FOUND naming the seats the event does not have, and holds none', async () => {
        const eventId = await createEvent();
        const refused = await hold(eventId, ['A1', 'ZZ9', 'a5']);
        expect(refused.status).toBe(422);
        expect(refused.json).toMatchObject({ code: 'SEAT_NOT_FOUND', detail: `event ${eventId} has no seats ZZ9, a5`, errors: { seats: ['unknown seat: ZZ9', 'unknown seat: a5'] } });
        expect((await seatsOf(eventId)).status).toMatchObject({ A1: 'available' });
        const unknown = await hold(crypto.randomUUID(), ['A1']);
        expect([unknown.status, unknown.json.code, unknown.json.errors]).toEqual([404, 'EVENT_NOT_FOUND', { event_id: ['unknown event'] }]);
      });

      it('answers 201 with its expiry, and the seats read held', async () => {
        const eventId = await createEvent();
        const placed = await hold(eventId, ['A2', 'A1']);
        expect(placed.status).toBe(201);
        expect(placed.json).toMatchObject({ expires_at: '2030-01-01T00:01:00.000Z', seconds_left: TTL_SECONDS, seats: ['A1', 'A2'] });
        expect((await seatsOf(eventId)).status).toMatchObject({ A1: 'held', A2: 'held', A3: 'available' });
      });

      it('holds by quantity', async () => {
        const eventId = await createEvent();
        const placed = await call(t.url, 'POST', '/api/holds', { event_id: eventId, quantity: 2 }, ann);
        expect(placed.status).toBe(201);
        expect(placed.json.seats).toEqual(['A1', 'A2']);
      });

      it('hides the hold from anyone else: 404 for their renew, release and confirm', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        expect((await call(t.url, 'POST', `/api/holds/${id}/renew`, undefined, bob)).status).toBe(404);
        expect((await call(t.url, 'DELETE', `/api/holds/${id}`, undefined, bob)).status).toBe(404);
        expect((await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, bob)).status).toBe(404);
        expect((await seatsOf(eventId)).status.A1).toBe('held');
        expect(t.simulators.payments.charges()).toEqual([]);
      });

      it('renews at most max_renewals times', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        t.clock!.advance(30_000);
        const renewed = await call(t.url, 'POST', `/api/holds/${id}/renew`, undefined, ann);
        expect(renewed.status).toBe(200);
        expect(renewed.json).toMatchObject({ expires_at: new Date(Date.parse(t.clock!.now().toISOString()) + TTL_SECONDS * 1000).toISOString(), renewals_left: 1 });
        expect((await call(t.url, 'POST', `/api/holds/${id}/renew`, undefined, ann)).status).toBe(200);
        const third = await call(t.url, 'POST', `/api/holds/${id}/renew`, undefined, ann);
        expect(third.status).toBe(409);
        expect(third.json.code).toBe('RENEWAL_LIMIT_REACHED');
      });

      it('replays a renew, a release and a confirm repeated with one Idempotency-Key, renewing once', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A3'])).json;
        const renewKey = { ...ann, 'Idempotency-Key': crypto.randomUUID() };
        const renewed = await call(t.url, 'POST', `/api/holds/${id}/renew`, undefined, renewKey);
        const again = await call(t.url, 'POST', `/api/holds/${id}/renew`, undefined, renewKey);
        expect([renewed.status, again.status]).toEqual([200, 200]);
        expect(again.headers.get('idempotent-replayed')).toBe('true');
        expect(again.json).toEqual(renewed.json);
        expect(renewed.json.renewals_left).toBe(1);
        expect((await t.service.runtime.get(`hold/${id}`))?.context).toMatchObject({ renewals: 1 });

        const confirmKey = { ...ann, 'Idempotency-Key': crypto.randomUUID() };
        const confirmed = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, confirmKey);
        const replayed = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, confirmKey);
        expect(replayed.headers.get('idempotent-replayed')).toBe('true');
        expect(replayed.json).toEqual(confirmed.json);
        expect((await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_other' }, confirmKey)).status).toBe(422);

        const { hold_id: other } = (await hold(eventId, ['B3'])).json;
        const releaseKey = { ...ann, 'Idempotency-Key': crypto.randomUUID() };
        expect((await call(t.url, 'DELETE', `/api/holds/${other}`, undefined, releaseKey)).status).toBe(204);
        const released = await call(t.url, 'DELETE', `/api/holds/${other}`, undefined, releaseKey);
        expect(released.status).toBe(204);
        expect(released.headers.get('idempotent-replayed')).toBe('true');
      });

      it('releases idempotently and frees the seats', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1', 'A2'])).json;
        expect((await call(t.url, 'DELETE', `/api/holds/${id}`, undefined, ann)).status).toBe(204);
        expect((await call(t.url, 'DELETE', `/api/holds/${id}`, undefined, ann)).status).toBe(204);
        expect((await seatsOf(eventId)).counts).toEqual({ available: 6, held: 0, sold: 0 });
        const confirm = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann);
        expect([confirm.status, confirm.json.code]).toEqual([409, 'NOT_ALLOWED_IN_STATE']);
        expect(t.simulators.payments.charges().length).toBe(0);
        expect((await hold(eventId, ['A1'], bob)).status).toBe(201);
      });
    });

    describe('when the hold policy is exceeded', () => {
      it('refuses more seats than max_seats_per_user, across holds, with 409 LIMIT_REACHED', async () => {
        const eventId = await createEvent({ max_seats_per_user: 2 });
        expect((await hold(eventId, ['A1', 'A2', 'A3'])).json.code).toBe('LIMIT_REACHED');
        expect((await hold(eventId, ['A1'])).status).toBe(201);
        const second = await hold(eventId, ['A2', 'A3']);
        expect(second.status).toBe(409);
        expect(second.json.code).toBe('LIMIT_REACHED');
        expect((await seatsOf(eventId)).status).toMatchObject({ A2: 'available', A3: 'available' });
      });
    });

    describe('when one user races for many seats', () => {
      const manyLabels = Array.from({ length: 20 }, (_, i) => `C${String(i).padStart(2, '0')}`);

      it('lets exactly max_seats_per_user of 20 concurrent holds on distinct seats through, the rest 409 LIMIT_REACHED', async () => {
        const eventId = await createEvent({ max_seats_per_user: 3 }, manyLabels);
        const carol = authHeaders(t);
        const responses = await Promise.all(manyLabels.map((label) => hold(eventId, [label], carol)));
        expect(responses.filter((r) => r.status === 201).length).toBe(3);
        const refused = responses.filter((r) => r.status === 409);
        expect(refused.length).toBe(17);
        expect(refused.every((r) => r.json.code === 'LIMIT_REACHED')).toBe(true);
        expect((await seatsOf(eventId)).counts).toEqual({ available: 17, held: 3, sold: 0 });
      });

      it('lets exactly HOLDS_MAX_LIVE_PER_USER of 20 concurrent holds through, and one more once a hold is released', async () => {
        const eventId = await createEvent({ max_seats_per_user: 20 }, manyLabels);
        const carol = authHeaders(t);
        const responses = await Promise.all(manyLabels.map((label) => hold(eventId, [label], carol)));
        const placed = responses.filter((r) => r.status === 201);
        expect(placed.length).toBe(MAX_LIVE_HOLDS);
        expect(responses.filter((r) => r.status === 409 && r.json.code === 'LIMIT_REACHED').length).toBe(20 - MAX_LIVE_HOLDS);
        const free = manyLabels.filter((label) => !placed.some((r) => r.json.seats[0] === label));
        expect((await hold(eventId, [free[0]!], carol)).json.code).toBe('LIMIT_REACHED');
        expect((await call(t.url, 'DELETE', `/api/holds/${placed[0]!.json.hold_id}`, undefined, carol)).status).toBe(204);
        expect((await hold(eventId, [free[0]!], carol)).status).toBe(201);
      });
    });

    describe('when requests on one hold, or for any seats of one event, race', () => {
      const manyLabels = Array.from({ length: 30 }, (_, i) => `D${String(i).padStart(2, '0')}`);

      it('gives each of 10 concurrent quantity holds its own first free seats while there are enough', async () => {
        const eventId = await createEvent({}, manyLabels);
        const responses = await Promise.all(Array.from({ length: 10 }, () => call(t.url, 'POST', '/api/holds', { event_id: eventId, quantity: 2 }, authHeaders(t))));
        expect(responses.map((r) => r.status)).toEqual(Array.from({ length: 10 }, () => 201));
        const seats = responses.flatMap((r) => r.json.seats as string[]);
        expect(new Set(seats).size).toBe(20);
        expect((await seatsOf(eventId)).counts).toEqual({ available: 10, held: 20, sold: 0 });
      });

      it('gives 60 concurrent quantity holds (an on-sale of "best available") their own seats, none refused while seats are free', async () => {
        const labels = Array.from({ length: 200 }, (_, i) => `E${String(i).padStart(3, '0')}`);
        const eventId = await createEvent({}, labels);
        const responses = await Promise.all(Array.from({ length: 60 }, () => call(t.url, 'POST', '/api/holds', { event_id: eventId, quantity: 2 }, authHeaders(t))));
        expect(responses.map((r) => r.status).filter((status) => status !== 201)).toEqual([]);
        expect(new Set(responses.flatMap((r) => r.json.seats as string[])).size).toBe(120);
        expect((await seatsOf(eventId)).counts).toEqual({ available: 80, held: 120, sold: 0 });
      });

      it('answers a release that loses to a confirm with 409, and a confirm that loses to a release with NOT_ALLOWED_IN_STATE, never both won', async () => {
        const eventId = await createEvent({ max_seats_per_user: 6 });
        for (const label of LABELS) {
          const buyer = authHeaders(t);
          const { hold_id: id } = (await hold(eventId, [label], buyer)).json;
          const [confirm, release] = await Promise.all([
            call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, buyer),
            call(t.url, 'DELETE', `/api/holds/${id}`, undefined, buyer),
          ]);
          const state = (await t.service.runtime.get(`hold/${id}`))?.state;
          if (state === 'sold') {
            expect([label, confirm.status, release.status, release.json?.code]).toEqual([label, 200, 409, 'NOT_ALLOWED_IN_STATE']);
          } else {
            expect([label, state, release.status, confirm.status, confirm.json.code]).toEqual([label, 'released', 204, 409, 'NOT_ALLOWED_IN_STATE']);
          }
        }
      });

      it('answers concurrent renewals past max_renewals with RENEWAL_LIMIT_REACHED', async () => {
        const eventId = await createEvent({ max_renewals: 1 });
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        const responses = await Promise.all(Array.from({ length: 4 }, () => call(t.url, 'POST', `/api/holds/${id}/renew`, undefined, ann)));
        expect(responses.map((r) => r.status).sort()).toEqual([200, 409, 409, 409]);
        expect(responses.filter((r) => r.status === 409).map((r) => r.json.code)).toEqual(['RENEWAL_LIMIT_REACHED', 'RENEWAL_LIMIT_REACHED', 'RENEWAL_LIMIT_REACHED']);
      });
    });

    describe('when the hold expires', () => {
      it('frees the seat at expires_at with no request, expires by its timer, and refuses the confirm with no charge', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        t.clock!.advance(TTL_SECONDS * 1000);
        expect((await seatsOf(eventId)).status.A1).toBe('available');
        await eventually(async () => expect((await t.service.runtime.get(`hold/${id}`))?.state).toBe('expired'));
        const confirm = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann);
        expect(confirm.status).toBe(409);
        expect(confirm.json.code).toBe('HOLD_EXPIRED');
        expect(t.simulators.payments.charges()).toEqual([]);
        expect((await call(t.url, 'POST', `/api/holds/${id}/renew`, undefined, ann)).json.code).toBe('HOLD_EXPIRED');
        expect((await hold(eventId, ['A1'], bob)).status).toBe(201);
      });

      it('lets another user take a seat whose hold has passed expires_at before the timer fired', async () => {
        const eventId = await createEvent();
        await t.service.timers.stop();
        try {
          const { hold_id: id } = (await hold(eventId, ['A1'])).json;
          t.clock!.advance(TTL_SECONDS * 1000);
          expect((await hold(eventId, ['A1'], bob)).status).toBe(201);
          expect((await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann)).json.code).toBe('HOLD_EXPIRED');
          expect(t.simulators.payments.charges()).toEqual([]);
        } finally {
          t.service.timers.start();
        }
      });

      it('refunds a payment that reaches the hold after it expired', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        t.clock!.advance(TTL_SECONDS * 1000);
        await eventually(async () => expect((await t.service.runtime.get(`hold/${id}`))?.state).toBe('expired'));
        // The charge answered after the expiry: the confirm reaches an expired hold.
        await t.service.runtime.send(`hold/${id}`, { type: 'hold.confirm', now: t.clock!.now().toISOString(), payment_id: 'pay-late', ticket_ids: ['x'] }, { metadata: { correlation_id: 'late' } });
        await eventually(() => expect(t.simulators.payments.refunds().map((r) => r.payment_reference)).toEqual(['pay-late']));
      });
    });

    describe('when the holder confirms', () => {
      it('charges once, sells the seats and issues tickets; a repeat with another key returns the same result', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1', 'A2'])).json;
        const first = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, { ...ann, 'Idempotency-Key': crypto.randomUUID() });
        expect(first.status).toBe(200);
        expect(first.json.booking_id).toBe(id);
        expect(first.json.tickets.map((x: { seat: string }) => x.seat)).toEqual(['A1', 'A2']);
        const again = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, { ...ann, 'Idempotency-Key': crypto.randomUUID() });
        expect(again.status).toBe(200);
        expect(again.json).toEqual(first.json);
        const charges = t.simulators.payments.charges();
        expect(charges.length).toBe(1);
        expect(charges[0]).toMatchObject({ payment_reference: id, amount: eur('50.00'), idempotency_key: `hold-${id}` });
        expect((await seatsOf(eventId)).status).toMatchObject({ A1: 'sold', A2: 'sold' });
        for (const ticket of first.json.tickets) {
          await eventually(async () => {
            const actor = await t.service.runtime.get(`ticket/${ticket.ticket_id}`);
            expect(actor?.context).toMatchObject({ bookingId: id, paymentReference: charges[0]!.payment_id });
          });
        }
        expect((await call(t.url, 'DELETE', `/api/holds/${id}`, undefined, ann)).status).toBe(409);
      });

      it('has the tickets when the confirm answers: a refund sent right after it is accepted, not 404', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1', 'A2'])).json;
        const sold = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann);
        expect(sold.status).toBe(200);
        for (const { ticket_id: ticketId } of sold.json.tickets) {
          expect((await t.service.runtime.get(`ticket/${ticketId}`))?.state).toBe('active');
        }
        const refund = await call(t.url, 'PUT', `/api/ticket-refund/${sold.json.tickets[0].ticket_id}`, undefined, { 'Idempotency-Key': crypto.randomUUID() });
        expect(refund.status).toBe(202);
        await eventually(async () => expect((await t.service.runtime.get(`ticket/${sold.json.tickets[0].ticket_id}`))?.state).toBe('refunded'));
        // The sale's handler, arriving later, confirms no ticket twice.
        await Bun.sleep(200);
        for (const { ticket_id: ticketId } of sold.json.tickets) {
          const facts = (await t.service.store.readActorMessages(`ticket/${ticketId}`)).map((m) => m.name);
          expect(facts.filter((name) => name === 'TicketBookingConfirmed_v1')).toEqual(['TicketBookingConfirmed_v1']);
        }
      });

      it('frees the seat of a refunded ticket and of a cancelled one, once each, and only that seat, and counts them no more against the buyer', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1', 'A2', 'A3'])).json;
        const sold = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann);
        expect(sold.status).toBe(200);
        const ticketOf = Object.fromEntries(sold.json.tickets.map((x: { seat: string; ticket_id: string }) => [x.seat, x.ticket_id]));
        for (const ticketId of Object.values(ticketOf)) {
          await eventually(async () => expect((await t.service.runtime.get(`ticket/${ticketId}`))?.state).toBe('active'));
        }

        expect((await call(t.url, 'PUT', `/api/ticket-refund/${ticketOf.A1}`)).status).toBe(202);
        expect((await call(t.url, 'PUT', `/api/ticket-refund/${ticketOf.A1}`)).status).toBe(202);
        await eventually(async () => expect((await t.service.runtime.get(`ticket/${ticketOf.A1}`))?.state).toBe('refunded'));
        expect(await seatsOf(eventId)).toEqual({ counts: { available: 4, held: 0, sold: 2 }, status: expect.objectContaining({ A1: 'available', A2: 'sold', A3: 'sold' }) });

        const canceled = await call(t.url, 'POST', '/api/tickets-status', {
          tickets: [{ ticket_id: ticketOf.A2, booking_id: id, status: 'canceled', price: eur('25.00'), customer_email: 'ann@example.com' }],
        }, { 'Idempotency-Key': crypto.randomUUID() });
        expect(canceled.status).toBe(200);
        await eventually(async () => expect((await seatsOf(eventId)).status).toMatchObject({ A2: 'available' }));
        expect((await seatsOf(eventId)).counts).toEqual({ available: 5, held: 0, sold: 1 });

        // The buyer may buy up to max_seats_per_user (4) again: the two tickets given back no longer count.
        const again = await hold(eventId, ['A1', 'A2', 'B1']);
        expect(again.status).toBe(201);
        expect((await seatsOf(eventId)).counts).toEqual({ available: 2, held: 3, sold: 1 });
      });

      it('charges once when two confirms race', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        const [a, b] = await Promise.all([
          call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann),
          call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann),
        ]);
        expect([a.status, b.status]).toEqual([200, 200]);
        expect(a.json).toEqual(b.json);
        expect(t.simulators.payments.charges().length).toBe(1);
        expect(t.simulators.payments.calls({ operation: 'charge' }).length).toBe(1);
      });

      it('sells a hold confirmed in its last seconds whose charge answers after its expires_at, with one charge and no refund', async () => {
        const eventId = await createEvent();
        const { hold_id: id, expires_at: expiresAt } = (await hold(eventId, ['A1'])).json;
        t.clock!.set(new Date(Date.parse(expiresAt) - 5_000).toISOString());
        t.simulators.payments.setLatency(300, { operation: 'charge' });
        const confirming = call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann);
        await eventually(() => expect(t.simulators.payments.calls({ operation: 'charge' }).length).toBe(1));
        // The payments service answers 15 s later by the service's clock: past the hold's first expires_at.
        t.clock!.advance(15_000);
        const confirmed = await confirming;
        expect(confirmed.status).toBe(200);
        expect((await seatsOf(eventId)).status.A1).toBe('sold');
        expect(t.simulators.payments.charges().length).toBe(1);
        await Bun.sleep(200);
        expect(t.simulators.payments.calls({ operation: 'refund' })).toEqual([]);
        const facts = (await t.service.store.readActorMessages(`hold/${id}`)).map((m) => m.name);
        expect(facts).toEqual(['HoldPlaced_v1', 'HoldExpiryMoved_v1', 'TicketsSold_v1']);
      });

      it('sells, with one charge and no refund, a hold confirmed in its last seconds whose charge was made but never answered', async () => {
        const eventId = await createEvent();
        const { hold_id: id, expires_at: expiresAt } = (await hold(eventId, ['A1'])).json;
        t.clock!.set(new Date(Date.parse(expiresAt) - 5_000).toISOString());
        t.simulators.payments.failNext('charge', 1, 'retryable', { afterEffect: true });
        const unanswered = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann);
        expect([unanswered.status, unanswered.json.code]).toEqual([503, 'PAYMENT_UNAVAILABLE']);
        // The customer does not retry: the hold's recovery charges again when its check is due.
        t.clock!.advance(PAYMENT_CHECK_MS);
        await eventually(async () => expect((await t.service.runtime.get(`hold/${id}`))?.state).toBe('sold'));
        expect(t.simulators.payments.charges().length).toBe(1);
        await Bun.sleep(200);
        expect(t.simulators.payments.refunds()).toEqual([]);
        expect((await seatsOf(eventId)).status.A1).toBe('sold');
      });

      it('gives a hold whose charge was declined its own expires_at back, so a decline never holds seats longer', async () => {
        const eventId = await createEvent();
        const { hold_id: id, expires_at: expiresAt } = (await hold(eventId, ['A1'])).json;
        t.clock!.set(new Date(Date.parse(expiresAt) - 5_000).toISOString());
        const declined = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: DECLINED_PAYMENT_METHOD }, ann);
        expect(declined.status).toBe(402);
        expect((await t.service.runtime.get(`hold/${id}`))?.context.expiresAt).toBe(expiresAt);
        t.clock!.set(expiresAt);
        expect((await seatsOf(eventId)).status.A1).toBe('available');
        const late = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann);
        expect([late.status, late.json.code]).toEqual([409, 'HOLD_EXPIRED']);
        expect(t.simulators.payments.charges()).toEqual([]);
      });

      it('answers 402 for a declined payment and keeps the hold, with no sale', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        const declined = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: DECLINED_PAYMENT_METHOD }, ann);
        expect(declined.status).toBe(402);
        expect(declined.json.code).toBe('PAYMENT_DECLINED');
        expect((await seatsOf(eventId)).status.A1).toBe('held');
        expect((await t.service.runtime.get(`hold/${id}`))?.state).toBe('held');
        // The charge the route made is in the hold's timeline, with its outcome.
        const { timeline } = (await call(t.url, 'GET', `/api/bookings/${id}/timeline`, undefined, opsHeaders(t))).json;
        const charges = timeline.filter((e: { kind: string }) => e.kind === 'external.call');
        expect(charges.map((e: { name: string; status: string; error?: string }) => [e.name, e.status, e.error])).toEqual([['payments.charge', 'failed', 'declined']]);
        // The decline names the charge it answers, so that it can never end a later charge of the hold.
        const declines = (await t.service.store.readJournal(`hold/${id}`)).filter((entry) => entry.event.type === 'payment.declined');
        expect(declines.map((entry) => (entry.event as { idempotency_key?: string }).idempotency_key)).toEqual([`hold-${id}`]);
      });

      it('answers 502 PAYMENT_FAILED, not a decline, when the payments service refuses the request itself; the hold stays and a new confirm pays', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        t.simulators.payments.failNext('charge', 1, { status: 404 });
        const refused = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann);
        expect([refused.status, refused.json.code, refused.json.retryable]).toEqual([502, 'PAYMENT_FAILED', true]);
        expect((await t.service.runtime.get(`hold/${id}`))?.state).toBe('held');
        expect(t.simulators.payments.charges()).toEqual([]);

        const paid = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann);
        expect(paid.status).toBe(200);
        expect(t.simulators.payments.charges().length).toBe(1);
      });
    });

    describe('when the payments service does not answer', () => {
      it('answers 503 PAYMENT_UNAVAILABLE with Retry-After and keeps the charge pending; a repeat with the same key settles it, charged once', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        t.simulators.payments.failNext('charge', 1, 'retryable');
        const unavailable = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, { ...ann, 'Idempotency-Key': `first-${id}` });
        expect([unavailable.status, unavailable.json.code, unavailable.json.retryable, unavailable.headers.get('retry-after')]).toEqual([503, 'PAYMENT_UNAVAILABLE', true, '1']);
        expect((await t.service.runtime.get(`hold/${id}`))?.state).toBe('paying');

        const paid = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, { ...ann, 'Idempotency-Key': `first-${id}` });
        expect(paid.status).toBe(200);
        expect(t.simulators.payments.charges().length).toBe(1);
        expect((await t.service.runtime.get(`hold/${id}`))?.state).toBe('sold');
      });
    });

    describe('when the process dies between the charge and the sale', () => {
      // What the confirm route does before it dies: commit the intent, then (maybe) charge.
      const startPaying = async (id: string) => {
        await t.service.runtime.send(`hold/${id}`, { type: 'hold.pay', now: t.clock!.now().toISOString(), payment_method: 'pm_card_visa', amount: eur('25.00') }, { metadata: { correlation_id: 'crash' } });
        const context = (await t.service.runtime.get(`hold/${id}`))!.context as unknown as HoldContext;
        expect(context.payment?.idempotencyKey).toBe(`hold-${id}`);
        return context;
      };
      const chargeAsTheRouteDid = (id: string, context: HoldContext) =>
        t.simulators.payments.charge({ payment_reference: id, amount: context.payment!.amount, payment_method: 'pm_card_visa', idempotency_key: context.payment!.idempotencyKey }, { correlationId: 'crash' });
      const stateOf = async (id: string) => (await t.service.runtime.get(`hold/${id}`))?.state;

      it('charges again with the same key when the recovery timer fires, gets the first payment and sells', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        const paid = await chargeAsTheRouteDid(id, await startPaying(id));
        expect(await stateOf(id)).toBe('paying');
        t.clock!.advance(PAYMENT_CHECK_MS);
        await eventually(async () => expect(await stateOf(id)).toBe('sold'));
        const charges = t.simulators.payments.charges();
        expect(charges.map((c) => c.payment_id)).toEqual([paid.payment_id]);
        expect((await t.service.runtime.get(`hold/${id}`))!.context).toMatchObject({ paymentId: paid.payment_id, payment: null });
        expect((await seatsOf(eventId)).status.A1).toBe('sold');
        expect(t.simulators.payments.refunds()).toEqual([]);
        const confirm = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann);
        expect(confirm.status).toBe(200);
        expect(t.simulators.payments.charges().length).toBe(1);
      });

      it('marks the dead letter of a recovery that failed past its budget redriven once a later check has sold the hold', async () => {
        const eventId = await createEvent({ ttl_seconds: 600 });
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        await startPaying(id);
        const letters = () => t.service.store.query<{ status: string }>(
          "SELECT d.status FROM dead_letters d JOIN messages m ON m.id = d.message_id WHERE d.handler = 'recoverHoldPayment' AND m.actor = $1",
          [`hold/${id}`],
        );
        t.simulators.payments.failNext('charge', 8, 'retryable');
        t.clock!.advance(PAYMENT_CHECK_MS);
        await eventually(async () => expect(await letters()).toEqual([{ status: 'dead' }]));
        // The next check (twice as late) charges and sells: the letter needs no operator any more.
        t.clock!.advance(2 * PAYMENT_CHECK_MS);
        await eventually(async () => expect(await stateOf(id)).toBe('sold'));
        await eventually(async () => expect(await letters()).toEqual([{ status: 'redriven' }]));
        expect(t.simulators.payments.charges().length).toBe(1);
      });

      it('charges when the process died before charging, once', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        await startPaying(id);
        t.clock!.advance(PAYMENT_CHECK_MS);
        await eventually(async () => expect(await stateOf(id)).toBe('sold'));
        expect(t.simulators.payments.charges().length).toBe(1);
      });

      it('refunds the payment exactly once when the hold expired before the outcome came back', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        const paid = await chargeAsTheRouteDid(id, await startPaying(id));
        t.clock!.advance(TTL_SECONDS * 1000);
        await eventually(async () => expect(t.simulators.payments.refunds().map((r) => r.payment_reference)).toEqual([paid.payment_id]));
        expect(await stateOf(id)).toBe('expired');
        expect((await t.service.runtime.get(`hold/${id}`))!.context).toMatchObject({ payment: null });
        t.clock!.advance(PAYMENT_CHECK_MS);
        await Bun.sleep(200);
        expect(t.simulators.payments.charges().length).toBe(1);
        expect(t.simulators.payments.refunds().length).toBe(1);
        expect((await seatsOf(eventId)).status.A1).toBe('available');
      });

      it('lets the holder finish the charge with a confirm while paying', async () => {
        const eventId = await createEvent();
        const { hold_id: id } = (await hold(eventId, ['A1'])).json;
        await startPaying(id);
        expect((await call(t.url, 'DELETE', `/api/holds/${id}`, undefined, ann)).status).toBe(409);
        const confirm = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann);
        expect(confirm.status).toBe(200);
        expect(confirm.json.tickets.map((x: { seat: string }) => x.seat)).toEqual(['A1']);
        expect(t.simulators.payments.charges().length).toBe(1);
      });
    });

    describe('when the event is a show (general admission)', () => {
      const createShow = async (tickets: number) => {
        const show = await call(t.url, 'POST', '/api/shows', { dead_nation_id: `dn-${crypto.randomUUID()}`, number_of_tickets: tickets, start_time: '2031-06-01T20:00:00Z', title: 'Gig', venue: 'Hall' });
        expect(show.status).toBe(201);
        return show.json.show_id as string;
      };
      const holdQuantity = (showId: string, quantity: number, headers = ann) => call(t.url, 'POST', '/api/holds', { event_id: showId, quantity }, headers);
      const book = (showId: string, tickets: number) =>
        call(t.url, 'POST', '/api/book-tickets', { show_id: showId, number_of_tickets: tickets, customer_email: 'ann@example.com' }, { 'Idempotency-Key': crypto.randomUUID() });
      const countsOf = async (showId: string) => (await call(t.url, 'GET', `/api/events/${showId}`)).json.counts;

      it('holds a quantity against the capacity, so that book-tickets cannot take the held seats', async () => {
        const showId = await createShow(5);
        const placed = await holdQuantity(showId, 3);
        expect(placed.status).toBe(201);
        expect(placed.json).toMatchObject({ seats: [], quantity: 3, seconds_left: 900 });
        expect(await countsOf(showId)).toEqual({ available: 2, held: 3, sold: 0 });
        const listed = (await call(t.url, 'GET', '/api/shows')).json.find((x: { show_id: string }) => x.show_id === showId);
        expect(listed.available_tickets).toBe(2);
        expect((await book(showId, 3)).json.code).toBe('SOLD_OUT');
        expect((await book(showId, 2)).status).toBe(201);
        const more = await holdQuantity(showId, 1, bob);
        expect(more.status).toBe(409);
        expect(more.json.code).toBe('SEAT_UNAVAILABLE');
        expect(await countsOf(showId)).toEqual({ available: 0, held: 3, sold: 2 });
      });

      it('never oversells when holds and bookings race for the last seats', async () => {
        const showId = await createShow(10);
        const responses = await Promise.all([
          ...Array.from({ length: 20 }, () => holdQuantity(showId, 1, authHeaders(t))),
          ...Array.from({ length: 20 }, () => book(showId, 1)),
        ]);
        expect(responses.filter((r) => r.status === 201).length).toBe(10);
        expect(responses.filter((r) => r.status !== 201).every((r) => r.json.code === 'SEAT_UNAVAILABLE' || r.json.code === 'SOLD_OUT')).toBe(true);
        const counts = await countsOf(showId);
        expect(counts.available).toBe(0);
        expect(counts.held + counts.sold).toBe(10);
      });

      it('frees the capacity at expires_at before the expiry timer fired, and gives it back once', async () => {
        const showId = await createShow(4);
        await t.service.timers.stop();
        let id: string;
        try {
          id = (await holdQuantity(showId, 4)).json.hold_id;
          expect((await book(showId, 1)).json.code).toBe('SOLD_OUT');
          t.clock!.advance(900_000);
          expect(await countsOf(showId)).toEqual({ available: 4, held: 0, sold: 0 });
          expect((await book(showId, 3)).status).toBe(201);
        } finally {
          t.service.timers.start();
        }
        await eventually(async () => expect((await t.service.runtime.get(`hold/${id}`))?.state).toBe('expired'));
        expect(await countsOf(showId)).toEqual({ available: 1, held: 0, sold: 3 });
        expect((await book(showId, 2)).json.code).toBe('SOLD_OUT');
        expect((await book(showId, 1)).status).toBe(201);
      });

      it('sells free tickets with no seat label on confirm, with no charge; release gives the seats back; a refund returns no money', async () => {
        const showId = await createShow(5);
        const { hold_id: id } = (await holdQuantity(showId, 2)).json;
        const confirm = await call(t.url, 'POST', `/api/holds/${id}/confirm`, { payment_method: 'pm_card_visa' }, ann);
        expect(confirm.status).toBe(200);
        expect(confirm.json.tickets.map((x: { seat: string | null }) => x.seat)).toEqual([null, null]);
        expect(t.simulators.payments.charges()).toEqual([]);
        expect(await countsOf(showId)).toEqual({ available: 3, held: 0, sold: 2 });
        for (const ticket of confirm.json.tickets) {
          await eventually(async () => expect((await t.service.runtime.get(`ticket/${ticket.ticket_id}`))?.context).toMatchObject({ price: { amount: '0.00', currency: 'XXX' } }));
        }
        const { hold_id: released } = (await holdQuantity(showId, 3)).json;
        expect(await countsOf(showId)).toEqual({ available: 0, held: 3, sold: 2 });
        expect((await call(t.url, 'DELETE', `/api/holds/${released}`, undefined, ann)).status).toBe(204);
        expect(await countsOf(showId)).toEqual({ available: 3, held: 0, sold: 2 });

        // A free ticket's refund voids its receipt, returns its seat and asks the payments service for nothing.
        const [free] = confirm.json.tickets as { ticket_id: string }[];
        await eventually(async () => expect((await t.service.runtime.get(`ticket/${free!.ticket_id}`))?.context).toMatchObject({ receiptNumber: expect.any(String) }));
        expect((await call(t.url, 'PUT', `/api/ticket-refund/${free!.ticket_id}`)).status).toBe(202);
        await eventually(async () => expect((await t.service.runtime.get(`ticket/${free!.ticket_id}`))?.state).toBe('refunded'));
        expect(t.simulators.calls({ service: 'receipts', operation: 'voidReceipt' }).length).toBe(1);
        expect(t.simulators.payments.refunds()).toEqual([]);
        expect(await countsOf(showId)).toEqual({ available: 4, held: 0, sold: 1 });
      });

      it('refuses numbered seats on a show with 422 SEATS_NOT_NUMBERED', async () => {
        const showId = await createShow(5);
        const refused = await call(t.url, 'POST', '/api/holds', { event_id: showId, seats: ['A1'] }, ann);
        expect(refused.status).toBe(422);
        expect(refused.json.code).toBe('SEATS_NOT_NUMBERED');
      });
    });
  });
}

for (const mode of MODES) {
  describe(`holds across a restart (${mode})`, () => {
    it('expires a hold whose deadline passed while the service was down, and refuses its confirm with no charge', async () => {
      const dir = makeTempDir('tickets-holds-restart-');
      const env: Record<string, string> = mode === 'embedded' ? { DATA_DIR: dir.path } : {};
      const first = await startTestService(mode, { clockAt: NOW, env });
      let second: TestService | undefined;
      try {
        const userId = crypto.randomUUID();
        const ops = opsHeaders(first);
        const venue = await call(first.url, 'POST', '/api/venues', { name: 'Olympia', location: 'Dublin' }, ops);
        const created = await call(first.url, 'POST', '/api/events', {
          name: 'Night', venue_id: venue.json.venue_id, start_time: '2031-01-01T20:00:00Z', seats: [{ label: 'A1', price: eur('25.00') }], hold_policy: { ttl_seconds: TTL_SECONDS },
        }, ops);
        const eventId = created.json.event_id as string;
        const placed = await call(first.url, 'POST', '/api/holds', { event_id: eventId, seats: ['A1'] }, authHeaders(first, { id: userId }));
        expect(placed.status).toBe(201);
        await first.service.stop();

        second = await startTestService(mode, { clockAt: '2030-01-01T00:02:00.000Z', env, ...(mode === 'distributed' ? { joining: first } : {}) });
        const event = (await call(second.url, 'GET', `/api/events/${eventId}`)).json;
        expect(event.counts).toEqual({ available: 1, held: 0, sold: 0 });
        await eventually(async () => expect((await second!.service.runtime.get(`hold/${placed.json.hold_id}`))?.state).toBe('expired'));
        const confirm = await call(second.url, 'POST', `/api/holds/${placed.json.hold_id}/confirm`, { payment_method: 'pm_card_visa' }, authHeaders(second, { id: userId }));
        expect(confirm.status).toBe(409);
        expect(confirm.json.code).toBe('HOLD_EXPIRED');
        expect(second.simulators.payments.charges()).toEqual([]);
      } finally {
        await second?.close();
        await first.close();
        await dir.cleanup();
      }
    });
  });
}
