import { Elysia } from 'elysia';
import type { HoldContext, HoldEvent, HoldSeat } from '../../../machines/hold/hold.machine';
import type { AuthUser } from '../../http/auth';
import { sendCommand } from '../../http/commands';
import { problem } from '../../http/problem';
import { createRequestContext, type RequestContext } from '../../http/requestContext';
import { RetryableError, TerminalError } from '../../adapters/errors';
import { AppError, concurrentUpdate } from '../../kernel/errors';
import { toMinor } from '../../kernel/money';
import type { FeatureDeps } from '../feature';
import { ConfirmedHold, ConfirmHoldBody, holdTotal, HoldParams, PlacedHold, PlaceHoldBody, RenewedHold, seatLabels } from './holds.model';
import { chargeHold, chargesInFlight, type ChargeOutcome } from './holds.payment';
import { seatsBeingPlaced } from './holds.picks';
import { holdPolicyOf, seatsFor } from './holds.queries';
import { saleOf, ticketConfirmations } from './holds.tickets';
import { problemResponses, successResponse } from '../../http/openapiProblems';

const tags = ['holds'];
/** How often a quantity hold picks its seats again when concurrent holds keep taking them first. */
const QUANTITY_PICKS = 20;
const secondsLeft = (expiresAt: string, now: string) => Math.max(0, Math.ceil((Date.parse(expiresAt) - Date.parse(now)) / 1000));
const notFound = (id: string) => problem(404, 'HOLD_NOT_FOUND', `hold ${id} not found`);
const expired = (id: string) => problem(409, 'HOLD_EXPIRED', `hold ${id} has expired`);
const inState = (id: string, state: string) => problem(409, 'NOT_ALLOWED_IN_STATE', `hold ${id} is ${state}`);
const released = (id: string) => problem(409, 'NOT_ALLOWED_IN_STATE', `hold ${id} was released`);
const confirmed = (context: HoldContext) => Response.json({ booking_id: context.holdId, tickets: context.tickets.map((t) => ({ ticket_id: t.ticket_id, seat: t.seat })) });

/**
 * A show sells general admission: its seats have no label and no price here (the ticket provider
 * prices them), so a ticket sold through a hold on a show is free: 0.00 in ISO 4217 `XXX` ("no
 * currency"), and its confirm charges nothing.
 */
const GENERAL_ADMISSION_SEAT: HoldSeat = { label: null, price: { amount: '0.00', currency: 'XXX' } };

export interface HoldsRoutesOptions {
  /** Seconds a charge may go without an outcome before the hold charges again (passed in `hold.pay`). */
  paymentCheckSeconds: number;
}

/**
 * Seat holds: a hold is a `hold` actor in state `held` whose seats (numbered, or a quantity of a show's
 * general admission) the database took when it was placed. Only the owner sees their hold (anyone else
 * gets 404). Confirm first commits `hold.pay` (the charge as durable intent, with a recovery timer),
 * then charges (one idempotency key per hold, so repeats, races and the recovery charge once), then
 * feeds the outcome to the hold; a charge that lands after the hold expired is refunded by the hold's
 * RefundHoldPayment command.
 */
