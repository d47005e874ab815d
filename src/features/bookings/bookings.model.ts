import { z } from 'zod';
import { DeliverableEmail, UuidInput } from '../../http/schemas';

export const BookTicketsBody = z.object({
  show_id: UuidInput,
  number_of_tickets: z.number().int().min(1).max(10_000),
  customer_email: DeliverableEmail,
});

export const BookedTickets = z.object({ booking_id: z.uuid() });
