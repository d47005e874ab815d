import { Elysia } from 'elysia';
import { sendCommand } from '../../http/commands';
import { problem } from '../../http/problem';
import { createRequestContext } from '../../http/requestContext';
import type { FeatureDeps } from '../feature';
import {
  CreateEventBody,
  CreatedEvent,
  CreatedPerformer,
  CreatedVenue,
  CreatePerformerBody,
  CreateVenueBody,
  EventDetails,
  EventParams,
} from './catalogue.model';
import { findEvent, findPerformers, findVenue } from './catalogue.queries';
import { problemResponses, successResponse } from '../../http/openapiProblems';

const tags = ['catalogue'];

/**
 * `POST /api/venues`, `POST /api/performers`, `POST /api/events` (all ops: the catalogue is curated)
 * and `GET /api/events/:id` (public; seats with live status, read-your-writes).
 */
export function catalogueRoutes({ runtime, store, clock, ids, tracing, idempotency, auth }: FeatureDeps) {
  return new Elysia({ name: 'catalogue', prefix: '/api' })
    .use(createRequestContext({ tracing, ids }))
    .use(auth)
    .use(idempotency)
    .post(
      '/venues',
      ({ body, idempotency, correlationId, requestId, traceparent, traceId }) => {
        const venueId = ids.uuid();
        return sendCommand(runtime, {
          address: `venue/${venueId}`,
          event: { type: 'venue.create', now: clock.now().toISOString(), venue_id: venueId, ...body },
          create: true,
          minted: true,
          request: { correlationId, requestId, traceparent, traceId },
          idempotency,
          respond: () => ({ status: 201, body: { venue_id: venueId } }),
        });
      },
      { body: CreateVenueBody, auth: 'ops', idempotent: true, response: { 201: CreatedVenue }, detail: { summary: 'Create a venue', tags } },
    )
    .post(
      '/performers',
      ({ body, idempotency, correlationId, requestId, traceparent, traceId }) => {
        const performerId = ids.uuid();
        return sendCommand(runtime, {
          address: `performer/${performerId}`,
          event: { type: 'performer.create', now: clock.now().toISOString(), performer_id: performerId, ...body },
          create: true,
          minted: true,
          request: { correlationId, requestId, traceparent, traceId },
          idempotency,
          respond: () => ({ status: 201, body: { performer_id: performerId } }),
        });
      },
      { body: CreatePerformerBody, auth: 'ops', idempotent: true, response: { 201: CreatedPerformer }, detail: { summary: 'Create a performer', tags } },
    )
    .post(
      '/events',
      async ({ body, idempotency, correlationId, requestId, traceparent, traceId }) => {
        const now = clock.now().toISOString();
        if (body.start_time <= now) return problem(422, 'START_TIME_IN_PAST', 'start_time must be in the future', { errors: { start_time: ['must be in the future'] } });
        const venue = await findVenue(store, body.venue_id);
        if (!venue) return problem(422, 'VENUE_NOT_FOUND', `venue ${body.venue_id} does not exist`, { errors: { venue_id: ['unknown venue'] } });
        const performerIds = [...new Set(body.performer_ids)];
        const performers = await findPerformers(store, performerIds);
        if (performers.length !== performerIds.length) return problem(422, 'PERFORMER_NOT_FOUND', 'some performers do not exist', { errors: { performer_ids: ['unknown performer'] } });
        const eventId = ids.uuid();
        return sendCommand(runtime, {
          address: `event/${eventId}`,
          event: {
            type: 'event.create',
            now,
            event_id: eventId,
            name: body.name,
            description: body.description,
            start_time: body.start_time,
            venue,
            performers,
            seats: body.seats,
            hold_policy: body.hold_policy,
          },
          create: true,
          minted: true,
          request: { correlationId, requestId, traceparent, traceId },
          idempotency,
          respond: () => ({ status: 201, body: { event_id: eventId }, headers: { location: `/api/events/${eventId}` } }),
        });
      },
      {
        body: CreateEventBody,
        auth: 'ops',
        idempotent: true,
        response: { 201: CreatedEvent },
        detail: {
          summary: 'Create an event with numbered seats and a hold policy',
          responses: { ...problemResponses({ 422: ['START_TIME_IN_PAST', 'VENUE_NOT_FOUND', 'PERFORMER_NOT_FOUND'] }), ...successResponse(201, 'Created', { headers: ['Location'] }) },
          tags,
        },
      },
    )
    .get(
      '/events/:id',
      async ({ params }) => {
        const event = await findEvent(store, params.id, clock.now().toISOString());
        if (!event) return problem(404, 'EVENT_NOT_FOUND', `event ${params.id} not found`);
        return Response.json(event);
      },
      { params: EventParams, response: { 200: EventDetails }, detail: { summary: 'An event with every seat and its live status', responses: problemResponses({ 404: ['EVENT_NOT_FOUND'] }), tags } },
    );
}
