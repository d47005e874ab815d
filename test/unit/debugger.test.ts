import { describe, expect, it } from 'bun:test';
import { createMachine, getNextSnapshot, setup } from 'xstate';
import { bookingMachine } from '../../machines/booking/booking.machine';
import { refundMachine } from '../../machines/refund/refund.machine';
import { showMachine } from '../../machines/show/show.machine';
import { ticketMachine } from '../../machines/ticket/ticket.machine';
import { vipBundleMachine } from '../../machines/vipBundle/vipBundle.machine';
import type { JournalEntry, Message } from '../../src/actors/ports';
import { MachineRegistry } from '../../src/actors/registry';
import { exportMachine, nameOf } from '../../src/features/debugger/debugger.machines';
import { exportedMachines } from '../../src/features/debugger/debugger.routes';
import { assembleTimeline, diffContext, historyOf } from '../../src/features/debugger/debugger.timeline';

const ALL = [bookingMachine, refundMachine, showMachine, ticketMachine, vipBundleMachine];

describe('machine export', () => {
  for (const machine of ALL) {
    describe(`when exporting ${machine.id}`, () => {
      const json = JSON.parse(JSON.stringify(exportMachine(machine)));

      it('round-trips through createMachine to the same JSON', () => {
        expect(exportMachine(createMachine(json))).toEqual(json);
      });

      it('keeps every state of the machine', () => {
        const keys = (node: { states?: Record<string, unknown> }): string[] =>
          Object.entries(node.states ?? {}).flatMap(([k, child]) => [k, ...keys(child as never).map((c) => `${k}.${c}`)]);
        expect(keys(json)).toEqual(keys(machine.root.definition as never));
      });

      it('holds no functions, only names', () => {
        expect(JSON.stringify(json)).not.toContain('inline:');
      });
    });
  }

  it('names guards and actions of the booking machine', () => {
    const json = exportMachine(bookingMachine);
    expect(json.id).toBe('booking-v1');
    expect(json.initial).toBe('new');
    expect(json.states?.new?.on?.['booking.make']).toEqual([{ target: ['#booking-v1.placing'], actions: ['assignBooking', 'tellMade'] }]);
    expect(json.states?.failed?.type).toBe('final');
    expect(json.context).toMatchObject({ bookingId: '' });
  });

  it('keeps parameterised guards and actions with their params', () => {
    const json = exportMachine(vipBundleMachine);
    const t = json.states?.bookingInboundFlight?.on?.['flights.booked']?.[0];
    expect(t?.guard).toEqual({ type: 'isLeg', params: { leg: 'inbound' } });
    expect(t?.actions).toContainEqual({ type: 'askBookFlight', params: { leg: 'return' } });
  });

  it('moves like the original on the exported chart', () => {
    const copy = createMachine(exportMachine(bookingMachine) as never);
    const made = getNextSnapshot(copy, copy.resolveState({ value: 'new', context: {} } as never), { type: 'booking.make' } as never);
    expect(made.value).toBe('placing');
  });

  it('names inline functions and delayed transitions without code', () => {
    const machine = setup({ guards: { ok: () => true } }).createMachine({
      id: 'demo-v1',
      initial: 'a',
      states: {
        a: { after: { 1000: { target: 'b', actions: function track() {} } }, always: { guard: 'ok', target: 'b' } },
        b: { type: 'final' },
      },
    });
    const json = exportMachine(machine);
    expect(json.states?.a?.after).toEqual({ '1000': [{ target: ['#demo-v1.b'], actions: ['inline:track'] }] });
    expect(json.states?.a?.on).toBeUndefined();
    expect(json.states?.a?.always).toEqual([{ target: ['#demo-v1.b'], guard: 'ok' }]);
    expect(nameOf({ type: 'x', params: { a: 1 } })).toEqual({ type: 'x', params: { a: 1 } });
  });

  it('lists every version of every kind with the current one marked', () => {
    const old = createMachine({ id: 'booking-v0', initial: 'x', states: { x: {} } });
    const list = exportedMachines(new MachineRegistry([{ kind: 'booking', machine: bookingMachine, previous: [old] }]));
    expect(list.map((m) => [m.id, m.kind, m.version, m.current])).toEqual([
      ['booking-v1', 'booking', 1, true],
      ['booking-v0', 'booking', 0, false],
    ]);
  });
});

const T = (s: number) => `2030-01-01T00:00:${String(s).padStart(2, '0')}.000Z`;
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

