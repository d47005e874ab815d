import { afterAll, afterEach, beforeAll, describe, expect, it } from 'bun:test';
import type { Bus } from '../../src/messaging/ports';
import { createRedisBus } from '../../src/messaging/redisBus';
import { deleteKeys, requireRedis, startRedisServer, testRedisUrl, uniquePrefix, withRedis, type RedisServer } from '../support/redis';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy';
import { busContract } from './bus.contract';

beforeAll(async () => {
  await requireRedis();
});

busContract('redis', async () => {
  const url = testRedisUrl();
  const keyPrefix = uniquePrefix();
  // Streams no group reads are trimmed at once, as the SQLite harness does (publishedMemoryMs 0).
  let current: Bus = createRedisBus({ url, keyPrefix, unreadRetentionMs: 0 });
  const harness = {
    bus: current,
    async reopen() {
      await current.close();
      current = createRedisBus({ url, keyPrefix, unreadRetentionMs: 0 });
      harness.bus = current;
      return current;
    },
    async cleanup() {
      await current.close();
      await deleteKeys(keyPrefix, url);
    },
  };
  return harness;
});

const message = (id: string) => ({
  id,
  name: 'BookingMade_v1',
  kind: 'event' as const,
  actor: 'booking/b1',
  actorSeq: 1,
  position: 1,
  payload: { header: { id, published_at: '2030-01-01T00:00:00.000Z', idempotency_key: null } },
  metadata: { name: 'BookingMade_v1', correlation_id: 'corr-1' },
});

/** A key prefix for the tests of one `describe`, and `open` for their buses: closed, and the keys deleted, after each test. */
function busOnItsOwnPrefix() {
  const keyPrefix = uniquePrefix();
  const opened: Bus[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((bus) => bus.close()));
    await deleteKeys(keyPrefix);
  });
  const open = (options: Partial<Parameters<typeof createRedisBus>[0]> = {}): Bus => {
    const bus = createRedisBus({ url: testRedisUrl(), keyPrefix, ...options });
    opened.push(bus);
    return bus;
  };
  return { keyPrefix, open };
}

/** Retries `attempt` every 100 ms until it resolves, for at most `timeoutMs`. */
async function retrying<T>(attempt: () => Promise<T>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await Bun.sleep(100);
    }
  }
}

/** Runs `work`, which must reject, and returns how long the rejection took. */
async function msToReject(work: () => Promise<unknown>, message = ''): Promise<number> {
  const started = Date.now();
  const error = await work().then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(Error);
  expect((error as Error).message).toContain(message);
  return Date.now() - started;
}

