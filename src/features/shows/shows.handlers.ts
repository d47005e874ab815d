import { TerminalError } from '../../adapters/errors';
import { defineHandler, PoisonMessageError, type Handler } from '../../messaging/handlers';
import type { FeatureDeps } from '../feature';
import { BOOK_AT_DEAD_NATION_HANDLER } from '../handlerNames';
import { reply } from '../reply';
import { deadNationIdOf } from './shows.queries';

/**
 * Places each booking with Dead Nation, once (its inbox, and the booking's state), with the show's
 * `dead_nation_id` as `event_id`. A refusal is final: the booking is told it failed, which gives its
 * seats back. Dead Nation does not deduplicate, so a call that may have reached it is not retried.
 */
export function showHandlers({ runtime, services, store, clock }: FeatureDeps): Handler[] {
  return [
    defineHandler({
      name: BOOK_AT_DEAD_NATION_HANDLER,
      effect: 'external',
      notRepeatable: true,
      on: {
        BookingMade_v1: async (_message, ctx) => {
          const booking = ctx.fields as { booking_id: string; show_id: string; number_of_tickets: number; customer_email: string };
          const eventId = await deadNationIdOf(store, booking.show_id);
          if (eventId === null) throw new PoisonMessageError(`show ${booking.show_id} of booking ${booking.booking_id} does not exist`);
          const address = `booking/${booking.booking_id}`;
          // Placed (or failed, or cancelled) already: an earlier delivery called Dead Nation and recorded
          // its answer, and only its inbox row was lost; Dead Nation must not get the booking twice. The
          // booking never leaves those states, so this instance's last view of it is enough (and free
          // for the booking it has just made).
          if ((await runtime.lastKnownState(address)) !== 'placing') return;
          try {
            await services.deadNation.bookTickets(
              { booking_id: booking.booking_id, event_id: eventId, number_of_tickets: booking.number_of_tickets, customer_address: booking.customer_email },
              ctx.callContext(),
            );
          } catch (error) {
            if (!(error instanceof TerminalError)) throw error;
            await reply(runtime, address, { type: 'deadNation.failed', now: clock.now().toISOString(), reason: error.message }, ctx);
            return;
          }
          await reply(runtime, address, { type: 'deadNation.booked', now: clock.now().toISOString() }, ctx);
        },
      },
    }),
  ];
}
