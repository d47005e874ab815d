import type { CallNote } from '../../../machines/shared/calls';
import type { JournalEntry, Message, TimerSet } from '../../actors/ports';

/** A handler's processing of one message (a row of `inbox`). */
export interface Delivery {
  handler: string;
  messageId: string;
  /** For a handler that calls another service, when the successful attempt began (its call). */
  processedAt: string;
  /**
   * `external` when the handler called another service, `refused` when that service refused the call
   * (a terminal answer the handler reported, e.g. a flight not booked), `resolved` when an operator found
   * that a call whose answer was lost took effect, `settled` when a later ask of the step did it; null
   * for rows older than the column.
   */
  effect: 'local' | 'external' | 'refused' | 'resolved' | 'settled' | null;
}

/** One failed attempt of a handler on a message (a row of `delivery_attempts`). */
export interface FailedAttempt {
  handler: string;
  effect: 'local' | 'external';
  messageId: string;
  /** 1-based attempt number within the delivery. */
  attempt: number;
  error: string;
  at: string;
}

/** A message a handler gave up on (a row of `dead_letters`). */
export interface DeadLetterRow {
  id: string;
  handler: string;
  messageId: string;
  error: string;
  attempts: number;
  status: string;
  failedAt: string;
  redrivenAt: string | null;
}

/** Everything stored about one actor, as the timeline is assembled from it. */
export interface TimelineSources {
  journal: JournalEntry[];
  messages: Message[];
  deliveries: Delivery[];
  failedAttempts: FailedAttempt[];
  deadLetters: DeadLetterRow[];
  /** Timers still pending. */
  timers: TimerSet[];
}

export type TimelineKind =
  | 'command'
  | 'transition'
  | 'rejected'
  | 'timer.fired'
  | 'timer.scheduled'
  | 'timer.cancelled'
  | 'fact'
  | 'outbound'
  | 'delivery.failed'
  | 'delivery'
  | 'external.call'
  | 'dead_letter'
  | 'timer.pending';

/** One line of an actor's timeline. */
export interface TimelineEntry {
  kind: TimelineKind;
  at: string;
  /** Index of the journal step this belongs to (the step that emitted a message, for its deliveries). */
  step?: number;
  /** Event type (commands, transitions), message name (facts, outbound commands), handler (deliveries), timer name. */
  name: string;
  from?: string;
  to?: string;
  messageId?: string;
  handler?: string;
  /** Attempts made (deliveries, calls, dead letters), or the number of this attempt (`delivery.failed`). */
  attempts?: number;
  error?: string;
  status?: string;
  /** When a timer is (or was) due. */
  dueAt?: string;
  data?: unknown;
  correlationId?: string;
  traceId?: string;
}

/** Trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`). */
export const traceIdOf = (traceparent: string | undefined): string | undefined => traceparent?.split('-')[1];

// Within one instant, a step's command comes before its transition, which comes before what it did to
// timers, what it emitted and what happened to that; timers still pending without a recorded step last.
const ORDER: Record<TimelineKind, number> = {
  command: 0,
  'timer.fired': 0,
  transition: 1,
  rejected: 1,
  'timer.scheduled': 2,
  'timer.cancelled': 2,
  fact: 2,
  outbound: 2,
  'delivery.failed': 3,
  delivery: 3,
  'external.call': 3,
  dead_letter: 4,
  'timer.pending': 5,
};

const isTimerEvent = (event: JournalEntry['event']): boolean => typeof event.due_at === 'string';

/** What a handler did with a message: it follows the step that emitted the message. */
const HANDLED = new Set<TimelineEntry['kind']>(['delivery.failed', 'delivery', 'external.call', 'dead_letter']);

/**
 * Where an entry falls among the journal steps: step k itself, just after it for what handlers did
 * with its messages, just before it for the call whose outcome it carries (no message: a route's call);
 * after every step when it belongs to none (a message of a journal row older than the message ids). A
 * number for every entry, so that (time, position, kind, arrival) orders them all.
 */
const causalPosition = (entry: TimelineEntry): number => {
  if (entry.step === undefined) return Number.MAX_SAFE_INTEGER;
  if (!HANDLED.has(entry.kind)) return entry.step;
  return entry.messageId === undefined ? entry.step - 0.25 : entry.step + 0.5;
};

type Ids = Pick<TimelineEntry, 'correlationId' | 'traceId'>;

/**
 * Replays the timer instructions of the journal: a `timer.scheduled` entry per timer a step set (with
 * its due time, and whether it is still pending, fired, cancelled or replaced by a later one), a
 * `timer.cancelled` entry per pending timer a step cancelled (by name, or all of them when the actor
 * finished). Pending timers no recorded step scheduled (journal rows older than the record) come last as
 * `timer.pending`.
 */
