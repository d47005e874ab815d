import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import { join } from 'node:path';
import { bearer, login, OPS_ACCOUNT } from '../support/auth';
import { call, startTestService, TEST_JWT_SECRET, type TestService } from '../support/service';
import { startServiceProcess, type ServiceProcess } from '../support/serviceProcess';
import { testRedisUrl } from '../support/redis';
import { makeTempDir, type TempDir } from '../support/tempDir';

const SKEW_MS = 90_000;

describe('distributed instances whose machines disagree on the time by 90 s each way', () => {
  let onTime: TestService;
  const dirs: TempDir[] = [];
  const skewed: Record<'ahead' | 'behind', ServiceProcess | undefined> = { ahead: undefined, behind: undefined };

  const startSkewed = (skewMs: number) => {
    const dir = makeTempDir('tickets-clock-');
    dirs.push(dir);
    return startServiceProcess(
      {
        DATA_DIR: dir.path,
        POSTGRES_URL: onTime.shared!.postgresUrl,
        REDIS_ADDR: testRedisUrl(),
        REDIS_KEY_PREFIX: onTime.shared!.redisPrefix,
        JWT_SECRET: TEST_JWT_SECRET,
        ...OPS_ACCOUNT,
        CLOCK_SKEW_MS: String(skewMs),
      },
      { bunArgs: ['--preload', join(import.meta.dir, '..', 'support', 'skewedClock.ts')] },
    );
  };

  beforeAll(async () => {
    onTime = await startTestService('distributed', { env: OPS_ACCOUNT });
    skewed.ahead = await startSkewed(SKEW_MS);
    skewed.behind = await startSkewed(-SKEW_MS);
  });

  afterAll(async () => {
    await skewed.ahead?.stop();
    await skewed.behind?.stop();
    await onTime.close();
    for (const dir of dirs) await dir.cleanup();
  });

  it("follow the database server's clock, and say how far off their machine's is", () => {
    const offsetOf = (service: ServiceProcess) => {
      const line = service.output().split('\n').find((l) => l.includes("following the database server's clock"));
      return JSON.parse(line!) as { level: string; machine_clock_behind_by_ms: number };
    };
    const ahead = offsetOf(skewed.ahead!);
    const behind = offsetOf(skewed.behind!);
    expect([ahead.level, behind.level]).toEqual(['warn', 'warn']);
    expect(Math.abs(ahead.machine_clock_behind_by_ms + SKEW_MS)).toBeLessThan(1_000);
    expect(Math.abs(behind.machine_clock_behind_by_ms - SKEW_MS)).toBeLessThan(1_000);
  });

  it('accept the tokens each other issues, whose issue time each checks against its own now', async () => {
    const instances = [onTime.url, skewed.ahead!.url, skewed.behind!.url];
    for (const issuer of instances) {
      const token = await login(issuer, OPS_ACCOUNT.OPS_EMAIL, OPS_ACCOUNT.OPS_PASSWORD);
      const statuses = await Promise.all(instances.map(async (url) => (await call(url, 'GET', '/api/machines', undefined, bearer(token))).status));
      expect([issuer, statuses]).toEqual([issuer, [200, 200, 200]]);
    }
  });
});
