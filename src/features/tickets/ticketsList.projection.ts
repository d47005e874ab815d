import type { SqlExecutor } from '../../actors/ports';
import type { Money } from '../../kernel/money';
import { defineProjection, rowsOf } from '../../messaging/projections';
import { keysetAfter } from '../../kernel/statementShapes';

type TicketsListRow = {
  ticket_id: string;
  price: Money;
  customer_email: string;
  confirmed_at: string;
};

/** `GET /api/tickets`: confirmed tickets that were not cancelled or refunded since. */
export const ticketsListProjection = defineProjection<TicketsListRow>({
  name: 'ticketsList',
  table: 'tickets_list',
  key: 'ticket_id',
  columns: { ticket_id: 'text', price: 'json', customer_email: 'text', confirmed_at: 'text' },
  indexes: { confirmed: ['confirmed_at', 'ticket_id'] },
  handles: ['TicketBookingConfirmed_v1', 'TicketBookingCanceled_v1', 'TicketRefunded_v1'],
  keyOf: (fact) => String(fact.data.ticket_id),
  evolve: (_row, fact) =>
    fact.name === 'TicketBookingConfirmed_v1'
      ? {
          ticket_id: String(fact.data.ticket_id),
          price: fact.data.price as Money,
          customer_email: String(fact.data.customer_email),
          confirmed_at: fact.occurredAt,
        }
      : null,
});

/** Listed tickets in confirmation order, after the key `[confirmed_at, ticket_id]`, at most `limit`. */
export async function listTickets(db: SqlExecutor, page: { limit?: number; after?: readonly string[] }): Promise<TicketsListRow[]> {
  const params: unknown[] = [];
  let clause = '';
  if (page.after) {
    params.push(page.after[0], page.after[1]);
    clause = `WHERE ${keysetAfter(['confirmed_at', 'ticket_id'], ['$1', '$2'], 'asc')} `;
  }
  clause += 'ORDER BY confirmed_at, ticket_id';
  if (page.limit !== undefined) clause += ` LIMIT ${page.limit + 1}`;
  return rowsOf(ticketsListProjection, db, clause, params);
}
