import { assertEvent, assign, emit, setup } from 'xstate';

/**
 * A booking of general-admission seats on a show (`booking/<booking_id>`). Seats are taken by the
 * database in the transaction that commits BookingMade_v1 (or the command is refused as SOLD_OUT),
 * the booking is then placed with Dead Nation, and it gives its seats back if that fails or it is
 * cancelled (VIP compensation). A booking made for a VIP bundle tells the bundle how Dead Nation
 * answered (ReportBundleTickets), so that the bundle books flights only for a placed booking.
 * A VIP bundle's booking id is handed out before its seats are asked for: when they are refused, the
 * booking is recorded as `refused` (no seats, no Dead Nation), so that a ticket the provider still
 * confirms for that id is found to belong to the failed bundle, and refunded.
 */
type BookingRequest = {
  now: string;
  booking_id: string;
  show_id: string;
  number_of_tickets: number;
  customer_email: string;
  vip_bundle_id?: string;
};

export type BookingEvent =
  | ({ type: 'booking.make' } & BookingRequest)
  | ({ type: 'booking.refuse'; reason: string } & BookingRequest)
  | { type: 'deadNation.booked'; now: string }
  | { type: 'deadNation.failed'; now: string; reason: string }
  | { type: 'booking.cancel'; now: string; reason: string };

export interface BookingContext {
  bookingId: string;
  showId: string;
  numberOfTickets: number;
  customerEmail: string;
  vipBundleId: string | null;
  bookedAt: string;
}

export const bookingMachine = setup({
  types: { context: {} as BookingContext, events: {} as BookingEvent },
  guards: {
    forBundle: ({ context }) => context.vipBundleId !== null,
  },
  actions: {
    assignBooking: assign(({ event }) => {
      assertEvent(event, ['booking.make', 'booking.refuse']);
      return {
        bookingId: event.booking_id,
        showId: event.show_id,
        numberOfTickets: event.number_of_tickets,
        customerEmail: event.customer_email,
        vipBundleId: event.vip_bundle_id ?? null,
        bookedAt: event.now,
      };
    }),
    tellMade: emit(({ context }) => ({
      type: 'BookingMade_v1',
      booking_id: context.bookingId,
      show_id: context.showId,
      number_of_tickets: context.numberOfTickets,
      customer_email: context.customerEmail,
      vip_bundle_id: context.vipBundleId,
      booked_at: context.bookedAt,
    })),
    tellRefused: emit(({ context, event }) => {
      assertEvent(event, 'booking.refuse');
      return {
        type: 'BookingRefused_v1',
        booking_id: context.bookingId,
        show_id: context.showId,
        number_of_tickets: context.numberOfTickets,
        customer_email: context.customerEmail,
        vip_bundle_id: context.vipBundleId,
        reason: event.reason,
        refused_at: event.now,
      };
    }),
    tellPlaced: emit(({ context, event }) => {
      assertEvent(event, 'deadNation.booked');
      return { type: 'BookingPlaced_v1', booking_id: context.bookingId, placed_at: event.now };
    }),
    tellFailed: emit(({ context, event }) => {
      assertEvent(event, 'deadNation.failed');
      return { type: 'BookingFailed_v1', booking_id: context.bookingId, show_id: context.showId, reason: event.reason, failed_at: event.now };
    }),
    reportToBundle: emit(({ context, event }) => {
      assertEvent(event, ['deadNation.booked', 'deadNation.failed']);
      return {
        type: 'ReportBundleTickets',
        vip_bundle_id: context.vipBundleId,
        booking_id: context.bookingId,
        outcome: event.type === 'deadNation.booked' ? 'placed' : 'failed',
        reason: event.type === 'deadNation.failed' ? event.reason : null,
      };
    }),
    tellCanceled: emit(({ context, event }) => {
      assertEvent(event, 'booking.cancel');
      return { type: 'BookingCanceled_v1', booking_id: context.bookingId, show_id: context.showId, reason: event.reason, canceled_at: event.now };
    }),
  },
}).createMachine({
  id: 'booking-v1',
  initial: 'new',
  context: { bookingId: '', showId: '', numberOfTickets: 0, customerEmail: '', vipBundleId: null, bookedAt: '' },
  states: {
    new: {
      on: {
        'booking.make': { target: 'placing', actions: ['assignBooking', 'tellMade'] },
        'booking.refuse': { target: 'refused', actions: ['assignBooking', 'tellRefused'] },
      },
    },
    placing: {
      on: {
        'deadNation.booked': [
          { guard: 'forBundle', target: 'placed', actions: ['tellPlaced', 'reportToBundle'] },
          { target: 'placed', actions: 'tellPlaced' },
        ],
        'deadNation.failed': [
          { guard: 'forBundle', target: 'failed', actions: ['tellFailed', 'reportToBundle'] },
          { target: 'failed', actions: 'tellFailed' },
        ],
        'booking.cancel': { target: 'canceled', actions: 'tellCanceled' },
      },
    },
    placed: { on: { 'booking.cancel': { target: 'canceled', actions: 'tellCanceled' } } },
    refused: { type: 'final' },
    failed: { type: 'final' },
    canceled: { type: 'final' },
  },
});
