import { graphlib, layout, type EdgeLabel, type GraphLabel, type NodeLabel } from '@dagrejs/dagre';
import type { MachineJson, NamedRef, StateJson, TransitionJson } from './debugger.machines';

/** A state drawn as a box: top-left corner and size; a compound state's box holds its children's. */
export interface LayoutNode {
  /** Dotted path from the root (`payment.awaiting`), as the actor's state value names it. */
  path: string;
  /** The state's key, its label. */
  key: string;
  x: number;
  y: number;
  width: number;
  height: number;
  /** Has child states (drawn as a container). */
  compound: boolean;
  final: boolean;
  /** The initial state of its parent. */
  initial: boolean;
}

/** A transition drawn as a labelled polyline. */
export interface LayoutEdge {
  from: string;
  to: string;
  /** The event (`booking.make`), `always`, or `after <delay>`. */
  event: string;
  guard?: string;
  points: { x: number; y: number }[];
  /** Centre of the label. */
  label: { x: number; y: number };
}

/** Where to draw every state and transition of a machine. */
export interface MachineLayout {
  machineId: string;
  width: number;
  height: number;
  nodes: LayoutNode[];
  edges: LayoutEdge[];
}

const NODE_HEIGHT = 36;
const CHAR_WIDTH = 7;
const LABEL_CHAR_WIDTH = 6;
const LABEL_HEIGHT = 14;

interface FlatState {
  path: string;
  key: string;
  node: StateJson;
  parent: string | undefined;
  initial: boolean;
}

function flatten(root: StateJson): FlatState[] {
  const out: FlatState[] = [];
  const walk = (node: StateJson, path: string | undefined) => {
    for (const [key, child] of Object.entries(node.states ?? {})) {
      const childPath = path === undefined ? key : `${path}.${key}`;
      out.push({ path: childPath, key, node: child, parent: path, initial: node.initial === key });
      walk(child, childPath);
    }
  };
  walk(root, undefined);
  return out;
}

const refName = (ref: NamedRef): string => (typeof ref === 'string' ? ref : ref.type);

/**
 * Every transition with a target, as (source path, target path, event, guard). Branches of one event
 * that lead from the same state to the same target are one line, which a step of the history then
 * highlights unambiguously: its guard is the branches' guards joined by `|`, or none when one of them
 * has none (that line is taken whatever the guards say).
 */
function transitionsOf(states: readonly FlatState[]): Omit<LayoutEdge, 'points' | 'label'>[] {
  const merged = new Map<string, Omit<LayoutEdge, 'points' | 'label'> & { guards: string[] | null }>();
  for (const t of branchesOf(states)) {
    const key = `${t.from}\n${t.event}\n${t.to}`;
    const seen = merged.get(key);
    const guards = t.guard === undefined ? null : [t.guard];
    if (!seen) merged.set(key, { from: t.from, to: t.to, event: t.event, guards });
    else seen.guards = seen.guards === null || guards === null ? null : [...seen.guards, ...guards];
  }
  return [...merged.values()].map(({ guards, ...t }) => (guards === null ? t : { ...t, guard: guards.join(' | ') }));
}

/** Every branch of every transition with a target. */
function branchesOf(states: readonly FlatState[]): Omit<LayoutEdge, 'points' | 'label'>[] {
  const pathById = new Map(states.map((s) => [s.node.id, s.path]));
  const groups = (node: StateJson): [string, TransitionJson[]][] => [
    ...Object.entries(node.on ?? {}),
    ...(node.always ? [['always', node.always] as [string, TransitionJson[]]] : []),
    ...Object.entries(node.after ?? {}).map(([delay, ts]): [string, TransitionJson[]] => [`after ${delay}`, ts]),
  ];
  return states.flatMap((state) =>
    groups(state.node).flatMap(([event, transitions]) =>
      transitions.flatMap((t) =>
        (t.target ?? []).flatMap((target) => {
          const to = pathById.get(target.replace(/^#/, ''));
          return to === undefined ? [] : [{ from: state.path, to, event, ...(t.guard === undefined ? {} : { guard: refName(t.guard) }) }];
        }),
      ),
    ),
  );
}

/**
 * Lays out a machine's statechart left to right with dagre: states as boxes (compound states as
 * containers of their children), transitions as labelled polylines. Dagre cannot route an edge to or from
 * a container, so such an edge is laid out to the container's initial leaf (where XState enters it) or
 * from it. Pure and deterministic: the same definition always gives the same layout.
 */
export function layoutMachine(definition: MachineJson): MachineLayout {
  const states = flatten(definition);
  const byPath = new Map(states.map((s) => [s.path, s]));
  const isCompound = (s: FlatState) => Object.keys(s.node.states ?? {}).length > 0;
  const leafOf = (path: string): string => {
    let state = byPath.get(path);
    while (state && isCompound(state)) {
      const initial = state.node.initial ?? Object.keys(state.node.states ?? {})[0];
      state = byPath.get(`${state.path}.${initial}`);
    }
    return state?.path ?? path;
  };

  const g = new graphlib.Graph<GraphLabel, NodeLabel, EdgeLabel>({ multigraph: true, compound: true });
  g.setGraph({ rankdir: 'LR', nodesep: 30, ranksep: 60, edgesep: 12, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const state of states) {
    g.setNode(state.path, isCompound(state) ? { width: 0, height: 0, paddingTop: 24 } : { width: Math.max(100, state.key.length * CHAR_WIDTH + 28), height: NODE_HEIGHT });
    if (state.parent !== undefined) g.setParent(state.path, state.parent);
  }
  const transitions = transitionsOf(states);
  transitions.forEach((t, i) => {
    const text = t.event + (t.guard ? ` [${t.guard}]` : '');
    g.setEdge(leafOf(t.from), leafOf(t.to), { width: text.length * LABEL_CHAR_WIDTH, height: LABEL_HEIGHT, labelpos: 'c' }, `e${i}`);
  });
  layout(g);

  const round = (n: number | undefined) => Math.round((n ?? 0) * 10) / 10;
  const nodes = states.map((state): LayoutNode => {
    const n = g.node(state.path);
    return {
      path: state.path,
      key: state.key,
      x: round((n.x ?? 0) - n.width / 2),
      y: round((n.y ?? 0) - n.height / 2),
      width: round(n.width),
      height: round(n.height),
      compound: isCompound(state),
      final: state.node.type === 'final',
      initial: state.initial,
    };
  });
  const edges = transitions.map((t, i): LayoutEdge => {
    const e = g.edge({ v: leafOf(t.from), w: leafOf(t.to), name: `e${i}` });
    return { ...t, points: (e.points ?? []).map((p) => ({ x: round(p.x), y: round(p.y) })), label: { x: round(e.x), y: round(e.y) } };
  });
  const graph = g.graph();
  return { machineId: definition.id, width: round(graph.width), height: round(graph.height), nodes, edges };
}
