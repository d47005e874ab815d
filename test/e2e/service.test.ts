import { afterEach, beforeEach, describe, expect, it } from 'bun:test';
import { join } from 'node:path';
import { openSqliteStore } from '../../src/store/sqlite';
import { runCli, startServiceProcess } from '../support/serviceProcess';
import { call, eventually } from '../support/service';
import { makeTempDir } from '../support/tempDir';
import { freePort } from '../support/redis';
import { spawn } from 'bun';
import { existsSync, rmSync, statSync, writeFileSync } from 'node:fs';

describe('the service process', () => {
  let dir: { path: string; cleanup(): void | Promise<void> };

  beforeEach(() => {
    dir = makeTempDir('tickets-service-');
  });

  afterEach(async () => {
    await dir.cleanup();
  });

  describe('when started with no configuration but a data directory', () => {
    it('serves health and readiness, then stops cleanly on SIGTERM', async () => {
      const service = await startServiceProcess({ DATA_DIR: dir.path });
      expect(await (await fetch(`${service.url}/health`)).text()).toBe('ok');
      const ready = await fetch(`${service.url}/ready`);
      expect(ready.status).toBe(200);
      expect(await service.stop('SIGTERM')).toBe(0);
      expect(service.output()).toContain('"msg":"service stopped"');
    });

    it('keeps its databases readable by its own user only, whatever the umask', async () => {
      const service = await startServiceProcess({ DATA_DIR: dir.path });
      try {
        const show = { dead_nation_id: 'dn-perm', number_of_tickets: 1, start_time: '2031-01-01T20:00:00Z', title: 'T', venue: 'V' };
        expect((await fetch(`${service.url}/api/shows`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(show) })).status).toBe(201);
        const modes = ['tickets.db', 'tickets.db-wal', 'bus.db'].map((file) => [file, (statSync(join(dir.path, file)).mode & 0o777).toString(8)]);
        expect(modes).toEqual([['tickets.db', '600'], ['tickets.db-wal', '600'], ['bus.db', '600']]);
      } finally {
        await service.stop('SIGTERM');
      }
    });

    it('is no longer ready once its data directory is deleted, and takes no more writes (they would be lost)', async () => {
      const data = join(dir.path, 'data');
      const service = await startServiceProcess({ DATA_DIR: data });
      try {
        expect((await fetch(`${service.url}/ready`)).status).toBe(200);
        rmSync(data, { recursive: true, force: true });
        const ready = await fetch(`${service.url}/ready`);
        // The bus's bus.db went with it: what it holds would be lost at the next start too.
        expect([ready.status, ((await ready.json()) as { errors: Record<string, string[]> }).errors]).toEqual([503, { bus: ['unavailable'], store: ['unavailable'] }]);
        const show = await call(service.url, 'POST', '/api/shows', { dead_nation_id: 'dn-gone', number_of_tickets: 1, start_time: '2031-01-01T20:00:00Z', title: 'T', venue: 'V' });
        expect([show.status, show.json.code]).toEqual([503, 'STORE_UNAVAILABLE']);
      } finally {
        await service.stop('SIGTERM');
      }
    });

    it('keeps serving when the reader of its log goes away (a log shipper restarted, `| head`)', async () => {
      const port = await freePort();
      const proc = spawn([process.execPath, 'src/main.ts', 'serve'], {
        cwd: join(import.meta.dir, '..', '..'),
        env: { PATH: process.env.PATH ?? '', DATA_DIR: dir.path, PORT: String(port), LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: '0' },
        stdout: 'pipe',
        stderr: 'pipe',
      });
      try {
        // Reads the first log line, then closes the pipe: every later line is written to a reader that is gone.
        const reader = proc.stdout.getReader();
        await reader.read();
        await reader.cancel();
        const url = `http://localhost:${port}`;
        await eventually(async () => expect((await fetch(`${url}/ready`)).status).toBe(200));
        for (let i = 0; i < 20; i++) {
          expect((await call(url, 'POST', '/api/shows', { dead_nation_id: `dn-epipe-${i}`, number_of_tickets: 1, start_time: '2031-01-01T20:00:00Z', title: 'T', venue: 'V' })).status).toBe(201);
        }
        expect(proc.exitCode).toBeNull();
      } finally {
        proc.kill('SIGTERM');
        expect(await proc.exited).toBe(0);
      }
    });

    it('warns at start when it may open few files, since clients beyond that would wait without an answer', async () => {
      const service = await startServiceProcess({ DATA_DIR: dir.path }, { openFilesLimit: 512 });
      try {
        const line = service.output().split('\n').find((l) => l.includes('this process may open few files'));
        expect(JSON.parse(line!)).toMatchObject({ level: 'warn', open_files_limit: 512, recommended_at_least: 4096 });
      } finally {
        await service.stop('SIGTERM');
      }
      const roomy = await startServiceProcess({ DATA_DIR: dir.path });
      await roomy.stop('SIGTERM');
      expect(roomy.output()).not.toContain('this process may open few files');
    });

    it('ignores SIGUSR1 and SIGUSR2, which would otherwise end it at once', async () => {
      const service = await startServiceProcess({ DATA_DIR: dir.path });
      try {
        for (const signal of ['SIGUSR1', 'SIGUSR2'] as const) service.proc.kill(signal);
        await Bun.sleep(200);
        expect([service.proc.exitCode, (await fetch(`${service.url}/ready`)).status]).toEqual([null, 200]);
      } finally {
        expect(await service.stop('SIGTERM')).toBe(0);
      }
    });

    it('stops cleanly on SIGINT too, and on SIGHUP (its terminal closed)', async () => {
      for (const signal of ['SIGINT', 'SIGHUP'] as const) {
        const service = await startServiceProcess({ DATA_DIR: dir.path });
        expect([signal, await service.stop(signal)]).toEqual([signal, 0]);
        expect(service.output()).toContain('"msg":"service stopped"');
      }
    });

    it('drains before it closes: /ready answers 503 at once while requests are still served for SHUTDOWN_DRAIN_MS, then it stops', async () => {
      const service = await startServiceProcess({ DATA_DIR: dir.path, SHUTDOWN_DRAIN_MS: '1500' });
      const signalledAt = performance.now();
      service.proc.kill('SIGTERM');
      const ready = await eventually(async () => {
        const answer = await call(service.url, 'GET', '/ready');
        expect(answer.status).toBe(503);
        return answer;
      }, 1_000, 20);
      expect([ready.json.code, ready.json.errors]).toEqual(['NOT_READY', { stopping: ['the service is stopping: send requests to another instance'] }]);
      const served = await call(service.url, 'POST', '/api/shows', { dead_nation_id: 'dn-drain', number_of_tickets: 1, start_time: '2031-01-01T20:00:00Z', title: 'T', venue: 'V' });
      expect(served.status).toBe(201);
      expect(await service.proc.exited).toBe(0);
      expect(performance.now() - signalledAt).toBeGreaterThan(1_500);
      expect(service.output()).toMatch(/"msg":"stopping".*"drain_ms":1500/);
    });

    it('finishes its stop when a second signal comes while it stops: the request in flight still gets its answer', async () => {
      const service = await startServiceProcess({ DATA_DIR: dir.path, SHUTDOWN_TIMEOUT_MS: '5000' });
      // A request whose body arrives slowly is in flight when the signals come.
      const body = JSON.stringify({ dead_nation_id: 'dn-twice', number_of_tickets: 1, start_time: '2031-01-01T20:00:00Z', title: 'T', venue: 'V' });
      const stream = new ReadableStream<Uint8Array>({
        async start(controller) {
          controller.enqueue(new TextEncoder().encode(body.slice(0, 10)));
          await Bun.sleep(800);
          controller.enqueue(new TextEncoder().encode(body.slice(10)));
          controller.close();
        },
      });
      const answer = fetch(`${service.url}/api/shows`, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(body.length) }, body: stream });
      await Bun.sleep(200);
      service.proc.kill('SIGTERM');
      await Bun.sleep(100);
      service.proc.kill('SIGTERM');
      service.proc.kill('SIGINT');
      expect((await answer).status).toBe(201);
      expect(await service.proc.exited).toBe(0);
      expect(service.output()).toContain('"msg":"service stopped"');
    });

    it('refuses a second instance on the same DATA_DIR while the first runs, and takes it once the first was killed', async () => {
      const first = await startServiceProcess({ DATA_DIR: dir.path });
      const second = await runCli(['serve'], { DATA_DIR: dir.path, PORT: '0' });
      expect([second.code, second.output.trim()]).toEqual([2, `another instance is running with DATA_DIR ${dir.path}: each instance needs its own`]);
      // An upgrade stops the instance first: migrating the store under it would leave it on a schema it does not know.
      const migrate = await runCli(['migrate'], { DATA_DIR: dir.path });
      expect([migrate.code, migrate.output.trim()]).toEqual([2, `an instance is running with DATA_DIR ${dir.path}: stop it before migrating its store`]);
      first.proc.kill('SIGKILL');
      await first.proc.exited;
      const after = await startServiceProcess({ DATA_DIR: dir.path });
      expect(await after.stop('SIGTERM')).toBe(0);
    });
  });

  describe('when the configuration is bad', () => {
    it('refuses to start and names the variable', async () => {
      const { code, output } = await runCli(['serve'], { DATA_DIR: dir.path, PORT: 'eighty' });
      expect(code).toBe(2);
      expect(output).toContain('PORT');
    });
  });

  describe('when the store holds actors of an unregistered machine version', () => {
    it('refuses to start and names the version', async () => {
      const store = await openSqliteStore({ path: join(dir.path, 'tickets.db') });
      await store.migrate();
      await store.commit({
        address: 'ghost/1', kind: 'ghost', machineId: 'ghost-v9', expectedVersion: 0, state: 'haunting', status: 'active',
        snapshot: { value: 'haunting', context: {} }, messages: [], timers: { set: [], cancel: [], cancelAll: false },
        journal: { event: { type: 'ghost.appear' }, fromState: 'new', toState: 'haunting', messageIds: [], at: '2030-01-01T00:00:00.000Z' },
        at: '2030-01-01T00:00:00.000Z',
      });
      await store.close();
      const { code, output } = await runCli(['serve'], { DATA_DIR: dir.path, PORT: '0' });
      expect([code, output.trim()]).toEqual([1, 'stored actors use machine versions that are not registered: ghost-v9']);
    });
  });

  describe('when asked to rebuild a read model', () => {
    it('replays the log into it with progress and a summary, and names the known ones for an unknown name', async () => {
      const service = await startServiceProcess({ DATA_DIR: dir.path });
      const ticket = { ticket_id: crypto.randomUUID(), booking_id: '', status: 'confirmed', price: { amount: '1.00', currency: 'EUR' }, customer_email: 'a@example.com' };
      const sent = await fetch(`${service.url}/api/tickets-status`, { method: 'POST', headers: { 'content-type': 'application/json', 'Idempotency-Key': 'k1' }, body: JSON.stringify({ tickets: [ticket] }) });
      expect(sent.status).toBe(200);
      expect(await service.stop('SIGTERM')).toBe(0);
      const rebuilt = await runCli(['projections', 'rebuild', 'ticketsList'], { DATA_DIR: dir.path });
      expect(rebuilt.code).toBe(0);
      expect(rebuilt.output).toContain('tickets_list__rebuild');
      expect(rebuilt.output).toMatch(/1 row/);
      const unknown = await runCli(['projections', 'rebuild', 'nope'], { DATA_DIR: dir.path });
      expect(unknown.code).toBe(2);
      expect(unknown.output).toContain('ticketsList');
    });
  });

  describe('when asked for help, the version, or migrations only', () => {
    it('prints usage, the version, and migrates without serving', async () => {
      expect((await runCli(['--help'])).output).toContain('Usage: tickets');
      expect((await runCli(['--version'])).output.trim()).toMatch(/^\d+\.\d+\.\d+$/);
      const migrate = await runCli(['migrate'], { DATA_DIR: dir.path });
      expect(migrate.code).toBe(0);
      expect(migrate.output.trim()).toMatch(/^applied \d+ migrations \(0001_core … \d{4}_\w+\); the store is up to date$/);
      expect((await runCli(['migrate'], { DATA_DIR: dir.path })).output.trim()).toBe('no migration to apply; the store is up to date');
      const store = await openSqliteStore({ path: join(dir.path, 'tickets.db') });
      expect(await store.pendingMigrations()).toEqual([]);
      await store.close();
      expect((await runCli(['fly'])).code).toBe(2);
    });

    it('answers --help after a command without running it, and shows no actor of a DATA_DIR that holds no store nor rebuilds an unknown read model there, creating nothing', async () => {
      const empty = join(dir.path, 'nothing-here');
      const help = await runCli(['migrate', '--help'], { DATA_DIR: empty });
      expect([help.code, help.output.includes('Usage: tickets')]).toEqual([0, true]);
      const show = await runCli(['actors', 'show', 'booking/x'], { DATA_DIR: empty });
      expect(show.code).toBe(1);
      expect(show.output).toContain(`there is no store in DATA_DIR ${empty}`);
      const rebuild = await runCli(['projections', 'rebuild', 'nope'], { DATA_DIR: empty });
      expect([rebuild.code, rebuild.output.includes('ticketsList')]).toEqual([2, true]);
      const rebuildNowhere = await runCli(['projections', 'rebuild', 'ticketsList'], { DATA_DIR: empty });
      expect([rebuildNowhere.code, rebuildNowhere.output.includes(`there is no store in DATA_DIR ${empty}`)]).toEqual([1, true]);
      const malformed = await runCli(['actors', 'show', 'garbage'], { DATA_DIR: empty });
      expect([malformed.code, malformed.output.includes('is not an actor address')]).toEqual([2, true]);
      expect(existsSync(empty)).toBe(false);
    });

    it('names what is wrong when DATA_DIR cannot be made or the database cannot be reached, creating nothing', async () => {
      const unusable = await runCli(['migrate'], { DATA_DIR: '/proc/no-such-dir' });
      expect([unusable.code, unusable.output.trim().split('\n')[0]]).toEqual([2, "DATA_DIR /proc/no-such-dir cannot be used: ENOENT: no such file or directory, mkdir '/proc/no-such-dir'"]);
      // A directory that exists but cannot be written (a read-only file system here; a root-owned mount in practice).
      const readOnly = await runCli(['migrate'], { DATA_DIR: '/sys' });
      expect([readOnly.code, readOnly.output.trim().split('\n')[0]]).toEqual([2, expect.stringMatching(/^DATA_DIR \/sys cannot be used: E[A-Z]+: .*\/sys\/\.write-check-\d+/)]);
      const aFile = join(dir.path, 'a-file');
      writeFileSync(aFile, '');
      const notADirectory = await runCli(['migrate'], { DATA_DIR: aFile });
      expect([notADirectory.code, notADirectory.output.trim().split('\n')[0]]).toEqual([2, `DATA_DIR ${aFile} cannot be used: ENOTDIR: ${aFile} is a file, not a directory`]);
      const empty = join(dir.path, 'no-database');
      const unreachable = await runCli(['migrate'], { DATA_DIR: empty, POSTGRES_URL: 'postgres://postgres@127.0.0.1:1/none', REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'j'.repeat(32) });
      expect([unreachable.code, unreachable.output.trim()]).toEqual([1, 'the database cannot be reached at 127.0.0.1:1 (POSTGRES_URL): Failed to connect']);
      expect(existsSync(empty)).toBe(false);
      const unknown = await runCli(['migrate'], { DATA_DIR: empty, POSTGRES_URL: 'postgres://postgres@127.0.0.1:5432/tickets_no_such_database', REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'j'.repeat(32) });
      expect([unknown.code, unknown.output.trim()]).toEqual([1, 'the database at 127.0.0.1:5432 (POSTGRES_URL) refused: database "tickets_no_such_database" does not exist']);
      const stranger = await runCli(['migrate'], { DATA_DIR: empty, POSTGRES_URL: 'postgres://no_such_role_here@127.0.0.1:5432/postgres', REDIS_ADDR: '127.0.0.1:6379', JWT_SECRET: 'j'.repeat(32) });
      expect([stranger.code, stranger.output.trim()]).toEqual([1, 'the database at 127.0.0.1:5432 (POSTGRES_URL) refused: role "no_such_role_here" does not exist']);
    });

    it('names PORT when another process listens on it', async () => {
      const taken = Bun.serve({ port: 0, fetch: () => new Response('taken') });
      try {
        const { code, output } = await runCli(['serve'], { DATA_DIR: dir.path, PORT: String(taken.port) });
        expect([code, output.trim().split('\n').at(-1)]).toEqual([2, `PORT ${taken.port} is in use: another process listens on it`]);
      } finally {
        taken.stop(true);
      }
    });
  });
});

