import { describe, expect, it } from 'bun:test';
import { join } from 'node:path';
import { AppError } from '../../src/kernel/errors';
import { sqliteMigrations } from '../../src/store/migrations';
import { openSqliteStore } from '../../src/store/sqlite';
import { makeTempDir } from '../support/tempDir';
import { storeContract } from './store.contract';

storeContract('sqlite', async () => {
  const dir = makeTempDir('tickets-store-sqlite-');
  const path = join(dir.path, 'tickets.db');
  let store = await openSqliteStore({ path });
  await store.migrate();
  return {
    store,
    async reopen() {
      await store.close();
      store = await openSqliteStore({ path });
      return store;
    },
    async cleanup() {
      await store.close();
      await dir.cleanup();
    },
  };
});

describe('SqliteStore', () => {
  describe('when the database is new', () => {
    it('lists every migration as pending until migrate runs', async () => {
      const dir = makeTempDir('tickets-store-sqlite-');
      const store = await openSqliteStore({ path: join(dir.path, 'tickets.db') });
      try {
        expect(await store.pendingMigrations()).toEqual(sqliteMigrations.map((m) => m.name));
        await store.migrate();
        expect(await store.pendingMigrations()).toEqual([]);
      } finally {
        await store.close();
        await dir.cleanup();
      }
    });
  });

  describe('when opened on a file', () => {
    it('uses WAL with synchronous=FULL, a busy timeout and foreign keys', async () => {
      const dir = makeTempDir('tickets-store-sqlite-');
      const store = await openSqliteStore({ path: join(dir.path, 'tickets.db') });
      try {
        await store.migrate();
        const pragmas = await store.transaction(async (tx) => ({
          journal: await tx.query('PRAGMA journal_mode'),
          synchronous: await tx.query('PRAGMA synchronous'),
          busy: await tx.query('PRAGMA busy_timeout'),
          foreignKeys: await tx.query('PRAGMA foreign_keys'),
        }));
        expect(pragmas).toEqual({
          journal: [{ journal_mode: 'wal' }],
          synchronous: [{ synchronous: 2 }],
          busy: [{ timeout: 5000 }],
          foreignKeys: [{ foreign_keys: 1 }],
        });
      } finally {
        await store.close();
        await dir.cleanup();
      }
    });
  });

  describe('when opened in memory', () => {
    it('runs commits, reads and transactions on its single connection', async () => {
      const store = await openSqliteStore({ path: ':memory:' });
      try {
        await store.migrate();
        await store.execute('CREATE TABLE notes (id TEXT PRIMARY KEY)');
        await Promise.all([
          store.transaction((tx) => tx.execute('INSERT INTO notes (id) VALUES ($1)', ['a'])),
          store.execute('INSERT INTO notes (id) VALUES ($1)', ['b']),
        ]);
        expect(await store.query('SELECT id FROM notes ORDER BY id')).toEqual([{ id: 'a' }, { id: 'b' }]);
        expect(await store.pendingMigrations()).toEqual([]);
      } finally {
        await store.close();
      }
    });
  });

  describe('when many writes are queued at once', () => {
    it('lets the event loop run between them, so that a request is not held up by the whole chain', async () => {
      const store = await openSqliteStore({ path: ':memory:' });
      try {
        await store.migrate();
        await store.execute('CREATE TABLE notes (id INTEGER PRIMARY KEY)');
        let written = 0;
        const chain = Array.from({ length: 200 }, (_, i) => store.execute('INSERT INTO notes (id) VALUES ($1)', [i]).then(() => written++));
        // The next turn of the event loop stands for an incoming request: before, it came after all 200 writes.
        const writtenAtNextTurn = await new Promise<number>((resolve) => setImmediate(() => resolve(written)));
        await Promise.all(chain);
        expect(writtenAtNextTurn).toBeLessThan(200);
        expect(written).toBe(200);
      } finally {
        await store.close();
      }
    });
  });

  describe('when the disk is full', () => {
    it('fails writes with 503 STORE_UNAVAILABLE (retryable), and fails ping until no write has failed so for a while', async () => {
      const dir = makeTempDir('tickets-store-sqlite-');
      const store = await openSqliteStore({ path: join(dir.path, 'tickets.db'), failedWriteReportMs: 300 });
      try {
        await store.migrate();
        await store.execute('CREATE TABLE notes (body BLOB)');
        // The database may not grow past its size now: what SQLite answers on a full disk.
        const [size] = await store.query<{ page_count: number }>('PRAGMA page_count');
        await store.execute(`PRAGMA max_page_count = ${size!.page_count}`);
        await store.ping();
        const grow = 'INSERT INTO notes (body) VALUES (randomblob(100000))';
        for (const failing of [() => store.execute(grow), () => store.transaction((tx) => tx.execute(grow))]) {
          const error = await failing().then(() => undefined, (e: unknown) => e);
          expect(error).toBeInstanceOf(AppError);
          expect(error).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE', retryable: true, headers: { 'Retry-After': '1' } });
          expect(String((error as AppError).cause)).toContain('database or disk is full');
        }
        expect(String(await store.ping().then(() => undefined, (e: unknown) => e))).toContain('database or disk is full');
        // A small write that fits in the pages there are says nothing about the next booking: still not ready.
        await store.execute('INSERT INTO notes (body) VALUES (1)');
        expect(await store.ping().then(() => 'ok', () => 'failed')).toBe('failed');
        await Bun.sleep(350);
        await store.ping();
      } finally {
        await store.close();
        await dir.cleanup();
      }
    });
  });

  describe('when a transaction callback calls a store method that writes', () => {
    it('rejects that call instead of waiting for its own lock', async () => {
      const store = await openSqliteStore({ path: ':memory:' });
      try {
        await store.migrate();
        const error = await store
          .transaction(() => store.execute('DELETE FROM timers'))
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(String(error)).toContain('use the tx it was given');
      } finally {
        await store.close();
      }
    });
  });
});
