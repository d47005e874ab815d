import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';

/** The shared Redis of the test run: `TEST_REDIS_URL`, default `redis://127.0.0.1:6379`. */
export function testRedisUrl(): string {
  return process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
}

/** A key prefix of its own for one test, e.g. `test:3f2a…:`; delete its keys with `deleteKeys`. */
export function uniquePrefix(): string {
  return `test:${randomUUID()}:`;
}

function probe(url: string): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 1_000,
    commandTimeout: 2_000,
    retryStrategy: () => null,
  });
  redis.on('error', () => {});
  return redis;
}

/** Resolves when `url` answers PING; throws a clear error otherwise (tests needing Redis never skip). */
export async function requireRedis(url = testRedisUrl()): Promise<void> {
  const redis = probe(url);
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(
      `Redis is not reachable at ${url} (${error instanceof Error ? error.message : String(error)}). ` +
        'Start one (redis-server) or point TEST_REDIS_URL at one.',
    );
  } finally {
    redis.disconnect();
  }
}

/** Runs `work` with a plain client of the test Redis, for what the code under test does not expose. */
export async function withRedis<T>(work: (redis: Redis) => Promise<T>, url = testRedisUrl()): Promise<T> {
  const redis = new Redis(url);
  try {
    return await work(redis);
  } finally {
    redis.disconnect();
  }
}

/** Deletes every key that starts with `prefix` (SCAN + UNLINK). */
export async function deleteKeys(prefix: string, url = testRedisUrl()): Promise<void> {
  const redis = probe(url);
  try {
    await redis.connect();
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}

/** A port nobody listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port assigned'));
      });
    });
  });
}

export interface RedisServer {
  port: number;
  url: string;
  /** Stops the server and waits for it to exit; its data is gone (no persistence). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty, and waits until it answers. */
  restart(): Promise<void>;
  /** Freezes the server (SIGSTOP): unreachable, as in a network outage, but its data is kept. */
  pause(): void;
  /** Lets a paused server run again (SIGCONT). */
  resume(): void;
}

const START_TIMEOUT_MS = 5_000;

/**
 * Spawns a private `redis-server` (no persistence) for tests that stop and restart Redis, which must
 * never be done to the shared one. `stop()` it in afterAll.
 */
export async function startRedisServer(port?: number): Promise<RedisServer> {
  const serverPort = port ?? (await freePort());
  const url = `redis://127.0.0.1:${serverPort}`;
  let child: ReturnType<typeof Bun.spawn> | undefined;

  const start = async () => {
    child = Bun.spawn(
      ['redis-server', '--port', String(serverPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdout: 'ignore', stderr: 'ignore' },
    );
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (child.exitCode !== null) {
        throw new Error(`redis-server on port ${serverPort} exited with code ${child.exitCode}`);
      }
      try {
        await requireRedis(url);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        await Bun.sleep(20);
      }
    }
  };

  const stop = async () => {
    if (!child) return;
    child.kill('SIGTERM');
    await child.exited;
    child = undefined;
  };

  await start();
  return {
    port: serverPort,
    url,
    stop,
    async restart() {
      await stop();
      await start();
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
  };
}
