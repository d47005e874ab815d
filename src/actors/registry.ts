import { initialTransition, type AnyMachineSnapshot, type AnyStateMachine } from 'xstate';

/**
 * One kind of actor (`booking`, `hold`, `vipBundle`) and its machine versions. New actors start on
 * `machine`; actors persisted by an older version keep running on it until they finish, so an old
 * definition stays listed in `previous` until no stored snapshot needs it.
 */
export interface ActorKind {
  kind: string;
  machine: AnyStateMachine;
  previous?: AnyStateMachine[];
}

/** Looks up machines by actor kind and by versioned machine id (`booking-v1`). */
export class MachineRegistry {
  private readonly byKind = new Map<string, ActorKind>();
  private readonly byId = new Map<string, AnyStateMachine>();
  private readonly initialByKind = new Map<string, AnyMachineSnapshot>();

  constructor(kinds: ActorKind[]) {
    for (const kind of kinds) {
      if (this.byKind.has(kind.kind)) throw new Error(`actor kind ${kind.kind} registered twice`);
      this.byKind.set(kind.kind, kind);
      for (const machine of [kind.machine, ...(kind.previous ?? [])]) {
        if (!/-v\d+$/.test(machine.id)) throw new Error(`machine id ${machine.id} must end with -v<N>`);
        assertPersistable(machine);
        if (this.byId.has(machine.id)) throw new Error(`machine ${machine.id} registered twice`);
        this.byId.set(machine.id, machine);
      }
      this.initialByKind.set(kind.kind, initialSnapshotOf(kind.machine));
    }
  }

  kind(kind: string): ActorKind | undefined {
    return this.byKind.get(kind);
  }

  machine(machineId: string): AnyStateMachine | undefined {
    return this.byId.get(machineId);
  }

  /**
   * The snapshot a new actor of `kind` starts from, computed once: `initialTransition()` builds a whole
   * actor each time (a quarter of the XState time of a new booking, bench/transitions.ts), and the result is the same for every
   * actor, since machines take no input. Snapshots are never changed in place (`transition()` returns
   * new ones), so one can be shared.
   */
  initialSnapshot(kind: string): AnyMachineSnapshot | undefined {
    return this.initialByKind.get(kind);
  }

  kinds(): ActorKind[] {
    return [...this.byKind.values()];
  }

  /** Every registered machine, all versions. */
  machines(): AnyStateMachine[] {
    return [...this.byId.values()];
  }
}

function initialSnapshotOf(machine: AnyStateMachine): AnyMachineSnapshot {
  const [snapshot, actions] = initialTransition(machine);
  if (actions.length > 0) throw new Error(`machine ${machine.id}: the initial state must have no entry actions`);
  return Object.freeze(snapshot);
}

/**
 * DESIGN.md's rules for persisted machines, checked when they are registered: no `invoke` (a restored
 * snapshot would run it again) and no `after` (XState does not persist delayed events; use a timer).
 */
function assertPersistable(machine: AnyStateMachine): void {
  const pending = [machine.root];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (node.invoke.length > 0) throw new Error(`machine ${machine.id}: state ${node.id} invokes; persisted machines emit commands instead`);
    if (node.after.length > 0) throw new Error(`machine ${machine.id}: state ${node.id} has an after delay; persisted machines use durable timers`);
    pending.push(...Object.values(node.states));
  }
}

/** `<kind>/<id>` — the one address format of the runtime. */
export function parseAddress(address: string): { kind: string; id: string } {
  const slash = address.indexOf('/');
  if (slash <= 0 || slash === address.length - 1) throw new Error(`bad actor address "${address}"`);
  return { kind: address.slice(0, slash), id: address.slice(slash + 1) };
}

