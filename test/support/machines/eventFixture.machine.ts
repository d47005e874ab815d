import { assertEvent, assign, emit, setup } from 'xstate';

/**
 * Commits one EventCreated_v1 as the catalogue will, so that search can be tested before the catalogue
 * exists: `searchFixture/<event_id>` takes `event.create` with the fact's fields.
 */
export type EventFixtureEvent = {
  type: 'event.create';
  now: string;
  event_id: string;
  name: string;
  description: string;
  start_time: string;
  venue: { venue_id: string; name: string; location: string };
  performers: { performer_id: string; name: string }[];
  seat_count: number;
};

type Context = Omit<EventFixtureEvent, 'type' | 'now'> & { created_at: string };

export const eventFixtureMachine = setup({
  types: { context: {} as Context, events: {} as EventFixtureEvent },
  actions: {
    assignEvent: assign(({ event }) => {
      assertEvent(event, 'event.create');
      const { type: _type, now, ...fields } = event;
      return { ...fields, created_at: now };
    }),
    tellCreated: emit(({ context }) => ({ type: 'EventCreated_v1', ...context })),
  },
}).createMachine({
  id: 'search-fixture-v1',
  initial: 'new',
  context: { event_id: '', name: '', description: '', start_time: '', venue: { venue_id: '', name: '', location: '' }, performers: [], seat_count: 0, created_at: '' },
  states: {
    new: { on: { 'event.create': { target: 'created', actions: ['assignEvent', 'tellCreated'] } } },
    created: {},
  },
});
