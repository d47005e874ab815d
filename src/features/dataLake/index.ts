import { defineProjection } from '../../messaging/projections';
import { toBusMessage } from '../../messaging/wire';
import type { Feature } from '../feature';

/** Every fact the service emits. A new fact is added here so that the data lake receives it. */
export const ALL_FACTS = [
  'ShowCreated_v1',
  'BookingMade_v1',
  'BookingRefused_v1',
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
  'HoldExpiryMoved_v1',
  'HoldReleased_v1',
  'HoldExpired_v1',
  'TicketsSold_v1',
] as const;

/** One fact in the data lake: its wire body (`{ header, ...fields }`, as consumers of the bus read it). */
export type DataLakeRow = {
  message_id: string;
  name: string;
  actor: string;
  /** Commit order in the event log. */
  position: number;
  payload: Record<string, unknown>;
  occurred_at: string;
};

/**
 * The data lake, for analytics: every fact, once. A projection of the event log, not a consumer of
 * the bus: it takes the facts in commit order from its checkpoint, a batch per statement, and can be
 * rebuilt from the log. The header's `published_at` is the fact's commit time, so that a rebuild
 * writes the same rows.
 */
export const dataLakeProjection = defineProjection<DataLakeRow>({
  name: 'dataLake',
  table: 'data_lake',
  key: 'message_id',
  columns: { message_id: 'text', name: 'text', actor: 'text', position: 'integer', payload: 'json', occurred_at: 'text' },
  indexes: { by_name: ['name', 'position'] },
  handles: ALL_FACTS,
  keyOf: (fact) => fact.id,
  evolve: (row, fact) =>
    row ?? {
      message_id: fact.id,
      name: fact.name,
      actor: fact.actor,
      position: fact.position,
      payload: toBusMessage(fact, fact.occurredAt).payload,
      occurred_at: fact.occurredAt,
    },
});

export const dataLakeFeature: Feature = {
  name: 'dataLake',
  projections: [dataLakeProjection],
};
