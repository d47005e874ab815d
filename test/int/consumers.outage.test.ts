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
function busDown(state: { up: boolean; reads: number }): Bus {
  const down = async () => {
    throw new Error("Stream isn't writeable and enableOfflineQueue options is false");
  };
  return {
    publish: down,
    ensureGroup: async () => {
      if (!state.up) await down();
    },
    readNew: async () => {
      state.reads += 1;
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

  it('log a loop\'s 1st, 2nd, 4th, 8th … failure, not every retry, and once when it reads again', async () => {
    const lines: { msg: string; failures?: number }[] = [];
    const logger = createLogger({ level: 'info', write: (line) => lines.push(JSON.parse(line)) });
    const state = { up: false, reads: 0 };
    const handler = defineHandler({ name: 'printer', effect: 'local', on: { TicketPrinted_v1: () => {} } });
    consumers = createConsumers({ store: harness.store, bus: busDown(state), handlers: [handler], clock: new ManualClock('2030-01-01T00:00:00.000Z'), ids: randomIds, logger, consumerName: 'c1', blockMs: 5, retry: { attempts: 2, baseMs: 1, maxMs: 1 } });
    consumers.start();
    const failed = () => lines.filter((l) => l.msg === 'consumer loop failed');
    const deadline = Date.now() + 5_000;
    while (failed().at(-1)?.failures !== 16 && Date.now() < deadline) await Bun.sleep(5);
    await Bun.sleep(20);
    expect(failed().map((l) => l.failures).slice(0, 5)).toEqual([1, 2, 4, 8, 16]);
    state.up = true;
    while (!lines.some((l) => l.msg === 'consumer loop reads again') && Date.now() < deadline + 5_000) await Bun.sleep(5);
    expect(lines.filter((l) => l.msg === 'consumer loop reads again').length).toBe(1);
  });
});
