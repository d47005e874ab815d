import { Elysia } from 'elysia';
import type { HoldContext } from '../../../machines/hold/hold.machine';
import { TerminalError } from '../../adapters/errors';
import type { AuthUser } from '../../http/auth';
import { sendCommand } from '../../http/commands';
import { problem } from '../../http/problem';
import { createRequestContext, type RequestContext } from '../../http/requestContext';
import { AppError } from '../../kernel/errors';
import { sumMoney } from '../../kernel/money';
import type { FeatureDeps } from '../feature';
import { ConfirmedHold, ConfirmHoldBody, HoldParams, PlacedHold, PlaceHoldBody, RenewedHold } from './holds.model';
import { holdPolicyOf, seatsFor } from './holds.queries';

const tags = ['holds'];
const secondsLeft = (expiresAt: string, now: string) => Math.max(0, Math.ceil((Date.parse(expiresAt) - Date.parse(now)) / 1000));
const notFound = (id: string) => problem(404, 'HOLD_NOT_FOUND', `hold ${id} not found`);
const expired = (id: string) => problem(409, 'HOLD_EXPIRED', `hold ${id} has expired`);
const confirmed = (context: HoldContext) => Response.json({ booking_id: context.holdId, tickets: context.tickets.map((t) => ({ ticket_id: t.ticket_id, seat: t.seat })) });

/**
 * Seat holds: a hold is a `hold` actor in state `held` whose seats the database took when it was
 * placed. Only the owner sees their hold (anyone else gets 404). Confirm charges synchronously (one
 * idempotency key per hold, so repeats and races charge once), then sells; a charge that lands after the
 * hold expired is refunded by the hold's RefundHoldPayment command.
 */