describe('redis bus', () => {
  describe('when Redis refuses the credentials of REDIS_ADDR', () => {
    it('says why and where at every call, not that its stream is not writeable, and never the password', async () => {
      await requireRedis();
      const url = new URL(testRedisUrl());
      url.username = 'nobody';
      url.password = 's3cret-pw';
      const bus = createRedisBus({ url: url.toString(), keyPrefix: uniquePrefix() });
      try {
        for (let call = 0; call < 3; call++) {
          const error = await bus.ping().then(() => undefined, (e: unknown) => e as Error);
          expect(error?.message).toBe(`cannot connect to Redis at ${url.hostname}:${url.port || '6379'}: WRONGPASS invalid username-password pair or user is disabled.`);
          await Bun.sleep(150);
        }
      } finally {
        await bus.close();
      }
    });
  });

  describe('when REDIS_ADDR names a database the server does not have', () => {
    it('refuses every command instead of using database 0, which another deployment may use', async () => {
      await requireRedis();
      const url = new URL(testRedisUrl());
      url.pathname = '/999';
      const bus = createRedisBus({ url: url.toString(), keyPrefix: uniquePrefix() });
      try {
        await expect(bus.ping()).rejects.toThrow(/database 999/);
        await expect(bus.ensureGroup('tickets.probe', 'g')).rejects.toThrow(/database 999/);
      } finally {
        await bus.close();
      }
    });
  });

  describe("when entries were deleted past a group's position", () => {
    const { keyPrefix, open } = busOnItsOwnPrefix();

    it('counts the undelivered entries left, which Redis no longer reports as lag', async () => {
      const bus = open();
      await bus.ensureGroup('s', 'g');
      await bus.publish('s', [message('m1'), message('m2'), message('m3')]);
      await withRedis(async (raw) => {
        const [, second] = await raw.xrange(`${keyPrefix}s`, '-', '+');
        await raw.xdel(`${keyPrefix}s`, second![0]);
      });

      expect(await bus.lag('s', 'g')).toEqual({ undelivered: 2, pending: 0 });
    });
  });

  describe('when the server handed entries to a consumer whose reply never arrived', () => {
    const { keyPrefix, open } = busOnItsOwnPrefix();

    it("gives them to that consumer's next blocking read at once, with their delivery counts, and skips entries trimmed meanwhile", async () => {
      const bus = open();
      await bus.ensureGroup('s', 'g');
      await bus.publish('s', [message('m1'), message('m2'), message('m3')]);
      await withRedis(async (raw) => {
        // Delivered to c1 by the server, as a read given up client-side (or a stopped process) leaves them.
        await raw.xreadgroup('GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', `${keyPrefix}s`, '>');
        const [, second] = await raw.xrange(`${keyPrefix}s`, '-', '+');
        await raw.xdel(`${keyPrefix}s`, second![0]);
      });

      const lost = await bus.readNew('s', 'g', 'c1', 10, 50);
      expect(lost.map((entry) => [entry.message.id, entry.deliveries])).toEqual([['m1', 2], ['m3', 2]]);
      await bus.ack('s', 'g', lost.map((entry) => entry.entryId));
      expect(await bus.lag('s', 'g')).toEqual({ undelivered: 0, pending: 0 });
      // Then the reads take new entries again.
      await bus.publish('s', [message('m4')]);
      expect((await bus.readNew('s', 'g', 'c1', 10, 50)).map((entry) => entry.message.id)).toEqual(['m4']);
    });
  });

  describe('when a message is published', () => {
    const { keyPrefix, open } = busOnItsOwnPrefix();

    it('remembers its id per stream for a day', async () => {
      const bus = open();
      await bus.publish('s', [message('m1')]);
      await withRedis(async (raw) => {
        const ttl = await raw.ttl(`${keyPrefix}published:s:m1`);
        expect(ttl).toBeGreaterThan(24 * 3600 - 60);
        expect(ttl).toBeLessThanOrEqual(24 * 3600);
      });
    });
  });

  describe('when a trimmed message is published again', () => {
    const { keyPrefix, open } = busOnItsOwnPrefix();

    it('skips it: its id outlives the entry, in its marker key', async () => {
      const bus = open();
      await bus.ensureGroup('s', 'g');
      await bus.publish('s', [message('m1'), message('m2')]);
      const read = await bus.readNew('s', 'g', 'c1', 10, 0);
      await bus.ack('s', 'g', read.map((entry) => entry.entryId));
      expect(await bus.trim('s')).toBe(2);

      await bus.publish('s', [message('m1'), message('m3')]);

      expect((await bus.readNew('s', 'g', 'c1', 10, 0)).map((entry) => entry.message.id)).toEqual(['m3']);
    });
  });

  describe('when a stream is trimmed after instances have come and gone', () => {
    const { keyPrefix, open } = busOnItsOwnPrefix();

    it('forgets the consumers idle past staleConsumerMs with nothing pending, and keeps those with pending entries', async () => {
      const bus = open({ staleConsumerMs: 50 });
      await bus.ensureGroup('s', 'g');
      await bus.publish('s', [message('m1'), message('m2')]);
      const done = await bus.readNew('s', 'g', 'gone', 1, 0);
      await bus.ack('s', 'g', done.map((entry) => entry.entryId));
      await bus.readNew('s', 'g', 'crashed', 1, 0);
      await Bun.sleep(100);
      await bus.publish('s', [message('m3')]);
      const recent = await bus.readNew('s', 'g', 'live', 1, 0);
      await bus.ack('s', 'g', recent.map((entry) => entry.entryId));

      await bus.trim('s');

      await withRedis(async (redis) => {
        const consumers = (await redis.xinfo('CONSUMERS', `${keyPrefix}s`, 'g')) as unknown[][];
        expect(consumers.map((fields) => fields[1]).sort()).toEqual(['crashed', 'live']);
      });
    });
  });

  describe('when publishing', () => {
    const { keyPrefix, open } = busOnItsOwnPrefix();

    it('trims the stream once trimEveryMs has passed, never on its first publish', async () => {
      const bus = open({ trimEveryMs: 0 });
      await bus.ensureGroup('s', 'g');
      await bus.publish('s', [message('m1')]);
      const read = await bus.readNew('s', 'g', 'c1', 10, 0);
      await bus.ack('s', 'g', read.map((entry) => entry.entryId));

      await bus.publish('s', [message('m2')]);

      await bus.ensureGroup('s', 'late');
      expect((await bus.readNew('s', 'late', 'c1', 10, 0)).map((entry) => entry.message.id)).toEqual(['m2']);
    });

    it('leaves the stream alone until trimEveryMs has passed', async () => {
      const bus = open();
      await bus.ensureGroup('s', 'g');
      await bus.publish('s', [message('m1')]);
      const read = await bus.readNew('s', 'g', 'c1', 10, 0);
      await bus.ack('s', 'g', read.map((entry) => entry.entryId));

      await bus.publish('s', [message('m2')]);

      await bus.ensureGroup('s', 'late');
      expect((await bus.readNew('s', 'late', 'c1', 10, 0)).map((entry) => entry.message.id)).toEqual(['m1', 'm2']);
    });
  });

  describe('when the network to Redis loses every byte without closing (a silent partition)', () => {
    const { open } = busOnItsOwnPrefix();
    let proxy: TcpProxy;

    beforeAll(() => {
      proxy = startTcpProxy(testRedisUrl().replace(/^redis:\/\//, '').replace(/\/.*$/, ''));
    });

    afterAll(() => {
      proxy.cut();
    });

    afterEach(() => {
      proxy.heal();
    });

    it('publishes again on a new connection once the network is back, instead of waiting on the lost one', async () => {
      const bus = open({ url: proxy.address });
      await bus.publish('s', [message('m1')]);

      proxy.partition();
      expect(await msToReject(() => bus.publish('s', [message('m2')]), 'timed out')).toBeLessThan(3_000);
      await Bun.sleep(1_000);
      proxy.heal();

      await retrying(() => bus.publish('s', [message('m3')]), 8_000);
      expect(await bus.ping()).toBeUndefined();
    });

    it('reads again on a new connection once the network is back', async () => {
      const bus = open({ url: proxy.address });
      await bus.ensureGroup('s', 'g');
      expect(await bus.readNew('s', 'g', 'c1', 10, 50)).toEqual([]);

      proxy.partition();
      // A blocking read whose reply cannot come is given up client-side: it finds nothing.
      expect(await bus.readNew('s', 'g', 'c1', 10, 50)).toEqual([]);
      // Long enough for the reader to connect again into the partition, where its handshake is lost too.
      await Bun.sleep(1_000);
      proxy.heal();
      await retrying(() => bus.publish('s', [message('m1')]), 8_000);

      const deadline = Date.now() + 8_000;
      let read: string[] = [];
      while (read.length === 0 && Date.now() < deadline) read = (await bus.readNew('s', 'g', 'c1', 10, 50)).map((entry) => entry.message.id);
      expect(read).toEqual(['m1']);
    });
  });

  describe('when Redis goes down', () => {
    let server: RedisServer;
    let bus: Bus;

    beforeAll(async () => {
      server = await startRedisServer();
    });

    afterEach(async () => {
      await bus.close();
      await server.restart();
    });

    afterAll(async () => {
      await server.stop();
    });

    it('rejects publish and reads within a bounded time instead of hanging', async () => {
      bus = createRedisBus({ url: `127.0.0.1:${server.port}` });
      await bus.ensureGroup('s', 'g');
      await bus.readNew('s', 'g', 'c1', 10, 10);
      await bus.publish('s', [message('m1')]);

      await server.stop();

      expect(await msToReject(() => bus.publish('s', [message('m2')]))).toBeLessThan(3_000);
      expect(await msToReject(() => bus.readNew('s', 'g', 'c1', 10, 1_000))).toBeLessThan(3_000);
      expect(await msToReject(() => bus.lag('s', 'g'))).toBeLessThan(3_000);
    });

    it('fails a blocking read in progress instead of hanging', async () => {
      bus = createRedisBus({ url: server.url });
      await bus.ensureGroup('s', 'g');
      const started = Date.now();
      const reading = bus.readNew('s', 'g', 'c1', 10, 10_000);
      await Bun.sleep(100);

      await server.stop();

      await expect(reading).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(3_000);
    });

    it('publishes and reads again once Redis is back', async () => {
      bus = createRedisBus({ url: server.url });
      await bus.publish('s', [message('m1')]);
      await server.stop();
      await expect(bus.publish('s', [message('m2')])).rejects.toThrow();

      await server.restart();

      await retrying(() => bus.publish('s', [message('m3')]));
      await bus.ensureGroup('s', 'g');
      expect((await bus.readNew('s', 'g', 'c1', 10, 1_000)).map((entry) => entry.message.id)).toEqual(['m3']);
    });

    it('rejects at once when the bus was created while Redis was down, then works once Redis is up', async () => {
      await server.stop();
      bus = createRedisBus({ url: server.url });

      expect(await msToReject(() => bus.publish('s', [message('m1')]), 'cannot connect')).toBeLessThan(3_000);
      expect(await msToReject(() => bus.ping())).toBeLessThan(3_000);

      await server.restart();

      await retrying(() => bus.publish('s', [message('m2')]));
      await bus.ensureGroup('s', 'g');
      expect(await bus.lag('s', 'g')).toEqual({ undelivered: 1, pending: 0 });
    });
  });
});
