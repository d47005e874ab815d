import { Elysia } from 'elysia';
import { z } from 'zod';
import type { Store } from '../../actors/ports';
import type { ActorRuntime } from '../../actors/runtime';
import type { Clock } from '../../kernel/clock';
import type { IdSource } from '../../kernel/ids';
import { sendCommand } from '../../http/commands';
import type { createIdempotency } from '../../http/idempotency';
import { CURSOR_TIME, CURSOR_UUID, cursorParam, listCursor, optionalLimitParam, pageOf, pageResponse } from '../../http/pagination';
import { problem } from '../../http/problem';
import { createRequestContext } from '../../http/requestContext';
import type { Tracing } from '../../observability/tracing';
import { CreateShowBody, CreatedShow, Show } from './shows.model';
import { listShows } from './shows.queries';
import { problemResponses } from '../../http/openapiProblems';

export interface ShowsRoutesDeps {
  runtime: ActorRuntime;
  store: Store;
  clock: Clock;
  ids: IdSource;
  tracing: Tracing;
  idempotency: ReturnType<typeof createIdempotency>;
}

/** `POST /api/shows` and `GET /api/shows` of the compatibility surface. */
/** Cursors of `GET /api/shows`: `[start_time, show_id]` of the last show of the previous page. */
const SHOWS_CURSOR = listCursor('shows', CURSOR_TIME, CURSOR_UUID);

export function showsRoutes({ runtime, store, clock, ids, tracing, idempotency }: ShowsRoutesDeps) {
  return new Elysia({ name: 'shows', prefix: '/api/shows' })
    .use(createRequestContext({ tracing, ids }))
    .use(idempotency)
    .post(
      '/',
      async ({ body, idempotency, correlationId, requestId, traceparent, traceId }) => {
        const now = clock.now().toISOString();
        if (body.start_time <= now) return problem(422, 'START_TIME_IN_PAST', 'start_time must be in the future', { errors: { start_time: ['must be in the future'] } });
        const showId = ids.uuid();
        return sendCommand(runtime, {
          address: `show/${showId}`,
          event: { type: 'show.create', now, show_id: showId, ...body },
          create: true,
          minted: true,
          request: { correlationId, requestId, traceparent, traceId },
          idempotency,
          respond: () => ({ status: 201, body: { show_id: showId } }),
        });
      },
      {
        body: CreateShowBody,
        idempotent: true,
        detail: { summary: 'Create a show (a general-admission event)', description: '409 when a show with this dead_nation_id exists.', responses: problemResponses({ 409: ['SHOW_ALREADY_EXISTS'], 422: ['START_TIME_IN_PAST'] }) },
        response: { 201: CreatedShow },
      },
    )
    .get(
      '/',
      async ({ query, request, set }) => {
        const shows = await listShows(store, { limit: query.limit, after: query.cursor }, clock.now().toISOString());
        const page = pageOf(shows, query.limit, request.url, SHOWS_CURSOR, (row) => [row.start_time, row.show_id]);
        if (page.link) set.headers.link = page.link;
        return page.items;
      },
      {
        query: z.object({ limit: optionalLimitParam, cursor: cursorParam(SHOWS_CURSOR).optional() }),
        detail: { summary: 'Shows ordered by start_time; everything unless ?limit= (1..100), next page in Link', responses: pageResponse() },
        response: { 200: z.array(Show) },
      },
    );
}
