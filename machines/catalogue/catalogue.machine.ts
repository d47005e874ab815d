import { assertEvent, assign, emit, setup } from 'xstate';
import type { Price } from '../shared/money';

/**
 * The catalogue's actors: a venue (`venue/<id>`), a performer (`performer/<id>`) and an event
 * (`event/<id>`). Each is created once and records its facts; the read side (tables, search) is built
 * from those facts. Venue and performer names are denormalised into EventCreated_v1 by the route.
 */
export type VenueEvent = { type: 'venue.create'; now: string; venue_id: string; name: string; location: string };
export type PerformerEvent = { type: 'performer.create'; now: string; performer_id: string; name: string; description: string };

export interface EventSeat {
  label: string;
  price: Price;
}

export interface HoldPolicy {
  ttl_seconds: number;
  max_renewals: number;
  max_seats_per_user: number;
}

export type CatalogueEventEvent = {
  type: 'event.create';
  now: string;
  event_id: string;
  name: string;
  description: string;
  start_time: string;
  venue: { venue_id: string; name: string; location: string };
  performers: Array<{ performer_id: string; name: string }>;
  seats: EventSeat[];
  hold_policy: HoldPolicy;
};

export const venueMachine = setup({
  types: { context: {} as { venueId: string }, events: {} as VenueEvent },
  actions: {
    assignVenue: assign(({ event }) => {
      assertEvent(event, 'venue.create');
      return { venueId: event.venue_id };
    }),
    tellCreated: emit(({ event }) => {
      assertEvent(event, 'venue.create');
      return { type: 'VenueCreated_v1', venue_id: event.venue_id, name: event.name, location: event.location, created_at: event.now };
    }),
  },
}).createMachine({
  id: 'venue-v1',
  initial: 'new',
  context: { venueId: '' },
  states: {
    new: { on: { 'venue.create': { target: 'listed', actions: ['assignVenue', 'tellCreated'] } } },
    listed: {},
  },
});

export const performerMachine = setup({
  types: { context: {} as { performerId: string }, events: {} as PerformerEvent },
  actions: {
    assignPerformer: assign(({ event }) => {
      assertEvent(event, 'performer.create');
      return { performerId: event.performer_id };
    }),
    tellCreated: emit(({ event }) => {
      assertEvent(event, 'performer.create');
      return { type: 'PerformerCreated_v1', performer_id: event.performer_id, name: event.name, description: event.description, created_at: event.now };
    }),
  },
}).createMachine({
  id: 'performer-v1',
  initial: 'new',
  context: { performerId: '' },
  states: {
    new: { on: { 'performer.create': { target: 'listed', actions: ['assignPerformer', 'tellCreated'] } } },
    listed: {},
  },
});

export interface CatalogueEventContext {
  eventId: string;
  holdPolicy: HoldPolicy;
}

/**
 * An event with seats. EventCreated_v1 carries what search needs; EventSeatsListed_v1 carries the seat
 * map with prices and the hold policy, which the seat inventory is built from.
 */
export const catalogueEventMachine = setup({
  types: { context: {} as CatalogueEventContext, events: {} as CatalogueEventEvent },
  actions: {
    assignEvent: assign(({ event }) => {
      assertEvent(event, 'event.create');
      return { eventId: event.event_id, holdPolicy: event.hold_policy };
    }),
    tellCreated: emit(({ event }) => {
      assertEvent(event, 'event.create');
      return {
        type: 'EventCreated_v1',
        event_id: event.event_id,
        name: event.name,
        description: event.description,
        start_time: event.start_time,
        venue: event.venue,
        performers: event.performers,
        seat_count: event.seats.length,
        created_at: event.now,
      };
    }),
    tellSeatsListed: emit(({ event }) => {
      assertEvent(event, 'event.create');
      return { type: 'EventSeatsListed_v1', event_id: event.event_id, seats: event.seats, hold_policy: event.hold_policy };
    }),
  },
}).createMachine({
  id: 'event-v1',
  initial: 'new',
  context: { eventId: '', holdPolicy: { ttl_seconds: 900, max_renewals: 2, max_seats_per_user: 10 } },
  states: {
    new: { on: { 'event.create': { target: 'listed', actions: ['assignEvent', 'tellCreated', 'tellSeatsListed'] } } },
    listed: {},
  },
});
