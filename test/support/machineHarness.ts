import { initialTransition, transition, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';
import { collectEffects, stateOf, type Effects } from '../../src/actors/effects';

type Event = { type: string } & Record<string, unknown>;

/** What a machine did with one event: where it went and what it asked the world to do. */
export interface Outcome {
  rejected: boolean;
  state: string;
  status: string;
  context: Record<string, unknown>;
  /** Facts (`Name_vN`) as `{ type, ...data }`. */
  facts: Event[];
  /** Outbound commands as `{ type, ...data }`. */
  commands: Event[];
  timers: Effects['timers'];
}

/**
 * Given/when/then for pure machines, the way the runtime runs them: every step goes through the
 * persisted snapshot (as if the actor were reloaded from the store between commands).
 *
 *   const out = given(reservationMachine, opened).when(renewed);
 *   expect(out.state).toBe('open');
 */
export function given(machine: AnyStateMachine, ...history: Event[]) {
  let [snapshot] = initialTransition(machine);
  for (const event of history) {
    if (!snapshot.can(event)) throw new Error(`given: ${event.type} is not accepted in ${stateOf(snapshot)}`);
    snapshot = reload(machine, transition(machine, snapshot, event)[0]);
  }
  return {
    when(event: Event): Outcome {
      if (!snapshot.can(event)) {
        return { rejected: true, state: stateOf(snapshot), status: snapshot.status, context: snapshot.context, facts: [], commands: [], timers: { set: [], cancel: [] } };
      }
      const [next, actions] = transition(machine, snapshot, event);
      const effects = collectEffects(actions);
      const asEvents = (kind: 'event' | 'command') =>
        effects.messages.filter((m) => m.kind === kind).map((m) => ({ type: m.name, ...m.data }));
      const reloaded = reload(machine, next);
      return {
        rejected: false,
        state: stateOf(reloaded),
        status: reloaded.status,
        context: reloaded.context,
        facts: asEvents('event'),
        commands: asEvents('command'),
        timers: effects.timers,
      };
    },
  };
}

function reload(machine: AnyStateMachine, snapshot: AnyMachineSnapshot): AnyMachineSnapshot {
  const persisted = JSON.parse(JSON.stringify(machine.getPersistedSnapshot(snapshot)));
  return machine.resolveState(persisted);
}
