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
export const MODES: readonly Mode[] = ['embedded', 'distributed'];

/** A whole service started in-process on a free port, with its own data, and its cleanup. */
export interface TestService {
  readonly service: RunningService;
  readonly url: string;
  readonly clock: ManualClock | undefined;
  /** The in-process external services, to inspect calls and inject faults. */
  readonly simulators: Simulators;
  /** Stops the service and removes its database, data directory and Redis keys. */
  close(): Promise<void>;
}

export interface TestServiceOptions extends Omit<ServiceOverrides, 'clock'> {
  /** Use a manual clock starting at this time (tests move it to pass deadlines). */
  clockAt?: string;
  env?: Record<string, string>;
}

/**
 * The one way e2e tests get a service. Embedded: SQLite in a temp dir. Distributed: a fresh Postgres
 * database and a unique Redis key prefix (plus a temp dir for the outbox buffer).
 */
export async function startTestService(mode: Mode, options: TestServiceOptions = {}): Promise<TestService> {
  const dir = makeTempDir('tickets-e2e-');
  const database = mode === 'distributed' ? await createTestDatabase() : undefined;
  const prefix = mode === 'distributed' ? uniquePrefix() : undefined;
  const config = loadConfig({
    PORT: '0',
    DATA_DIR: dir.path,
    LOG_LEVEL: 'silent',
    TIMER_POLL_MS: '20',
    ...(database && prefix ? { POSTGRES_URL: database.url, REDIS_ADDR: testRedisUrl(), REDIS_KEY_PREFIX: prefix } : {}),
    ...options.env,
  });
  const clock = options.clockAt ? new ManualClock(options.clockAt) : undefined;
  const simulators = createSimulators({ clock: clock ?? systemClock, ids: randomIds });
  const service = await startService(config, {
    logger: createLogger({ level: 'silent' }),
    services: simulators,
    ...options,
    ...(clock ? { clock } : {}),
  });
  return {
    service,
    url: `http://localhost:${service.port}`,
    clock,
    simulators,
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
  return { status: response.status, headers: response.headers, text, json: text ? (JSON.parse(text) as any) : undefined };
}

