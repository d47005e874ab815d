import { z } from 'zod';
import { UuidInput } from '../../http/schemas';
import { CURSOR_TIME, CURSOR_UUID, cursorParam, limitParam, listCursor } from '../../http/pagination';
import type { DeadLetter } from '../../messaging/deadLetters';

/** `dead` until redriven, or resolved by an operator who found that its call had taken effect. */
export const DeadLetterStatus = z.enum(['dead', 'redriven', 'resolved']);

/** Cursors of `GET /api/ops/dead-letters`: `[failed_at, id]` of the last dead letter of the previous page. */
export const DEAD_LETTERS_CURSOR = listCursor('dead-letters', CURSOR_TIME, CURSOR_UUID);

/** `GET /api/ops/dead-letters` query: `limit` 1..100 (default 50), `status`, `cursor`. */
export const DeadLetterListQuery = z.object({
  limit: limitParam,
  status: DeadLetterStatus.optional(),
  /** The `[failed_at, id]` of the last dead letter of the previous page. */
  cursor: cursorParam(DEAD_LETTERS_CURSOR).optional(),
});

/** `:id` of a dead letter: a UUID. */
export const DeadLetterParams = z.object({ id: UuidInput });

/** A dead letter in responses. */
export const DeadLetterBody = z.object({
  id: z.string(),
  handler: z.string(),
  stream: z.string(),
  message_id: z.string(),
  message_name: z.string(),
  /** The actor whose message it is (`ticket/<id>`): its timeline is `GET /api/actors/<actor>/timeline`. */
  actor: z.string(),
  /** The `Correlation-ID` of the request the message came from, as in the logs. */
  correlation_id: z.string(),
  error: z.string(),
  attempts: z.number().int(),
  status: DeadLetterStatus,
  failed_at: z.string(),
  redriven_at: z.string().nullable(),
});
export type DeadLetterBody = z.infer<typeof DeadLetterBody>;

/** The answer of `POST /api/ops/dead-letters/retry`. */
/** `skipped`: dead letters whose call may have taken effect (a `calls_started` row), left for one-by-one redrives. */
export const RedriveAllBody = z.object({ redriven: z.number().int(), failed: z.number().int(), skipped: z.number().int() });

/** A dead letter as the API shows it (snake_case, without the message body). */
export function toDeadLetterBody(letter: DeadLetter): DeadLetterBody {
  return {
    id: letter.id,
    handler: letter.handler,
    stream: letter.stream,
    message_id: letter.messageId,
    message_name: letter.message.name,
    actor: letter.message.actor,
    correlation_id: letter.message.metadata.correlation_id,
    error: letter.error,
    attempts: letter.attempts,
    status: letter.status,
    failed_at: letter.failedAt,
    redriven_at: letter.redrivenAt,
  };
}
