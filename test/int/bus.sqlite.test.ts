import { afterAll, describe, expect, it } from 'bun:test';
import { join } from 'node:path';
import type { Bus, BusMessage } from '../../src/messaging/ports';
import { openSqliteBus } from '../../src/messaging/sqliteBus';
import { makeTempDir } from '../support/tempDir';
import { busContract } from './bus.contract';

busContract('sqlite', async () => {
  const dir = makeTempDir('tickets-bus-');
  const path = join(dir.path, 'bus.db');
  // Acknowledged and unread entries trimmed at once, as the Redis harness does (its published ids live in marker keys).
  let current: Bus = openSqliteBus({ path, publishedMemoryMs: 0 });
  const harness = {
    bus: current,
    async reopen() {
      await current.close();
      current = openSqliteBus({ path, publishedMemoryMs: 0 });
      harness.bus = current;
      return current;
    },
    async cleanup() {
      await current.close();
      await dir.cleanup();
    },
  };
  return harness;
});

const message = (id: string): BusMessage => ({
  id,
  name: 'BookingMade_v1',
  kind: 'event',
  actor: 'booking/b1',
  actorSeq: 1,
  position: 1,
  payload: { header: { id, published_at: '2030-01-01T00:00:00.000Z', idempotency_key: null } },
  metadata: { name: 'BookingMade_v1', correlation_id: 'corr-1' },
});

describe('sqlite bus', () => {
  describe('when another instance publishes to the same file', () => {
    const dir = makeTempDir('tickets-bus-');
    const path = join(dir.path, 'bus.db');
    const reader = openSqliteBus({ path });
    const writer = openSqliteBus({ path });

    afterAll(async () => {
      await reader.close();
      await writer.close();
      await dir.cleanup();
    });

    it('wakes a blocking read by polling the file', async () => {
      await reader.ensureGroup('s', 'g');
      const started = Date.now();
      const reading = reader.readNew('s', 'g', 'c1', 10, 5_000);
      await Bun.sleep(50);

      await writer.publish('s', [message('m1')]);

      expect((await reading).map((entry) => entry.message.id)).toEqual(['m1']);
      expect(Date.now() - started).toBeLessThan(1_000);
    });
  });

  describe('when a stream is trimmed', () => {
    it('keeps acknowledged entries for publishedMemoryMs, so that a re-send of their id is still skipped', async () => {
      const bus = openSqliteBus({ path: ':memory:', publishedMemoryMs: 60_000 });
      try {
        await bus.ensureGroup('s', 'g');
        await bus.publish('s', [message('m1')]);
        const read = await bus.readNew('s', 'g', 'c1', 10, 0);
        await bus.ack('s', 'g', read.map((entry) => entry.entryId));
        expect(await bus.trim('s')).toBe(0);

        await bus.publish('s', [message('m1'), message('m2')]);

        expect((await bus.readNew('s', 'g', 'c1', 10, 0)).map((entry) => entry.message.id)).toEqual(['m2']);
      } finally {
        await bus.close();
      }
    });
  });

  describe('when publishing', () => {
    const acknowledgedThenPublished = async (bus: Bus) => {
      try {
        await bus.ensureGroup('s', 'g');
        await bus.publish('s', [message('m1')]);
        const read = await bus.readNew('s', 'g', 'c1', 10, 0);
        await bus.ack('s', 'g', read.map((entry) => entry.entryId));
        await bus.publish('s', [message('m2')]);
        await bus.ensureGroup('s', 'late');
        return (await bus.readNew('s', 'late', 'c1', 10, 0)).map((entry) => entry.message.id);
      } finally {
        await bus.close();
      }
    };

    it('trims the stream once trimEveryMs has passed, never on its first publish', async () => {
      expect(await acknowledgedThenPublished(openSqliteBus({ path: ':memory:', publishedMemoryMs: 0, trimEveryMs: 0 }))).toEqual(['m2']);
    });

    it('leaves the stream alone until trimEveryMs has passed', async () => {
      expect(await acknowledgedThenPublished(openSqliteBus({ path: ':memory:', publishedMemoryMs: 0 }))).toEqual(['m1', 'm2']);
    });
  });

  describe('when opened in memory', () => {
    it('works without a file', async () => {
      const bus = openSqliteBus({ path: ':memory:' });
      try {
        await bus.ensureGroup('s', 'g');
        await bus.publish('s', [message('m1')]);
        const [entry] = await bus.readNew('s', 'g', 'c1', 10, 0);
        expect(entry?.entryId).toBe('0000000000000001');
        expect(entry?.message.id).toBe('m1');
      } finally {
        await bus.close();
      }
    });
  });
});
