import { describe, expect, it } from 'bun:test';
import { TerminalError } from '../../src/adapters/errors';
import type { HandlerContext, MessageHandler } from '../../src/messaging/handlers';
import type { BusMessage } from '../../src/messaging/ports';
import type { FeatureDeps } from '../../src/features/feature';
import { showHandlers } from '../../src/features/shows/shows.handlers';
import { systemClock } from '../../src/kernel/clock';
import { createLogger } from '../../src/observability/logger';

const BOOKING = { booking_id: 'b1', show_id: 's1', number_of_tickets: 2, customer_email: 'ann@example.com' };

/**
 * The Dead Nation handler over an instance whose cache says the booking is still `placing` while the
 * store says another instance has `placed` it: the situation of a redelivery on the instance that made
 * the booking, which never saw the reply.
 */
function harness(options: { firstDelivery: boolean; answered?: unknown; deadNationAnswers?: number }) {
  const calls: unknown[] = [];
  const replies: unknown[] = [];
  const recorded: unknown[] = [];
  const deps = {
    runtime: {
      lastKnownState: async () => 'placing',
      storedState: async () => 'placed',
      send: async (_address: string, event: unknown) => {
        replies.push(event);
        return {};
      },
    },
    services: {
      deadNation: {
        bookTickets: async (request: unknown) => {
          calls.push(request);
          const status = options.deadNationAnswers;
          if (status !== undefined) throw new TerminalError({ service: 'deadNation', operation: 'bookTickets', status });
        },
      },
    },
    store: { query: async () => [{ dead_nation_id: 'dn-1' }] },
    clock: systemClock,
  } as unknown as FeatureDeps;
  const ctx: HandlerContext = {
    handler: 'bookAtDeadNation',
    messageId: 'm1',
    correlationId: 'c1',
    traceparent: undefined,
    fields: BOOKING,
    logger: createLogger({ level: 'silent' }),
    idempotencyKey: () => 'k',
    callContext: async () => ({ correlationId: 'c1', traceparent: undefined }),
    firstDelivery: options.firstDelivery,
    callAnswered: (answer) => void recorded.push(answer),
    answered: <T>() => options.answered as T | undefined,
  };
  const [handler] = showHandlers(deps);
  const run = () => (handler!.on.BookingMade_v1 as MessageHandler<HandlerContext>)({} as BusMessage, ctx);
  return { run, calls, replies, recorded };
}

describe('booking at Dead Nation', () => {
  it("calls on a first delivery when this instance's last view is placing, and records the answer before replying", async () => {
    const h = harness({ firstDelivery: true });
    await h.run();
    expect(h.calls).toEqual([{ booking_id: 'b1', event_id: 'dn-1', number_of_tickets: 2, customer_address: 'ann@example.com' }]);
    expect(h.recorded).toEqual([{ booked: true }]);
    expect(h.replies).toMatchObject([{ type: 'deadNation.booked' }]);
  });

  it('asks the store, not the cache, on a later delivery, and does not book a booking another instance placed', async () => {
    const h = harness({ firstDelivery: false });
    await h.run();
    expect(h.calls).toEqual([]);
    expect(h.replies).toEqual([]);
  });

  it('replies with the answer an earlier attempt recorded, without calling again', async () => {
    const h = harness({ firstDelivery: false, answered: { booked: false, reason: 'Dead Nation: no such event' } });
    await h.run();
    expect(h.calls).toEqual([]);
    expect(h.replies).toMatchObject([{ type: 'deadNation.failed', reason: 'Dead Nation: no such event' }]);
  });

  it('fails the booking when Dead Nation refuses it (400, 409, 410, 422): its seats go back', async () => {
    for (const status of [400, 409, 410, 422]) {
      const h = harness({ firstDelivery: true, deadNationAnswers: status });
      await h.run();
      expect([status, h.replies]).toMatchObject([status, [{ type: 'deadNation.failed' }]]);
    }
  });

  it('leaves the booking placing when the call never reached a Dead Nation that could judge it (401, 403, 404, 405…): a dead letter, not a refusal', async () => {
    // A wrong GATEWAY_ADDR path or credentials would otherwise fail every booking its customer got a 201 for.
    for (const status of [401, 403, 404, 405, 407, 415]) {
      const h = harness({ firstDelivery: true, deadNationAnswers: status });
      await expect(h.run()).rejects.toBeInstanceOf(TerminalError);
      expect([status, h.replies, h.recorded]).toEqual([status, [], []]);
    }
  });

  it('places the booking without calling when an operator resolves its dead letter: the call took effect', async () => {
    const [handler] = showHandlers({ runtime: {}, services: {}, store: {}, clock: systemClock } as unknown as FeatureDeps);
    if (handler?.effect !== 'external') throw new Error('the Dead Nation handler calls out');
    expect(handler.notRepeatable).toBe(true);
    const h = harness({ firstDelivery: false, answered: handler.answerWhenTookEffect });
    await h.run();
    expect(h.calls).toEqual([]);
    expect(h.replies).toMatchObject([{ type: 'deadNation.booked' }]);
  });
});