function timerEntries(journal: readonly JournalEntry[], pending: readonly TimerSet[], idsOf: (step: JournalEntry) => Ids): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  const scheduled = new Map<string, TimelineEntry>();
  const settle = (name: string, status: string) => {
    const entry = scheduled.get(name);
    if (entry === undefined) return false;
    entry.status = status;
    scheduled.delete(name);
    return true;
  };
  journal.forEach((step, index) => {
    const timers = step.timers;
    if (step.rejected || timers === undefined) return;
    if (timers.fired) {
      const entry = scheduled.get(timers.fired.name);
      if (entry?.dueAt === timers.fired.dueAt) settle(timers.fired.name, 'fired');
    }
    const cancelled = timers.cancelAll ? [...scheduled.keys()] : timers.cancel;
    for (const name of cancelled) {
      const dueAt = scheduled.get(name)?.dueAt;
      if (settle(name, 'cancelled')) out.push({ kind: 'timer.cancelled', at: step.at, step: index, name, ...(dueAt ? { dueAt } : {}), ...idsOf(step) });
    }
    for (const timer of timers.set) {
      settle(timer.name, 'replaced');
      const entry: TimelineEntry = { kind: 'timer.scheduled', at: step.at, step: index, name: timer.name, dueAt: timer.dueAt, status: 'scheduled', ...idsOf(step) };
      scheduled.set(timer.name, entry);
      out.push(entry);
    }
  });
  for (const timer of pending) {
    const entry = scheduled.get(timer.name);
    if (entry?.dueAt === timer.dueAt) entry.status = 'pending';
    else out.push({ kind: 'timer.pending', at: timer.dueAt, name: timer.name, dueAt: timer.dueAt, data: timer.event, status: 'pending' });
  }
  return out;
}

/**
 * What happened to one message at each handler: every failed attempt (`delivery.failed`), then one
 * outcome per handler — `external.call` for a handler that calls another service (status `ok`, `failed`
 * when dead-lettered, `retrying` while only failures are known), `delivery` for a local one that
 * processed it — and its dead letter.
 */
function deliveryEntries(message: Message, sources: TimelineSources, base: Pick<TimelineEntry, 'step' | 'messageId'> & Ids): TimelineEntry[] {
  const out: TimelineEntry[] = [];
  const failures = sources.failedAttempts.filter((a) => a.messageId === message.id);
  const deliveries = sources.deliveries.filter((d) => d.messageId === message.id);
  const letters = sources.deadLetters.filter((d) => d.messageId === message.id);
  const handlers = [...new Set([...failures.map((f) => f.handler), ...deliveries.map((d) => d.handler), ...letters.map((l) => l.handler)])];
  for (const handler of handlers) {
    const failed = failures.filter((f) => f.handler === handler);
    const delivery = deliveries.find((d) => d.handler === handler);
    const letter = letters.find((l) => l.handler === handler);
    const attempts = Math.max(failed.at(-1)?.attempt ?? 0, letter?.attempts ?? 0);
    const effect = delivery?.effect ?? failed[0]?.effect ?? null;
    for (const f of failed) out.push({ kind: 'delivery.failed', at: f.at, name: handler, handler, attempts: f.attempt, error: f.error, status: 'failed', ...base });
    if (delivery !== undefined) {
      const called = effect !== 'local' && effect !== null;
      const status = effect === 'external' ? 'ok' : called ? effect : 'processed';
      out.push({ kind: called ? 'external.call' : 'delivery', at: delivery.processedAt, name: handler, handler, attempts: attempts + 1, status, ...base });
    } else if (effect === 'external') {
      const last = failed.at(-1);
      const at = letter?.failedAt ?? last?.at ?? message.occurredAt;
      const error = letter?.error ?? last?.error;
      out.push({ kind: 'external.call', at, name: handler, handler, attempts, ...(error === undefined ? {} : { error }), status: letter ? 'failed' : 'retrying', ...base });
    }
    if (letter !== undefined) {
      out.push({ kind: 'dead_letter', at: letter.failedAt, name: handler, handler, attempts: letter.attempts, error: letter.error, status: letter.status, ...base });
    }
  }
  return out;
}

/** The call a command carries as `call` (CallNote), when it carries one. */
function callNoteOf(event: JournalEntry['event']): CallNote | undefined {
  const call = (event as { call?: unknown }).call;
  if (typeof call !== 'object' || call === null) return undefined;
  const { service, operation, started_at: startedAt, outcome } = call as Record<string, unknown>;
  if (typeof service !== 'string' || typeof operation !== 'string' || typeof startedAt !== 'string' || typeof outcome !== 'string') return undefined;
  return { service, operation, started_at: startedAt, outcome };
}

/**
 * Puts together one actor's history, oldest first: for every journal step the command (or timer firing)
 * and the transition it made (or its rejection), the timers it scheduled or cancelled, each message it
 * emitted (facts, and outbound commands: work for the handlers that call other services), and what each
 * handler did with each message (failed attempts, the delivery or external call, dead letters). Pure:
 * the same stored rows always give the same timeline.
 */
