import { z } from 'zod';
import type { CallContext } from '../call';

/** Name of the service in errors, observations and the simulator's call log. */
export const DEAD_NATION_SERVICE = 'deadNation';
/** Operations of the port, as named in injected faults, observations and the call log. */
export const DEAD_NATION_OPERATIONS = ['bookTickets'] as const;
export type DeadNationOperation = (typeof DEAD_NATION_OPERATIONS)[number];

/** Body of `POST /dead-nation-api/ticket/booking`; `event_id` is the show's `dead_nation_id`. */
export const BookTicketsRequest = z.object({
  booking_id: z.string().min(1),
  event_id: z.string().min(1),
  number_of_tickets: z.number().int().min(1),
  customer_address: z.string().min(1),
});
export type BookTicketsRequest = z.infer<typeof BookTicketsRequest>;

/**
 * The Dead Nation ticket provider. It does NOT deduplicate: every call places a booking, so callers
 * make sure they call once per booking. Failures are RetryableError or TerminalError.
 */
export interface DeadNationPort {
  bookTickets(request: BookTicketsRequest, context: CallContext): Promise<void>;
}
