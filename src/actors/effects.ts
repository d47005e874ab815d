import type { AnyMachineSnapshot, StateValue } from 'xstate';
import type { TimerSet } from './ports';

/** A message an actor emitted, before the runtime gives it an id, a sequence and metadata. */
export interface EmittedMessage {
  name: string;
  kind: 'event' | 'command';
  data: Record<string, unknown>;
}

/** What one transition asks the world to do: facts and commands to append, timers to set or cancel. */
export interface Effects {
  messages: EmittedMessage[];
  timers: { set: TimerSet[]; cancel: string[] };
}

interface ActionLike {
  type: string;
  params?: unknown;
}

const FACT_NAME = /_v\d+$/;

/** Built-in actions `transition()` has already applied to the snapshot: nothing is left to do for them. */
const APPLIED = new Set(['xstate.assign', 'xstate.raise']);

/**
 * Turns the actions returned by XState's pure `transition()` into effects. Persisted machines may only
 * assign, raise and emit: any other executable action (a custom side effect, an invoked or spawned
 * child, `sendTo`, `log`, a delayed raise that would not survive a restart) is a programming error and
 * fails loudly.
 */
export function collectEffects(actions: readonly ActionLike[]): Effects {
  const effects: Effects = { messages: [], timers: { set: [], cancel: [] } };
  for (const action of actions) {
    if (action.type !== 'xstate.emit') {
      const delayed = (action.params as { delay?: unknown } | undefined)?.delay !== undefined;
      if (APPLIED.has(action.type) && !delayed) continue;
      throw new Error(
        `persisted machines may only assign and emit; got action "${action.type}"` +
          (delayed ? ' with a delay (use a durable timer)' : ''),
      );
    }
    const { type, ...rest } = (action.params as { event: { type: string } & Record<string, unknown> }).event;
    if (type === 'timer.set') {
      const t = rest as Omit<TimerSet, never>;
      effects.timers.set.push({ name: t.name, dueAt: t.dueAt, event: t.event });
    } else if (type === 'timer.cancel') {
      effects.timers.cancel.push(rest.name as string);
    } else {
      effects.messages.push({ name: type, kind: FACT_NAME.test(type) ? 'event' : 'command', data: rest });
    }
  }
  return effects;
}

/** A state value as one string: `held`, `payment.awaiting`, or `a.x,b.y` for parallel regions. */
export function stateName(value: StateValue): string {
  if (typeof value === 'string') return value;
  return Object.entries(value)
    .map(([key, child]) => {
      if (child === undefined) return key;
      const inner = stateName(child);
      return inner ? `${key}.${inner}` : key;
    })
    .join(',');
}

export const stateOf = (snapshot: AnyMachineSnapshot): string => stateName(snapshot.value);
