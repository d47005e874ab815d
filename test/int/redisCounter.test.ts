import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { createRedisCounter } from '../../src/messaging/redisCounter';
import { deleteKeys, requireRedis, testRedisUrl, uniquePrefix, withRedis } from '../support/redis';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy';

describe('rate-limit counter in Redis', () => {
  const keyPrefix = uniquePrefix();
  let proxy: TcpProxy;

  beforeAll(async () => {
    await requireRedis();
    proxy = startTcpProxy(testRedisUrl().replace(/^redis:\/\//, '').replace(/\/.*$/, ''));
  });

  afterAll(async () => {
    proxy.cut();
    await deleteKeys(keyPrefix);
  });

  it('counts again on a new connection once a silent partition ends, instead of letting every request through', async () => {
    const counter = createRedisCounter({ url: `redis://${proxy.address}`, keyPrefix });
    try {
      expect(await counter.increment('auth:w1:client', 60_000)).toBe(1);

      proxy.partition();
      const started = Date.now();
      await expect(counter.increment('auth:w1:client', 60_000)).rejects.toThrow('timed out');
      expect(Date.now() - started).toBeLessThan(1_500);
      proxy.heal();

      let count: number | undefined;
      const deadline = Date.now() + 5_000;
      while (count === undefined && Date.now() < deadline) {
        count = await counter.increment('auth:w1:client', 60_000).catch(async () => {
          await Bun.sleep(100);
          return undefined;
        });
      }
      // The increment sent into the partition never reached Redis.
      expect(count).toBe(2);
    } finally {
      await counter.close();
    }
  });

  it('refuses to count in database 0 when REDIS_ADDR names a database the server does not have', async () => {
    const url = new URL(testRedisUrl());
    url.pathname = '/999';
    const counter = createRedisCounter({ url: url.toString(), keyPrefix });
    try {
      await expect(counter.increment('auth:w1:other', 60_000)).rejects.toThrow(/database 999/);
      expect(await withRedis((redis) => redis.exists(`${keyPrefix}ratelimit:auth:w1:other`))).toBe(0);
    } finally {
      await counter.close();
    }
  });
});
