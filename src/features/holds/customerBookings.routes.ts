import { Elysia } from 'elysia';
import { z } from 'zod';
import type { HoldContext } from '../../../machines/hold/hold.machine';
import { CURSOR_TIME, CURSOR_UUID, cursorParam, limitParam, listCursor, pageOf, pageResponse } from '../../http/pagination';
import { problem } from '../../http/problem';
import { createRequestContext } from '../../http/requestContext';
import type { FeatureDeps } from '../feature';
import { CustomerBooking, holdTotal, HoldParams, seatLabels } from './holds.model';
import { actorStates, soldHold, soldHoldsOf, type SoldHold } from './holds.queries';
import { problemResponses } from '../../http/openapiProblems';

const tags = ['bookings'];

/** What a ticket actor's state means to its buyer; a ticket not yet issued as an actor is confirmed. */
const TICKET_STATUS: Record<string, CustomerBooking['tickets'][number]['status']> = {
  refundAwaitingReceipt: 'refunding',
  refunding: 'refunding',
  refunded: 'refunded',
  canceled: 'canceled',
};

/**
 * A customer's bookings: the holds they confirmed (`GET /api/me/bookings`, newest first, 50 a page, next
 * page in `Link`; `GET /api/bookings/:id`). Only the buyer sees a booking; anyone else, and a hold not
 * sold, gets 404. Bookings of `POST /api/book-tickets` and VIP bundles are made without a token, so
 * they belong to no account: they are in the ops read model. The `holds` row is written in the commit
 * that sells the hold, so a booking is here as soon as its confirm has answered.
 */
/** Cursors of `GET /api/me/bookings`: `[sold_at, hold_id]` of the last booking of the previous page. */
const MY_BOOKINGS_CURSOR = listCursor('me.bookings', CURSOR_TIME, CURSOR_UUID);

export function customerBookingsRoutes({ runtime, store, tracing, ids, auth }: FeatureDeps) {
  const bookingsOf = async (sold: SoldHold[]): Promise<CustomerBooking[]> => {
    const holds = await Promise.all(sold.map(async (row) => ({ row, context: (await runtime.get(`hold/${row.hold_id}`))?.context as HoldContext | undefined })));
    const ticketAddresses = holds.flatMap(({ context }) => (context?.tickets ?? []).map((t) => `ticket/${t.ticket_id}`));
    const states = await actorStates(store, ticketAddresses);
    return holds.flatMap(({ row, context }) => {
      if (!context) return [];
      return [{
        booking_id: row.hold_id,
        event_id: context.eventId,
        seats: seatLabels(context.seats),
        quantity: context.seats.length,
        total: holdTotal(context),
        payment_id: context.paymentId,
        booked_at: row.sold_at,
        tickets: context.tickets.map((t) => ({
          ticket_id: t.ticket_id,
          seat: t.seat,
          price: t.price,
          status: TICKET_STATUS[states.get(`ticket/${t.ticket_id}`) ?? ''] ?? 'confirmed',
        })),
      }];
    });
  };

  return new Elysia({ name: 'customer-bookings', prefix: '/api' })
    .use(createRequestContext({ tracing, ids }))
    .use(auth)
    .get(
      '/me/bookings',
      async ({ query, request, set, user }) => {
        const rows = await soldHoldsOf(store, user.id, { limit: query.limit, ...(query.cursor ? { after: query.cursor } : {}) });
        const page = pageOf(rows, query.limit, request.url, MY_BOOKINGS_CURSOR, (row) => [row.sold_at, row.hold_id]);
        if (page.link) set.headers.link = page.link;
        return bookingsOf(page.items);
      },
      {
        auth: true,
        query: z.object({ limit: limitParam, cursor: cursorParam(MY_BOOKINGS_CURSOR).optional() }),
        response: { 200: z.array(CustomerBooking) },
        detail: { summary: 'My bookings (confirmed holds) with their tickets, newest first', description: '?limit= 1..100 (default 50), next page in Link.', responses: pageResponse(), tags },
      },
    )
    .get(
      '/bookings/:id',
      async ({ params, user }) => {
        const row = await soldHold(store, params.id);
        const [booking] = row && row.user_id === user.id ? await bookingsOf([row]) : [];
        if (!booking) return problem(404, 'BOOKING_NOT_FOUND', `booking ${params.id} not found`);
        // A Response like the problem: Elysia's types refuse a handler returning a body or a Response.
        return Response.json(booking);
      },
      {
        auth: true,
        params: HoldParams,
        response: { 200: CustomerBooking },
        detail: { summary: 'One of my bookings with its tickets', description: '404 for an unknown booking, one not yet confirmed, or another customer\'s.', responses: problemResponses({ 404: ['BOOKING_NOT_FOUND'] }), tags },
      },
    );
}
