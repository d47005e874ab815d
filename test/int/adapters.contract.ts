import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import type { CallContext } from '../../src/adapters/call';
import { isRetryable, PAYMENT_DECLINED, RetryableError, TerminalError } from '../../src/adapters/errors';
import type { ExternalServices, ServiceName, Simulators } from '../../src/adapters/index';
import { DECLINED_PAYMENT_METHOD } from '../../src/adapters/payments/payments.sim';
import type { IssueReceiptRequest } from '../../src/adapters/receipts/receipts.port';
import type { Fault } from '../../src/adapters/simulation';
import type { ManualClock } from '../../src/kernel/clock';

/** External services to test, and the simulators their calls land in (in process, or behind a gateway). */
export interface AdaptersHarness {
  ports: ExternalServices;
  simulators: Simulators;
  clock: ManualClock;
  cleanup(): Promise<void>;
}

/** Builds a harness whose calls time out after `timeoutMs`; ids come from `sequentialIds()`, time starts at T0. */
export type AdaptersSetup = (options: { timeoutMs: number }) => Promise<AdaptersHarness>;

export const T0 = '2030-01-01T00:00:00.000Z';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
const ctx: CallContext = { correlationId: 'corr-1', traceparent: TRACEPARENT };
const id = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
/** Generous for a local call, so that only the timeout tests time out. */
const TIMEOUT_MS = 3_000;

const receiptRequest = (overrides: Partial<IssueReceiptRequest> = {}): IssueReceiptRequest => ({
  ticket_id: 'ticket-1',
  price: { money_amount: '50.30', money_currency: 'GBP' },
  idempotency_key: 'receipt-key-1',
  ...overrides,
});

const chargeRequest = (idempotencyKey = 'charge-key-1', paymentMethod = 'pm_card_visa') => ({
  payment_reference: 'hold-1',
  amount: { amount: '120.00', currency: 'EUR' },
  payment_method: paymentMethod,
  idempotency_key: idempotencyKey,
});

const flightRequest = (idempotencyKey = 'flight-key-1') => ({
  customer_email: 'ada@example.com',
  flight_id: 'flight-1',
  passenger_names: ['Ada Lovelace', 'Charles Babbage'],
  reference_id: 'bundle-1',
  idempotency_key: idempotencyKey,
});

const taxiRequest = (idempotencyKey = 'taxi-key-1') => ({
  customer_email: 'ada@example.com',
  number_of_passengers: 2,
  passenger_name: 'Ada Lovelace',
  reference_id: 'bundle-1',
  idempotency_key: idempotencyKey,
});

const deadNationRequest = {
  booking_id: 'booking-1',
  event_id: 'dead-nation-show-1',
  number_of_tickets: 2,
  customer_address: 'ada@example.com',
};

/** One call of every operation, and how to make it with the ports. */
const everyOperation: Array<{ service: ServiceName; operation: string; call: (ports: ExternalServices) => Promise<unknown> }> = [
  { service: 'receipts', operation: 'issueReceipt', call: (p) => p.receipts.issueReceipt(receiptRequest(), ctx) },
  {
    service: 'receipts',
    operation: 'voidReceipt',
    call: (p) => p.receipts.voidReceipt({ ticket_id: 'ticket-1', reason: 'refund', idempotent_id: 'void-1' }, ctx),
  },
  {
    service: 'payments',
    operation: 'refund',
    call: (p) => p.payments.refund({ payment_reference: 'ticket-1', reason: 'refund', deduplication_id: 'refund-1' }, ctx),
  },
  { service: 'payments', operation: 'charge', call: (p) => p.payments.charge(chargeRequest(), ctx) },
  { service: 'files', operation: 'putTicketFile', call: (p) => p.files.putTicketFile({ ticket_id: 'ticket-1', content: '<p>ticket</p>' }, ctx) },
  { service: 'spreadsheets', operation: 'appendRow', call: (p) => p.spreadsheets.appendRow({ sheet: 'tickets-to-print', columns: ['a'] }, ctx) },
  { service: 'deadNation', operation: 'bookTickets', call: (p) => p.deadNation.bookTickets(deadNationRequest, ctx) },
  { service: 'transportation', operation: 'bookFlight', call: (p) => p.transportation.bookFlight(flightRequest(), ctx) },
  { service: 'transportation', operation: 'cancelFlightTicket', call: (p) => p.transportation.cancelFlightTicket({ ticket_id: 'flight-ticket-1' }, ctx) },
  { service: 'transportation', operation: 'bookTaxi', call: (p) => p.transportation.bookTaxi(taxiRequest(), ctx) },
];

