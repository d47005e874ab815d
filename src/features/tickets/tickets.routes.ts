import { audit } from '../../observability/logger';
import { Elysia } from 'elysia';
import { z } from 'zod';
import { AppError, notFound } from '../../kernel/errors';
import { sendCommand } from '../../http/commands';
import { CURSOR_TIME, CURSOR_UUID, cursorParam, listCursor, optionalLimitParam, pageOf, pageResponse } from '../../http/pagination';
import { createRequestContext } from '../../http/requestContext';
import type { FeatureDeps } from '../feature';
import { ListedTicket, TicketIdParams, TicketsStatusBody } from './tickets.model';
import { listTickets } from './ticketsList.projection';
import { problemResponses, successResponse } from '../../http/openapiProblems';

/** Cursors of `GET /api/tickets`: `[confirmed_at, ticket_id]` of the last ticket of the previous page. */
const TICKETS_CURSOR = listCursor('tickets', CURSOR_TIME, CURSOR_UUID);

/** Tickets of one webhook whose commands are in flight at once. */
const WEBHOOK_TICKETS_IN_FLIGHT = 32;

/** States in which a refund request joins the refund already under way. */
const REFUND_UNDER_WAY = new Set(['refundAwaitingReceipt', 'refunding', 'refunded']);

/** The ticket-status webhook, the list of tickets, and refunds (compatibility surface). */
export function ticketsRoutes({ runtime, store, clock, ids, tracing, idempotency, logger, webhookSignature }: FeatureDeps) {
  return new Elysia({ name: 'tickets', prefix: '/api' })
    .use(createRequestContext({ tracing, ids }))
    .use(idempotency)
    .use(webhookSignature)
    .post(
      '/tickets-status',
      async ({ body, idempotency, correlationId, traceparent, traceId }) => {
        // One actor per ticket: a ticket the provider reports again (under another key) is already in
        // that state, which counts as done, so the webhook converges after a partial failure.
        const apply = async (ticket: (typeof body.tickets)[number]) => {
          const now = clock.now().toISOString();
          const event = ticket.status === 'confirmed'
            ? { type: 'ticket.confirm', now, ticket_id: ticket.ticket_id, booking_id: ticket.booking_id, customer_email: ticket.customer_email, price: ticket.price, payment_reference: ticket.ticket_id }
            : { type: 'ticket.cancel', now, ticket_id: ticket.ticket_id, booking_id: ticket.booking_id, customer_email: ticket.customer_email, price: ticket.price };
          try {
            await runtime.send(`ticket/${ticket.ticket_id}`, event, {
              create: true,
              metadata: { correlation_id: correlationId, traceparent, ...(idempotency.key ? { idempotency_key: idempotency.key } : {}) },
              traceId,
            });
          } catch (error) {
            if (!(error instanceof AppError && error.code === 'NOT_ALLOWED_IN_STATE')) throw error;
            // Already in that state (a repeat), or final (cancelled, refunded): nothing to change.
            logger.info('ticket status not applied: the ticket is in a state that does not take it', {
              actor: `ticket/${ticket.ticket_id}`, ticket_id: ticket.ticket_id, status: ticket.status, reason: error.detail, correlation_id: correlationId,
            });
          }
        };
        // A few tickets at a time, so that their commits share transactions (one after the other, a body
        // of 1 000 tickets took seconds). Sent in body order: the actor's mailbox keeps two statuses of one
        // ticket in that order. Every send of a batch settles before the first failure is answered.
        for (let at = 0; at < body.tickets.length; at += WEBHOOK_TICKETS_IN_FLIGHT) {
          const outcomes = await Promise.allSettled(body.tickets.slice(at, at + WEBHOOK_TICKETS_IN_FLIGHT).map(apply));
          const failed = outcomes.find((outcome) => outcome.status === 'rejected');
          if (failed) throw failed.reason;
        }
        return new Response(null, { status: 200 });
      },
      {
        body: TicketsStatusBody,
        signed: true,
        idempotent: 'required',
        detail: {
          summary: 'Webhook of the ticket provider',
          description:
            'Idempotency-Key required. The whole body is validated before anything is recorded. ' +
            'With WEBHOOK_SECRET set, X-Webhook-Signature: sha256=<HMAC-SHA256 of the body, hex> is required.',
          responses: successResponse(200, 'Recorded (empty body)'),
        },
      },
    )
    .get(
      '/tickets',
      async ({ query, request, set }) => {
        const rows = await listTickets(store, { limit: query.limit, after: query.cursor });
        const page = pageOf(rows, query.limit, request.url, TICKETS_CURSOR, (row) => [row.confirmed_at, row.ticket_id]);
        if (page.link) set.headers.link = page.link;
        return page.items.map((r) => ({ ticket_id: r.ticket_id, price: r.price, customer_email: r.customer_email }));
      },
      {
        query: z.object({ limit: optionalLimitParam, cursor: cursorParam(TICKETS_CURSOR).optional() }),
        detail: { summary: 'Tickets that are confirmed and neither cancelled nor refunded, in confirmation order', responses: pageResponse() },
        response: { 200: z.array(ListedTicket) },
      },
    )
    .put(
      '/ticket-refund/:ticket_id',
      async ({ params, idempotency, correlationId, requestId, traceparent, traceId }) => {
        const address = `ticket/${params.ticket_id}`;
        audit(logger, 'ticket.refundRequested', { ticket_id: params.ticket_id, correlation_id: correlationId, trace_id: traceId });
        try {
          return await sendCommand(runtime, {
            address,
            event: { type: 'ticket.refund', now: clock.now().toISOString() },
            request: { correlationId, requestId, traceparent, traceId },
            idempotency,
            respond: () => ({ status: 202 }),
          });
        } catch (error) {
          if (error instanceof AppError && error.code === 'NOT_FOUND') throw notFound(`ticket ${params.ticket_id}`, 'TICKET_NOT_FOUND');
          const joined = error instanceof AppError && error.code === 'NOT_ALLOWED_IN_STATE' && REFUND_UNDER_WAY.has((await runtime.get(address))?.state ?? '');
          if (!joined) throw error;
          return new Response(null, { status: 202 });
        }
      },
      {
        params: TicketIdParams,
        idempotent: true,
        detail: { summary: 'Refund a ticket (202; a repeat joins the refund under way)', description: 'A cancelled ticket cannot be refunded (409).', responses: { ...problemResponses({ 404: ['TICKET_NOT_FOUND'], 409: ['NOT_ALLOWED_IN_STATE'] }), ...successResponse(202, 'Refund started or joined (empty body)') } },
      },
    );
}
