import type { HoldContext, HoldTicket } from '../../../machines/hold/hold.machine';
import type { ActorEvent } from '../../actors/runtime';

/** What the tickets of a sale are made from: the fields of TicketsSold_v1, or the sold hold's context. */
export interface Sale {
  booking_id: string;
  customer_email: string;
  /** Null for free tickets: nothing was charged, so their refunds return no money. */
  payment_id: string | null;
  tickets: readonly HoldTicket[];
}

export const saleOf = (context: HoldContext): Sale => ({
  booking_id: context.holdId,
  customer_email: context.customerEmail,
  payment_id: context.paymentId,
  tickets: context.tickets,
});

/**
 * The `ticket.confirm` that makes each ticket of a sale a ticket actor, paid by the hold's charge, so
 * that receipts, prints, sheets and refunds treat it like a webhook ticket. The confirm route sends them
 * before it answers (a refund sent right after finds its ticket); the sale's handler sends them again
 * for a sale the route did not finish, and a ticket already confirmed refuses the second one.
 */
export function ticketConfirmations(sale: Sale, now: string): { address: string; event: ActorEvent }[] {
  return sale.tickets.map((ticket) => ({
    address: `ticket/${ticket.ticket_id}`,
    event: {
      type: 'ticket.confirm',
      now,
      ticket_id: ticket.ticket_id,
      booking_id: sale.booking_id,
      customer_email: sale.customer_email,
      price: ticket.price,
      payment_reference: sale.payment_id,
    },
  }));
}