/** The error `promise` rejects with; fails the test when it resolves. */
async function failureOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail, it succeeded');
}

/** Polls `condition` every 10 ms until it holds or `timeoutMs` has passed. */
async function eventually(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await Bun.sleep(10);
  }
}

/**
 * The behaviour every implementation of the external-service ports shares (STYLE.md §10): run against
 * the in-process simulators and against the HTTP clients talking to the gateway.
 */
export function adaptersContract(name: string, setup: AdaptersSetup): void {
  describe(`external service adapters (${name})`, () => {
    let h: AdaptersHarness;

    beforeEach(async () => {
      h = await setup({ timeoutMs: TIMEOUT_MS });
    });

    afterEach(async () => {
      await h.cleanup();
    });

    describe('receipts', () => {
      it('issues a receipt numbered by the service and stamped with its clock on issueReceipt', async () => {
        const receipt = await h.ports.receipts.issueReceipt(receiptRequest(), ctx);

        expect(receipt).toEqual({ number: 'R-000001', issued_at: T0 });
        expect(h.simulators.calls()).toEqual([{
          seq: 1,
          service: 'receipts',
          operation: 'issueReceipt',
          at: T0,
          correlation_id: 'corr-1',
          traceparent: TRACEPARENT,
          request: {
            ticket_id: 'ticket-1',
            price: { money_amount: '50.30', money_currency: 'GBP' },
            idempotency_key: 'receipt-key-1',
          },
          outcome: 'success',
          status: null,
        }]);
      });

      it('returns the first receipt again on a repeated idempotency key', async () => {
        const first = await h.ports.receipts.issueReceipt(receiptRequest(), ctx);
        h.clock.advance(60_000);
        const again = await h.ports.receipts.issueReceipt(receiptRequest(), ctx);
        const other = await h.ports.receipts.issueReceipt(receiptRequest({ ticket_id: 'ticket-2', idempotency_key: 'receipt-key-2' }), ctx);

        expect(again).toEqual(first);
        expect(other).toEqual({ number: 'R-000002', issued_at: '2030-01-01T00:01:00.000Z' });
        expect(h.simulators.receipts.receipts().map((r) => r.ticket_id)).toEqual(['ticket-1', 'ticket-2']);
        expect(h.simulators.calls({ operation: 'issueReceipt' })).toHaveLength(3);
      });

      it('voids once per idempotent_id on voidReceipt', async () => {
        const request = { ticket_id: 'ticket-1', reason: 'ticket refunded', idempotent_id: 'void-1' };
        expect(await h.ports.receipts.voidReceipt(request, ctx)).toBeUndefined();
        await h.ports.receipts.voidReceipt(request, ctx);

        expect(h.simulators.receipts.voids()).toEqual([request]);
        expect(h.simulators.calls().map((c) => c.request)).toEqual([request, request]);
      });
    });

    describe('payments', () => {
      it('charges and returns the payment id, the same one for a repeated idempotency key', async () => {
        const charge = await h.ports.payments.charge(chargeRequest(), ctx);
        const again = await h.ports.payments.charge(chargeRequest(), ctx);
        const other = await h.ports.payments.charge(chargeRequest('charge-key-2'), ctx);

        expect(charge).toEqual({ payment_id: id(1) });
        expect(again).toEqual(charge);
        expect(other).toEqual({ payment_id: id(2) });
        expect(h.simulators.payments.charges()).toHaveLength(2);
        expect(h.simulators.calls()[0]!.request).toEqual(chargeRequest());
      });

      it('rejects a declined charge with a terminal PAYMENT_DECLINED, again on a repeat, and charges nothing', async () => {
        for (let attempt = 0; attempt < 2; attempt++) {
          const error = await failureOf(h.ports.payments.charge(chargeRequest('declined-key', DECLINED_PAYMENT_METHOD), ctx));
          expect(error).toBeInstanceOf(TerminalError);
          expect(error).toMatchObject({ service: 'payments', operation: 'charge', status: 402, code: PAYMENT_DECLINED });
          expect(isRetryable(error)).toBe(false);
        }
        expect(h.simulators.payments.charges()).toEqual([]);
        expect(h.simulators.calls().map((c) => [c.outcome, c.status])).toEqual([['terminal', 402], ['terminal', 402]]);
      });

      it('reads an injected 402 as PAYMENT_DECLINED', async () => {
        h.simulators.payments.failNext('charge', 1, { status: 402 });
        const error = await failureOf(h.ports.payments.charge(chargeRequest(), ctx));

        expect(error).toBeInstanceOf(TerminalError);
        expect(error).toMatchObject({ status: 402, code: PAYMENT_DECLINED });
      });

      it('refunds once per deduplication_id on refund', async () => {
        const request = { payment_reference: 'ticket-1', reason: 'customer asked', deduplication_id: 'refund-1' };
        expect(await h.ports.payments.refund(request, ctx)).toBeUndefined();
        await h.ports.payments.refund(request, ctx);

        expect(h.simulators.payments.refunds()).toEqual([request]);
        expect(h.simulators.calls({ service: 'payments' })).toHaveLength(2);
      });
    });

    describe('files', () => {
      it('stores <ticket_id>-ticket.html with the content as sent on putTicketFile', async () => {
        const html = '<html><body>Ticket 0195 — £50.30 & "more"</body></html>';
        const stored = await h.ports.files.putTicketFile({ ticket_id: 'ticket-1', content: html }, ctx);

        expect(stored).toEqual({ file_name: 'ticket-1-ticket.html', created: true });
        expect(h.simulators.files.content('ticket-1-ticket.html')).toBe(html);
        expect(h.simulators.calls()[0]!.request).toEqual({ ticket_id: 'ticket-1', content: html });
      });

      it('succeeds without overwriting when the file already exists (409)', async () => {
        await h.ports.files.putTicketFile({ ticket_id: 'ticket-1', content: 'first' }, ctx);
        const again = await h.ports.files.putTicketFile({ ticket_id: 'ticket-1', content: 'second' }, ctx);

        expect(again).toEqual({ file_name: 'ticket-1-ticket.html', created: false });
        expect(h.simulators.files.content('ticket-1-ticket.html')).toBe('first');
        expect(h.simulators.files.fileNames()).toEqual(['ticket-1-ticket.html']);
      });

      it('refuses 409 as an injected fault, since it means success', () => {
        expect(() => h.simulators.files.failNext('putTicketFile', 1, { status: 409 })).toThrow(RangeError);
      });
    });

    describe('spreadsheets', () => {
      it('appends every row it receives, duplicates included, to the named sheet', async () => {
        const row = ['ticket-1', 'ada@example.com', '50.30', 'GBP'];
        await h.ports.spreadsheets.appendRow({ sheet: 'tickets-to-print', columns: row }, ctx);
        await h.ports.spreadsheets.appendRow({ sheet: 'tickets-to-print', columns: row }, ctx);
        await h.ports.spreadsheets.appendRow({ sheet: 'tickets-to-refund', columns: row }, ctx);

        expect(h.simulators.spreadsheets.rows('tickets-to-print')).toEqual([row, row]);
        expect(h.simulators.spreadsheets.rows('tickets-to-refund')).toEqual([row]);
        expect(h.simulators.calls()[0]!.request).toEqual({ sheet: 'tickets-to-print', columns: row });
      });
    });

    describe('dead nation', () => {
      it('places every booking it receives, duplicates included', async () => {
        await h.ports.deadNation.bookTickets(deadNationRequest, ctx);
        await h.ports.deadNation.bookTickets(deadNationRequest, ctx);

        expect(h.simulators.deadNation.bookings()).toEqual([deadNationRequest, deadNationRequest]);
        expect(h.simulators.calls()[0]!.request).toEqual(deadNationRequest);
      });
    });

    describe('transportation', () => {
      it('issues one flight ticket per passenger, the same ones for a repeated idempotency key', async () => {
        const booked = await h.ports.transportation.bookFlight(flightRequest(), ctx);
        const again = await h.ports.transportation.bookFlight(flightRequest(), ctx);

        expect(booked).toEqual({ ticket_ids: [id(1), id(2)] });
        expect(again).toEqual(booked);
        expect(h.simulators.transportation.flightTickets().map((t) => t.passenger_name)).toEqual(['Ada Lovelace', 'Charles Babbage']);
        expect(h.simulators.calls()[0]!.request).toEqual(flightRequest());
      });

      it('cancels a flight ticket, again without error, and refuses an unknown one with a terminal 404', async () => {
        const { ticket_ids } = await h.ports.transportation.bookFlight(flightRequest(), ctx);
        const ticketId = ticket_ids[0]!;
        await h.ports.transportation.cancelFlightTicket({ ticket_id: ticketId }, ctx);
        await h.ports.transportation.cancelFlightTicket({ ticket_id: ticketId }, ctx);
        const error = await failureOf(h.ports.transportation.cancelFlightTicket({ ticket_id: 'no-such-ticket' }, ctx));

        expect(h.simulators.transportation.flightTickets().map((t) => t.cancelled)).toEqual([true, false]);
        expect(error).toBeInstanceOf(TerminalError);
        expect(error).toMatchObject({ service: 'transportation', operation: 'cancelFlightTicket', status: 404 });
        expect(h.simulators.calls({ operation: 'cancelFlightTicket' }).map((c) => c.request)).toEqual([
          { ticket_id: ticketId },
          { ticket_id: ticketId },
          { ticket_id: 'no-such-ticket' },
        ]);
      });

      it('books a taxi, the same booking for a repeated idempotency key', async () => {
        const booked = await h.ports.transportation.bookTaxi(taxiRequest(), ctx);
        const again = await h.ports.transportation.bookTaxi(taxiRequest(), ctx);
        const other = await h.ports.transportation.bookTaxi(taxiRequest('taxi-key-2'), ctx);

        expect(booked).toEqual({ booking_id: id(1) });
        expect(again).toEqual(booked);
        expect(other).toEqual({ booking_id: id(2) });
        expect(h.simulators.calls()[0]!.request).toEqual(taxiRequest());
      });
    });

    describe('call context', () => {
      it('delivers Correlation-ID and traceparent with every operation', async () => {
        for (const { call } of everyOperation) await call(h.ports).catch(() => undefined);

        const calls = h.simulators.calls();
        expect(calls.map((c) => `${c.service}.${c.operation}`)).toEqual(everyOperation.map((o) => `${o.service}.${o.operation}`));
        for (const call of calls) expect([call.correlation_id, call.traceparent]).toEqual(['corr-1', TRACEPARENT]);
      });

      it('records no traceparent when the caller has none', async () => {
        await h.ports.deadNation.bookTickets(deadNationRequest, { correlationId: 'corr-2' });

        expect(h.simulators.calls()[0]).toMatchObject({ correlation_id: 'corr-2', traceparent: null });
      });
    });

    describe('when a fault is injected', () => {
      const retryable: Array<[Fault, number]> = [[{ status: 500 }, 500], [{ status: 503 }, 503], [{ status: 429 }, 429], [{ status: 408 }, 408], ['retryable', 503]];
      const terminal: Array<[Fault, number]> = [[{ status: 400 }, 400], [{ status: 404 }, 404], [{ status: 422 }, 422], ['terminal', 400]];

      for (const [fault, status] of retryable) {
        it(`rejects with a RetryableError ${status} on ${JSON.stringify(fault)}, then succeeds`, async () => {
          h.simulators.receipts.failNext('issueReceipt', 1, fault);
          const error = await failureOf(h.ports.receipts.issueReceipt(receiptRequest(), ctx));

          expect(error).toBeInstanceOf(RetryableError);
          expect(error).toMatchObject({ service: 'receipts', operation: 'issueReceipt', status, reason: 'status', retryable: true });
          expect(isRetryable(error)).toBe(true);
          expect(await h.ports.receipts.issueReceipt(receiptRequest(), ctx)).toEqual({ number: 'R-000001', issued_at: T0 });
          expect(h.simulators.calls().map((c) => [c.outcome, c.status])).toEqual([['retryable', status], ['success', null]]);
        });
      }

      for (const [fault, status] of terminal) {
        it(`rejects with a TerminalError ${status} keeping the answer's body on ${JSON.stringify(fault)}`, async () => {
          h.simulators.receipts.failNext('issueReceipt', 1, fault);
          const error = await failureOf(h.ports.receipts.issueReceipt(receiptRequest(), ctx));

          expect(error).toBeInstanceOf(TerminalError);
          expect(error).toMatchObject({
            service: 'receipts',
            operation: 'issueReceipt',
            status,
            code: 'EXTERNAL_CALL_REJECTED',
            body: { error: `simulated ${status} from receipts.issueReceipt` },
          });
          expect(isRetryable(error)).toBe(false);
          expect(h.simulators.receipts.receipts()).toEqual([]);
        });
      }

      it('sorts faults of every operation: 503 retryable, 422 terminal', async () => {
        for (const { service, operation, call } of everyOperation) {
          const controls = h.simulators.controls(service);
          controls.failNext(operation, 1, { status: 503 });
          controls.failNext(operation, 1, { status: 422 });
          const first = await failureOf(call(h.ports));
          const second = await failureOf(call(h.ports));
          expect([service, operation, first instanceof RetryableError, (first as RetryableError).status]).toEqual([service, operation, true, 503]);
          expect([service, operation, second instanceof TerminalError, (second as TerminalError).status]).toEqual([service, operation, true, 422]);
        }
      });

      it('passes on Retry-After of a 429', async () => {
        h.simulators.spreadsheets.failNext('appendRow', 1, { status: 429 });
        const error = await failureOf(h.ports.spreadsheets.appendRow({ sheet: 'tickets-to-print', columns: ['a'] }, ctx));

        expect(error).toMatchObject({ status: 429, retryAfterSeconds: 1 });
      });

      it('fails exactly the next n calls of that operation only', async () => {
        h.simulators.receipts.failNext('issueReceipt', 2, 'retryable');
        await h.ports.receipts.voidReceipt({ ticket_id: 'ticket-1', reason: 'refund', idempotent_id: 'void-1' }, ctx);
        const outcomes: string[] = [];
        for (let i = 0; i < 3; i++) {
          outcomes.push(await h.ports.receipts.issueReceipt(receiptRequest(), ctx).then(() => 'ok', () => 'failed'));
        }

        expect(outcomes).toEqual(['failed', 'failed', 'ok']);
        expect(h.simulators.calls({ operation: 'issueReceipt' })).toHaveLength(3);
      });

      it('lets a retry after a lost answer meet the idempotency of the service (receipts) or its absence (spreadsheets)', async () => {
        h.simulators.receipts.failNext('issueReceipt', 1, 'retryable', { afterEffect: true });
        h.simulators.spreadsheets.failNext('appendRow', 1, 'retryable', { afterEffect: true });
        const lost = await failureOf(h.ports.receipts.issueReceipt(receiptRequest(), ctx));
        const retried = await h.ports.receipts.issueReceipt(receiptRequest(), ctx);
        const row = { sheet: 'tickets-to-print', columns: ['ticket-1'] };
        await failureOf(h.ports.spreadsheets.appendRow(row, ctx));
        await h.ports.spreadsheets.appendRow(row, ctx);

        expect(lost).toBeInstanceOf(RetryableError);
        expect(retried).toEqual({ number: 'R-000001', issued_at: T0 });
        expect(h.simulators.receipts.receipts()).toHaveLength(1);
        expect(h.simulators.spreadsheets.rows('tickets-to-print')).toEqual([['ticket-1'], ['ticket-1']]);
      });

      it('fails a seeded, reproducible share of calls at an error rate', async () => {
        const run = async () => {
          h.simulators.reset();
          h.simulators.deadNation.setErrorRate(0.5, { seed: 42, fault: { status: 502 } });
          const outcomes: string[] = [];
          for (let i = 0; i < 20; i++) {
            outcomes.push(await h.ports.deadNation.bookTickets(deadNationRequest, ctx).then(
              () => 'ok',
              (error: unknown) => (error instanceof RetryableError && error.status === 502 ? 'failed' : String(error)),
            ));
          }
          return outcomes;
        };
        const first = await run();
        const second = await run();

        expect(second).toEqual(first);
        expect(first.filter((o) => o === 'failed').length).toBeGreaterThan(3);
        expect(first.filter((o) => o === 'ok').length).toBeGreaterThan(3);
        expect(h.simulators.deadNation.bookings()).toHaveLength(first.filter((o) => o === 'ok').length);
      });

      it('applies an error rate to one operation only when it names one', async () => {
        h.simulators.transportation.setErrorRate(1, { operation: 'bookTaxi', fault: 'terminal' });

        expect(await failureOf(h.ports.transportation.bookTaxi(taxiRequest(), ctx))).toBeInstanceOf(TerminalError);
        expect(await h.ports.transportation.bookFlight(flightRequest(), ctx)).toEqual({ ticket_ids: [id(1), id(2)] });
      });

      it('refuses faults that are not error statuses and operations the service does not have', () => {
        expect(() => h.simulators.receipts.failNext('issueReceipt', 1, { status: 200 })).toThrow(RangeError);
        expect(() => h.simulators.controls('receipts').failNext('charge', 1, 'retryable')).toThrow(RangeError);
        expect(() => h.simulators.receipts.setErrorRate(1.5)).toThrow(RangeError);
      });
    });

    describe('when reset', () => {
      it('forgets calls, state and faults', async () => {
        await h.ports.receipts.issueReceipt(receiptRequest(), ctx);
        await h.ports.files.putTicketFile({ ticket_id: 'ticket-1', content: 'x' }, ctx);
        h.simulators.deadNation.failNext('bookTickets', 1, 'terminal');
        h.simulators.payments.setErrorRate(1);
        h.simulators.reset();

        expect(h.simulators.calls()).toEqual([]);
        expect(await h.ports.files.putTicketFile({ ticket_id: 'ticket-1', content: 'x' }, ctx)).toMatchObject({ created: true });
        expect(await h.ports.receipts.issueReceipt(receiptRequest(), ctx)).toEqual({ number: 'R-000001', issued_at: T0 });
        await h.ports.deadNation.bookTickets(deadNationRequest, ctx);
        await h.ports.payments.refund({ payment_reference: 'p', reason: 'r', deduplication_id: 'd' }, ctx);
        expect(h.simulators.calls().map((c) => c.seq)).toEqual([1, 2, 3, 4]);
      });
    });
  });

  describe(`external service adapters (${name}) when the service is slower than the timeout`, () => {
    const timeoutMs = 150;
    const latencyMs = 600;
    let h: AdaptersHarness;

    beforeEach(async () => {
      h = await setup({ timeoutMs });
    });

    afterEach(async () => {
      // Let slow answers finish before the harness goes away.
      await eventually(() => h.simulators.calls().every((c) => c.outcome !== 'pending'));
      await h.cleanup();
    });

    it('rejects with a RetryableError timeout within a bounded time, while the effect still lands', async () => {
      h.simulators.receipts.setLatency(latencyMs);
      const startedAt = performance.now();
      const error = await failureOf(h.ports.receipts.issueReceipt(receiptRequest(), ctx));
      const elapsedMs = performance.now() - startedAt;

      expect(error).toBeInstanceOf(RetryableError);
      expect(error).toMatchObject({ service: 'receipts', operation: 'issueReceipt', reason: 'timeout', status: undefined });
      expect(elapsedMs).toBeGreaterThanOrEqual(timeoutMs - 20);
      expect(elapsedMs).toBeLessThan(latencyMs - 100);
      expect(h.simulators.receipts.receipts()).toEqual([]);

      await eventually(() => h.simulators.receipts.receipts().length === 1);
      h.simulators.receipts.setLatency(0);
      expect(await h.ports.receipts.issueReceipt(receiptRequest(), ctx)).toEqual({ number: 'R-000001', issued_at: T0 });
    });

    it('answers normally when the latency stays below the timeout', async () => {
      h.simulators.transportation.setLatency(30, { operation: 'bookTaxi' });

      expect(await h.ports.transportation.bookTaxi(taxiRequest(), ctx)).toEqual({ booking_id: id(1) });
    });
  });
}
