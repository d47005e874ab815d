import { Elysia } from 'elysia';
import { addMs } from '../../../machines/shared/timers';
import type { VipBundleContext } from '../../../machines/vipBundle/vipBundle.machine';
import { sendCommand } from '../../http/commands';
import { problemResponses, successResponse } from '../../http/openapiProblems';
import { problem } from '../../http/problem';
import { createRequestContext } from '../../http/requestContext';
import type { FeatureDeps } from '../feature';
import { seatsLeft } from '../showCapacity';
import { BookedVipBundle, BookVipBundleBody, isCompensating, toVipBundle, VipBundle, VipBundleParams } from './vipBundles.model';
import { hasStuckCompensation } from './vipBundles.queries';

/** What the VIP bundle routes need besides the feature dependencies. */
export interface VipBundlesRoutesOptions {
  /** How long a bundle may take before it compensates (`VIP_BUNDLE_DEADLINE_SECONDS`). */
  deadlineSeconds: number;
}

/**
 * `POST /api/book-vip-bundle` starts a bundle actor (ids and deadline stamped here; 201 without waiting
 * for the saga) and `GET /api/vip-bundles/:id` reads it back from the actor: read-your-writes.
 */
export function vipBundlesRoutes({ runtime, store, clock, ids, tracing, idempotency }: FeatureDeps, { deadlineSeconds }: VipBundlesRoutesOptions) {
  return new Elysia({ name: 'vip-bundles', prefix: '/api' })
    .use(createRequestContext({ tracing, ids }))
    .use(idempotency)
    .post(
      '/book-vip-bundle',
      async ({ body, idempotency, correlationId, requestId, traceparent, traceId }) => {
        // As book-tickets: an unknown show is 404 now, and a show without the seats asked for 400, not a
        // bundle that fails in the background. Seats that go between this check and the saga's booking
        // are still found out by the saga.
        const now = clock.now().toISOString();
        const left = await seatsLeft(store, body.show_id, now);
        if (left === null) return problem(404, 'SHOW_NOT_FOUND', `show ${body.show_id} not found`, { errors: { show_id: ['unknown show'] } });
        if (left < body.number_of_tickets) return problem(400, 'SOLD_OUT', 'not enough seats available');
        const vipBundleId = ids.uuid();
        const bookingId = ids.uuid();
        return sendCommand(runtime, {
          address: `vipBundle/${vipBundleId}`,
          event: { type: 'vipBundle.start', now, vip_bundle_id: vipBundleId, booking_id: bookingId, deadline_at: addMs(now, deadlineSeconds * 1000), ...body },
          create: true,
          minted: true,
          request: { correlationId, requestId, traceparent, traceId },
          idempotency,
          respond: () => ({
            status: 201,
            body: { booking_id: bookingId, vip_bundle_id: vipBundleId },
            headers: { location: `/api/vip-bundles/${vipBundleId}` },
          }),
        });
      },
      {
        body: BookVipBundleBody,
        idempotent: true,
        detail: {
          summary: 'Book tickets, an inbound and a return flight and a taxi as one bundle',
          description: '201 at once with `Location`; the saga runs in the background (follow it at the Location).',
          responses: { ...problemResponses({ 400: ['SOLD_OUT'], 404: ['SHOW_NOT_FOUND'] }), ...successResponse(201, 'Bundle started', { headers: ['Location'] }) },
        },
        response: { 201: BookedVipBundle },
      },
    )
    .get(
      '/vip-bundles/:id',
      async ({ params }) => {
        const actor = await runtime.get(`vipBundle/${params.id}`);
        if (!actor) return problem(404, 'VIP_BUNDLE_NOT_FOUND', `VIP bundle ${params.id} not found`);
        const context = actor.context as unknown as VipBundleContext;
        const stuck = isCompensating(actor.state) && (await hasStuckCompensation(store, params.id, context.bookingId));
        // A Response like the problem: Elysia's types refuse a handler returning a body or a Response.
        return Response.json(toVipBundle(actor.state, context, stuck));
      },
      {
        params: VipBundleParams,
        response: { 200: VipBundle },
        detail: {
          summary: 'A VIP bundle: its status and every leg',
          description: '`status`: pending, finalized, failed, or compensation_stuck while the compensation step it waits for is in the dead letters (it is asked again later).',
          responses: problemResponses({ 404: ['VIP_BUNDLE_NOT_FOUND'] }),
        },
      },
    );
}