export function holdsRoutes({ runtime, store, clock, ids, tracing, idempotency, auth, rateLimit, services, logger }: FeatureDeps, { paymentCheckSeconds }: HoldsRoutesOptions) {
  const ownHold = async (id: string, user: AuthUser) => {
    const actor = await runtime.get(`hold/${id}`);
    const context = actor?.context as HoldContext | undefined;
    return actor && context && context.userId === user.id ? { state: actor.state, context } : null;
  };
  const metadataOf = (r: RequestContext) => ({ correlation_id: r.correlationId, traceparent: r.traceparent });
  const chargesOut = chargesInFlight();
  const placing = seatsBeingPlaced();

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
        if (!policy) return problem(404, 'EVENT_NOT_FOUND', `event ${body.event_id} does not exist`, { errors: { event_id: ['unknown event'] } });
        if (policy.generalAdmission && body.seats) {
          return problem(422, 'SEATS_NOT_NUMBERED', `event ${body.event_id} is general admission: hold a quantity, not seats`, { errors: { seats: ['general admission: give quantity instead'] } });
        }
        const wanted = body.seats?.length ?? body.quantity ?? 0;
        if (wanted > policy.maxSeatsPerUser) return problem(409, 'LIMIT_REACHED', `at most ${policy.maxSeatsPerUser} seats per user for this event`);
        // A quantity of numbered seats is the first free seats by label; when a concurrent hold takes
        // some of them first, the choice is made again from what is left.
        const picksQuantity = !policy.generalAdmission && body.seats === undefined;
        for (let attempt = 1; ; attempt++) {
          const seats = policy.generalAdmission
            ? Array.from({ length: wanted }, () => GENERAL_ADMISSION_SEAT)
            : body.seats
              ? await seatsFor(store, body.event_id, { labels: body.seats }, now)
              // Enough free seats to pass over those that concurrent picks are placing.
              : placing.choose(body.event_id, await seatsFor(store, body.event_id, { quantity: wanted + placing.count(body.event_id) }, now), wanted);
          if (body.seats && seats.length !== body.seats.length) {
            const known = new Set(seats.map((seat) => seat.label));
            const unknown = body.seats.filter((label) => !known.has(label));
            return problem(422, 'SEAT_NOT_FOUND', `event ${body.event_id} has no seats ${unknown.join(', ')}`, { errors: { seats: unknown.map((label) => `unknown seat: ${label}`) } });
          }
          if (seats.length < wanted) return problem(409, 'SEAT_UNAVAILABLE', `fewer than ${wanted} seats are available`);
          const holdId = ids.uuid();
          const unclaim = picksQuantity ? placing.claim(body.event_id, seatLabels(seats)) : () => {};
          try {
            return await sendCommand(runtime, {
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
                return { status: 201, body: { hold_id: holdId, expires_at: expiresAt, seconds_left: secondsLeft(expiresAt, now), seats: seatLabels(seats), quantity: seats.length } };
              },
            });
          } catch (error) {
            if (!(picksQuantity && error instanceof AppError && error.code === 'SEAT_UNAVAILABLE')) throw error;
            if (attempt >= QUANTITY_PICKS) {
              throw concurrentUpdate(`the seats of event ${body.event_id} are being taken by other holds; retry`);
            }
          } finally {
            unclaim();
          }
        }
      },
      {
        body: PlaceHoldBody,
        auth: true,
        rateLimit: 'holds',
        idempotent: true,
        response: { 201: PlacedHold },
        detail: { summary: 'Hold seats (all or nothing)', description: 'Seat labels on a general-admission show are 422 SEATS_NOT_NUMBERED (send `quantity`).',
          responses: problemResponses({ 404: ['EVENT_NOT_FOUND'], 409: ['SEAT_UNAVAILABLE', 'LIMIT_REACHED'], 422: ['SEAT_NOT_FOUND', 'SEATS_NOT_NUMBERED'] }),
          tags,
        },
      },
    )
    .post(
      '/:id/renew',
      async ({ params, user, idempotency, correlationId, requestId, traceparent, traceId }) => {
        const now = clock.now().toISOString();
        const hold = await ownHold(params.id, user);
        if (!hold) return notFound(params.id);
        if (hold.state === 'expired' || (hold.state === 'held' && hold.context.expiresAt <= now)) return expired(params.id);
        if (hold.state !== 'held') return inState(params.id, hold.state);
        if (hold.context.renewals >= hold.context.maxRenewals) return problem(409, 'RENEWAL_LIMIT_REACHED', `hold ${params.id} was renewed ${hold.context.renewals} times already`);
        // The key is completed in the renewal's own commit: a retry after a crash replays, never renews twice.
        try {
          return await sendCommand(runtime, {
            address: `hold/${params.id}`,
            event: { type: 'hold.renew', now },
            request: { correlationId, requestId, traceparent, traceId },
            idempotency,
            respond: (result) => {
              const context = result.context as unknown as HoldContext;
              return { status: 200, body: { hold_id: params.id, expires_at: context.expiresAt, seconds_left: secondsLeft(context.expiresAt, now), renewals_left: context.maxRenewals - context.renewals } };
            },
          });
        } catch (error) {
          // A concurrent renewal, release, confirm or expiry changed the hold since it was read above.
          if (!(error instanceof AppError && error.code === 'NOT_ALLOWED_IN_STATE')) throw error;
          const current = await ownHold(params.id, user);
          if (current?.state === 'held' && current.context.renewals >= current.context.maxRenewals) return problem(409, 'RENEWAL_LIMIT_REACHED', `hold ${params.id} was renewed ${current.context.renewals} times already`);
          if (current?.state === 'expired' || (current?.state === 'held' && current.context.expiresAt <= now)) return expired(params.id);
          return inState(params.id, current?.state ?? 'gone');
        }
      },
      { params: HoldParams, auth: true, rateLimit: 'holds', idempotent: true, response: { 200: RenewedHold }, detail: {
          summary: 'Renew a hold (at most max_renewals times)',
          responses: problemResponses({ 404: ['HOLD_NOT_FOUND'], 409: ['HOLD_EXPIRED', 'RENEWAL_LIMIT_REACHED', 'NOT_ALLOWED_IN_STATE'] }),
          tags,
        },
      },
    )
    .delete(
      '/:id',
      async ({ params, user, correlationId, requestId, traceparent, traceId }) => {
        // The answer follows what the hold is once the release is in, or could not be: a concurrent
        // release or expiry freed the seats all the same (204), a confirm that is paying or has sold
        // them did not (409), and a hold back in `held` (that confirm's charge was declined) is asked again.
        for (let attempt = 1; attempt <= 5; attempt++) {
          const hold = await ownHold(params.id, user);
          if (!hold) return notFound(params.id);
          if (hold.state === 'sold' || hold.state === 'paying') return inState(params.id, hold.state);
          if (hold.state !== 'held') return new Response(null, { status: 204 });
          try {
            await runtime.send(`hold/${params.id}`, { type: 'hold.release', now: clock.now().toISOString() }, { metadata: metadataOf({ correlationId, requestId, traceparent, traceId }), traceId });
            return new Response(null, { status: 204 });
          } catch (error) {
            if (!(error instanceof AppError && error.code === 'NOT_ALLOWED_IN_STATE')) throw error;
          }
        }
        throw concurrentUpdate(`hold ${params.id} keeps being changed by other requests; retry`);
      },
      { params: HoldParams, auth: true, rateLimit: 'holds', idempotent: true, detail: { summary: 'Release a hold (idempotent)', responses: { ...problemResponses({ 404: ['HOLD_NOT_FOUND'], 409: ['NOT_ALLOWED_IN_STATE'] }), ...successResponse(204, 'Released, or already released') }, tags },
      },
    )
    .post(
      '/:id/confirm',
      async ({ params, body, user, correlationId, requestId, traceparent, traceId }) => {
        const address = `hold/${params.id}`;
        const options = { metadata: metadataOf({ correlationId, requestId, traceparent, traceId }), traceId };
        const now = () => clock.now().toISOString();
        // A concurrent confirm, the recovery or the expiry may move the hold first: then the state read
        // after decides; otherwise the last accepted command's outcome does.
        let last: { state: string; context: HoldContext } | null = null;
        const send = async (event: HoldEvent) => {
          try {
            const result = await runtime.send(address, event, options);
            last = { state: result.state, context: result.context as unknown as HoldContext };
          } catch (error) {
            if (!(error instanceof AppError && error.code === 'NOT_ALLOWED_IN_STATE')) throw error;
            last = null;
          }
          return last;
        };
        // The tickets exist when the confirm answers, so that a refund sent right after finds them. Should
        // that fail, the sale's handler makes them: the sale stands, and so does the answer.
        const sold = async (context: HoldContext) => {
          const at = now();
          await Promise.all(ticketConfirmations(saleOf(context), at).map(({ address, event }) =>
            runtime.send(address, event, { ...options, create: true }).catch((error: unknown) => {
              if (error instanceof AppError && error.code === 'NOT_ALLOWED_IN_STATE') return;
              logger.warn('a sold ticket was not issued before the answer; the sale\'s handler issues it', { actor: address, hold_id: params.id, correlation_id: correlationId, err: error });
            })));
          return confirmed(context);
        };
        const outcome = async () => {
          // Sold by this request's own command: its tickets are made now. Sold by another (a repeat, the
          // recovery): they were made by that one, or its sale's handler makes them.
          if (last?.state === 'sold') return sold(last.context);
          const hold = last ?? (await ownHold(params.id, user));
          if (hold?.state === 'sold') return confirmed(hold.context);
          if (hold?.state === 'released') return released(params.id);
          // Back in `held` before its expiry: the charge of a concurrent confirm on another instance did not go through.
          if (hold?.state === 'held' && hold.context.expiresAt > now()) {
            throw concurrentUpdate(`another confirm of hold ${params.id} was charging and did not pay; retry`);
          }
          return expired(params.id);
        };

        let hold = await ownHold(params.id, user);
        if (!hold) return notFound(params.id);
        if (hold.state === 'sold') return confirmed(hold.context);
        if (hold.state === 'released') return released(params.id);
        // No charge starts past expires_at; one already out (paying) is settled by the hold's recovery.
        if (hold.context.expiresAt <= now()) return expired(params.id);
        if (hold.state === 'held' && toMinor(holdTotal(hold.context)) === 0) {
          await send({ type: 'hold.confirm', now: now(), payment_id: null, ticket_ids: hold.context.seats.map(() => ids.uuid()) });
          return outcome();
        }
        if (hold.state === 'held') {
          // The charge becomes durable intent before any money moves: if this process dies from here
          // on, the hold's recovery timer charges again with the same key and settles the outcome.
          hold = (await send({ type: 'hold.pay', now: now(), payment_method: body.payment_method, amount: holdTotal(hold.context), payment_check_seconds: paymentCheckSeconds })) ?? (await ownHold(params.id, user));
        }
        if (hold?.state !== 'paying') return outcome();

        const { context } = hold;
        const charge = chargesOut.join(params.id, () => chargeHold(services, context, { correlationId, traceparent }, send, { now, ticketIds: () => context.seats.map(() => ids.uuid()) }));
        // A joined charge feeds its outcome through the request that started it: read the hold after it.
        if (charge.joined) last = null;
        let charged: ChargeOutcome;
        try {
          charged = await charge.outcome;
        } catch (error) {
          if (!(error instanceof RetryableError)) throw error;
          // No answer (a timeout, a 5xx, a lost connection): the charge may or may not have been made. It
          // stays pending; a repeat of this confirm (any key) or the hold's recovery settles it, once.
          logger.warn('the payments service did not answer a charge; it stays pending', { actor: `hold/${params.id}`, hold_id: params.id, correlation_id: correlationId, err: error });
          return problem(503, 'PAYMENT_UNAVAILABLE', 'the payments service did not answer; the charge is pending: repeat the confirm to settle it (nothing is charged twice)', {
            retryable: true,
            headers: { 'Retry-After': '1' },
          });
        }
        if (charged === 'declined') return problem(402, 'PAYMENT_DECLINED', 'the payment was declined');
        if (charged instanceof TerminalError) {
          logger.error('the payments service refused a charge (not a decline); nothing was charged', { actor: `hold/${params.id}`, hold_id: params.id, correlation_id: correlationId, err: charged });
          return problem(502, 'PAYMENT_FAILED', 'the payments service refused the charge; nothing was charged and the hold is kept', { retryable: true });
        }
        return outcome();
      },
      {
        params: HoldParams,
        body: ConfirmHoldBody,
        auth: true,
        rateLimit: 'holds',
        // Repeats are safe without a key too (one charge per hold); with one they replay.
        idempotent: true,
        response: { 200: ConfirmedHold },
        detail: { summary: 'Pay for a hold and get its tickets', description: 'Repeats return the first result. A released hold is 409 NOT_ALLOWED_IN_STATE.',
          responses: problemResponses({ 402: ['PAYMENT_DECLINED'], 404: ['HOLD_NOT_FOUND'], 409: ['HOLD_EXPIRED', 'NOT_ALLOWED_IN_STATE'], 502: ['PAYMENT_FAILED'], 503: ['PAYMENT_UNAVAILABLE'] }),
          tags,
        },
      },
    );
}
