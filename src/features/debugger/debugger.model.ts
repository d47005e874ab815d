import { z } from 'zod';
import { CURSOR_ADDRESS, CURSOR_TIME, cursorParam, limitParam, listCursor } from '../../http/pagination';
import { UuidInput } from '../../http/schemas';
import { canonicalAddress } from '../../kernel/ids';
import type { ActorSummary } from './debugger.queries';
import type { HistoryStep, TimelineEntry } from './debugger.timeline';

/** Cursors of `GET /api/actors`: `[updated_at, address]` of the last actor of the previous page. */
export const ACTORS_CURSOR = listCursor('actors', CURSOR_TIME, CURSOR_ADDRESS);

/** `GET /api/actors` query. */
export const ActorSearchQuery = z.object({
  kind: z.string().max(100).optional(),
  state: z.string().max(200).optional(),
  q: z.string().max(200).optional(),
  limit: limitParam,
  cursor: cursorParam(ACTORS_CURSOR).optional(),
});

/** `:address` of an actor, URL-encoded `<kind>/<id>`; a UUID id in either case. */
export const ActorParams = z.object({ address: z.string().regex(/^[A-Za-z][A-Za-z0-9]*\/[^/]+$/, 'an actor address <kind>/<id>').transform(canonicalAddress) });

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

// JSON Schemas of the debugger's answers, for the OpenAPI document (these routes have no response schema).
const text = { type: 'string' } as const;
const nullableText = { type: ['string', 'null'] } as const;

/** `GET /api/actors`: a page of actors. */
export const ACTOR_LIST_SCHEMA = {
  type: 'array',
  items: {
    type: 'object',
    required: ['address', 'kind', 'machine_id', 'version', 'state', 'status', 'updated_at'],
    properties: { address: text, kind: text, machine_id: text, version: { type: 'integer' }, state: text, status: text, updated_at: text },
  },
};

/** An actor's timeline and its time-travel steps. */
export const ACTOR_REPORT_SCHEMA = {
  type: 'object',
  required: ['address', 'kind', 'machine_id', 'state', 'status', 'version', 'context', 'updated_at', 'timeline', 'steps'],
  properties: {
    address: text,
    kind: text,
    machine_id: nullableText,
    state: nullableText,
    status: nullableText,
    version: { type: 'integer' },
    context: { description: "The machine's context, as XState holds it" },
    updated_at: nullableText,
    timeline: {
      type: 'array',
      items: {
        type: 'object',
        required: ['kind', 'at', 'name', 'correlation_id', 'trace_id'],
        properties: {
          kind: { enum: ['command', 'transition', 'rejected', 'timer.fired', 'timer.scheduled', 'timer.cancelled', 'fact', 'outbound', 'delivery.failed', 'delivery', 'external.call', 'dead_letter', 'timer.pending'] },
          at: text,
          step: { type: 'integer' },
          name: text,
          from: text,
          to: text,
          message_id: text,
          handler: text,
          attempts: { type: 'integer' },
          error: text,
          status: text,
          due_at: text,
          data: {},
          correlation_id: nullableText,
          trace_id: nullableText,
        },
      },
    },
    steps: {
      type: 'array',
      items: {
        type: 'object',
        required: ['step', 'at', 'event', 'from', 'to', 'rejected', 'value', 'context', 'correlation_id', 'trace_id'],
        properties: { step: { type: 'integer' }, at: text, event: {}, from: text, to: text, rejected: { type: 'boolean' }, value: {}, context: {}, correlation_id: nullableText, trace_id: nullableText },
      },
    },
  },
};

/** One machine version: its id, kind, version, whether new actors start on it, and its XState JSON. */
export const MACHINE_SCHEMA = {
  type: 'object',
  required: ['id', 'kind', 'version', 'current', 'definition'],
  properties: { id: text, kind: text, version: { type: 'integer' }, current: { type: 'boolean' }, definition: { type: 'object', description: 'XState machine JSON' } },
};

/** Where the page draws a machine's states and transitions. */
export const LAYOUT_SCHEMA = {
  type: 'object',
  required: ['machineId', 'width', 'height', 'nodes', 'edges'],
  properties: { machineId: text, width: { type: 'number' }, height: { type: 'number' }, nodes: { type: 'array', items: { type: 'object' } }, edges: { type: 'array', items: { type: 'object' } } },
};
