import { z } from 'zod';
import { UUID_PATTERN } from '../../kernel/ids';
import { MoneyInput, MoneySchema, Uuid, UuidInput } from '../../http/schemas';

/**
 * The buyer's address as the ticket provider reports a sale, which is never refused for its form:
 * anything with a local part, an @ and a domain, up to 320 characters, so quoted local parts
 * (`"john doe"@example.com`), internationalized addresses, IP-literal domains and bare hosts pass. Text
 * without them, or with control characters, is no address at all.
 */
const ReportedEmail = z.string().max(320).refine(
  (email) => {
    const at = email.lastIndexOf('@');
    return at > 0 && at < email.length - 1 && !/[\u0000-\u001f\u007f]/.test(email);
  },
  'an e-mail address: a local part, @ and a domain',
).meta({ pattern: '^[^\\u0000-\\u001f\\u007f]+@[^\\u0000-\\u001f\\u007f@]+$' });

export const WebhookTicket = z.object({
  ticket_id: UuidInput,
  /**
   * Empty for tickets sold elsewhere; an unknown booking is linked when it appears. A UUID is read in
   * lower case, as every id of ours is (a provider may write ours in upper case); any other text as sent.
   */
  booking_id: z.string().max(200).transform((id) => (UUID_PATTERN.test(id) ? id.toLowerCase() : id)),
  status: z.enum(['confirmed', 'canceled']),
  price: MoneyInput,
  customer_email: ReportedEmail,
});

export const TicketsStatusBody = z.object({ tickets: z.array(WebhookTicket).max(1000) });

export const ListedTicket = z.object({ ticket_id: Uuid, price: MoneySchema, customer_email: z.string() });

export const TicketIdParams = z.object({ ticket_id: UuidInput });
