import { expect } from 'bun:test';
import { loadConfig } from '../../src/config';
import { startService, type RunningService, type ServiceOverrides } from '../../src/main';
import { createSimulators, type Simulators } from '../../src/adapters';
import { ManualClock, systemClock } from '../../src/kernel/clock';
import { randomIds } from '../../src/kernel/ids';
import { createLogger } from '../../src/observability/logger';
import { createTestDatabase } from './postgres';
import { deleteKeys, testRedisUrl, uniquePrefix } from './redis';
import { makeTempDir } from './tempDir';

export type Mode = 'embedded' | 'distributed';

/**
 * The signing key of every test instance (set `JWT_SECRET: ''` in `env` for embedded mode's generated
 * one): tests mint tokens with it (test/support/auth.ts), and distributed instances verify each other's.
 */
export const TEST_JWT_SECRET = 'test-only-jwt-secret-0123456789abcdef';
export const MODES: readonly Mode[] = ['embedded', 'distributed'];

/** A whole service started in-process on a free port, with its own data, and its cleanup. */
export interface TestService {
  readonly service: RunningService;
  readonly url: string;
  readonly clock: ManualClock | undefined;
  /** The in-process external services, to inspect calls and inject faults. */
  readonly simulators: Simulators;
  /** Postgres URL and Redis prefix of a distributed service, so another instance can join it. */
  readonly shared: { postgresUrl: string; redisPrefix: string } | undefined;
  /** Stops the service and removes its database, data directory and Redis keys. */
  close(): Promise<void>;
}

export interface TestServiceOptions extends Omit<ServiceOverrides, 'clock'> {
  /** Use a manual clock starting at this time (tests move it to pass deadlines). */
  clockAt?: string;
  /** Run as a second instance of this (distributed) service: same database and Redis prefix. */
  joining?: TestService;
  env?: Record<string, string>;
}

/**
 * The one way e2e tests get a service. Embedded: SQLite in a temp dir. Distributed: a fresh Postgres
 * database and a unique Redis key prefix (plus a temp dir for the outbox buffer).
 */
export async function startTestService(mode: Mode, options: TestServiceOptions = {}): Promise<TestService> {
  const dir = makeTempDir('tickets-e2e-');
  const owned = mode === 'distributed' && !options.joining;
  const database = owned ? await createTestDatabase() : undefined;
  const prefix = owned ? uniquePrefix() : undefined;
  const shared = options.joining?.shared ?? (database && prefix ? { postgresUrl: database.url, redisPrefix: prefix } : undefined);
  const config = loadConfig({
    PORT: '0',
    DATA_DIR: dir.path,
    LOG_LEVEL: 'silent',
    TIMER_POLL_MS: '20',
    JWT_SECRET: TEST_JWT_SECRET,
    // A test's stop need not wait for a load balancer (the drain has a test of its own).
    SHUTDOWN_DRAIN_MS: '0',
    ...(shared ? { POSTGRES_URL: shared.postgresUrl, REDIS_ADDR: testRedisUrl(), REDIS_KEY_PREFIX: shared.redisPrefix } : {}),
    ...options.env,
  });
  const clock = options.clockAt ? new ManualClock(options.clockAt) : undefined;
  const simulators = createSimulators({ clock: clock ?? systemClock, ids: randomIds });
  const { clockAt: _clockAt, joining: _joining, env: _env, ...overrides } = options;
  const service = await startService(config, {
    logger: createLogger({ level: 'silent' }),
    services: simulators,
    ...overrides,
    ...(clock ? { clock } : {}),
  });
  return {
    service,
    url: `http://localhost:${service.port}`,
    clock,
    simulators,
    shared,
    async close() {
      await service.stop();
      if (database) await database.drop();
      if (prefix) await deleteKeys(prefix);
      await dir.cleanup();
    },
  };
}

/** Bounded polling for asynchronous effects: retries `assertion` until it passes or time runs out. */
export async function eventually<T>(assertion: () => Promise<T> | T, timeoutMs = 10_000, everyMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await assertion();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await Bun.sleep(everyMs);
    }
  }
}

/** JSON request helper for e2e tests. */
export async function call(url: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const contentType = response.headers.get('content-type') ?? '';
  const isJson = /[/+]json\b/.test(contentType);
  // Every JSON answer names its type one way, whichever code built it (no `;charset=utf-8` on some).
  if (isJson) expect(contentType).toMatch(/^application\/(problem\+)?json$/);
  return { status: response.status, headers: response.headers, text, json: text && isJson ? (JSON.parse(text) as any) : undefined };
}

