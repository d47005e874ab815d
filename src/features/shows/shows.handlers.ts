import { isRefusal } from '../../adapters/errors';
import { defineHandler, PoisonMessageError, type Handler } from '../../messaging/handlers';
import type { FeatureDeps } from '../feature';
import { BOOK_AT_DEAD_NATION_HANDLER } from '../handlerNames';
import { reply } from '../reply';
import { deadNationIdOf } from './shows.queries';

/** What Dead Nation answered a booking: placed, or refused (final). */
type DeadNationAnswer = { booked: true } | { booked: false; reason: string };

/**
 * Places each booking with Dead Nation, once (its inbox, and the booking's state), with the show's
 * `dead_nation_id` as `event_id`. A refusal (isRefusal) is final: the booking is told it failed, which
 * gives its seats back. Dead Nation does not deduplicate, so a call that may have reached it is not retried.
 */
export function showHandlers({ runtime, services, store, clock }: FeatureDeps): Handler[] {
  return [
    defineHandler({
      name: BOOK_AT_DEAD_NATION_HANDLER,
      effect: 'external',
      notRepeatable: true,
      answerWhenTookEffect: { booked: true } satisfies DeadNationAnswer,
      on: {
        BookingMade_v1: async (_message, ctx) => {
          const booking = ctx.fields as { booking_id: string; show_id: string; number_of_tickets: number; customer_email: string };
          const eventId = await deadNationIdOf(store, booking.show_id);
          if (eventId === null) throw new PoisonMessageError(`show ${booking.show_id} of booking ${booking.booking_id} does not exist`);
          const address = `booking/${booking.booking_id}`;
          let answer = ctx.answered<DeadNationAnswer>();
          if (answer === undefined) {
            // Placed (or failed, or cancelled) already: an earlier delivery called Dead Nation and recorded
            // its answer, and only its inbox row was lost; Dead Nation must not get the booking twice. The
            // booking never leaves those states, so on a first delivery this instance's last view of it
            // is enough (and free for the booking it has just made); on a later one (a retry, a message
            // claimed from another consumer, a redrive) another instance may have placed it: the store says.
            const state = ctx.firstDelivery ? await runtime.lastKnownState(address) : await runtime.storedState(address);
            if (state !== 'placing') return;
            try {
              await services.deadNation.bookTickets(
                { booking_id: booking.booking_id, event_id: eventId, number_of_tickets: booking.number_of_tickets, customer_address: booking.customer_email },
                await ctx.callContext(),
              );
              answer = { booked: true };
            } catch (error) {
              // Another 4xx (credentials, GATEWAY_ADDR) is thrown: dead-lettered with the booking left as it
              // is, for ops to mend and redrive, instead of failing every booking while it lasts.
              if (!isRefusal(error)) throw error;
              answer = { booked: false, reason: error.message };
            }
            // Recorded before the reply: if the reply cannot be written (the store is down), a retry on
            // this instance replies with this answer instead of booking again.
            ctx.callAnswered(answer);
          }
          const now = clock.now().toISOString();
          await reply(runtime, address, answer.booked ? { type: 'deadNation.booked', now } : { type: 'deadNation.failed', now, reason: answer.reason }, ctx);
        },
      },
    }),
  ];
}
