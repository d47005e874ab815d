import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import type { Message, Store } from '../../src/actors/ports';
import { ManualClock } from '../../src/kernel/clock';
import { randomIds } from '../../src/kernel/ids';
import { readCheckpoint } from '../../src/messaging/checkpoints';
import { createConsumers, type Consumers } from '../../src/messaging/consumers';
import { createDeliveryAudit, DELIVERY_AUDIT_CHECKPOINT, type DeliveryAudit } from '../../src/messaging/deliveryAudit';
import { defineHandler, PoisonMessageError, type Handler } from '../../src/messaging/handlers';
import type { Bus } from '../../src/messaging/ports';
import { createRedisBus } from '../../src/messaging/redisBus';
import { openSqliteBus } from '../../src/messaging/sqliteBus';
import { streamOf, toBusMessage } from '../../src/messaging/wire';
import { createLogger } from '../../src/observability/logger';
import { deleteKeys, requireRedis, testRedisUrl, uniquePrefix, withRedis } from '../support/redis';
import { commitFirstFact, storeHarnesses, type StoreHarness } from '../support/stores';
import { makeTempDir, type TempDir } from '../support/tempDir';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

const NOW = '2030-01-01T00:00:00.000Z';
const GRACE_MS = 60_000;
const silent = createLogger({ level: 'silent' });
const postgres = storeHarnesses.find((h) => h.name === 'postgres')!;
const sqlite = storeHarnesses.find((h) => h.name === 'sqlite')!;

/** Commits one TicketPrinted_v1 of a new actor, as the runtime would, at the clock's time. */
function commitFact(store: Store, clock: ManualClock): Promise<Message> {
  const actor = `ticket/${randomIds.uuid()}`;
  const at = clock.now().toISOString();
  return commitFirstFact(store, { id: randomIds.uuid(), name: 'TicketPrinted_v1', kind: 'event', actor, actorSeq: 1, data: { ticket_id: actor }, metadata: { correlation_id: 'corr' }, occurredAt: at }, 'printed');
}

const publish = (bus: Bus, message: Message) => bus.publish(streamOf(message), [toBusMessage(message, NOW)]);

