import { refundMachine } from '../../../machines/refund/refund.machine';
import { ticketMachine } from '../../../machines/ticket/ticket.machine';
import type { Feature } from '../feature';
import { ticketHandlers } from './tickets.handlers';
import { ticketsRoutes } from './tickets.routes';
import { ticketsListProjection } from './ticketsList.projection';

/** Tickets: the provider's webhook, the list of tickets, receipts, prints, sheets and refunds. */
export const ticketsFeature: Feature = {
  name: 'tickets',
  kinds: [
    { kind: 'ticket', machine: ticketMachine },
    { kind: 'refund', machine: refundMachine },
  ],
  projections: [ticketsListProjection],
  routes: (deps) => ticketsRoutes(deps),
  handlers: (deps) => ticketHandlers(deps),
};
