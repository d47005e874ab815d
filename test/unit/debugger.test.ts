import { describe, expect, it } from 'bun:test';
import { createMachine, getNextSnapshot, setup } from 'xstate';
import { bookingMachine } from '../../machines/booking/booking.machine';
import { refundMachine } from '../../machines/refund/refund.machine';
import { showMachine } from '../../machines/show/show.machine';
import { ticketMachine } from '../../machines/ticket/ticket.machine';
import { vipBundleMachine } from '../../machines/vipBundle/vipBundle.machine';
import type { JournalEntry, Message, Store, StoredActor } from '../../src/actors/ports';
import { MachineRegistry } from '../../src/actors/registry';
import { createAuth, createTokens } from '../../src/http/auth';
import { ManualClock } from '../../src/kernel/clock';
import { layoutMachine } from '../../src/features/debugger/debugger.layout';
import { exportMachine, nameOf } from '../../src/features/debugger/debugger.machines';
import { debuggerRoutes, exportedMachines, type DebuggerRoutesDeps } from '../../src/features/debugger/debugger.routes';
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

describe('machine layout', () => {
  type Box = { x: number; y: number; width: number; height: number };
  const overlap = (a: Box, b: Box) => a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
  const inside = (inner: Box, outer: Box) => inner.x >= outer.x && inner.y >= outer.y && inner.x + inner.width <= outer.x + outer.width && inner.y + inner.height <= outer.y + outer.height;

  describe('when laying out the booking machine', () => {
    const layout = layoutMachine(exportMachine(bookingMachine));

    it('places every state once, without overlaps, inside the drawing', () => {
      expect(layout.nodes.map((n) => n.path)).toEqual(['new', 'placing', 'placed', 'refused', 'failed', 'canceled']);
      for (const [i, a] of layout.nodes.entries()) {
        expect(inside(a, { x: 0, y: 0, width: layout.width, height: layout.height })).toBe(true);
        for (const b of layout.nodes.slice(i + 1)) expect(overlap(a, b)).toBe(false);
      }
      expect(layout.nodes.filter((n) => n.final).map((n) => n.path)).toEqual(['refused', 'failed', 'canceled']);
      expect(layout.nodes.find((n) => n.initial)?.path).toBe('new');
    });

    it('routes every transition as a labelled line from its source to its target, left to right', () => {
      expect(layout.edges.map((e) => `${e.from} -${e.event}-> ${e.to}`)).toEqual([
        'new -booking.make-> placing',
        'new -booking.refuse-> refused',
        // One line for both branches (a VIP bundle's booking also reports to its bundle).
        'placing -deadNation.booked-> placed',
        'placing -deadNation.failed-> failed',
        'placing -booking.cancel-> canceled',
        'placed -booking.cancel-> canceled',
      ]);
      const byPath = new Map(layout.nodes.map((n) => [n.path, n]));
      for (const edge of layout.edges) {
        expect(edge.points.length).toBeGreaterThanOrEqual(2);
        expect(byPath.get(edge.from)!.x).toBeLessThan(byPath.get(edge.to)!.x);
        expect(Number.isFinite(edge.label.x) && Number.isFinite(edge.label.y)).toBe(true);
      }
    });

    it('gives the same layout every time', () => {
      expect(layoutMachine(exportMachine(bookingMachine))).toEqual(layout);
    });
  });

  it('draws the branches of one event between the same two states as one line, listing their guards', () => {
    const machine = setup({ guards: { a: () => true, b: () => true } }).createMachine({
      id: 'branches',
      initial: 'start',
      states: {
        start: {
          on: {
            go: [{ guard: 'a', target: 'left' }, { guard: 'b', target: 'left' }, { target: 'right' }],
            come: [{ guard: 'a', target: 'right' }, { target: 'right' }],
          },
        },
        left: {},
        right: {},
      },
    });
    const edges = layoutMachine(exportMachine(machine)).edges.map(({ from, event, to, guard }) => ({ from, event, to, guard }));
    expect(edges).toEqual([
      { from: 'start', event: 'go', to: 'left', guard: 'a | b' },
      { from: 'start', event: 'go', to: 'right', guard: undefined },
      { from: 'start', event: 'come', to: 'right', guard: undefined },
    ]);
  });

  it('draws a compound state as a box around its children, entered at its initial child', () => {
    const machine = createMachine({
      id: 'pay-v1',
      initial: 'idle',
      states: {
        idle: { on: { go: 'paying' } },
        paying: { initial: 'authorising', on: { cancel: 'done' }, states: { authorising: { on: { ok: 'capturing' } }, capturing: { on: { ok: '#pay-v1.done' } } } },
        done: { type: 'final' },
      },
    });
    const layout = layoutMachine(exportMachine(machine));
    const node = (path: string) => layout.nodes.find((n) => n.path === path)!;
    expect(node('paying').compound).toBe(true);
    expect(inside(node('paying.authorising'), node('paying'))).toBe(true);
    expect(inside(node('paying.capturing'), node('paying'))).toBe(true);
    expect(overlap(node('idle'), node('paying'))).toBe(false);
    const go = layout.edges.find((e) => e.event === 'go')!;
    expect([go.from, go.to]).toEqual(['idle', 'paying']);
    expect(go.points.at(-1)!.x).toBeCloseTo(node('paying.authorising').x, 0);
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
    step({
      event: { type: 'booking.make', now: T(1) }, fromState: '', toState: 'placing', at: T(1), messageIds: ['m1'], snapshot: { value: 'placing', context: { n: 2, email: 'a@x' } },
      timers: { set: [{ name: 'expiry', dueAt: T(9) }, { name: 'reminder', dueAt: T(20) }, { name: 'watch', dueAt: T(50) }], cancel: [], cancelAll: false },
    }),
    step({ version: 1, event: { type: 'booking.make', now: T(2) }, fromState: 'placing', toState: 'placing', at: T(2), rejected: true }),
    step({
      version: 2, event: { type: 'deadNation.booked', now: T(5) }, fromState: 'placing', toState: 'placed', at: T(5), messageIds: ['m2'], snapshot: { value: 'placed', context: { n: 2, email: 'a@x', placed: true } },
      timers: { set: [{ name: 'reminder', dueAt: T(30) }], cancel: [], cancelAll: false },
    }),
    step({
      version: 3, event: { type: 'booking.expire', now: T(9), due_at: T(9) }, fromState: 'placed', toState: 'placed', at: T(9), snapshot: { value: 'placed', context: { n: 2, email: 'a@x', placed: true } },
      timers: { set: [], cancel: ['ghost'], cancelAll: false, fired: { name: 'expiry', dueAt: T(9) } },
    }),
    step({
      version: 4, event: { type: 'booking.remindLess', now: T(10) }, fromState: 'placed', toState: 'placed', at: T(10), snapshot: { value: 'placed', context: { n: 2, email: 'a@x', placed: true } },
      timers: { set: [], cancel: ['reminder'], cancelAll: false },
    }),
  ];
  const messages = [message('m1', 'BookingMade_v1', 'event', 1, T(1)), message('m2', 'BookFlight', 'command', 2, T(5))];
  const timeline = assembleTimeline({
    journal,
    messages,
    deliveries: [
      { handler: 'audit', messageId: 'm1', processedAt: T(3), effect: 'local' },
      { handler: 'placeWithDeadNation', messageId: 'm1', processedAt: T(4), effect: 'external' },
    ],
    failedAttempts: [
      { handler: 'placeWithDeadNation', effect: 'external', messageId: 'm1', attempt: 1, error: 'timeout', at: T(3) },
      { handler: 'flights', effect: 'external', messageId: 'm2', attempt: 1, error: 'bad gateway', at: T(6) },
      { handler: 'flights', effect: 'external', messageId: 'm2', attempt: 2, error: 'boom', at: T(7) },
    ],
    deadLetters: [{ id: 'd1', handler: 'flights', messageId: 'm2', error: 'boom', attempts: 2, status: 'dead', failedAt: T(7), redrivenAt: null }],
    timers: [
      { name: 'watch', dueAt: T(50), event: { type: 'booking.watch' } },
      { name: 'legacy', dueAt: T(40), event: { type: 'booking.remind' } },
    ],
  });

  it('orders commands, transitions, timers, messages, attempts, calls, dead letters, then unrecorded pending timers', () => {
    expect(timeline.map((e) => `${e.kind} ${e.name}`)).toEqual([
      'command booking.make',
      'transition booking.make',
      'timer.scheduled expiry',
      'timer.scheduled reminder',
      'timer.scheduled watch',
      'fact BookingMade_v1',
      'command booking.make',
      'rejected booking.make',
      'delivery.failed placeWithDeadNation',
      'delivery audit',
      'external.call placeWithDeadNation',
      'command deadNation.booked',
      'transition deadNation.booked',
      'timer.scheduled reminder',
      'outbound BookFlight',
      'delivery.failed flights',
      'delivery.failed flights',
      'external.call flights',
      'dead_letter flights',
      'timer.fired booking.expire',
      'transition booking.expire',
      'command booking.remindLess',
      'transition booking.remindLess',
      'timer.cancelled reminder',
      'timer.pending legacy',
    ]);
  });

  it('shows transitions from → to, and a rejection in the state it was rejected in', () => {
    expect(timeline.find((e) => e.kind === 'transition')).toMatchObject({ from: '', to: 'placing', step: 0 });
    expect(timeline.find((e) => e.kind === 'rejected')).toMatchObject({ from: 'placing', to: 'placing', step: 1 });
  });

  it('carries correlation and trace ids, from the traceparent for messages and what handlers did with them', () => {
    expect(timeline[0]).toMatchObject({ correlationId: 'corr-1', traceId: 'trace-1' });
    expect(timeline.find((e) => e.kind === 'fact')).toMatchObject({ traceId: '0af7651916cd43dd8448eb211c80319c', step: 0, messageId: 'm1' });
    expect(timeline.find((e) => e.kind === 'dead_letter')).toMatchObject({ attempts: 2, error: 'boom', step: 2, handler: 'flights', correlationId: 'corr-1', traceId: '0af7651916cd43dd8448eb211c80319c' });
    expect(timeline.find((e) => e.kind === 'timer.scheduled')).toMatchObject({ step: 0, correlationId: 'corr-1', traceId: 'trace-1' });
    for (const e of timeline.filter((x) => x.kind !== 'timer.pending')) expect(e.correlationId).toBe('corr-1');
  });

  it('keeps command data without its type', () => {
    expect(timeline[0]!.data).toEqual({ now: T(1) });
  });

  describe('when handlers failed', () => {
    it('lists every failed attempt with its number and error', () => {
      expect(timeline.filter((e) => e.kind === 'delivery.failed').map((e) => [e.handler, e.attempts, e.error, e.at])).toEqual([
        ['placeWithDeadNation', 1, 'timeout', T(3)],
        ['flights', 1, 'bad gateway', T(6)],
        ['flights', 2, 'boom', T(7)],
      ]);
    });

    it('gives each external handler one call with its outcome and attempts', () => {
      expect(timeline.filter((e) => e.kind === 'external.call').map((e) => [e.handler, e.status, e.attempts, e.error ?? null, e.step])).toEqual([
        ['placeWithDeadNation', 'ok', 2, null, 0],
        ['flights', 'failed', 2, 'boom', 2],
      ]);
      expect(timeline.find((e) => e.kind === 'delivery')).toMatchObject({ handler: 'audit', status: 'processed', attempts: 1 });
    });

    it('puts a call before the reply it caused when both fall in the same millisecond', () => {
      const same = assembleTimeline({
        journal: [
          step({ event: { type: 'ticket.confirm', now: T(1) }, fromState: '', toState: 'confirmed', at: T(1), messageIds: ['m1'] }),
          step({ version: 2, event: { type: 'receipts.issued', now: T(1) }, fromState: 'confirmed', toState: 'receiptIssued', at: T(1) }),
        ],
        messages: [message('m1', 'IssueReceipt', 'command', 1, T(1))],
        deliveries: [{ handler: 'issueReceipt', messageId: 'm1', processedAt: T(1), effect: 'external' }],
        failedAttempts: [],
        deadLetters: [],
        timers: [],
      });
      expect(same.map((e) => `${e.kind} ${e.name}`)).toEqual([
        'command ticket.confirm',
        'transition ticket.confirm',
        'outbound IssueReceipt',
        'external.call issueReceipt',
        'command receipts.issued',
        'transition receipts.issued',
      ]);
    });

    it('shows a call an operator resolved, and a step settled by a later ask, as such, not as a call that went well', () => {
      const only = assembleTimeline({
        journal: [],
        messages: [message('m6', 'BookingMade_v1', 'event', 1, T(1)), message('m7', 'BookFlight', 'command', 2, T(1))],
        deliveries: [
          { handler: 'bookAtDeadNation', messageId: 'm6', processedAt: T(4), effect: 'resolved' },
          { handler: 'flights', messageId: 'm7', processedAt: T(5), effect: 'settled' },
        ],
        failedAttempts: [],
        deadLetters: [],
        timers: [],
      });
      expect(only.filter((e) => e.kind === 'external.call').map((e) => [e.name, e.status])).toEqual([
        ['bookAtDeadNation', 'resolved'],
        ['flights', 'settled'],
      ]);
    });

    it('shows a call the service refused (a terminal answer the handler reported) as refused, not ok', () => {
      const only = assembleTimeline({
        journal: [],
        messages: [message('m8', 'BookFlight', 'command', 1, T(1))],
        deliveries: [{ handler: 'flights', messageId: 'm8', processedAt: T(2), effect: 'refused' }],
        failedAttempts: [],
        deadLetters: [],
        timers: [],
      });
      expect(only.map((e) => [e.kind, e.name, e.status])).toEqual([
        ['outbound', 'BookFlight', undefined],
        ['external.call', 'flights', 'refused'],
      ]);
    });

    it('shows a call still retrying, and an inbox row older than the effect column as a delivery', () => {
      const only = assembleTimeline({
        journal: [],
        messages: [message('m9', 'BookFlight', 'command', 1, T(1))],
        deliveries: [{ handler: 'audit', messageId: 'm9', processedAt: T(2), effect: null }],
        failedAttempts: [{ handler: 'flights', effect: 'external', messageId: 'm9', attempt: 1, error: 'down', at: T(3) }],
        deadLetters: [],
        timers: [],
      });
      expect(only.map((e) => [e.kind, e.name, e.status])).toEqual([
        ['outbound', 'BookFlight', undefined],
        ['delivery', 'audit', 'processed'],
        ['delivery.failed', 'flights', 'failed'],
        ['external.call', 'flights', 'retrying'],
      ]);
    });
  });

  describe('when steps set, fire and cancel timers', () => {
    it('shows each scheduled timer with its due time and what became of it', () => {
      expect(timeline.filter((e) => e.kind === 'timer.scheduled').map((e) => [e.name, e.dueAt, e.status, e.step])).toEqual([
        ['expiry', T(9), 'fired', 0],
        ['reminder', T(20), 'replaced', 0],
        ['watch', T(50), 'pending', 0],
        ['reminder', T(30), 'cancelled', 2],
      ]);
    });

    it('shows a cancellation only for a timer that was pending', () => {
      expect(timeline.filter((e) => e.kind === 'timer.cancelled').map((e) => [e.name, e.dueAt, e.step])).toEqual([['reminder', T(30), 4]]);
    });

    it('cancels every pending timer when the actor finishes', () => {
      const finished = assembleTimeline({
        journal: [
          step({ event: { type: 'a' }, fromState: '', toState: 'x', at: T(1), timers: { set: [{ name: 't1', dueAt: T(5) }, { name: 't2', dueAt: T(6) }], cancel: [], cancelAll: false } }),
          step({ event: { type: 'b' }, fromState: 'x', toState: 'done', at: T(2), timers: { set: [], cancel: [], cancelAll: true } }),
        ],
        messages: [],
        deliveries: [],
        failedAttempts: [],
        deadLetters: [],
        timers: [],
      });
      expect(finished.filter((e) => e.kind.startsWith('timer.')).map((e) => `${e.kind} ${e.name} ${e.status ?? ''}`.trim())).toEqual([
        'timer.scheduled t1 cancelled',
        'timer.scheduled t2 cancelled',
        'timer.cancelled t1',
        'timer.cancelled t2',
      ]);
    });
  });

  describe('when travelling through the history', () => {
    const history = historyOf(journal);

    it('gives the stored state and context after each step', () => {
      expect(history.map((s) => [s.value, s.rejected])).toEqual([
        ['placing', false],
        ['placing', true],
        ['placed', false],
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

const STREAMED = 'booking/b1';

/**
 * The debugger's routes on a store holding one actor whose version the test moves, with tokens on a
 * manual clock whose ops standing the test revokes.
 */
function liveRoutes(options: Partial<DebuggerRoutesDeps> = {}) {
  const clock = new ManualClock('2030-01-01T00:00:00.000Z');
  const account = { standing: true, checks: 0 };
  const tokens = createTokens({ secret: 'unit-test-secret-0123456789abcdef', clock, ttlSeconds: 60, opsStanding: async () => (account.checks++, account.standing) });
  const actor = { version: 1 };
  const stored = (): StoredActor => ({
    address: STREAMED, kind: 'booking', machineId: 'booking-v1', version: actor.version, lastSeq: 0, state: 'placing', status: 'active', snapshot: { context: {} }, createdAt: T(0), updatedAt: T(0),
  });
  const store = {
    loadActor: async (address: string) => (address === STREAMED ? stored() : null),
    readJournal: async () => [],
    readActorMessages: async () => [],
    listTimers: async () => [],
    // What the actor's messages went through (deliveryActivityOf): nothing changes there in these tests.
    query: async () => [{ deliveries: 0, failures: 0, letters: 0, dead: 0, letter_attempts: 0 }],
  } as unknown as Store;
  const app = debuggerRoutes({ registry: new MachineRegistry([]), store, auth: createAuth(tokens), tokens, stopping: new AbortController().signal, pollMs: 10, ...options });
  const token = tokens.issue({ id: 'ops-1', email: 'ops@example.com', role: 'ops' }).token;
  const open = () => app.handle(new Request(`http://localhost/api/actors/${encodeURIComponent(STREAMED)}/events?access_token=${token}`));
  return { app, clock, account, actor, open };
}

/** Reads a stream in windows: what it sends within `ms`, and whether it ended by then. */
function streamReader(response: Response) {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  // A read still waiting when a window closes takes the next chunk: it is kept for the next window.
  let pending: ReturnType<typeof reader.read> | undefined;
  return {
    async readFor(ms: number): Promise<{ text: string; done: boolean }> {
      const deadline = Bun.sleep(ms).then(() => 'timeout' as const);
      let text = '';
      for (;;) {
        pending ??= reader.read();
        const chunk = await Promise.race([pending, deadline]);
        if (chunk === 'timeout') return { text, done: false };
        pending = undefined;
        if (chunk.done) return { text, done: true };
        text += decoder.decode(chunk.value, { stream: true });
      }
    },
    cancel: () => reader.cancel(),
  };
}
const count = (text: string, part: string) => text.split(part).length - 1;

describe('the live event stream', () => {
  describe('when its token expires while it is open', () => {
    it('says so in an `end` event and closes, sending no more changes', async () => {
      const live = liveRoutes({ recheckMs: 50 });
      const reader = streamReader(await live.open());
      expect((await reader.readFor(100)).text).toStartWith('event: ready');

      // Past `exp` and the 30 s leeway.
      live.clock.advance(91_000);
      live.actor.version = 2;
      const { text, done } = await reader.readFor(1_000);
      expect(done).toBe(true);
      expect(text).toEndWith('event: end\ndata: {"reason":"token_expired"}\n\n');
    });
  });

  describe('when its account is revoked while it is open', () => {
    it('says so in an `end` event and closes, sending no more changes', async () => {
      const live = liveRoutes({ recheckMs: 50 });
      const reader = streamReader(await live.open());
      expect((await reader.readFor(100)).text).toStartWith('event: ready');

      live.account.standing = false;
      live.actor.version = 2;
      const { text, done } = await reader.readFor(1_000);
      expect(done).toBe(true);
      expect(text).toEndWith('event: end\ndata: {"reason":"token_revoked"}\n\n');
    });

    it('asks for the standing again once per recheck interval, not on every poll', async () => {
      const live = liveRoutes({ recheckMs: 100 });
      const reader = streamReader(await live.open());
      await reader.readFor(550);
      await reader.cancel();
      // The check when it opened, then about one every 100 ms (polls come every 10 ms).
      expect(live.account.checks).toBeGreaterThanOrEqual(3);
      expect(live.account.checks).toBeLessThanOrEqual(8);
    });
  });

  describe('when the actor does not change', () => {
    it('sends a keep-alive comment only after keepAliveMs with nothing sent, not on every poll', async () => {
      const live = liveRoutes({ keepAliveMs: 300 });
      const reader = streamReader(await live.open());
      const quiet = await reader.readFor(200);
      expect(quiet.text).toStartWith('event: ready');
      expect(count(quiet.text, ': keep-alive')).toBe(0);

      const later = await reader.readFor(500);
      await reader.cancel();
      expect(count(later.text, ': keep-alive')).toBeGreaterThanOrEqual(1);
      expect(count(later.text, ': keep-alive')).toBeLessThanOrEqual(2);
    });
  });
});

describe('the debug page', () => {
  it('carries TRACE_UI_URL as an inert JavaScript string, whatever it holds', async () => {
    const traceUiUrl = "https://trace.example/t/it's$'$&\u2028</script><script>alert(1)</script>?id=";
    const { app } = liveRoutes({ traceUiUrl });
    const html = await (await app.handle(new Request('http://localhost/debug'))).text();
    // One script element, whose end is the page's own.
    expect(count(html, '<script')).toBe(1);
    expect(count(html, '</script')).toBe(1);
    const declaration = /^const TRACE_UI_URL = (.*);$/m.exec(html)?.[1];
    expect(declaration).toBeDefined();
    expect(declaration).not.toMatch(/[<>&\u2028\u2029]/);
    expect(new Function(`return ${declaration};`)()).toBe(traceUiUrl);
  });
});
