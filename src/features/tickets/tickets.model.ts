import { z } from 'zod';
import { MoneySchema } from '../../http/schemas';

export const WebhookTicket = z.object({
  ticket_id: z.uuid(),
  /** Empty for tickets sold elsewhere; an unknown booking is linked when it appears. */
  booking_id: z.string().max(200),
  status: z.enum(['confirmed', 'canceled']),
  price: MoneySchema,
  customer_email: z.email().max(320),
});

export const TicketsStatusBody = z.object({ tickets: z.array(WebhookTicket).max(1000) });

export const ListedTicket = z.object({ ticket_id: z.uuid(), price: MoneySchema, customer_email: z.string() });

export const TicketIdParams = z.object({ ticket_id: z.uuid() });