describe('the delivery audit (distributed: Postgres store, Redis bus)', () => {
  let harness: StoreHarness;
  let store: Store;
  let bus: Bus;
  let keyPrefix: string;
  let consumers: Consumers | undefined;
  let audit: DeliveryAudit;
  let clock: ManualClock;
  /** Message ids the handler processed, once per processing. */
  let printed: string[];
  /** Message ids the handler refuses as poison. */
  let poison: Set<string>;
  let handler: Handler;

  const startConsumers = () => {
    consumers = createConsumers({ store, bus, handlers: [handler], clock, ids: randomIds, logger: silent, consumerName: 'c1', blockMs: 50, retry: { attempts: 2, baseMs: 1, maxMs: 2 } });
    consumers.start();
  };
  const stopConsumers = async () => {
    await consumers?.stop();
    consumers = undefined;
  };
  const auditedThrough = async () => (await readCheckpoint(store, DELIVERY_AUDIT_CHECKPOINT)).position;
  /** Waits for the handler's inbox row, which commits after the handler ran. */
  const processed = async (message: Message) => {
    const deadline = Date.now() + 5_000;
    while ((await store.query('SELECT 1 AS found FROM inbox WHERE handler = $1 AND message_id = $2', ['printer', message.id])).length === 0) {
      if (Date.now() > deadline) throw new Error(`${message.id} was not processed within 5 s`);
      await Bun.sleep(5);
    }
  };

  beforeEach(async () => {
    await requireRedis();
    harness = await postgres.make();
    store = harness.store;
    keyPrefix = uniquePrefix();
    bus = createRedisBus({ url: testRedisUrl(), keyPrefix });
    clock = new ManualClock(NOW);
    printed = [];
    poison = new Set();
    handler = defineHandler({
      name: 'printer',
      effect: 'local',
      on: {
        TicketPrinted_v1: (message) => {
          if (poison.has(message.id)) throw new PoisonMessageError(`cannot print ${message.id}`);
          printed.push(message.id);
        },
      },
    });
    audit = createDeliveryAudit({ store, bus, clock, logger: silent, handlers: [handler], graceMs: GRACE_MS });
  });

  afterEach(async () => {
    await stopConsumers();
    await bus.close();
    await harness.cleanup();
    await deleteKeys(keyPrefix);
  });

  describe('when it runs for the first time', () => {
    it('starts at the head of the log and never sends older messages again', async () => {
      const before = await commitFact(store, clock);
      expect(await audit.runOnce()).toBe(0);
      clock.advance(GRACE_MS + 1_000);
      startConsumers();
      expect(await audit.runOnce()).toBe(0);
      await Bun.sleep(200);
      expect(printed).not.toContain(before.id);
      expect(await auditedThrough()).toBe(before.position);
    });
  });

  describe('when Redis lost a message the handler had not processed (a restart without persistence)', () => {
    it('publishes it again once it is past the grace period, and the handler processes it once', async () => {
      await audit.runOnce();
      startConsumers();
      const first = await commitFact(store, clock);
      await publish(bus, first);
      await processed(first);
      await stopConsumers();
      const lost = await commitFact(store, clock);
      await publish(bus, lost);
      // Redis restarts empty: the stream, its groups and the markers of what was published are gone.
      await deleteKeys(keyPrefix);
      startConsumers();

      clock.advance(GRACE_MS - 1_000);
      expect(await audit.runOnce()).toBe(0);
      clock.advance(2_000);
      expect(await audit.runOnce()).toBe(1);
      await processed(lost);
      expect(await audit.runOnce()).toBe(0);
      expect(printed.filter((id) => id === lost.id)).toEqual([lost.id]);
      expect(printed.filter((id) => id === first.id)).toEqual([first.id]);
      expect(await auditedThrough()).toBe(lost.position);
    });
  });

  describe('when Redis lost more messages than one chunk of resends and one batch of the log (a backlog lost in a restart)', () => {
    it('publishes them all in one pass, reading on past the first missing one while each chunk appends, and each is processed once', async () => {
      audit = createDeliveryAudit({ store, bus, clock, logger: silent, handlers: [handler], graceMs: GRACE_MS, batchSize: 100 });
      await audit.runOnce();
      const lost: Message[] = [];
      for (let i = 0; i < 250; i++) lost.push(await commitFact(store, clock));
      for (const message of lost) await publish(bus, message);
      await deleteKeys(keyPrefix);
      clock.advance(GRACE_MS + 1_000);

      expect(await audit.runOnce()).toBe(250);
      startConsumers();
      for (const message of lost) await processed(message);
      expect(await audit.runOnce()).toBe(0);
      expect(printed.length).toBe(250);
      expect(new Set(printed).size).toBe(250);
    });
  });

  describe('when only the stream was lost (deleted), and Redis still remembers having published the message', () => {
    it('appends it again all the same, once, and the handler processes it once', async () => {
      await audit.runOnce();
      const lost = await commitFact(store, clock);
      await publish(bus, lost);
      await withRedis(async (raw) => {
        await raw.del(`${keyPrefix}${streamOf(lost)}`);
        expect(await raw.exists(`${keyPrefix}published:${streamOf(lost)}:${lost.id}`)).toBe(1);
      });
      startConsumers();
      clock.advance(GRACE_MS + 1_000);
      expect(await audit.runOnce()).toBe(1);
      await processed(lost);
      expect(await audit.runOnce()).toBe(0);
      expect(printed).toEqual([lost.id]);
      expect(await auditedThrough()).toBe(lost.position);
    });
  });

  describe('when a message is still on the bus, not yet read', () => {
    it('appends nothing, and moves on once the handler has processed it', async () => {
      await audit.runOnce();
      const waiting = await commitFact(store, clock);
      await publish(bus, waiting);
      clock.advance(GRACE_MS + 1_000);
      expect(await audit.runOnce()).toBe(0);
      expect(await auditedThrough()).toBeLessThan(waiting.position);
      startConsumers();
      await processed(waiting);
      expect(await audit.runOnce()).toBe(0);
      expect(printed).toEqual([waiting.id]);
      expect(await auditedThrough()).toBe(waiting.position);
    });
  });

  describe('when the handler gave a message up (a dead letter)', () => {
    it('counts it as settled: the operator redrives it, not the audit', async () => {
      await audit.runOnce();
      startConsumers();
      const bad = await commitFact(store, clock);
      poison.add(bad.id);
      await publish(bus, bad);
      await consumers!.drain();
      await deleteKeys(keyPrefix);
      clock.advance(GRACE_MS + 1_000);
      expect(await audit.runOnce()).toBe(0);
      expect(await auditedThrough()).toBe(bad.position);
      expect(printed).toEqual([]);
    });
  });
});

