import type { JournalEntry, Message, TimerSet } from '../../actors/ports';

/** A handler's processing of one message (a row of `inbox`). */
export interface Delivery {
  handler: string;
  messageId: string;
  processedAt: string;
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
  deadLetters: DeadLetterRow[];
  /** Timers still pending. */
  timers: TimerSet[];
}

export type TimelineKind =
  | 'command'
  | 'transition'
  | 'rejected'
  | 'timer.fired'
  | 'fact'
  | 'external.call'
  | 'delivery'
  | 'dead_letter'
  | 'timer.scheduled';

/** One line of an actor's timeline. */
export interface TimelineEntry {
  kind: TimelineKind;
  at: string;
  /** Index of the journal step this belongs to (the step that emitted a message, for its deliveries). */
  step?: number;
  /** Event type (commands, transitions), message name (facts, calls), handler (deliveries), timer name. */
  name: string;
  from?: string;
  to?: string;
  messageId?: string;
  handler?: string;
  attempts?: number;
  error?: string;
  status?: string;
  data?: unknown;
  correlationId?: string;
  traceId?: string;
}

/** Trace id of a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`). */
export const traceIdOf = (traceparent: string | undefined): string | undefined => traceparent?.split('-')[1];

// Within one instant, a step's command comes before its transition, which comes before what it emitted
// and what happened to that; pending timers last.
const ORDER: Record<TimelineKind, number> = {
  command: 0,
  'timer.fired': 0,
  transition: 1,
  rejected: 1,
  fact: 2,
  'external.call': 2,
  delivery: 3,
  dead_letter: 4,
  'timer.scheduled': 5,
};

const isTimerEvent = (event: JournalEntry['event']): boolean => typeof event.due_at === 'string';

/**
 * Puts together one actor's history, oldest first: for every journal step the command (or timer firing)
 * and the transition it made (or its rejection), then each message it emitted — facts, and commands to
 * other services as external calls — each message's deliveries to handlers and dead letters, and finally
 * the timers still pending. Pure: the same stored rows always give the same timeline.
 */
export function assembleTimeline(sources: TimelineSources): TimelineEntry[] {
  const entries: { entry: TimelineEntry; seq: number }[] = [];
  let seq = 0;
  const push = (entry: TimelineEntry) => entries.push({ entry, seq: seq++ });
  const stepOf = new Map<string, number>();

  sources.journal.forEach((step, index) => {
    const ids = { ...(step.correlationId ? { correlationId: step.correlationId } : {}), ...(step.traceId ? { traceId: step.traceId } : {}) };
    const { type, ...data } = step.event;
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

  for (const message of sources.messages) {
    const step = stepOf.get(message.id);
    const traceId = traceIdOf(message.metadata.traceparent);
    const ids = { correlationId: message.metadata.correlation_id, ...(traceId ? { traceId } : {}) };
    push({
      kind: message.kind === 'event' ? 'fact' : 'external.call',
      at: message.occurredAt,
      ...(step === undefined ? {} : { step }),
      name: message.name,
      messageId: message.id,
      data: message.data,
      ...ids,
    });
    for (const delivery of sources.deliveries.filter((d) => d.messageId === message.id)) {
      push({ kind: 'delivery', at: delivery.processedAt, ...(step === undefined ? {} : { step }), name: delivery.handler, handler: delivery.handler, messageId: message.id, status: 'processed', ...ids });
    }
    for (const letter of sources.deadLetters.filter((d) => d.messageId === message.id)) {
      push({
        kind: 'dead_letter',
        at: letter.failedAt,
        ...(step === undefined ? {} : { step }),
        name: letter.handler,
        handler: letter.handler,
        messageId: message.id,
        attempts: letter.attempts,
        error: letter.error,
        status: letter.status,
        ...ids,
      });
    }
  }

  for (const timer of sources.timers) {
    push({ kind: 'timer.scheduled', at: timer.dueAt, name: timer.name, data: timer.event, status: 'pending' });
  }

  return entries
    .sort((a, b) => {
      const pa = a.entry.kind === 'timer.scheduled' ? 1 : 0;
      const pb = b.entry.kind === 'timer.scheduled' ? 1 : 0;
      if (pa !== pb) return pa - pb;
      return a.entry.at < b.entry.at ? -1 : a.entry.at > b.entry.at ? 1 : ORDER[a.entry.kind] - ORDER[b.entry.kind] || a.seq - b.seq;
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
