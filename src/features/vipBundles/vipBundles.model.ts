import { z } from 'zod';
import { DeliverableEmail, NonBlankText, UuidInput, WholeNumber } from '../../http/schemas';
import { COMPENSATING, vipBundleMachine, type VipBundleContext } from '../../../machines/vipBundle/vipBundle.machine';

const Name = NonBlankText(200);

/** `POST /api/book-vip-bundle`. */
export const BookVipBundleBody = z.object({
  customer_email: DeliverableEmail,
  number_of_tickets: WholeNumber(1, 10_000),
  show_id: UuidInput,
  passengers: z.array(Name).min(1).max(100),
  inbound_flight_id: Name,
  returned_flight_id: Name,
});
export type BookVipBundleBody = z.infer<typeof BookVipBundleBody>;

/** The 201 of `POST /api/book-vip-bundle`; `Location` names the bundle. */
export const BookedVipBundle = z.object({ booking_id: z.uuid(), vip_bundle_id: z.uuid() });

/** `:id` of a VIP bundle: a UUID. */
export const VipBundleParams = z.object({ id: UuidInput });

const LegStatus = z.enum(['pending', 'booked', 'failed', 'compensated']);

const FlightLeg = z.object({
  status: LegStatus,
  flight_id: z.string(),
  ticket_ids: z.array(z.string()),
  reason: z.string().nullable(),
});

/** The bundle as `GET /api/vip-bundles/:id` shows it. */
export const VipBundle = z.object({
  vip_bundle_id: z.string(),
  booking_id: z.string(),
  status: z.enum(['pending', 'finalized', 'failed', 'compensation_stuck']),
  /** The machine state, for operators: which step runs or is being undone. */
  state: z.string(),
  deadline_at: z.string(),
  /** Why the bundle is being undone; null while nothing failed. */
  reason: z.string().nullable(),
  legs: z.object({
    tickets: z.object({ status: LegStatus, show_id: z.string(), number_of_tickets: z.number().int(), reason: z.string().nullable() }),
    inbound_flight: FlightLeg,
    return_flight: FlightLeg,
    taxi: z.object({ status: LegStatus, taxi_booking_id: z.string().nullable(), reason: z.string().nullable() }),
  }),
});
export type VipBundle = z.infer<typeof VipBundle>;

/** Whether the bundle is undoing, or has undone, what it booked: then a dead-lettered step means its compensation is stuck. */
export const isCompensating = (state: string): boolean =>
  state === 'failed' || (vipBundleMachine.states[state]?.tags.includes(COMPENSATING) ?? false);

/** The API form of a bundle actor: final states as they are, any other `pending`, unless its compensation is `stuck`. */
export function toVipBundle(state: string, context: VipBundleContext, stuck: boolean): VipBundle {
  const { legs } = context;
  const flight = (leg: VipBundleContext['legs']['inbound']) => ({ status: leg.status, flight_id: leg.flightId, ticket_ids: leg.ticketIds, reason: leg.reason });
  return {
    vip_bundle_id: context.vipBundleId,
    booking_id: context.bookingId,
    status: stuck ? 'compensation_stuck' : state === 'finalized' || state === 'failed' ? state : 'pending',
    state,
    deadline_at: context.deadlineAt,
    reason: context.reason,
    legs: {
      tickets: { status: legs.tickets.status, show_id: context.showId, number_of_tickets: context.numberOfTickets, reason: legs.tickets.reason },
      inbound_flight: flight(legs.inbound),
      return_flight: flight(legs.return),
      taxi: { status: legs.taxi.status, taxi_booking_id: legs.taxi.taxiBookingId, reason: legs.taxi.reason },
    },
  };
}