describe('the delivery audit (embedded: SQLite store, SQLite bus file)', () => {
  it('sends again what a lost bus.db held: once the bus file is back (empty), each message reaches its handler once', async () => {
    const harness = await sqlite.make();
    const dir: TempDir = makeTempDir('tickets-bus-');
    const busPath = join(dir.path, 'bus.db');
    const clock = new ManualClock(NOW);
    const printed: string[] = [];
    const handler = defineHandler({ name: 'printer', effect: 'local', on: { TicketPrinted_v1: (message) => void printed.push(message.id) } });
    // One audit per bus file: the audit of the restarted service works on the new one.
    const auditWith = (b: Bus) => createDeliveryAudit({ store: harness.store, bus: b, clock, logger: silent, handlers: [handler], graceMs: GRACE_MS });
    let bus = openSqliteBus({ path: busPath });
    let consumers: Consumers | undefined;
    try {
      expect(await auditWith(bus).runOnce()).toBe(0);
      const lost = await commitFact(harness.store, clock);
      await publish(bus, lost);
      // The service stops before the handler had it, and DATA_DIR/bus.db is lost (or deleted).
      await bus.close();
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${busPath}${suffix}`, { force: true });
      bus = openSqliteBus({ path: busPath });
      consumers = createConsumers({ store: harness.store, bus, handlers: [handler], clock, ids: randomIds, logger: silent, consumerName: 'c1', blockMs: 50, retry: { attempts: 2, baseMs: 1, maxMs: 2 } });
      consumers.start();
      clock.advance(GRACE_MS + 1_000);
      expect(await auditWith(bus).runOnce()).toBe(1);
      const deadline = Date.now() + 5_000;
      while ((await harness.store.query('SELECT 1 AS found FROM inbox WHERE handler = $1 AND message_id = $2', ['printer', lost.id])).length === 0) {
        if (Date.now() > deadline) throw new Error(`${lost.id} was not processed within 5 s`);
        await Bun.sleep(5);
      }
      expect(await auditWith(bus).runOnce()).toBe(0);
      expect(printed).toEqual([lost.id]);
    } finally {
      await consumers?.stop();
      await bus.close();
      await harness.cleanup();
      await dir.cleanup();
    }
  });

  it('reports the bus file gone while it is open: readiness fails instead of writing into a deleted file', async () => {
    const dir = makeTempDir('tickets-bus-');
    const busPath = join(dir.path, 'bus.db');
    const bus = openSqliteBus({ path: busPath });
    try {
      await bus.ping();
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${busPath}${suffix}`, { force: true });
      await expect(bus.ping()).rejects.toThrow(/is gone/);
    } finally {
      await bus.close();
      await dir.cleanup();
    }
  });
});
