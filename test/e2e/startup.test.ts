import { describe, expect, it } from 'bun:test';
import { spawn } from 'bun';
import { Database } from 'bun:sqlite';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase } from '../support/postgres';
import { freePort, testRedisUrl } from '../support/redis';
import { runCli } from '../support/serviceProcess';
import { makeTempDir } from '../support/tempDir';

const ROOT = join(import.meta.dir, '..', '..');
const GARBAGE = 'this is not a SQLite database, only text where one was expected\n'.repeat(20);

/** The lines a failed start wrote, without the blank ones. */
const linesOf = (output: string) => output.split('\n').filter((line) => line.trim() !== '');

describe('tickets gateway', () => {
  describe("when it shares the service's env file", () => {
    it('starts, and tickets healthcheck answers it, whatever the service settings it does not use say', async () => {
      const serviceSettings: Record<string, string>[] = [
        { POSTGRES_URL: 'x' },
        { POSTGRES_URL: 'postgres://tickets@db:5432/tickets', REDIS_ADDR: 'redis:6379' },
        { POSTGRES_URL: 'postgres://tickets@db:5432/tickets', REDIS_ADDR: 'redis:6379', JWT_SECRET: 'short', OPS_EMAIL: 'ops@example.com' },
      ];
      for (const settings of serviceSettings) {
        const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info', PORT: String(await freePort()), ...settings };
        const gateway = spawn([process.execPath, 'src/main.ts', 'gateway'], { cwd: ROOT, env, stdout: 'pipe', stderr: 'pipe' });
        try {
          const deadline = Date.now() + 10_000;
          let status = 0;
          while (status !== 200 && gateway.exitCode === null && Date.now() < deadline) {
            status = await fetch(`http://127.0.0.1:${env.PORT}/health`).then((r) => r.status, () => 0);
            if (status !== 200) await Bun.sleep(25);
          }
          expect({ settings, status, exited: gateway.exitCode }).toEqual({ settings, status: 200, exited: null });
          expect((await runCli(['healthcheck'], env)).code).toBe(0);
          gateway.kill('SIGTERM');
          expect(await gateway.exited).toBe(0);
          expect(await new Response(gateway.stdout).text()).toContain('"msg":"gateway started"');
        } finally {
          gateway.kill('SIGKILL');
        }
      }
    });
  });
});

