import type { FlightLeg, VipBundleContext } from '../../../machines/vipBundle/vipBundle.machine';
import type { ActorEvent } from '../../actors/runtime';
import { isRefusal, TerminalError } from '../../adapters/errors';
import type { BookFlightRequest, BookTaxiRequest } from '../../adapters/transportation/transportation.port';
import { isTerminalFailure } from '../../kernel/errors';
import { defineHandler, type Handler, type HandlerContext } from '../../messaging/handlers';
import type { FeatureDeps } from '../feature';
import { BOOK_AT_DEAD_NATION_HANDLER } from '../handlerNames';
import { reply } from '../reply';
import { bundleOfBooking, recordBundleTicket, REFUND_LATE_TICKETS_HANDLER, ticketsOfBundle } from './vipBundles.queries';

type BookShowTickets = { vip_bundle_id: string; booking_id: string; show_id: string; number_of_tickets: number; customer_email: string };
type BookFlight = BookFlightRequest & { vip_bundle_id: string; leg: FlightLeg };
type BookTaxi = BookTaxiRequest & { vip_bundle_id: string };
type CancelFlightTickets = { vip_bundle_id: string; leg: FlightLeg; ticket_ids: string[] };
type CancelShowTickets = { vip_bundle_id: string; booking_id: string };
type ConfirmedTicket = { ticket_id: string; booking_id: string; confirmed_at: string };
type ReportBundleTickets = { vip_bundle_id: string; booking_id: string; outcome: 'placed' | 'failed'; reason: string | null };

const fields = <T>(ctx: HandlerContext) => ctx.fields as unknown as T;

/** The bundle states that ask for each booking step (machines/vipBundle): before the deadline, and past it to learn its outcome. */
const FLIGHT_STEP_STATES: Readonly<Record<FlightLeg, readonly string[]>> = {
  inbound: ['bookingInboundFlight', 'abandoningInboundFlight'],
  return: ['bookingReturnFlight', 'abandoningReturnFlight'],
};
const TAXI_STEP_STATES = ['bookingTaxi', 'abandoningTaxi'] as const;
/** The bundle state that asks to cancel each flight leg (compensation). */
const CANCEL_STEP_STATES: Readonly<Record<FlightLeg, readonly string[]>> = {
  inbound: ['cancellingInboundFlight'],
  return: ['cancellingReturnFlight'],
};

/**
 * The steps of the VIP bundle saga. Each handler does one step and replies with its outcome into the
 * bundle: a refusal (an AppError of the booking, a 4xx of the transportation service) is a `….failed`
 * reply; anything else is thrown, so the consumer retries it with backoff and, past the retry budget,
 * dead-letters it (which the bundle's status shows as `compensation_stuck` while it compensates) until
 * the bundle's step check asks for the step again.
 * External calls carry the command's key (`<bundle id>-<leg>`), the same on every retry.
 */
