import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import type { Message, Store } from '../../src/actors/ports';
import { showInventory } from '../../src/features/shows/shows.inventory';
import { storeHarnesses, type StoreHarness } from '../support/stores';

const SHOW = 'show-1';
let position = 0;

/** A fact as the inline handler sees it inside its commit. */
function fact(name: string, data: Record<string, unknown>): Message {
  position += 1;
  return { id: `m-${position}`, name, kind: 'event', actor: 'x/1', actorSeq: position, position, data, metadata: { correlation_id: 'c' }, occurredAt: '2030-01-01T00:00:00.000Z' };
}

const apply = (store: Store, message: Message) => store.transaction((tx) => showInventory.apply(tx, message));
const booked = (bookingId: string, seats: number) => fact('BookingMade_v1', { booking_id: bookingId, show_id: SHOW, number_of_tickets: seats });
const confirmed = (bookingId: string) => fact('TicketBookingConfirmed_v1', { booking_id: bookingId });
const canceled = (bookingId: string) => fact('TicketBookingCanceled_v1', { booking_id: bookingId, confirmed_at: '2030-01-01T00:00:00.000Z' });

for (const { name, make } of storeHarnesses) {
  describe(`the seat inventory of shows (${name})`, () => {
    let harness: StoreHarness;
    const taken = async () => Number((await harness.store.query<{ seats_taken: number }>('SELECT seats_taken FROM shows WHERE show_id = $1', [SHOW]))[0]!.seats_taken);

    beforeEach(async () => {
      harness = await make();
      await apply(harness.store, fact('ShowCreated_v1', { show_id: SHOW, dead_nation_id: 'dn-1', number_of_tickets: 3, start_time: '2030-06-01T20:00:00.000Z', title: 'T', venue: 'V', created_at: '2030-01-01T00:00:00.000Z' }));
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    describe('when the provider confirms tickets of a booking before the booking is made (a VIP bundle books after its 201)', () => {
      it('counts them when the booking comes: one past its seats takes a seat, and a cancelled one frees none that a valid ticket needs', async () => {
        for (let i = 0; i < 3; i += 1) await apply(harness.store, confirmed('vip-1'));
        await apply(harness.store, booked('vip-1', 2));
        // Three valid tickets on a 3-seat show: every seat is taken.
        expect(await taken()).toBe(3);
        expect(apply(harness.store, booked('late', 1))).rejects.toMatchObject({ code: 'SOLD_OUT' });

        // One of the three cancelled: its seat comes back, the other two keep theirs.
        await apply(harness.store, canceled('vip-1'));
        expect(await taken()).toBe(2);
        expect(apply(harness.store, booked('late', 2))).rejects.toMatchObject({ code: 'SOLD_OUT' });
        await apply(harness.store, booked('late', 1));
        expect(await taken()).toBe(3);
      });

      it('counts a ticket cancelled before its booking came as no ticket', async () => {
        await apply(harness.store, confirmed('vip-2'));
        await apply(harness.store, confirmed('vip-2'));
        await apply(harness.store, canceled('vip-2'));
        await apply(harness.store, booked('vip-2', 1));
        expect(await taken()).toBe(1);
        await apply(harness.store, canceled('vip-2'));
        expect(await taken()).toBe(0);
      });

      it('refuses the booking as before when the show has no seats for it, and keeps the tickets counted for later', async () => {
        await apply(harness.store, booked('first', 3));
        await apply(harness.store, confirmed('vip-3'));
        expect(apply(harness.store, booked('vip-3', 1))).rejects.toMatchObject({ code: 'SOLD_OUT' });
        expect(await taken()).toBe(3);
        const [row] = await harness.store.query<{ seats: number; tickets: number }>('SELECT seats, tickets FROM booking_seats WHERE booking_id = $1', ['vip-3']);
        expect([Number(row!.seats), Number(row!.tickets)]).toEqual([0, 1]);
      });
    });
  });
}
