import { Elysia } from 'elysia';
import { z } from 'zod';
import type { SqlExecutor } from '../../actors/ports';
import { pageOf, pageResponse } from '../../http/pagination';
import { problem } from '../../http/problem';
import type { FeatureDeps } from '../feature';
import { OPS_BOOKINGS_CURSOR, OpsBooking, OpsBookingParams, OpsBookingsQuery, toOpsBooking } from './opsBookings.model';
import { findMadeBooking, listMadeBookings, type MadeBooking } from './opsBookings.projection';
import { shownTicketsOf } from './opsTickets.projection';
import { problemResponses } from '../../http/openapiProblems';

const tags = ['operations'];

async function withTickets(db: SqlExecutor, bookings: readonly MadeBooking[]): Promise<OpsBooking[]> {
  const tickets = await shownTicketsOf(db, bookings.map((b) => b.booking_id));
  return bookings.map((b) => toOpsBooking(b, tickets.get(b.booking_id) ?? []));
}

/**
 * The ops read model of bookings: `GET /api/ops/bookings` (newest first, each with its tickets so that
 * receipts can be checked from the list; `?receipt_issue_date=`; everything unless `?limit=`, next page
 * in `Link`) and `GET /api/ops/bookings/:id`. A booking is shown once its BookingMade_v1 is applied.
 * No token: these are compatibility routes, open as in the system they replace (API.md "Auth").
 */
export function opsBookingsRoutes({ store }: Pick<FeatureDeps, 'store'>) {
  return new Elysia({ name: 'ops-bookings', prefix: '/api/ops/bookings' })
    .get(
      '',
      async ({ query, request, set }) => {
        const bookings = await listMadeBookings(store, { limit: query.limit, after: query.cursor, receiptIssuedOn: query.receipt_issue_date });
        const page = pageOf(bookings, query.limit, request.url, OPS_BOOKINGS_CURSOR, (row) => [row.booked_at, row.booking_id]);
        if (page.link) set.headers.link = page.link;
        return withTickets(store, page.items);
      },
      {
        query: OpsBookingsQuery,
        response: { 200: z.array(OpsBooking) },
        detail: {
          summary: 'Bookings with their tickets, newest first; everything unless ?limit= (1..100), next page in Link',
          description: '`receipt_issue_date` keeps bookings having a ticket whose receipt was issued on that UTC date. Errors: 400 VALIDATION_FAILED.',
          responses: pageResponse(),
          tags,
        },
      },
    )
    .get(
      '/:id',
      async ({ params }) => {
        const booking = await findMadeBooking(store, params.id);
        if (!booking) return problem(404, 'BOOKING_NOT_FOUND', `booking ${params.id} not found`);
        const [body] = await withTickets(store, [booking]);
        // A Response like the problem: Elysia's types refuse a handler returning a body or a Response.
        return Response.json(body);
      },
      {
        params: OpsBookingParams,
        response: { 200: OpsBooking },
        detail: { summary: 'One booking with its tickets', responses: problemResponses({ 404: ['BOOKING_NOT_FOUND'] }), tags },
      },
    );
}
