/**
 * Durable timers, as data. A machine never uses `after` for a deadline that must survive a restart
 * (XState does not persist delayed events); it emits one of these instructions instead, and the runtime
 * writes it to the timers table in the same transaction as the snapshot. When the timer fires, the
 * runtime sends `event` with `now` and `due_at` added, so the machine can ignore a stale one.
 */
export interface TimerSet {
  type: 'timer.set';
  name: string;
  dueAt: string;
  event: { type: string } & Record<string, unknown>;
}

export interface TimerCancel {
  type: 'timer.cancel';
  name: string;
}

export const setTimer = (name: string, dueAt: string, event: TimerSet['event']): TimerSet => ({
  type: 'timer.set',
  name,
  dueAt,
  event,
});

export const cancelTimer = (name: string): TimerCancel => ({ type: 'timer.cancel', name });

/** Adds milliseconds to an RFC 3339 time; pure, so machines can compute deadlines from `event.now`. */
export const addMs = (iso: string, ms: number): string => new Date(Date.parse(iso) + ms).toISOString();
