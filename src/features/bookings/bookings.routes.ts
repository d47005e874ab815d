import { Elysia } from 'elysia';
import { sendCommand } from '../../http/commands';
import { createRequestContext } from '../../http/requestContext';
import type { FeatureDeps } from '../feature';
import { BookTicketsBody, BookedTickets } from './bookings.model';
import { problemResponses } from '../../http/openapiProblems';

/** `POST /api/book-tickets`: a booking actor per booking; seats are taken in its first commit. */
export function bookingsRoutes({ runtime, clock, ids, tracing, idempotency }: FeatureDeps) {
  return new Elysia({ name: 'bookings', prefix: '/api' })
    .use(createRequestContext({ tracing, ids }))
    .use(idempotency)
    .post(
      '/book-tickets',
      ({ body, idempotency, correlationId, requestId, traceparent, traceId }) => {
        const bookingId = ids.uuid();
        return sendCommand(runtime, {
          address: `booking/${bookingId}`,
          event: { type: 'booking.make', now: clock.now().toISOString(), booking_id: bookingId, ...body },
          create: true,
          minted: true,
          request: { correlationId, requestId, traceparent, traceId },
          idempotency,
          respond: () => ({ status: 201, body: { booking_id: bookingId } }),
        });
      },
      {
        body: BookTicketsBody,
        idempotent: true,
        detail: { summary: 'Book general-admission tickets for a show', description: 'Not enough seats is 400 SOLD_OUT with `error` "not enough seats available".', responses: problemResponses({ 400: ['SOLD_OUT'], 404: ['SHOW_NOT_FOUND'] }) },
        response: { 201: BookedTickets },
      },
    );
}
