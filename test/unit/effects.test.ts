import { describe, expect, it } from 'bun:test';
import { assign, emit, fromPromise, log, raise, setup, transition, initialTransition } from 'xstate';
import { collectEffects, stateName } from '../../src/actors/effects';
import { MachineRegistry } from '../../src/actors/registry';

describe('collectEffects', () => {
  it('sorts emitted events into facts, commands and timer instructions', () => {
    const effects = collectEffects([
      { type: 'xstate.emit', params: { event: { type: 'BookingMade_v1', booking_id: 'b1' } } },
      { type: 'xstate.emit', params: { event: { type: 'BookShowTickets', booking_id: 'b1' } } },
      { type: 'xstate.emit', params: { event: { type: 'timer.set', name: 't', dueAt: '2030-01-01T00:00:00.000Z', event: { type: 'x.expire' } } } },
      { type: 'xstate.emit', params: { event: { type: 'timer.cancel', name: 'u' } } },
    ]);
    expect(effects.messages).toEqual([
      { name: 'BookingMade_v1', kind: 'event', data: { booking_id: 'b1' } },
      { name: 'BookShowTickets', kind: 'command', data: { booking_id: 'b1' } },
    ]);
    expect(effects.timers).toEqual({ set: [{ name: 't', dueAt: '2030-01-01T00:00:00.000Z', event: { type: 'x.expire' } }], cancel: ['u'] });
  });

  it('refuses a custom side-effect action', () => {
    expect(() => collectEffects([{ type: 'sendEmail' }])).toThrow(/may only assign and emit/);
  });

  it('refuses a delayed raise, which XState would not persist', () => {
    const machine = setup({}).createMachine({ id: 'delay-v1', initial: 'a', states: { a: { on: { go: { actions: raise({ type: 'later' }, { delay: 1000 }) } } } } });
    const [s0] = initialTransition(machine);
    const [, actions] = transition(machine, s0, { type: 'go' });
    expect(() => collectEffects(actions)).toThrow(/durable timer/);
  });

  it('refuses an invoked child and a log action, which the runtime would otherwise drop silently', () => {
    const invoking = setup({ actors: { work: fromPromise(async () => 1) } }).createMachine({
      id: 'invoke-v1', initial: 'a', states: { a: { on: { go: 'b' } }, b: { invoke: { src: 'work' } } },
    });
    const [s0] = initialTransition(invoking);
    expect(() => collectEffects(transition(invoking, s0, { type: 'go' })[1])).toThrow(/xstate.spawnChild/);
    const logging = setup({}).createMachine({ id: 'log-v1', initial: 'a', states: { a: { on: { go: { actions: log('hi') } } } } });
    expect(() => collectEffects(transition(logging, initialTransition(logging)[0], { type: 'go' })[1])).toThrow(/xstate.log/);
  });

  it('passes over built-in actions that have no effect outside the snapshot', () => {
    const machine = setup({}).createMachine({ id: 'emit-v1', initial: 'a', states: { a: { on: { go: { actions: [raise({ type: 'now' }), emit({ type: 'Went_v1' })] } } } } });
    const [s0] = initialTransition(machine);
    const [, actions] = transition(machine, s0, { type: 'go' });
    expect(collectEffects(actions).messages.map((m) => m.name)).toEqual(['Went_v1']);
  });
});

describe('MachineRegistry', () => {
  it('refuses to register a machine that invokes or waits with after', () => {
    const invoking = setup({ actors: { work: fromPromise(async () => 1) } }).createMachine({ id: 'invoke-v1', initial: 'a', states: { a: { invoke: { src: 'work' } } } });
    const waiting = setup({}).createMachine({ id: 'wait-v1', initial: 'a', states: { a: { initial: 'x', states: { x: { after: { 1000: 'y' } }, y: {} } } } });
    expect(() => new MachineRegistry([{ kind: 'invoking', machine: invoking }])).toThrow(/invokes/);
    expect(() => new MachineRegistry([{ kind: 'waiting', machine: waiting }])).toThrow(/after delay/);
  });

  it('refuses to register a machine whose initial state has entry actions, which no transition would return', () => {
    const announcing = setup({}).createMachine({ id: 'announce-v1', initial: 'a', states: { a: { entry: emit({ type: 'Born_v1' }) } } });
    expect(() => new MachineRegistry([{ kind: 'announcing', machine: announcing }])).toThrow(/initial state must have no entry actions/);
  });

  it('starts every new actor of a kind from one initial snapshot, which transitions leave as it was', () => {
    const counter = setup({ types: { context: {} as { n: number } } }).createMachine({
      id: 'counter-v1',
      context: { n: 0 },
      initial: 'idle',
      states: { idle: { on: { add: { target: 'counted', actions: assign({ n: ({ context }) => context.n + 1 }) } } }, counted: {} },
    });
    const registry = new MachineRegistry([{ kind: 'counter', machine: counter }]);
    const initial = registry.initialSnapshot('counter')!;

    const [next] = transition(counter, initial, { type: 'add' });

    expect(next.context).toEqual({ n: 1 });
    expect(registry.initialSnapshot('counter')).toBe(initial);
    expect([initial.value, initial.context]).toEqual(['idle', { n: 0 }]);
  });
});

describe('stateName', () => {
  it('writes nested and parallel state values as dotted strings', () => {
    expect(stateName('held')).toBe('held');
    expect(stateName({ payment: 'awaiting' })).toBe('payment.awaiting');
    expect(stateName({ a: 'x', b: { c: 'y' } })).toBe('a.x,b.c.y');
  });
});