function step(partial: Partial<JournalEntry> & Pick<JournalEntry, 'event' | 'fromState' | 'toState' | 'at'>): JournalEntry {
  return { address: 'booking/b1', version: 1, snapshot: null, messageIds: [], rejected: false, correlationId: 'corr-1', traceId: 'trace-1', ...partial };
}
function message(id: string, name: string, kind: Message['kind'], seq: number, at: string): Message {
  return { id, name, kind, actor: 'booking/b1', actorSeq: seq, position: seq, data: { booking_id: 'b1' }, metadata: { correlation_id: 'corr-1', traceparent: TRACEPARENT }, occurredAt: at };
}

describe('timeline assembly', () => {
  const journal: JournalEntry[] = [
    step({ event: { type: 'booking.make', now: T(1) }, fromState: '', toState: 'placing', at: T(1), messageIds: ['m1'], snapshot: { value: 'placing', context: { n: 2, email: 'a@x' } } }),
    step({ version: 1, event: { type: 'booking.make', now: T(2) }, fromState: 'placing', toState: 'placing', at: T(2), rejected: true }),
    step({ version: 2, event: { type: 'deadNation.booked', now: T(5) }, fromState: 'placing', toState: 'placed', at: T(5), messageIds: ['m2'], snapshot: { value: 'placed', context: { n: 2, email: 'a@x', placed: true } } }),
    step({ version: 3, event: { type: 'booking.expire', now: T(9), due_at: T(9) }, fromState: 'placed', toState: 'placed', at: T(9), snapshot: { value: 'placed', context: { n: 2, email: 'a@x', placed: true } } }),
  ];
  const messages = [message('m1', 'BookingMade_v1', 'event', 1, T(1)), message('m2', 'BookFlight', 'command', 2, T(5))];
  const timeline = assembleTimeline({
    journal,
    messages,
    deliveries: [
      { handler: 'dataLake', messageId: 'm1', processedAt: T(3) },
      { handler: 'placeWithDeadNation', messageId: 'm1', processedAt: T(4) },
    ],
    deadLetters: [{ id: 'd1', handler: 'flights', messageId: 'm2', error: 'boom', attempts: 5, status: 'dead', failedAt: T(7), redrivenAt: null }],
    timers: [{ name: 'reminder', dueAt: T(8), event: { type: 'booking.remind' } }],
  });

  it('orders commands, transitions, facts, deliveries, dead letters, then pending timers', () => {
    expect(timeline.map((e) => `${e.kind} ${e.name}`)).toEqual([
      'command booking.make',
      'transition booking.make',
      'fact BookingMade_v1',
      'command booking.make',
      'rejected booking.make',
      'delivery dataLake',
      'delivery placeWithDeadNation',
      'command deadNation.booked',
      'transition deadNation.booked',
      'external.call BookFlight',
      'dead_letter flights',
      'timer.fired booking.expire',
      'transition booking.expire',
      'timer.scheduled reminder',
    ]);
  });

  it('shows transitions from → to, and a rejection in the state it was rejected in', () => {
    expect(timeline.find((e) => e.kind === 'transition')).toMatchObject({ from: '', to: 'placing', step: 0 });
    expect(timeline.find((e) => e.kind === 'rejected')).toMatchObject({ from: 'placing', to: 'placing', step: 1 });
  });

  it('carries correlation and trace ids, from the traceparent for messages', () => {
    expect(timeline[0]).toMatchObject({ correlationId: 'corr-1', traceId: 'trace-1' });
    expect(timeline.find((e) => e.kind === 'fact')).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', step: 0, messageId: 'm1' });
    expect(timeline.find((e) => e.kind === 'dead_letter')).toMatchObject({ attempts: 5, error: 'boom', step: 2, handler: 'flights' });
  });

  it('keeps command data without its type', () => {
    expect(timeline[0]!.data).toEqual({ now: T(1) });
  });

  describe('when travelling through the history', () => {
    const history = historyOf(journal);

    it('gives the stored state and context after each step', () => {
      expect(history.map((s) => [s.value, s.rejected])).toEqual([
        ['placing', false],
        ['placing', true],
        ['placed', false],
        ['placed', false],
      ]);
      expect(history[1]!.context).toEqual({ n: 2, email: 'a@x' });
      expect(history[2]!.context).toEqual({ n: 2, email: 'a@x', placed: true });
    });

    it('diffs the context of two steps by path', () => {
      expect(diffContext(history[0]!.context, history[2]!.context)).toEqual([{ path: 'placed', after: true }]);
      expect(diffContext({ a: { b: [1, 2] } }, { a: { b: [1, 3] } })).toEqual([{ path: 'a.b[1]', before: 2, after: 3 }]);
      expect(diffContext({ a: 1 }, { a: 1 })).toEqual([]);
    });
  });
});
