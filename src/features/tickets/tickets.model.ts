import { z } from 'zod';
import { UUID_PATTERN } from '../../kernel/ids';
import { MoneySchema, Uuid, UuidInput } from '../../http/schemas';

export const WebhookTicket = z.object({
  ticket_id: UuidInput,
  /**
   * Empty for tickets sold elsewhere; an unknown booking is linked when it appears. A UUID is read in
   * lower case, as every id of ours is (a provider may write ours in upper case); any other text as sent.
   */
  booking_id: z.string().max(200).transform((id) => (UUID_PATTERN.test(id) ? id.toLowerCase() : id)),
  status: z.enum(['confirmed', 'canceled']),
  price: MoneySchema,
  customer_email: z.email().max(320),
});

export const TicketsStatusBody = z.object({ tickets: z.array(WebhookTicket).max(1000) });

export const ListedTicket = z.object({ ticket_id: Uuid, price: MoneySchema, customer_email: z.string() });

export const TicketIdParams = z.object({ ticket_id: UuidInput });
