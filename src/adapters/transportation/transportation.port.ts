import { z } from 'zod';
import { AnswerId } from '../answers';
import type { CallContext } from '../call';

/** Name of the service in errors, observations and the simulator's call log. */
export const TRANSPORTATION_SERVICE = 'transportation';
/** Operations of the port, as named in injected faults, observations and the call log. */
export const TRANSPORTATION_OPERATIONS = ['bookFlight', 'cancelFlightTicket', 'bookTaxi'] as const;
export type TransportationOperation = (typeof TRANSPORTATION_OPERATIONS)[number];

/** Body of `PUT /transportation-api/flight-tickets`; `idempotency_key` deduplicates. */
export const BookFlightRequest = z.object({
  customer_email: z.string().min(1),
  flight_id: z.string().min(1),
  passenger_names: z.array(z.string().min(1)).min(1),
  reference_id: z.string().min(1),
  idempotency_key: z.string().min(1),
});
export type BookFlightRequest = z.infer<typeof BookFlightRequest>;

/**
 * Answer of `PUT /transportation-api/flight-tickets`: one ticket per passenger, each a different one (the
 * HTTP client checks the count against the request). Fewer would leave passengers without a ticket and
 * tickets that a compensation could not cancel.
 */
export const BookedFlight = z.object({
  ticket_ids: z.array(AnswerId).min(1).refine((ids) => new Set(ids).size === ids.length, 'the same ticket id twice'),
});
export type BookedFlight = z.infer<typeof BookedFlight>;

/** `DELETE /transportation-api/flight-tickets/{ticket_id}`. */
export const CancelFlightTicketRequest = z.object({ ticket_id: z.string().min(1) });
export type CancelFlightTicketRequest = z.infer<typeof CancelFlightTicketRequest>;

/** Body of `PUT /transportation-api/taxi-booking`; `idempotency_key` deduplicates. */
export const BookTaxiRequest = z.object({
  customer_email: z.string().min(1),
  number_of_passengers: z.number().int().min(1),
  passenger_name: z.string().min(1),
  reference_id: z.string().min(1),
  idempotency_key: z.string().min(1),
});
export type BookTaxiRequest = z.infer<typeof BookTaxiRequest>;

/** Answer of `PUT /transportation-api/taxi-booking`. */
export const BookedTaxi = z.object({ booking_id: AnswerId });
export type BookedTaxi = z.infer<typeof BookedTaxi>;

/**
 * The transportation service (flights and taxis). Cancelling a ticket twice succeeds; cancelling a
 * ticket it never issued is a TerminalError 404 (the saga, which cancels only tickets the service
 * issued, takes that for a fault, and only a 410 for a ticket already gone). Other failures are
 * RetryableError or TerminalError.
 */
export interface TransportationPort {
  bookFlight(request: BookFlightRequest, context: CallContext): Promise<BookedFlight>;
  cancelFlightTicket(request: CancelFlightTicketRequest, context: CallContext): Promise<void>;
  bookTaxi(request: BookTaxiRequest, context: CallContext): Promise<BookedTaxi>;
}