describe('start-up', () => {
  describe('when a file of DATA_DIR cannot be used', () => {
    it('exits 2 with one line naming the file and what SQLite says, not a stack trace', async () => {
      const cases: { file: string; command: string; damage: (path: string) => void; says: RegExp }[] = [
        { file: 'tickets.db', command: 'migrate', damage: (path) => writeFileSync(path, GARBAGE), says: /file is not a database/ },
        { file: 'tickets.db', command: 'serve', damage: (path) => writeFileSync(path, GARBAGE), says: /file is not a database/ },
        { file: 'tickets.db', command: 'serve', damage: (path) => truncateSync(path, 20_000), says: /database disk image is malformed/ },
        { file: 'bus.db', command: 'serve', damage: (path) => writeFileSync(path, GARBAGE), says: /file is not a database/ },
        { file: 'instance.lock', command: 'serve', damage: (path) => writeFileSync(path, GARBAGE), says: /file is not a database/ },
        { file: 'jwt-secret', command: 'serve', damage: (path) => writeFileSync(path, 'short'), says: /holds less than 32 characters; delete it/ },
        { file: 'jwt-secret', command: 'serve', damage: (path) => writeFileSync(path, ''), says: /holds less than 32 characters; delete it/ },
      ];
      for (const { file, command, damage, says } of cases) {
        const dir = makeTempDir('tickets-startup-');
        try {
          expect((await runCli(['migrate'], { DATA_DIR: dir.path })).code).toBe(0);
          damage(join(dir.path, file));
          const { code, output } = await runCli([command], { DATA_DIR: dir.path, PORT: '0' });
          const lines = linesOf(output);
          expect({ file, command, code, lines: lines.length }).toEqual({ file, command, code: 2, lines: 1 });
          expect(lines[0]).toContain(join(dir.path, file));
          expect(lines[0]).toMatch(says);
        } finally {
          await dir.cleanup();
        }
      }
    });
  });

  describe('when a newer version of the service migrated the store (a rollback)', () => {
    it('refuses to serve or migrate, naming the migrations it does not know, and changes nothing', async () => {
      const dir = makeTempDir('tickets-startup-');
      try {
        expect((await runCli(['migrate'], { DATA_DIR: dir.path })).code).toBe(0);
        const db = new Database(join(dir.path, 'tickets.db'));
        db.run("INSERT INTO schema_migrations (name, applied_at) VALUES ('9999_from_a_newer_version', '2030-01-01T00:00:00.000Z')");
        db.close();
        for (const command of ['serve', 'migrate']) {
          const { code, output } = await runCli([command], { DATA_DIR: dir.path, PORT: '0' });
          expect({ command, code }).toEqual({ command, code: 1 });
          expect(output).toContain('the store was migrated by a newer version of the service (9999_from_a_newer_version)');
          expect(output).not.toMatch(/^\s+at /m);
        }
      } finally {
        await dir.cleanup();
      }
    });
  });

  describe('when POSTGRES_URL has a parameter the driver refuses', () => {
    it('exits 2 naming POSTGRES_URL and the parameter, not a stack trace', async () => {
      const dir = makeTempDir('tickets-startup-');
      try {
        const { code, output } = await runCli(['migrate'], { DATA_DIR: dir.path, POSTGRES_URL: 'postgres://h/db?sslmode=bogus', REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'j'.repeat(32) });
        expect(code).toBe(2);
        expect(output).toMatch(/POSTGRES_URL: .*sslmode.*bogus/);
        expect(output).not.toMatch(/^\s+at /m);
      } finally {
        await dir.cleanup();
      }
    });
  });

  describe('when REDIS_ADDR names a database the Redis server does not have', () => {
    it('exits 2 naming REDIS_ADDR and the database, instead of serving from database 0', async () => {
      const dir = makeTempDir('tickets-startup-');
      const db = await createTestDatabase();
      try {
        const redis = new URL(testRedisUrl());
        redis.pathname = '/999';
        const { code, output } = await runCli(['serve'], { DATA_DIR: dir.path, PORT: '0', POSTGRES_URL: db.url, REDIS_ADDR: redis.toString(), JWT_SECRET: 'j'.repeat(32) });
        const lines = linesOf(output).filter((line) => !line.startsWith('{'));
        expect([code, lines.length]).toEqual([2, 1]);
        expect(lines[0]).toMatch(/^REDIS_ADDR: .*database 999/);
      } finally {
        await db.drop();
        await dir.cleanup();
      }
    });
  });

  describe('when it is told to stop while start-up waits for a database that does not answer', () => {
    it('stops at once, exit 0, instead of waiting out the connection timeout', async () => {
      // Accepts connections and never answers: PostgreSQL behind a dead network path.
      const silent = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } });
      const dir = makeTempDir('tickets-startup-');
      const env = {
        PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', LOG_LEVEL: 'info', PORT: '0', DATA_DIR: dir.path,
        POSTGRES_URL: `postgres://postgres@127.0.0.1:${silent.port}/tickets`, REDIS_ADDR: testRedisUrl(), JWT_SECRET: 'j'.repeat(32),
      };
      const service = spawn([process.execPath, 'src/main.ts', 'serve'], { cwd: ROOT, env, stdout: 'pipe', stderr: 'pipe' });
      try {
        await Bun.sleep(1_500);
        expect(service.exitCode).toBeNull();
        const signalled = Date.now();
        service.kill('SIGTERM');
        expect(await service.exited).toBe(0);
        expect(Date.now() - signalled).toBeLessThan(3_000);
        const lines = (await new Response(service.stdout).text()).trim().split('\n').map((line) => JSON.parse(line) as { level: string; msg: string });
        expect(lines.at(-1)).toMatchObject({ level: 'warn', msg: 'stopped during start-up, before serving anything: start-up was still waiting (for the database, say)' });
      } finally {
        service.kill('SIGKILL');
        silent.stop(true);
        await dir.cleanup();
      }
    });
  });

  describe('when --version is given an argument', () => {
    it('exits 2 with the usage, as for any argument a command does not take', async () => {
      const { code, output } = await runCli(['--version', 'extra']);
      expect(code).toBe(2);
      expect(output).toContain('Usage: tickets');
    });
  });
});
