import { z } from 'zod';
import { MoneySchema, Uuid, UuidInput } from '../../http/schemas';

export const WebhookTicket = z.object({
  ticket_id: UuidInput,
  /** Empty for tickets sold elsewhere; an unknown booking is linked when it appears. */
  booking_id: z.string().max(200),
  status: z.enum(['confirmed', 'canceled']),
  price: MoneySchema,
  customer_email: z.email().max(320),
});

export const TicketsStatusBody = z.object({ tickets: z.array(WebhookTicket).max(1000) });

export const ListedTicket = z.object({ ticket_id: Uuid, price: MoneySchema, customer_email: z.string() });

export const TicketIdParams = z.object({ ticket_id: UuidInput });
