import { assertEvent, assign, emit, setup } from 'xstate';

/**
 * A show of the compatibility API (`show/<show_id>`): a general-admission event whose creation is a
 * fact, so that the catalogue, search and the seat inventory all learn of it the same way.
 */
export type ShowEvent = {
  type: 'show.create';
  now: string;
  show_id: string;
  dead_nation_id: string;
  number_of_tickets: number;
  start_time: string;
  title: string;
  venue: string;
};

export interface ShowContext {
  showId: string;
  deadNationId: string;
  numberOfTickets: number;
  startTime: string;
  title: string;
  venue: string;
  createdAt: string;
}

export const showMachine = setup({
  types: { context: {} as ShowContext, events: {} as ShowEvent },
  actions: {
    assignShow: assign(({ event }) => {
      assertEvent(event, 'show.create');
      return {
        showId: event.show_id,
        deadNationId: event.dead_nation_id,
        numberOfTickets: event.number_of_tickets,
        startTime: event.start_time,
        title: event.title,
        venue: event.venue,
        createdAt: event.now,
      };
    }),
    tellCreated: emit(({ context }) => ({
      type: 'ShowCreated_v1',
      show_id: context.showId,
      dead_nation_id: context.deadNationId,
      number_of_tickets: context.numberOfTickets,
      start_time: context.startTime,
      title: context.title,
      venue: context.venue,
      created_at: context.createdAt,
    })),
  },
}).createMachine({
  id: 'show-v1',
  initial: 'new',
  context: { showId: '', deadNationId: '', numberOfTickets: 0, startTime: '', title: '', venue: '', createdAt: '' },
  states: {
    new: { on: { 'show.create': { target: 'onSale', actions: ['assignShow', 'tellCreated'] } } },
    onSale: {},
  },
});
