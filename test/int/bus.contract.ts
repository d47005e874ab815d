import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import type { Bus, BusEntry, BusMessage } from '../../src/messaging/ports';

/** A bus for one test, a way to restart it on the same data, and its cleanup. */
export interface BusHarness {
  bus: Bus;
  /** Closes the current bus and opens a new one on the same data (the same file, or Redis and prefix). */
  reopen(): Promise<Bus>;
  /** Closes the bus and deletes its data. */
  cleanup(): Promise<void>;
}

const STREAM = 'tickets.events';
const GROUP = 'tickets.receipts';

function message(n: number, actor = 'booking/b1'): BusMessage {
  const id = `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
  return {
    id,
    name: 'BookingMade_v1',
    kind: 'event',
    actor,
    actorSeq: n,
    position: n,
    payload: { header: { id, published_at: '2030-01-01T00:00:00.000Z', idempotency_key: null }, booking_id: 'b1', seats: n },
    metadata: { name: 'BookingMade_v1', correlation_id: `corr-${n}`, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
  };
}

const messages = (...ns: number[]) => ns.map((n) => message(n));
const ids = (entries: BusEntry[]) => entries.map((entry) => entry.message.id);
const idsOf = (...ns: number[]) => ns.map((n) => message(n).id);

/** Calls `attempt` every 20 ms until it returns entries or `timeoutMs` has passed. */
async function eventually(attempt: () => Promise<BusEntry[]>, timeoutMs = 3_000): Promise<BusEntry[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const entries = await attempt();
    if (entries.length > 0 || Date.now() > deadline) return entries;
    await Bun.sleep(20);
  }
}

/** The bus port's behaviour (src/messaging/ports.ts), run against every Bus implementation. */
export function busContract(name: string, make: () => Promise<BusHarness>) {
  describe(`bus on ${name}`, () => {
    let harness: BusHarness;
    let bus: Bus;

    beforeEach(async () => {
      harness = await make();
      bus = harness.bus;
    });

    afterEach(async () => {
      await harness.cleanup();
    });

    describe('when messages are published', () => {
      it('delivers them to a group in publish order across batches, as published', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1, 2, 3));
        await bus.publish(STREAM, messages(4));
        await bus.publish(STREAM, messages(5, 6));

        const entries = await bus.readNew(STREAM, GROUP, 'c1', 10, 0);

        expect(ids(entries)).toEqual(idsOf(1, 2, 3, 4, 5, 6));
        expect(entries.map((entry) => entry.message)).toEqual(messages(1, 2, 3, 4, 5, 6));
        expect(entries.every((entry) => entry.stream === STREAM && entry.deliveries === 1)).toBe(true);
        expect(new Set(entries.map((entry) => entry.entryId)).size).toBe(6);
      });

      it('hands out at most count entries per read, each read continuing where the last stopped', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1, 2, 3, 4, 5));

        expect(ids(await bus.readNew(STREAM, GROUP, 'c1', 2, 0))).toEqual(idsOf(1, 2));
        expect(ids(await bus.readNew(STREAM, GROUP, 'c1', 2, 0))).toEqual(idsOf(3, 4));
        expect(ids(await bus.readNew(STREAM, GROUP, 'c1', 2, 0))).toEqual(idsOf(5));
        expect(await bus.readNew(STREAM, GROUP, 'c1', 2, 0)).toEqual([]);
      });

      it('keeps each stream to itself', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.ensureGroup('tickets.other', GROUP);
        await bus.publish(STREAM, messages(1));
        await bus.publish('tickets.other', messages(2));

        expect(ids(await bus.readNew(STREAM, GROUP, 'c1', 10, 0))).toEqual(idsOf(1));
        expect(ids(await bus.readNew('tickets.other', GROUP, 'c1', 10, 0))).toEqual(idsOf(2));
      });

      it('accepts an empty batch and appends nothing', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, []);

        expect(await bus.lag(STREAM, GROUP)).toEqual({ undelivered: 0, pending: 0 });
      });
    });

    describe('when messages are published again', () => {
      it('appends only the ids the stream does not hold yet, in the order given', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1, 2, 3));

        await bus.publish(STREAM, messages(2, 4, 3, 5, 1, 6));

        const entries = await bus.readNew(STREAM, GROUP, 'c1', 10, 0);
        expect(ids(entries)).toEqual(idsOf(1, 2, 3, 4, 5, 6));
        expect(entries.map((entry) => entry.message)).toEqual(messages(1, 2, 3, 4, 5, 6));
      });

      it('appends an id repeated within one batch once', async () => {
        await bus.ensureGroup(STREAM, GROUP);

        await bus.publish(STREAM, messages(1, 2, 1, 2, 3));

        expect(ids(await bus.readNew(STREAM, GROUP, 'c1', 10, 0))).toEqual(idsOf(1, 2, 3));
      });

      it('skips an id already read and acked by every group', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1));
        const [entry] = await bus.readNew(STREAM, GROUP, 'c1', 10, 0);
        await bus.ack(STREAM, GROUP, [entry!.entryId]);

        await bus.publish(STREAM, messages(1));

        expect(await bus.lag(STREAM, GROUP)).toEqual({ undelivered: 0, pending: 0 });
      });

      it('keys ids per stream: the same id goes onto another stream', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.ensureGroup('tickets.other', GROUP);
        await bus.publish(STREAM, messages(1));

        await bus.publish('tickets.other', messages(1));

        expect(ids(await bus.readNew('tickets.other', GROUP, 'c1', 10, 0))).toEqual(idsOf(1));
        expect(ids(await bus.readNew(STREAM, GROUP, 'c1', 10, 0))).toEqual(idsOf(1));
      });

      it('remembers the published ids across a restart of the bus', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1, 2));

        bus = await harness.reopen();
        await bus.publish(STREAM, messages(1, 2, 3));

        expect(ids(await bus.readNew(STREAM, GROUP, 'c1', 10, 0))).toEqual(idsOf(1, 2, 3));
      });
    });

    describe('when two groups read one stream', () => {
      it('gives every entry to each group', async () => {
        await bus.ensureGroup(STREAM, 'tickets.a');
        await bus.ensureGroup(STREAM, 'tickets.b');
        await bus.publish(STREAM, messages(1, 2, 3));

        expect(ids(await bus.readNew(STREAM, 'tickets.a', 'c1', 10, 0))).toEqual(idsOf(1, 2, 3));
        expect(ids(await bus.readNew(STREAM, 'tickets.b', 'c1', 10, 0))).toEqual(idsOf(1, 2, 3));
      });
    });

    describe('when two consumers share a group', () => {
      it('splits the entries between them without duplicates', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1, 2, 3, 4, 5));

        const first = await bus.readNew(STREAM, GROUP, 'c1', 2, 0);
        const second = await bus.readNew(STREAM, GROUP, 'c2', 10, 0);

        expect(ids(first)).toEqual(idsOf(1, 2));
        expect(ids(second)).toEqual(idsOf(3, 4, 5));
        expect(await bus.readNew(STREAM, GROUP, 'c1', 10, 0)).toEqual([]);
      });
    });

    describe('when a group is created after publishing', () => {
      it('sees the earlier entries', async () => {
        await bus.publish(STREAM, messages(1, 2));
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(3));

        expect(ids(await bus.readNew(STREAM, GROUP, 'c1', 10, 0))).toEqual(idsOf(1, 2, 3));
      });
    });

    describe('when ensureGroup is called again', () => {
      it('keeps the group where it was', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1, 2, 3));
        await bus.readNew(STREAM, GROUP, 'c1', 2, 0);

        await bus.ensureGroup(STREAM, GROUP);
        await bus.ensureGroup(STREAM, GROUP);

        expect(await bus.lag(STREAM, GROUP)).toEqual({ undelivered: 1, pending: 2 });
        expect(ids(await bus.readNew(STREAM, GROUP, 'c1', 10, 0))).toEqual(idsOf(3));
      });
    });

    describe('when count asks for nothing', () => {
      it('rejects the read or claim', async () => {
        await bus.ensureGroup(STREAM, GROUP);

        await expect(bus.readNew(STREAM, GROUP, 'c1', 0, 0)).rejects.toThrow('count');
        await expect(bus.claimIdle(STREAM, GROUP, 'c1', 0, 0)).rejects.toThrow('count');
      });
    });

    describe('when a group was never created', () => {
      it('rejects reads, claims and lag', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1));

        await expect(bus.readNew(STREAM, 'tickets.unknown', 'c1', 10, 0)).rejects.toThrow('NOGROUP');
        await expect(bus.readNew(STREAM, 'tickets.unknown', 'c1', 10, 50)).rejects.toThrow('NOGROUP');
        await expect(bus.claimIdle(STREAM, 'tickets.unknown', 'c1', 0, 10)).rejects.toThrow('NOGROUP');
        await expect(bus.lag(STREAM, 'tickets.unknown')).rejects.toThrow('NOGROUP');
        await expect(bus.lag('tickets.nothing', GROUP)).rejects.toThrow('NOGROUP');
      });
    });

    describe('when an entry is read but not acked', () => {
      it('is not read again by readNew', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1));
        await bus.readNew(STREAM, GROUP, 'c1', 10, 0);

        expect(await bus.readNew(STREAM, GROUP, 'c1', 10, 0)).toEqual([]);
        expect(await bus.readNew(STREAM, GROUP, 'c2', 10, 0)).toEqual([]);
      });

      it('is claimed by another consumer only once idle for minIdle, its delivery count incremented', async () => {
        const minIdleMs = 150;
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1));
        const readAt = Date.now();
        const [read] = await bus.readNew(STREAM, GROUP, 'c1', 10, 0);

        expect(await bus.claimIdle(STREAM, GROUP, 'c2', minIdleMs, 10)).toEqual([]);
        const claimed = await eventually(() => bus.claimIdle(STREAM, GROUP, 'c2', minIdleMs, 10));

        expect(Date.now() - readAt).toBeGreaterThanOrEqual(minIdleMs);
        expect(claimed).toEqual([{ ...read!, deliveries: 2 }]);
        expect(await bus.claimIdle(STREAM, GROUP, 'c3', minIdleMs, 10)).toEqual([]);
        const again = await eventually(() => bus.claimIdle(STREAM, GROUP, 'c3', minIdleMs, 10));
        expect(again.map((entry) => [entry.entryId, entry.deliveries])).toEqual([[read!.entryId, 3]]);
        expect(await bus.readNew(STREAM, GROUP, 'c1', 10, 0)).toEqual([]);
      });

      it('is not claimed while its consumer keeps it claimed, and another consumer\'s entry is not kept', async () => {
        const minIdleMs = 150;
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1, 2));
        const [first, second] = await bus.readNew(STREAM, GROUP, 'c1', 10, 0);
        await Bun.sleep(100);
        await bus.keepClaimed(STREAM, GROUP, 'c1', [first!.entryId]);
        await Bun.sleep(80);

        // Both read 180 ms ago, the first kept 80 ms ago: only the second is idle for minIdle.
        const claimed = await bus.claimIdle(STREAM, GROUP, 'c2', minIdleMs, 10);
        expect(claimed.map((entry) => [entry.entryId, entry.deliveries])).toEqual([[second!.entryId, 2]]);
        // c1 no longer holds the second: keeping it leaves it idle since c2's claim.
        await Bun.sleep(100);
        await bus.keepClaimed(STREAM, GROUP, 'c1', [second!.entryId]);
        await bus.keepClaimed(STREAM, GROUP, 'c1', []);
        await Bun.sleep(60);
        const both = await bus.claimIdle(STREAM, GROUP, 'c3', minIdleMs, 10);
        expect(both.map((entry) => [entry.entryId, entry.deliveries])).toEqual([[first!.entryId, 2], [second!.entryId, 3]]);
      });

      it('is claimed oldest first, at most count at a time', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1, 2, 3));
        await bus.readNew(STREAM, GROUP, 'c1', 1, 0);
        await bus.readNew(STREAM, GROUP, 'c2', 10, 0);

        expect(ids(await bus.claimIdle(STREAM, GROUP, 'c3', 0, 2))).toEqual(idsOf(1, 2));
        expect(ids(await bus.claimIdle(STREAM, GROUP, 'c3', 0, 10))).toEqual(idsOf(1, 2, 3));
      });

      it('finds idle entries behind many that are not idle', async () => {
        const minIdleMs = 100;
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(...Array.from({ length: 25 }, (_, i) => i + 1)));
        await bus.readNew(STREAM, GROUP, 'c1', 25, 0);
        await Bun.sleep(minIdleMs + 20);
        await bus.claimIdle(STREAM, GROUP, 'c2', 0, 24);

        expect(ids(await bus.claimIdle(STREAM, GROUP, 'c3', minIdleMs, 1))).toEqual(idsOf(25));
      });
    });

    describe('when entries are acked', () => {
      it('removes them from pending, and acking again is harmless', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1, 2, 3));
        const [first, second] = await bus.readNew(STREAM, GROUP, 'c1', 10, 0);

        await bus.ack(STREAM, GROUP, [first!.entryId, second!.entryId]);
        await bus.ack(STREAM, GROUP, [first!.entryId]);
        await bus.ack(STREAM, GROUP, []);

        expect(await bus.lag(STREAM, GROUP)).toEqual({ undelivered: 0, pending: 1 });
        expect(ids(await bus.claimIdle(STREAM, GROUP, 'c2', 0, 10))).toEqual(idsOf(3));
      });

      it('keeps them for other groups', async () => {
        await bus.ensureGroup(STREAM, 'tickets.a');
        await bus.ensureGroup(STREAM, 'tickets.b');
        await bus.publish(STREAM, messages(1));
        const [entry] = await bus.readNew(STREAM, 'tickets.a', 'c1', 10, 0);
        await bus.readNew(STREAM, 'tickets.b', 'c1', 10, 0);

        await bus.ack(STREAM, 'tickets.a', [entry!.entryId]);

        expect(await bus.lag(STREAM, 'tickets.a')).toEqual({ undelivered: 0, pending: 0 });
        expect(await bus.lag(STREAM, 'tickets.b')).toEqual({ undelivered: 0, pending: 1 });
      });
    });

    describe('when a stream is trimmed', () => {
      it('removes what every group acknowledged and keeps what a group has pending or not yet read', async () => {
        await bus.ensureGroup(STREAM, 'tickets.a');
        await bus.ensureGroup(STREAM, 'tickets.b');
        await bus.publish(STREAM, messages(1, 2, 3, 4, 5, 6));
        const readByA = await bus.readNew(STREAM, 'tickets.a', 'c1', 10, 0);
        await bus.ack(STREAM, 'tickets.a', [0, 1, 2, 4].map((i) => readByA[i]!.entryId));
        const readByB = await bus.readNew(STREAM, 'tickets.b', 'c1', 5, 0);
        await bus.ack(STREAM, 'tickets.b', readByB.map((entry) => entry.entryId));

        // a still holds 4 and 6, b has not read 6: only 1, 2 and 3 are done with.
        expect(await bus.trim(STREAM)).toBe(3);
        expect(await bus.trim(STREAM)).toBe(0);

        expect(ids(await bus.claimIdle(STREAM, 'tickets.a', 'c2', 0, 10))).toEqual(idsOf(4, 6));
        expect(ids(await bus.readNew(STREAM, 'tickets.b', 'c1', 10, 0))).toEqual(idsOf(6));
        expect(await bus.lag(STREAM, 'tickets.a')).toEqual({ undelivered: 0, pending: 2 });
        expect(await bus.lag(STREAM, 'tickets.b')).toEqual({ undelivered: 0, pending: 1 });
      });

      it('empties a stream that no group reads once its retention time is over (0 here), keeps all for a group that read nothing', async () => {
        await bus.publish(STREAM, messages(1, 2, 3));
        expect(await bus.trim(STREAM)).toBe(3);
        expect(await bus.trim('tickets.never-published')).toBe(0);

        await bus.ensureGroup(STREAM, 'tickets.a');
        await bus.publish(STREAM, messages(4, 5));
        expect(await bus.trim(STREAM)).toBe(0);
        const read = await bus.readNew(STREAM, 'tickets.a', 'c1', 10, 0);
        expect(ids(read)).toEqual(idsOf(4, 5));
        await bus.ack(STREAM, 'tickets.a', read.map((entry) => entry.entryId));
        expect(await bus.trim(STREAM)).toBe(2);

        // A group created later starts after what was trimmed.
        await bus.ensureGroup(STREAM, 'tickets.late');
        await bus.publish(STREAM, messages(6));
        expect(ids(await bus.readNew(STREAM, 'tickets.late', 'c1', 10, 0))).toEqual(idsOf(6));
        expect(await bus.lag(STREAM, 'tickets.a')).toEqual({ undelivered: 1, pending: 0 });
      });
    });

    describe('when measuring lag', () => {
      it('counts entries not yet delivered and entries delivered but not acked', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        expect(await bus.lag(STREAM, GROUP)).toEqual({ undelivered: 0, pending: 0 });

        await bus.publish(STREAM, messages(1, 2, 3, 4, 5));
        expect(await bus.lag(STREAM, GROUP)).toEqual({ undelivered: 5, pending: 0 });

        const [first] = await bus.readNew(STREAM, GROUP, 'c1', 2, 0);
        expect(await bus.lag(STREAM, GROUP)).toEqual({ undelivered: 3, pending: 2 });

        await bus.ack(STREAM, GROUP, [first!.entryId]);
        expect(await bus.lag(STREAM, GROUP)).toEqual({ undelivered: 3, pending: 1 });
      });

      it('tells when the oldest entry the group has not acked was appended, delivered or not', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        expect(await bus.oldestUnacked(STREAM, GROUP)).toBeNull();
        const before = Date.now();
        await bus.publish(STREAM, messages(1));
        const after = Date.now();
        await Bun.sleep(20);
        await bus.publish(STREAM, messages(2));

        const undelivered = await bus.oldestUnacked(STREAM, GROUP);
        expect(undelivered).toBeGreaterThanOrEqual(before);
        expect(undelivered).toBeLessThanOrEqual(after);
        const [first, second] = await bus.readNew(STREAM, GROUP, 'c1', 2, 0);
        expect(await bus.oldestUnacked(STREAM, GROUP)).toBe(undelivered);
        await bus.ack(STREAM, GROUP, [first!.entryId]);
        expect(await bus.oldestUnacked(STREAM, GROUP)).toBeGreaterThan(after);
        await bus.ack(STREAM, GROUP, [second!.entryId]);
        expect(await bus.oldestUnacked(STREAM, GROUP)).toBeNull();
        await expect(bus.oldestUnacked(STREAM, 'tickets.unknown')).rejects.toThrow('NOGROUP');
      });
    });

    describe('when nothing new is published', () => {
      it('waits up to blockMs, then returns no entries', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        const started = Date.now();

        expect(await bus.readNew(STREAM, GROUP, 'c1', 10, 300)).toEqual([]);

        const elapsed = Date.now() - started;
        expect(elapsed).toBeGreaterThanOrEqual(250);
        expect(elapsed).toBeLessThan(2_000);
      });

      it('returns at once when blockMs is 0', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        const started = Date.now();

        expect(await bus.readNew(STREAM, GROUP, 'c1', 10, 0)).toEqual([]);

        expect(Date.now() - started).toBeLessThan(500);
      });

      it('answers other calls at once while a consumer waits', async () => {
        await bus.ensureGroup('tickets.quiet', GROUP);
        await bus.ensureGroup(STREAM, GROUP);
        const waiting = bus.readNew('tickets.quiet', GROUP, 'c1', 10, 800);
        const started = Date.now();

        await bus.publish(STREAM, messages(1));
        await bus.ping();
        expect(await bus.lag(STREAM, GROUP)).toEqual({ undelivered: 1, pending: 0 });
        expect(ids(await bus.readNew(STREAM, GROUP, 'c2', 10, 0))).toEqual(idsOf(1));

        expect(Date.now() - started).toBeLessThan(500);
        expect(await waiting).toEqual([]);
      });
    });

    describe('when an entry is published during a blocking read', () => {
      it('returns it without waiting for blockMs', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        const started = Date.now();
        const reading = bus.readNew(STREAM, GROUP, 'c1', 10, 5_000);
        await Bun.sleep(100);

        await bus.publish(STREAM, messages(1, 2));

        const entries = await reading;
        expect(ids(entries)).toEqual(idsOf(1, 2));
        expect(Date.now() - started).toBeLessThan(2_500);
      });

      it('wakes every waiting consumer of another group', async () => {
        await bus.ensureGroup(STREAM, 'tickets.a');
        await bus.ensureGroup(STREAM, 'tickets.b');
        const readingA = bus.readNew(STREAM, 'tickets.a', 'ca', 10, 5_000);
        const readingB = bus.readNew(STREAM, 'tickets.b', 'cb', 10, 5_000);
        const started = Date.now();
        await Bun.sleep(50);

        await bus.publish(STREAM, messages(1));

        expect(ids(await readingA)).toEqual(idsOf(1));
        expect(ids(await readingB)).toEqual(idsOf(1));
        expect(Date.now() - started).toBeLessThan(2_500);
      });
    });

    describe('when the bus is closed while a read waits', () => {
      it('ends the read with no entries', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        const started = Date.now();
        const reading = bus.readNew(STREAM, GROUP, 'c1', 10, 5_000);
        await Bun.sleep(50);

        await bus.close();

        expect(await reading).toEqual([]);
        expect(Date.now() - started).toBeLessThan(2_500);
      });
    });

    describe('when the bus is closed', () => {
      it('rejects further calls', async () => {
        await bus.close();
        await bus.close();

        await expect(bus.publish(STREAM, messages(1))).rejects.toThrow('closed');
        await expect(bus.readNew(STREAM, GROUP, 'c1', 10, 100)).rejects.toThrow('closed');
        await expect(bus.ping()).rejects.toThrow('closed');
      });
    });

    describe('when the bus is closed and reopened', () => {
      it('keeps entries, groups, their positions and pending entries', async () => {
        await bus.ensureGroup(STREAM, GROUP);
        await bus.publish(STREAM, messages(1, 2, 3));
        const [read] = await bus.readNew(STREAM, GROUP, 'c1', 1, 0);

        bus = await harness.reopen();

        expect(await bus.lag(STREAM, GROUP)).toEqual({ undelivered: 2, pending: 1 });
        expect(ids(await bus.readNew(STREAM, GROUP, 'c2', 10, 0))).toEqual(idsOf(2, 3));
        const [claimed] = await bus.claimIdle(STREAM, GROUP, 'c2', 0, 1);
        expect(claimed).toEqual({ ...read!, deliveries: 2 });
        await bus.publish(STREAM, messages(4));
        expect(ids(await bus.readNew(STREAM, GROUP, 'c2', 10, 0))).toEqual(idsOf(4));
      });
    });

    describe('when pinged', () => {
      it('resolves', async () => {
        await bus.ping();
      });
    });
  });
}