describe('the accounts create-ops command', () => {
  it('creates the ops account from OPS_PASSWORD in a migrated store, who can then log in; refuses a DATA_DIR with no store', async () => {
    const dir = makeTempDir('tickets-ops-');
    try {
      // A mistyped DATA_DIR gets no new store and no false "created".
      const nowhere = join(dir.path, 'typo');
      const refused = await runCli(['accounts', 'create-ops', 'Ops@Example.com'], { DATA_DIR: nowhere, OPS_PASSWORD: 'a-Long-ops-passw0rd' });
      expect([refused.code, refused.output.includes(`there is no store in DATA_DIR ${nowhere}`)]).toEqual([1, true]);
      expect(existsSync(nowhere)).toBe(false);
      expect((await runCli(['migrate'], { DATA_DIR: dir.path })).code).toBe(0);
      const nothing = await runCli(['accounts', 'create-ops', 'Ops@Example.com'], { DATA_DIR: dir.path });
      expect([nothing.code, nothing.output.trim()]).toEqual([2, 'no password given: set OPS_PASSWORD, or give the password on the first line of standard input']);
      const created = await runCli(['accounts', 'create-ops', 'Ops@Example.com'], { DATA_DIR: dir.path, OPS_PASSWORD: 'a-Long-ops-passw0rd' });
      expect(created.code).toBe(0);
      const service = await startServiceProcess({ DATA_DIR: dir.path });
      const login = await fetch(`${service.url}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email: 'ops@example.com', password: 'a-Long-ops-passw0rd' }) });
      expect(login.status).toBe(200);
      expect(await service.stop()).toBe(0);
    } finally {
      await dir.cleanup();
    }
  });
});
