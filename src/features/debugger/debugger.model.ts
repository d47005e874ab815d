import { z } from 'zod';
import { CURSOR_ADDRESS, CURSOR_TIME, cursorParam, limitParam } from '../../http/pagination';
import { UuidInput } from '../../http/schemas';
import type { ActorSummary } from './debugger.queries';
import type { HistoryStep, TimelineEntry } from './debugger.timeline';

/** `GET /api/actors` query. */
export const ActorSearchQuery = z.object({
  kind: z.string().max(100).optional(),
  state: z.string().max(200).optional(),
  q: z.string().max(200).optional(),
  limit: limitParam,
  cursor: cursorParam(CURSOR_TIME, CURSOR_ADDRESS).optional(),
});

/** `:address` of an actor, URL-encoded `<kind>/<id>`. */
export const ActorParams = z.object({ address: z.string().regex(/^[A-Za-z][A-Za-z0-9]*\/[^/]+$/, 'an actor address <kind>/<id>') });

/** `:id` of a machine version (`booking-v1`). */
export const IdParams = z.object({ id: z.string().min(1).max(200) });
/** A booking's id: a `booking` actor's, or a `hold` actor's (a hold confirmed is a booking). */
export const BookingIdParams = z.object({ id: UuidInput });

/** An actor as the search lists it. */
export const toActorBody = (a: ActorSummary) => ({
  address: a.address,
  kind: a.kind,
  machine_id: a.machineId,
  version: a.version,
  state: a.state,
  status: a.status,
  updated_at: a.updatedAt,
});

/** A timeline line as the API shows it (snake_case). */
export const toTimelineBody = (e: TimelineEntry) => ({
  kind: e.kind,
  at: e.at,
  ...(e.step === undefined ? {} : { step: e.step }),
  name: e.name,
  ...(e.from === undefined ? {} : { from: e.from, to: e.to }),
  ...(e.messageId === undefined ? {} : { message_id: e.messageId }),
  ...(e.handler === undefined ? {} : { handler: e.handler }),
  ...(e.attempts === undefined ? {} : { attempts: e.attempts }),
  ...(e.error === undefined ? {} : { error: e.error }),
  ...(e.status === undefined ? {} : { status: e.status }),
  ...(e.dueAt === undefined ? {} : { due_at: e.dueAt }),
  ...(e.data === undefined ? {} : { data: e.data }),
  correlation_id: e.correlationId ?? null,
  trace_id: e.traceId ?? null,
});

/** A step of time travel as the API shows it. */
export const toStepBody = (s: HistoryStep) => ({
  step: s.step,
  at: s.at,
  event: s.event,
  from: s.from,
  to: s.to,
  rejected: s.rejected,
  value: s.value,
  context: s.context,
  correlation_id: s.correlationId ?? null,
  trace_id: s.traceId ?? null,
});
