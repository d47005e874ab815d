import { Redis, type RedisOptions } from 'ioredis';

/*
 * Every Redis connection of the service (the bus's, the shared rate-limit counter's) is made here, so that
 * they all fail fast alike during an outage and refuse a database the server does not have.
 */

const CONNECT_TIMEOUT_MS = 2_000;
const RECONNECT_DELAY_MAX_MS = 1_000;

/** ioredis options that never queue commands while disconnected; `extra` adds timeouts or overrides these. */
export function redisOptions(extra: RedisOptions = {}): RedisOptions {
  return {
    // The bus's reply parsers read the documented RESP2 shapes.
    protocol: 2,
    lazyConnect: true,
    enableOfflineQueue: false,
    // 0: commands in flight when the connection drops are rejected at once, not resent after reconnecting.
    maxRetriesPerRequest: 0,
    // The ready check runs INFO, which a Redis user limited by its ACL (`-@dangerous`) may not: ioredis
    // then prints a warning of its own to stderr at every connection. A Redis still loading its data
    // answers LOADING instead, which the callers retry like any failure.
    enableReadyCheck: false,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: (attempt: number) => Math.min(attempt * 100, RECONNECT_DELAY_MAX_MS),
    ...extra,
  };
}

/** REDIS_ADDR names a database (`redis://host:6379/16`) that the server does not have. */
export class RedisDatabaseError extends Error {
  override name = 'RedisDatabaseError';
}

/** The database a Redis URL names (its path), 0 when none (also for `host:port`). */
const databaseOf = (url: string) => (url.includes('://') ? Number(new URL(url).pathname.slice(1) || '0') : 0);

/** One ioredis connection that connects on its first command. */
export class RedisConnection {
  readonly redis: Redis;
  private connecting: Promise<void> | undefined;
  private readonly database: number;
  /** Set once the server refused the database: every command fails with it. */
  private refused: RedisDatabaseError | undefined;

  /**
   * Why the last connection attempt failed (a refused password, a certificate, a refused connection):
   * what a command sent meanwhile fails with, where ioredis would only say its stream is not writeable.
   */
  private lastFailure: Error | undefined;

  constructor(url: string, options: RedisOptions) {
    this.redis = new Redis(url, options);
    this.database = databaseOf(url);
    // Failures reach callers as rejected commands; without a listener ioredis would also print each one.
    this.redis.on('error', (error: Error) => {
      this.lastFailure = error;
    });
    this.redis.on('ready', () => {
      this.lastFailure = undefined;
    });
  }

  /**
   * The connection, once connected. Only the first connection needs waiting for: with the offline
   * queue off, a command sent before it is ready would fail. Later reconnections happen in the
   * background, and commands fail fast until they succeed.
   */
  async ready(): Promise<Redis> {
    if (this.redis.status === 'wait' && this.refused === undefined) {
      this.connecting = this.redis.connect().then(() => this.checkDatabase()).finally(() => {
        this.connecting = undefined;
      });
    }
    if (this.connecting) {
      await this.connecting.catch((error: unknown) => {
        if (error instanceof RedisDatabaseError) throw error;
        throw this.notConnected(error);
      });
    }
    if (this.refused) throw this.refused;
    if (this.redis.status !== 'ready') throw this.notConnected();
    return this.redis;
  }

  /** Names the server (never the URL: it may hold a password) and the last failure, or the connection's state. */
  private notConnected(error?: unknown): Error {
    const { host, port, tls } = this.redis.options;
    const cause = this.lastFailure ?? error;
    const why = cause === undefined ? `the connection is ${this.redis.status}` : errorMessage(cause);
    return new Error(`cannot connect to Redis at ${host}:${port}${tls ? ' (TLS)' : ''}: ${why}`, { cause });
  }

  /**
   * ioredis selects the URL's database on connecting, but when the server refuses it (`DB index is out
   * of range`) it only emits an error and goes on in database 0, another deployment's maybe: asked
   * again here, before the connection is handed out, and a refusal refuses every command.
   */
  private async checkDatabase(): Promise<void> {
    if (this.database === 0) return;
    await this.redis.select(this.database).catch((error: unknown) => {
      this.refused = new RedisDatabaseError(`Redis has no database ${this.database}: ${errorMessage(error)}`, { cause: error });
      this.redis.disconnect();
      throw this.refused;
    });
  }

  /** Quits gracefully when connected (replies in flight still arrive), else drops the connection. */
  async close(): Promise<void> {
    if (this.redis.status === 'ready') {
      await this.redis.quit().catch(() => this.redis.disconnect());
      return;
    }
    this.redis.disconnect();
  }
}

/** The message of a failure, whatever was thrown. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
