import { RedisConnection, redisOptions } from './redisConnection';

/** INCR, and PEXPIRE on the first hit, in one step: a crash in between never leaves a key that lives forever. */
const INCREMENT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
`;

const TIMEOUT_MS = 500;

/**
 * The rate limit's counts in Redis (http/rateLimit.ts's counter in distributed mode), shared by every
 * instance, under `<keyPrefix>ratelimit:<class>:<window>:<client>`. Its own connection gives up after
 * TIMEOUT_MS, so that an outage costs a request at most that long (the rate limit then lets it through).
 */
export function createRedisCounter(options: { url: string; keyPrefix: string }) {
  const connection = new RedisConnection(options.url, redisOptions({
    connectTimeout: TIMEOUT_MS,
    commandTimeout: TIMEOUT_MS,
    // A connection that heard nothing for that long is made again: one whose bytes vanish would stay.
    socketTimeout: TIMEOUT_MS,
  }));
  return {
    async increment(key: string, ttlMs: number): Promise<number> {
      const redis = await connection.ready();
      return Number(await redis.eval(INCREMENT_SCRIPT, 1, `${options.keyPrefix}ratelimit:${key}`, Math.max(1, Math.ceil(ttlMs))));
    },
    close: () => connection.close(),
  };
}