export function vipBundleHandlers({ runtime, store, services, clock, redriveIfSafe, settleDeadLetters }: FeatureDeps): Handler[] {
  const now = () => clock.now().toISOString();
  const tell = (vipBundleId: string, event: ActorEvent, ctx: HandlerContext) => reply(runtime, `vipBundle/${vipBundleId}`, event, ctx);

  /** Asks the ticket actor for a refund; a ticket already refunding, refunded or cancelled counts as done. */
  const refundTicket = (ticketId: string, ctx: HandlerContext) => reply(runtime, `ticket/${ticketId}`, { type: 'ticket.refund', now: now() }, ctx);

  /**
   * The step's outcome is told: earlier deliveries of it that were dead-lettered (before the step check
   * asked again) need no operator any more. Only those of the same leg, when the step has legs.
   */
  const settled = (ctx: HandlerContext, vipBundleId: string, leg?: FlightLeg) =>
    settleDeadLetters(ctx.handler, `vipBundle/${vipBundleId}`, (message) => leg === undefined || message.payload.leg === leg);

  /**
   * Whether the bundle still waits for this step's outcome (it is asking for it, also past its deadline).
   * A delivery that comes later (a dead letter redriven after the step check settled the step, say)
   * must not book: nothing would ever cancel that booking. Nor cancel again: with several instances, the
   * step's reply asks for the next cancel before its inbox row is written, and another instance that
   * takes the next one catches up on this one first.
   */
  const awaits = async (vipBundleId: string, states: readonly string[], ctx: HandlerContext): Promise<boolean> => {
    const state = (await runtime.get(`vipBundle/${vipBundleId}`))?.state;
    if (state !== undefined && states.includes(state)) return true;
    ctx.logger.info('step not taken: the bundle no longer waits for it', { vip_bundle_id: vipBundleId, state: state ?? null });
    return false;
  };

  /**
   * The tickets leg failed (the booking refused, or Dead Nation refused it and it gave its seats back):
   * the bundle fails, and every ticket confirmed for its booking is refunded. Read after the bundle is
   * told, so that a ticket confirmed meanwhile is refunded here or by refundVipBundleTickets, which
   * records it before it reads the bundle.
   */
  const failTicketsLeg = async (vipBundleId: string, reason: string, ctx: HandlerContext) => {
    await tell(vipBundleId, { type: 'tickets.failed', now: now(), reason }, ctx);
    for (const ticketId of await ticketsOfBundle(store, vipBundleId)) await refundTicket(ticketId, ctx);
  };

  return [
    defineHandler({
      name: 'bookVipBundleTickets',
      effect: 'external',
      on: {
        BookShowTickets: async (_message, ctx) => {
          const c = fields<BookShowTickets>(ctx);
          const request = {
            now: now(),
            booking_id: c.booking_id,
            show_id: c.show_id,
            number_of_tickets: c.number_of_tickets,
            customer_email: c.customer_email,
            vip_bundle_id: c.vip_bundle_id,
          };
          try {
            // The booking path of book-tickets: its machine, and its capacity rule in the commit. A booking
            // that exists already was made by an earlier delivery of this command.
            await reply(runtime, `booking/${c.booking_id}`, { type: 'booking.make', ...request }, ctx, true);
          } catch (error) {
            if (!isTerminalFailure(error)) throw error;
            // The client has the booking id: record its refusal, so that a ticket confirmed for it is refunded.
            await reply(runtime, `booking/${c.booking_id}`, { type: 'booking.refuse', ...request, reason: (error as Error).message }, ctx, true);
            await failTicketsLeg(c.vip_bundle_id, (error as Error).message, ctx);
            return;
          }
          // Made: the booking reports Dead Nation's answer to the bundle (reportVipBundleTickets). When
          // the bundle asks again (its step check) for a booking that has its answer already, that report
          // was lost: the answer is told again from the booking's state.
          const booking = await runtime.get(`booking/${c.booking_id}`);
          if (booking?.state === 'placed') await tell(c.vip_bundle_id, { type: 'tickets.booked', now: now() }, ctx);
          if (booking?.state === 'failed' || booking?.state === 'canceled' || booking?.state === 'refused') {
            await failTicketsLeg(c.vip_bundle_id, `Dead Nation: the booking is ${booking.state}`, ctx);
          }
          // Still waiting for Dead Nation (as always at the first ask): if its call was dead-lettered (an
          // outage past the retry budget), run it again now unless it may have taken effect, which only
          // an operator can check.
          if (booking?.state === 'placing') await redriveIfSafe(BOOK_AT_DEAD_NATION_HANDLER, `booking/${c.booking_id}`);
        },
      },
    }),
    defineHandler({
      // The tickets leg ends where the booking does with Dead Nation: placed, the saga goes on to the
      // flights; refused (the booking failed and gave its seats back), the bundle fails with nothing
      // else booked. So no flight is ever booked for a booking that Dead Nation refused.
      name: 'reportVipBundleTickets',
      effect: 'external',
      on: {
        ReportBundleTickets: async (_message, ctx) => {
          const report = fields<ReportBundleTickets>(ctx);
          if (report.outcome === 'placed') await tell(report.vip_bundle_id, { type: 'tickets.booked', now: now() }, ctx);
          else await failTicketsLeg(report.vip_bundle_id, `Dead Nation: ${report.reason ?? 'refused'}`, ctx);
        },
      },
    }),
    defineHandler({
      name: 'bookVipBundleFlight',
      effect: 'external',
      on: {
        BookFlight: async (_message, ctx) => {
          const { vip_bundle_id: vipBundleId, leg, ...request } = fields<BookFlight>(ctx);
          if (!(await awaits(vipBundleId, FLIGHT_STEP_STATES[leg], ctx))) return;
          let ticketIds: string[];
          try {
            ticketIds = (await services.transportation.bookFlight(request, await ctx.callContext())).ticket_ids;
          } catch (error) {
            // Another 4xx (credentials, GATEWAY_ADDR) is dead-lettered: the step check asks again.
            if (!isRefusal(error)) throw error;
            await tell(vipBundleId, { type: 'flights.failed', now: now(), leg, reason: error.message }, ctx);
            await settled(ctx, vipBundleId, leg);
            return;
          }
          await tell(vipBundleId, { type: 'flights.booked', now: now(), leg, ticket_ids: ticketIds }, ctx);
          await settled(ctx, vipBundleId, leg);
        },
      },
    }),
    defineHandler({
      name: 'bookVipBundleTaxi',
      effect: 'external',
      on: {
        BookTaxi: async (_message, ctx) => {
          const { vip_bundle_id: vipBundleId, ...request } = fields<BookTaxi>(ctx);
          if (!(await awaits(vipBundleId, TAXI_STEP_STATES, ctx))) return;
          let taxiBookingId: string;
          try {
            taxiBookingId = (await services.transportation.bookTaxi(request, await ctx.callContext())).booking_id;
          } catch (error) {
            if (!isRefusal(error)) throw error;
            await tell(vipBundleId, { type: 'taxi.failed', now: now(), reason: error.message }, ctx);
            await settled(ctx, vipBundleId);
            return;
          }
          await tell(vipBundleId, { type: 'taxi.booked', now: now(), booking_id: taxiBookingId }, ctx);
          await settled(ctx, vipBundleId);
        },
      },
    }),
    defineHandler({
      name: 'cancelVipBundleFlight',
      effect: 'external',
      on: {
        CancelFlightTickets: async (_message, ctx) => {
          const c = fields<CancelFlightTickets>(ctx);
          if (!(await awaits(c.vip_bundle_id, CANCEL_STEP_STATES[c.leg], ctx))) return;
          for (const ticketId of c.ticket_ids) {
            try {
              await services.transportation.cancelFlightTicket({ ticket_id: ticketId }, await ctx.callContext());
            } catch (error) {
              // Cancelling twice succeeds upstream, and these ids are the service's own: only 410 says the
              // ticket is gone. A 404 is an answer from something else (a wrong GATEWAY_ADDR, a proxy
              // without this route) or a ticket the service lost: the step waits (compensation_stuck).
              if (!(error instanceof TerminalError && error.status === 410)) throw error;
            }
          }
          await tell(c.vip_bundle_id, { type: 'flights.cancelled', now: now(), leg: c.leg }, ctx);
          await settled(ctx, c.vip_bundle_id, c.leg);
        },
      },
    }),
    defineHandler({
      name: 'cancelVipBundleTickets',
      effect: 'external',
      on: {
        CancelShowTickets: async (_message, ctx) => {
          const c = fields<CancelShowTickets>(ctx);
          // Frees the seats; a booking Dead Nation refused has freed them already (and refuses the cancel).
          await reply(runtime, `booking/${c.booking_id}`, { type: 'booking.cancel', now: now(), reason: `VIP bundle ${c.vip_bundle_id} failed` }, ctx);
          for (const ticketId of await ticketsOfBundle(store, c.vip_bundle_id)) await refundTicket(ticketId, ctx);
          await tell(c.vip_bundle_id, { type: 'tickets.cancelled', now: now() }, ctx);
          await settled(ctx, c.vip_bundle_id);
        },
      },
    }),
    defineHandler({
      name: REFUND_LATE_TICKETS_HANDLER,
      effect: 'external',
      on: {
        TicketBookingConfirmed_v1: async (_message, ctx) => {
          const ticket = fields<ConfirmedTicket>(ctx);
          if (ticket.booking_id === '') return;
          // Found by the booking id, whether or not the saga has made the booking yet.
          const vipBundleId = await bundleOfBooking(store, ticket.booking_id);
          if (vipBundleId === null) return;
          // Recorded before the bundle is read: either the compensation lists this ticket (it started
          // after the record), or this reads a bundle already compensating its tickets and refunds it here.
          await recordBundleTicket(store, { ticket_id: ticket.ticket_id, vip_bundle_id: vipBundleId, booking_id: ticket.booking_id, confirmed_at: ticket.confirmed_at });
          const bundle = await runtime.get(`vipBundle/${vipBundleId}`);
          if (bundle && refundsTickets(bundle.state, bundle.context as unknown as VipBundleContext)) await refundTicket(ticket.ticket_id, ctx);
        },
      },
    }),
  ];
}

/** Whether the bundle is cancelling its booking, has cancelled it or its booking failed: then every ticket confirmed for it is refunded. */
const refundsTickets = (state: string, context: VipBundleContext): boolean =>
  state === 'cancellingTickets' || context.legs.tickets.status === 'compensated' || context.legs.tickets.status === 'failed';
