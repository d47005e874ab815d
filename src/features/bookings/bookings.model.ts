import { z } from 'zod';
import { DeliverableEmail, UuidInput, WholeNumber } from '../../http/schemas';

export const BookTicketsBody = z.object({
  show_id: UuidInput,
  number_of_tickets: WholeNumber(1, 10_000),
  customer_email: DeliverableEmail,
});

export const BookedTickets = z.object({ booking_id: z.uuid() });