export function assembleTimeline(sources: TimelineSources): TimelineEntry[] {
  const entries: { entry: TimelineEntry; seq: number }[] = [];
  let seq = 0;
  const push = (entry: TimelineEntry) => entries.push({ entry, seq: seq++ });
  const stepOf = new Map<string, number>();
  const idsOf = (step: JournalEntry): Ids => ({ ...(step.correlationId ? { correlationId: step.correlationId } : {}), ...(step.traceId ? { traceId: step.traceId } : {}) });

  sources.journal.forEach((step, index) => {
    const ids = idsOf(step);
    const { type, ...data } = step.event;
    const call = callNoteOf(step.event);
    if (call !== undefined) {
      const failed = call.outcome !== 'ok';
      push({ kind: 'external.call', at: call.started_at, step: index, name: `${call.service}.${call.operation}`, attempts: 1, status: failed ? 'failed' : 'ok', ...(failed ? { error: call.outcome } : {}), data: call, ...ids });
    }
    push({ kind: isTimerEvent(step.event) ? 'timer.fired' : 'command', at: step.at, step: index, name: type, data, ...ids });
    push({
      kind: step.rejected ? 'rejected' : 'transition',
      at: step.at,
      step: index,
      name: type,
      from: step.fromState,
      to: step.rejected ? step.fromState : step.toState,
      ...ids,
    });
    for (const id of step.messageIds) stepOf.set(id, index);
  });
  for (const entry of timerEntries(sources.journal, sources.timers, idsOf)) push(entry);

  for (const message of sources.messages) {
    const step = stepOf.get(message.id);
    const traceId = traceIdOf(message.metadata.traceparent);
    const base = { ...(step === undefined ? {} : { step }), messageId: message.id, correlationId: message.metadata.correlation_id, ...(traceId ? { traceId } : {}) };
    push({ kind: message.kind === 'event' ? 'fact' : 'outbound', at: message.occurredAt, name: message.name, data: message.data, ...base });
    for (const entry of deliveryEntries(message, sources, base)) push(entry);
  }

  return entries
    .sort((a, b) => {
      const pa = a.entry.kind === 'timer.pending' ? 1 : 0;
      const pb = b.entry.kind === 'timer.pending' ? 1 : 0;
      if (pa !== pb) return pa - pb;
      if (a.entry.at !== b.entry.at) return a.entry.at < b.entry.at ? -1 : 1;
      // In the same millisecond (a fast call and the reply it caused): what handlers did with a step's
      // messages comes before the later steps, which those handlers may have caused.
      return causalPosition(a.entry) - causalPosition(b.entry) || ORDER[a.entry.kind] - ORDER[b.entry.kind] || a.seq - b.seq;
    })
    .map((e) => e.entry);
}

/** One step of time travel: the state and context the actor had after a journal step. */
export interface HistoryStep {
  step: number;
  at: string;
  event: JournalEntry['event'];
  from: string;
  to: string;
  rejected: boolean;
  /** Snapshot value (for the diagram) and context after the step; a rejection keeps the previous ones. */
  value: unknown;
  context: unknown;
  correlationId?: string;
  traceId?: string;
}

/**
 * The states and contexts an actor went through, one per journal step, read from the stored snapshots
 * (never by re-running the machine, so no side effect is repeated). A rejected command has no snapshot
 * of its own: it shows the state it was rejected in.
 */
export function historyOf(journal: readonly JournalEntry[]): HistoryStep[] {
  let value: unknown = null;
  let context: unknown = null;
  return journal.map((entry, step) => {
    const snapshot = entry.snapshot as { value?: unknown; context?: unknown } | null;
    if (!entry.rejected && snapshot) {
      value = snapshot.value ?? entry.toState;
      context = snapshot.context ?? null;
    }
    return {
      step,
      at: entry.at,
      event: entry.event,
      from: entry.fromState,
      to: entry.rejected ? entry.fromState : entry.toState,
      rejected: entry.rejected,
      value: entry.rejected && value === null ? entry.fromState : value,
      context,
      ...(entry.correlationId ? { correlationId: entry.correlationId } : {}),
      ...(entry.traceId ? { traceId: entry.traceId } : {}),
    };
  });
}

/** One changed path between two contexts. */
export interface ContextChange {
  path: string;
  before?: unknown;
  after?: unknown;
}

/** The leaf-level differences between two JSON values (`a.b[0].c` paths). */
export function diffContext(before: unknown, after: unknown, path = ''): ContextChange[] {
  if (JSON.stringify(before) === JSON.stringify(after)) return [];
  const isObj = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object';
  if (isObj(before) && isObj(after) && Array.isArray(before) === Array.isArray(after)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    return keys.flatMap((key) => diffContext(before[key], after[key], Array.isArray(after) ? `${path}[${key}]` : path ? `${path}.${key}` : key));
  }
  return [{ path: path || '(root)', ...(before === undefined ? {} : { before }), ...(after === undefined ? {} : { after }) }];
}
