import { defineHandler, type MessageHandler, type LocalHandlerContext } from '../../messaging/handlers';
import type { Feature } from '../feature';

/** Every fact the service emits. A new fact is added here so that the data lake receives it. */
export const ALL_FACTS = [
  'ShowCreated_v1',
  'BookingMade_v1',
  'BookingPlaced_v1',
  'BookingFailed_v1',
  'BookingCanceled_v1',
  'TicketBookingConfirmed_v1',
  'TicketBookingCanceled_v1',
  'TicketReceiptIssued_v1',
  'TicketPrinted_v1',
  'TicketRefundCompleted_v1',
  'TicketRefunded_v1',
  'VipBundleInitialized_v1',
  'VipBundleTicketsBooked_v1',
  'VipBundleTicketsFailed_v1',
  'VipBundleTicketsCancelled_v1',
  'VipBundleFlightBooked_v1',
  'VipBundleFlightFailed_v1',
  'VipBundleFlightCancelled_v1',
  'VipBundleTaxiBooked_v1',
  'VipBundleTaxiFailed_v1',
  'VipBundleFinalized_v1',
  'VipBundleFailed_v1',
  'VenueCreated_v1',
  'PerformerCreated_v1',
  'EventCreated_v1',
  'EventSeatsListed_v1',
  'HoldPlaced_v1',
  'HoldRenewed_v1',
  'HoldReleased_v1',
  'HoldExpired_v1',
  'TicketsSold_v1',
] as const;

/** The data lake: every fact stored as delivered, for analytics; its inbox row shares its transaction. */
export const dataLakeFeature: Feature = {
  name: 'dataLake',
  handlers: ({ clock }) => {
    const store: MessageHandler<LocalHandlerContext> = async (message, ctx) => {
      await ctx.tx.execute(
        'INSERT INTO data_lake (message_id, name, actor, payload, published_at, stored_at) VALUES ($1, $2, $3, $4, $5, $6)',
        [message.id, message.name, message.actor, JSON.stringify(message.payload), String((message.payload.header as { published_at: string }).published_at), clock.now().toISOString()],
      );
    };
    // One row of its own per fact: deliveries may share a transaction (group commit).
    return [defineHandler({ name: 'dataLake', effect: 'local', groupable: true, on: Object.fromEntries(ALL_FACTS.map((name) => [name, store])) })];
  },
};