export function holdsRoutes({ runtime, store, clock, ids, tracing, idempotency, auth, rateLimit, services }: FeatureDeps) {
  const ownHold = async (id: string, user: AuthUser) => {
    const actor = await runtime.get(`hold/${id}`);
    const context = actor?.context as HoldContext | undefined;
    return actor && context && context.userId === user.id ? { state: actor.state, context } : null;
  };
  const metadataOf = (r: RequestContext) => ({ correlation_id: r.correlationId, traceparent: r.traceparent });

  return new Elysia({ name: 'holds', prefix: '/api/holds' })
    .use(createRequestContext({ tracing, ids }))
    .use(rateLimit)
    .use(auth)
    .use(idempotency)
    .post(
      '/',
      async ({ body, user, idempotency, correlationId, requestId, traceparent, traceId }) => {
        const now = clock.now().toISOString();
        const policy = await holdPolicyOf(store, body.event_id);
        if (!policy) return problem(404, 'EVENT_NOT_FOUND', `event ${body.event_id} has no numbered seats or does not exist`);
        const wanted = body.seats?.length ?? body.quantity ?? 0;
        if (wanted > policy.maxSeatsPerUser) return problem(409, 'LIMIT_REACHED', `at most ${policy.maxSeatsPerUser} seats per user for this event`);
        const seats = await seatsFor(store, body.event_id, body.seats ? { labels: body.seats } : { quantity: wanted }, now);
        if (body.seats && seats.length !== body.seats.length) return problem(422, 'SEAT_NOT_FOUND', 'some seats do not exist', { errors: { seats: ['unknown seat'] } });
        if (seats.length < wanted) return problem(409, 'SEAT_UNAVAILABLE', `fewer than ${wanted} seats are available`);
        const holdId = ids.uuid();
        return sendCommand(runtime, {
          address: `hold/${holdId}`,
          event: {
            type: 'hold.place', now, hold_id: holdId, event_id: body.event_id, user_id: user.id, customer_email: user.email, seats,
            ttl_seconds: policy.ttlSeconds, max_renewals: policy.maxRenewals,
          },
          create: true,
          minted: true,
          request: { correlationId, requestId, traceparent, traceId },
          idempotency,
          respond: (result) => {
            const expiresAt = String(result.context.expiresAt);
            return { status: 201, body: { hold_id: holdId, expires_at: expiresAt, seconds_left: secondsLeft(expiresAt, now), seats: seats.map((s) => s.label) } };
          },
        });
      },
      {
        body: PlaceHoldBody,
        auth: true,
        rateLimit: 'holds',
        idempotent: true,
        response: { 201: PlacedHold },
        detail: { summary: 'Hold seats (all or nothing)', description: 'Errors: 404 EVENT_NOT_FOUND, 409 SEAT_UNAVAILABLE, 409 LIMIT_REACHED, 422 SEAT_NOT_FOUND.', tags },
      },
    )
    .post(
      '/:id/renew',
      async ({ params, user, correlationId, requestId, traceparent, traceId }) => {
        const now = clock.now().toISOString();
        const hold = await ownHold(params.id, user);
        if (!hold) return notFound(params.id);
        if (hold.state === 'expired' || (hold.state === 'held' && hold.context.expiresAt <= now)) return expired(params.id);
        if (hold.state !== 'held') return problem(409, 'NOT_ALLOWED_IN_STATE', `hold ${params.id} is ${hold.state}`);
        if (hold.context.renewals >= hold.context.maxRenewals) return problem(409, 'RENEWAL_LIMIT_REACHED', `hold ${params.id} was renewed ${hold.context.renewals} times already`);
        const result = await runtime.send(`hold/${params.id}`, { type: 'hold.renew', now }, { metadata: metadataOf({ correlationId, requestId, traceparent, traceId }), traceId });
        const context = result.context as unknown as HoldContext;
        return Response.json({ hold_id: params.id, expires_at: context.expiresAt, seconds_left: secondsLeft(context.expiresAt, now), renewals_left: context.maxRenewals - context.renewals });
      },
      { params: HoldParams, auth: true, rateLimit: 'holds', response: { 200: RenewedHold }, detail: { summary: 'Renew a hold (at most max_renewals times)', tags } },
    )
    .delete(
      '/:id',
      async ({ params, user, correlationId, requestId, traceparent, traceId }) => {
        const hold = await ownHold(params.id, user);
        if (!hold) return notFound(params.id);
        if (hold.state === 'sold') return problem(409, 'NOT_ALLOWED_IN_STATE', `hold ${params.id} is sold`);
        if (hold.state === 'held') {
          try {
            await runtime.send(`hold/${params.id}`, { type: 'hold.release', now: clock.now().toISOString() }, { metadata: metadataOf({ correlationId, requestId, traceparent, traceId }), traceId });
          } catch (error) {
            // A concurrent release or expiry got there first: the seats are free either way.
            if (!(error instanceof AppError && error.code === 'NOT_ALLOWED_IN_STATE')) throw error;
          }
        }
        return new Response(null, { status: 204 });
      },
      { params: HoldParams, auth: true, rateLimit: 'holds', detail: { summary: 'Release a hold (idempotent)', tags } },
    )
    .post(
      '/:id/confirm',
      async ({ params, body, user, correlationId, requestId, traceparent, traceId }) => {
        const request = { correlationId, requestId, traceparent, traceId };
        const hold = await ownHold(params.id, user);
        if (!hold) return notFound(params.id);
        if (hold.state === 'sold') return confirmed(hold.context);
        if (hold.state !== 'held' || hold.context.expiresAt <= clock.now().toISOString()) return expired(params.id);

        const { context } = hold;
        let paymentId: string;
        try {
          const prices = context.seats.map((s) => s.price);
          const charge = await services.payments.charge(
            { payment_reference: context.holdId, amount: sumMoney(prices, prices[0]!.currency), payment_method: body.payment_method, idempotency_key: `hold-${context.holdId}` },
            { correlationId, traceparent },
          );
          paymentId = charge.payment_id;
        } catch (error) {
          if (error instanceof TerminalError && error.code === 'PAYMENT_DECLINED') return problem(402, 'PAYMENT_DECLINED', 'the payment was declined');
          throw error;
        }

        try {
          const result = await runtime.send(
            `hold/${params.id}`,
            { type: 'hold.confirm', now: clock.now().toISOString(), payment_id: paymentId, ticket_ids: context.seats.map(() => ids.uuid()) },
            { metadata: metadataOf(request), traceId },
          );
          return result.state === 'sold' ? confirmed(result.context as unknown as HoldContext) : expired(params.id);
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          if (error.code === 'HOLD_EXPIRED') {
            // The seats went to someone else between the charge and the sale: nothing recorded the payment, so refund it here.
            await services.payments.refund({ payment_reference: paymentId, reason: 'payment arrived after the hold expired', deduplication_id: `hold-${context.holdId}-${paymentId}` }, { correlationId, traceparent });
            return expired(params.id);
          }
          if (error.code !== 'NOT_ALLOWED_IN_STATE') throw error;
          // A concurrent confirm sold it with the same charge (one key per hold).
          const now = await ownHold(params.id, user);
          return now?.state === 'sold' ? confirmed(now.context) : expired(params.id);
        }
      },
      {
        params: HoldParams,
        body: ConfirmHoldBody,
        auth: true,
        rateLimit: 'holds',
        response: { 200: ConfirmedHold },
        detail: { summary: 'Pay for a hold and get its tickets', description: 'Errors: 402 PAYMENT_DECLINED, 404 HOLD_NOT_FOUND, 409 HOLD_EXPIRED. Repeats return the first result.', tags },
      },
    );
}
