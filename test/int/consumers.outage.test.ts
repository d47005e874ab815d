import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import { ManualClock } from '../../src/kernel/clock';
import { randomIds } from '../../src/kernel/ids';
import { createConsumers, type Consumers } from '../../src/messaging/consumers';
import { defineHandler } from '../../src/messaging/handlers';
import type { Bus } from '../../src/messaging/ports';
import { createLogger } from '../../src/observability/logger';
import { storeHarnesses, type StoreHarness } from '../support/stores';

const sqlite = storeHarnesses.find((h) => h.name === 'sqlite')!;

/** A bus that is down: every call fails as ioredis fails while disconnected, until `up` is set. */
/** `readAt`: when each loop asked the bus for its group or its entries. */
function busDown(state: { up: boolean; reads: number; readAt?: number[] }): Bus {
  const down = async () => {
    throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
  };
  return {
    publish: down,
    ensureGroup: async () => {
      state.readAt?.push(Date.now());
      if (!state.up) await down();
    },
    readNew: async () => {
      state.reads += 1;
      state.readAt?.push(Date.now());
      if (!state.up) await down();
      await Bun.sleep(5);
      return [];
    },
    claimIdle: async () => {
      if (!state.up) await down();
      return [];
    },
    ack: down,
    lag: down,
    trim: down,
    ping: down,
    close: async () => {},
  } as unknown as Bus;
}

describe('consumers while the bus is down', () => {
  let harness: StoreHarness;
  let consumers: Consumers | undefined;
  beforeEach(async () => {
    harness = await sqlite.make();
  });
  afterEach(async () => {
    await consumers?.stop();
    await harness.cleanup();
  });

  it('log one line for all their loops while it is down, at most every 10 s (the first a warning: a dropped connection mends itself), and one when they all read again', async () => {
    const lines: { level: string; msg: string; loops_failing?: number; loops?: number; err?: unknown }[] = [];
    const logger = createLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line)) });
    const state = { up: false, reads: 0 };
    // Three handlers, three loops: an outage of Redis fails every loop of every instance at once.
    const handlers = ['printer', 'mailer', 'archiver'].map((name) => defineHandler({ name, effect: 'local', on: { TicketPrinted_v1: () => {} } }));
    consumers = createConsumers({ store: harness.store, bus: busDown(state), handlers, clock: new ManualClock('2030-01-01T00:00:00.000Z'), ids: randomIds, logger, consumerName: 'c1', blockMs: 5, retry: { attempts: 2, baseMs: 1, maxMs: 1 } });
    consumers.start();
    const failing = () => lines.filter((l) => l.msg === 'consumer loops failing');
    // Dozens of failed reads per loop in this time.
    await Bun.sleep(300);
    expect(failing().length).toBe(1);
    expect(failing()[0]!.err).toBeDefined();
    expect(failing()[0]!.level).toBe('warn');
    state.up = true;
    const deadline = Date.now() + 5_000;
    while (!lines.some((l) => l.msg === 'consumer loops read again') && Date.now() < deadline) await Bun.sleep(5);
    await Bun.sleep(50);
    expect(lines.filter((l) => l.msg === 'consumer loops read again').map((l) => l.loops)).toEqual([3]);
  });

  it('read again within 2 s of its return, however long a handler may wait between retries', async () => {
    const lines: { msg: string }[] = [];
    const logger = createLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line)) });
    const state = { up: false, reads: 0, readAt: [] as number[] };
    const handlers = [defineHandler({ name: 'printer', effect: 'local', on: { TicketPrinted_v1: () => {} } })];
    consumers = createConsumers({ store: harness.store, bus: busDown(state), handlers, clock: new ManualClock('2030-01-01T00:00:00.000Z'), ids: randomIds, logger, consumerName: 'c1', blockMs: 5, retry: { attempts: 2, baseMs: 1_000, maxMs: 10_000 } });
    consumers.start();
    await Bun.sleep(10_000);
    const gaps = [...state.readAt, Date.now()].map((at, i, all) => (i === 0 ? 0 : at - all[i - 1]!));
    expect(state.readAt.length).toBeGreaterThan(4);
    expect(Math.max(...gaps)).toBeLessThan(2_500);

    state.up = true;
    const upAt = Date.now();
    while (!lines.some((l) => l.msg === 'consumer loops read again') && Date.now() - upAt < 5_000) await Bun.sleep(5);
    expect(Date.now() - upAt).toBeLessThan(2_500);
  }, 20_000);
});
