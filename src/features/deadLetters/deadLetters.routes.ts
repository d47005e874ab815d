import { audit, type Logger } from '../../observability/logger';
import { Elysia } from 'elysia';
import { z } from 'zod';
import type { AuthPlugin } from '../../http/auth';
import type { createIdempotency } from '../../http/idempotency';
import { nextLink, pageResponse } from '../../http/pagination';
import { problem } from '../../http/problem';
import type { DeadLetters, RedriveResult, ResolveResult } from '../../messaging/deadLetters';
import { DEAD_LETTERS_CURSOR, DeadLetterBody, DeadLetterListQuery, DeadLetterParams, RedriveAllBody, toDeadLetterBody } from './deadLetters.model';
import { problemResponses } from '../../http/openapiProblems';

/** What the dead-letter routes need. */
export interface DeadLettersRoutesDeps {
  deadLetters: DeadLetters;
  auth: AuthPlugin;
  /** The `idempotent` route option: a redrive with a key already used replays its first answer. */
  idempotency: ReturnType<typeof createIdempotency>;
  logger: Logger;
}

const tags = ['operations'];

/**
 * Ops routes over the dead letters: list them (newest first, `?limit=`, `?status=`, next page in
 * `Link`), redrive one, redrive all. Every route needs the ops role.
 */
export function deadLettersRoutes({ deadLetters, auth, idempotency, logger }: DeadLettersRoutesDeps) {
  return new Elysia({ name: 'dead-letters', prefix: '/api/ops/dead-letters' })
    .use(auth)
    .use(idempotency)
    .get(
      '',
      async ({ query, request, set }) => {
        const after = query.cursor === undefined ? undefined : { failedAt: query.cursor[0]!, id: query.cursor[1]! };
        const page = await deadLetters.list({ limit: query.limit, status: query.status, after });
        if (page.next !== undefined) set.headers.link = nextLink(request.url, DEAD_LETTERS_CURSOR, [page.next.failedAt, page.next.id]);
        return page.items.map(toDeadLetterBody);
      },
      {
        query: DeadLetterListQuery,
        auth: 'ops',
        response: { 200: z.array(DeadLetterBody) },
        detail: { summary: 'Messages that failed past their retry budget, newest first', responses: pageResponse(), tags },
      },
    )
    .post('/retry', async ({ user }) => {
      const result = await deadLetters.redriveAll();
      audit(logger, 'deadLetters.redriveAll', { user_id: user.id, ...result });
      return result;
    }, {
      auth: 'ops',
      idempotent: true,
      response: { 200: RedriveAllBody },
      detail: { summary: 'Redrive every dead letter, oldest first, except those whose call may have taken effect (counted as skipped)', tags },
    })
    .post(
      '/:id/retry',
      async ({ params, user }) => {
        const result = await deadLetters.redrive(params.id);
        audit(logger, 'deadLetters.redrive', { user_id: user.id, dead_letter_id: params.id, outcome: result.outcome });
        return answerOf(params.id, result, 'retried');
      },
      {
        params: DeadLetterParams,
        auth: 'ops',
        idempotent: true,
        response: { 200: DeadLetterBody },
        detail: {
          summary: 'Run the handler of a dead letter again now; it stays dead with the new error if it fails',
          responses: problemResponses({ 404: ['NOT_FOUND'], 409: ['NOT_ALLOWED_IN_STATE', 'REQUEST_IN_PROGRESS'] }),
          tags,
        },
      },
    )
    .post(
      '/:id/resolve',
      async ({ params, user }) => {
        const result = await deadLetters.resolve(params.id);
        audit(logger, 'deadLetters.resolve', { user_id: user.id, dead_letter_id: params.id, outcome: result.outcome });
        return answerOf(params.id, result, 'resolved');
      },
      {
        params: DeadLetterParams,
        auth: 'ops',
        idempotent: true,
        response: { 200: DeadLetterBody },
        detail: {
          summary: 'Record that the call of a dead letter took effect (checked at the service), and go on from there without calling again',
          description:
            'For the handlers of services that do not deduplicate (Dead Nation, the spreadsheets): a call whose answer was lost may have taken effect. '
            + 'Check the service; if it did, resolve the letter (the booking is placed, the row counts as written); if it did not, redrive it. '
            + 'Other handlers cannot be resolved (409): redrive them.',
          responses: problemResponses({ 404: ['NOT_FOUND'], 409: ['NOT_ALLOWED_IN_STATE', 'REQUEST_IN_PROGRESS'] }),
          tags,
        },
      },
    );
}

/** The answer to a redrive or a resolve of one dead letter: the letter as it is now, or why nothing ran. */
function answerOf(id: string, result: RedriveResult | ResolveResult, verb: 'retried' | 'resolved'): Response {
  switch (result.outcome) {
    case 'not_found':
      return problem(404, 'NOT_FOUND', `dead letter ${id} not found`);
    case 'in_progress':
      return problem(409, 'REQUEST_IN_PROGRESS', `a redrive of dead letter ${id} is under way`, { retryable: true, headers: { 'retry-after': '1' } });
    case 'not_dead':
      return problem(409, 'NOT_ALLOWED_IN_STATE', `dead letter ${id} is ${result.deadLetter.status}; only dead ones can be ${verb}`);
    case 'not_resolvable':
      return problem(409, 'NOT_ALLOWED_IN_STATE', `the handler ${result.deadLetter.handler} cannot go on without its call; redrive the dead letter instead`);
    default:
      // A Response like the problems: Elysia's types refuse a handler returning a body or a Response.
      return Response.json(toDeadLetterBody(result.deadLetter));
  }
}
