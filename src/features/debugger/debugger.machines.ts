import type { AnyStateMachine } from 'xstate';

/** An action or a guard as the exported JSON names it: a name, with its parameters when it has some. */
export type NamedRef = string | { type: string; params?: unknown };

/** One transition of an exported machine. */
export interface TransitionJson {
  /** `#<state id>` targets; absent for a targetless transition. */
  target?: string[];
  guard?: NamedRef;
  actions?: NamedRef[];
  reenter?: boolean;
  description?: string;
}

/** One state node, in the shape of an XState config. */
export interface StateJson {
  id: string;
  type?: 'compound' | 'parallel' | 'final' | 'history';
  initial?: string;
  entry?: NamedRef[];
  exit?: NamedRef[];
  on?: Record<string, TransitionJson[]>;
  always?: TransitionJson[];
  after?: Record<string, TransitionJson[]>;
  tags?: string[];
  description?: string;
  meta?: unknown;
  states?: Record<string, StateJson>;
}

/** A whole machine as JSON that `createMachine` and Stately's tools accept. */
export interface MachineJson extends StateJson {
  /** The versioned machine id, e.g. `booking-v1`. */
  id: string;
  /** The initial context when it is plain data (a context factory is not exportable). */
  context?: unknown;
}

/** A machine with where it sits in the registry. */
export interface ExportedMachine {
  id: string;
  kind: string;
  version: number;
  /** True for the version new actors start on. */
  current: boolean;
  definition: MachineJson;
}

interface Named {
  type?: unknown;
  name?: unknown;
  params?: unknown;
}

/**
 * Names an action or a guard. Machines built with `setup` refer to implementations by name already;
 * inline functions (`assign(…)`, `and([…])`) carry their built-in type (`xstate.assign`), and an
 * anonymous function becomes `inline:<function name>` so the JSON never holds code.
 */
export function nameOf(ref: unknown): NamedRef {
  if (typeof ref === 'string') return ref;
  if (typeof ref === 'function') {
    const fn = ref as Named;
    if (typeof fn.type === 'string') return fn.type;
    return `inline:${typeof fn.name === 'string' && fn.name !== '' ? fn.name : 'anonymous'}`;
  }
  if (ref !== null && typeof ref === 'object') {
    const obj = ref as Named;
    const type = typeof obj.type === 'string' ? obj.type : typeof obj.type === 'function' ? String(nameOf(obj.type)) : 'inline:anonymous';
    return obj.params === undefined || typeof obj.params === 'function' ? type : { type, params: obj.params };
  }
  return 'inline:anonymous';
}

interface NodeDefinitionLike {
  id: string;
  key: string;
  type: string;
  initial?: { target?: readonly unknown[] };
  on?: Record<string, readonly TransitionLike[]>;
  always?: readonly TransitionLike[];
  entry?: readonly unknown[];
  exit?: readonly unknown[];
  tags?: readonly string[];
  description?: string;
  meta?: unknown;
}

interface TransitionLike {
  target?: readonly unknown[] | undefined;
  guard?: unknown;
  actions?: readonly unknown[];
  reenter?: boolean;
  description?: string;
  eventType?: string;
  delay?: unknown;
}

interface StateNodeLike {
  id: string;
  key: string;
  type: string;
  definition: NodeDefinitionLike;
  states: Record<string, StateNodeLike>;
  initial?: { target?: readonly StateNodeLike[] };
  after?: readonly TransitionLike[];
  always?: readonly TransitionLike[];
}

const targetId = (target: unknown): string => {
  if (typeof target === 'string') return target.startsWith('#') ? target : `#${target}`;
  return `#${(target as { id: string }).id}`;
};

function transitionJson(t: TransitionLike): TransitionJson {
  const json: TransitionJson = {};
  if (t.target && t.target.length > 0) json.target = t.target.map(targetId);
  if (t.guard !== undefined) json.guard = nameOf(t.guard);
  if (t.actions && t.actions.length > 0) json.actions = t.actions.map(nameOf);
  if (t.reenter) json.reenter = true;
  if (t.description) json.description = t.description;
  return json;
}

function stateJson(node: StateNodeLike): StateJson {
  const def = node.definition;
  const json: StateJson = { id: node.id };
  if (node.type === 'parallel' || node.type === 'final' || node.type === 'history') json.type = node.type;
  const initialTarget = node.initial?.target?.[0];
  if (node.type === 'compound' && initialTarget) json.initial = initialTarget.key;
  if (def.entry && def.entry.length > 0) json.entry = def.entry.map(nameOf);
  if (def.exit && def.exit.length > 0) json.exit = def.exit.map(nameOf);
  const on: Record<string, TransitionJson[]> = {};
  const after: Record<string, TransitionJson[]> = {};
  for (const [event, transitions] of Object.entries(def.on ?? {})) {
    // Delayed transitions are listed under generated `xstate.after.*` events; they go under `after`.
    if (event === '' || event.startsWith('xstate.after.')) continue;
    on[event] = transitions.map(transitionJson);
  }
  for (const t of node.after ?? []) {
    const delay = typeof t.delay === 'number' || typeof t.delay === 'string' ? String(t.delay) : 'inline:delay';
    (after[delay] ??= []).push(transitionJson(t));
  }
  if (Object.keys(on).length > 0) json.on = on;
  if (Object.keys(after).length > 0) json.after = after;
  const always = node.always ?? def.always;
  if (always && always.length > 0) json.always = always.map(transitionJson);
  if (def.tags && def.tags.length > 0) json.tags = [...def.tags];
  if (def.description) json.description = def.description;
  if (def.meta !== undefined) json.meta = def.meta;
  const children = Object.entries(node.states ?? {});
  if (children.length > 0) json.states = Object.fromEntries(children.map(([key, child]) => [key, stateJson(child)]));
  return json;
}

/**
 * Exports one machine as an XState config in JSON: every state, transition (`#id` targets), guard and
 * action by name. `createMachine(exportMachine(m))` builds the same chart (without the implementations,
 * which stay in code).
 */
export function exportMachine(machine: AnyStateMachine): MachineJson {
  const root = stateJson(machine.root as unknown as StateNodeLike);
  const context = (machine.config as { context?: unknown }).context;
  return { ...root, id: machine.id, ...(context !== undefined && typeof context !== 'function' ? { context } : {}) };
}

/** The version number of a `<name>-v<N>` machine id. */
export const versionOf = (machineId: string): number => Number(/-v(\d+)$/.exec(machineId)?.[1] ?? 0);
