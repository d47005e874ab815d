import { afterAll, beforeAll, describe, expect, it } from 'bun:test';
import pg from 'pg';
import { asStoreError, openPostgresStore, type PostgresStore } from '../../src/store/postgres';
import { LOG_START } from '../../src/actors/ports';
import { postgresMigrations } from '../../src/store/migrations';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy';
import { makeTempDir } from '../support/tempDir';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../../src/kernel/errors';
import { storeContract } from './store.contract';
import type { ActorCommit } from '../../src/actors/ports';

/** A commit creating `address` with one message (none when `withMessage` is false). */
function creation(address: string, withMessage = true): ActorCommit {
  const kind = address.split('/')[0]!;
  const at = '2030-01-01T00:00:00.000Z';
  return {
    address,
    kind,
    machineId: `${kind}-v1`,
    expectedVersion: 0,
    state: 'done',
    status: 'active',
    snapshot: {},
    messages: withMessage ? [{ id: crypto.randomUUID(), name: 'Created_v1', kind: 'event', actor: address, actorSeq: 1, data: {}, metadata: { correlation_id: 'c' }, occurredAt: at }] : [],
    timers: { set: [], cancel: [], cancelAll: false },
    journal: { event: { type: `${kind}.create` }, fromState: 'new', toState: 'done', messageIds: [], at },
    at,
  };
}

/**
 * A store of 4 connections, a one-row table `table`, and an outside session that holds that row's
 * lock until `release()` (or the end of `run`). Returns what `run` returns; closes everything.
 */
async function withLockedRow<T>(table: string, run: (store: PostgresStore, release: () => Promise<void>) => Promise<T>): Promise<T> {
  const store = await openPostgresStore({ url: database.url, poolSize: 4 });
  const outside = new pg.Client({ connectionString: database.url });
  await outside.connect();
  try {
    await store.migrate();
    await store.execute(`CREATE TABLE IF NOT EXISTS ${table} (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`);
    await store.execute(`INSERT INTO ${table} (id, n) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`);
    await outside.query('BEGIN');
    await outside.query(`SELECT n FROM ${table} WHERE id = 1 FOR UPDATE`);
    return await run(store, async () => void (await outside.query('COMMIT')));
  } finally {
    await outside.end();
    await store.close();
  }
}

let database: TestDatabase;

/** One statement on a connection of its own, outside any store. */
async function pgQuery<T>(sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: database.url });
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as T[];
  } finally {
    await client.end();
  }
}

/** Runs `work` with a store of 2 connections that logs in as a new role made `LOGIN <attributes>`; drops both after. */
async function asNewRole(attributes: string, work: (store: PostgresStore, role: string) => Promise<void>): Promise<void> {
  const role = `probe_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
  await pgQuery(`CREATE ROLE ${role} LOGIN ${attributes}`);
  try {
    const url = new URL(database.url);
    url.username = role;
    const store = await openPostgresStore({ url: url.toString(), poolSize: 2 });
    try {
      await work(store, role);
    } finally {
      await store.close().catch(() => undefined);
    }
  } finally {
    await pgQuery(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
  }
}

beforeAll(async () => {
  database = await createTestDatabase();
});

afterAll(async () => {
  await database.drop();
});

/** The test database holds the schema for the whole file; every test starts from empty tables. */
storeContract('postgres', async () => {
  let store = await openPostgresStore({ url: database.url, poolSize: 4 });
  await store.migrate();
  await store.execute('TRUNCATE actors, messages, journal, timers, idempotency_keys RESTART IDENTITY');
  return {
    store,
    async reopen() {
      await store.close();
      store = await openPostgresStore({ url: database.url, poolSize: 4 });
      return store;
    },
    async cleanup() {
      await store.close();
    },
  };
});

describe('PostgresStore', () => {
  describe('when the database cannot be reached', () => {
    it('fails statements and transactions with 503 STORE_UNAVAILABLE (retryable), not an internal error', async () => {
      const url = new URL(database.url);
      const proxy = startTcpProxy(`${url.hostname}:${url.port || '5432'}`);
      const store = await openPostgresStore({ url: database.url.replace(url.host, proxy.address), poolSize: 2 });
      try {
        expect(await store.query<{ one: number }>('SELECT 1 AS one')).toEqual([{ one: 1 }]);
        proxy.cut();
        for (const failing of [() => store.query('SELECT 1'), () => store.transaction((tx) => tx.execute('SELECT 1')), () => store.ping()]) {
          const error = await failing().then(() => undefined, (e: unknown) => e);
          expect(error).toBeInstanceOf(AppError);
          expect(error).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE', retryable: true });
        }
      } finally {
        await store.close().catch(() => undefined);
      }
    });
  });

  describe('when the network to the database is partitioned (every byte lost, no reset) and then comes back', () => {
    /** The old connections stay lost for good, as behind a NAT or a proxy that forgot them; new ones work once healed. */
    const partitioned = async (run: (store: PostgresStore, proxy: TcpProxy, noAnswers: number[]) => Promise<void>, options: { poolSize?: number; noAnswerMs?: number } = {}) => {
      const url = new URL(database.url);
      const proxy = startTcpProxy(`${url.hostname}:${url.port || '5432'}`);
      const noAnswers: number[] = [];
      const store = await openPostgresStore({
        url: database.url.replace(url.host, proxy.address),
        poolSize: options.poolSize ?? 2,
        noAnswerMs: options.noAnswerMs ?? 1_000,
        onNoAnswer: (waitedMs) => void noAnswers.push(waitedMs),
      });
      try {
        await store.migrate();
        await run(store, proxy, noAnswers);
      } finally {
        proxy.heal();
        await store.close({ waitMs: 0 }).catch(() => undefined);
        proxy.cut();
      }
    };
    const settled = (promise: Promise<unknown>) => promise.then((value) => ({ value }), (error: unknown) => ({ error }));

    it('fails what it sent into the partition with 503 STORE_UNAVAILABLE, and works again on new connections once the network is back', async () => {
      await partitioned(async (store, proxy, noAnswers) => {
        expect(await store.query<{ one: number }>('SELECT 1 AS one')).toEqual([{ one: 1 }]);
        proxy.partition();
        const started = performance.now();
        const stuck = [settled(store.query('SELECT 2')), settled(store.commit(creation(`partitioned/${crypto.randomUUID()}`), undefined, { groupable: true })), settled(store.ping())];
        for (const outcome of await Promise.all(stuck)) expect(outcome).toMatchObject({ error: { status: 503, code: 'STORE_UNAVAILABLE', retryable: true } });
        // Its wait for an answer (1 s here), a check at most a second later, and the connections made during the partition refused in turn.
        expect(performance.now() - started).toBeLessThan(10_000);
        expect(noAnswers.length).toBeGreaterThanOrEqual(1);
        proxy.heal();
        const address = `partitioned/${crypto.randomUUID()}`;
        expect(await store.commit(creation(address), undefined, { groupable: true })).toHaveLength(1);
        expect(await store.query('SELECT address FROM actors WHERE address = $1', [address])).toEqual([{ address }]);
      });
    });

    it('fails a group the database cannot take as a whole, rather than write each of its commits alone into the same wait', async () => {
      // Connections made during the partition give up after 2 s (the connect timeout follows noAnswerMs below 5 s).
      await partitioned(async (store, proxy) => {
        proxy.partition();
        const settledAt = (promise: Promise<unknown>) => promise.then(() => performance.now(), () => performance.now());
        // The first goes alone and waits for an answer; the next two wait for it and then form a group.
        const first = settledAt(store.commit(creation(`grouped-out/${crypto.randomUUID()}`), undefined, { groupable: true }));
        await Bun.sleep(50);
        const group = [1, 2].map(() => settledAt(store.commit(creation(`grouped-out/${crypto.randomUUID()}`), undefined, { groupable: true })));
        const firstAt = await first;
        const groupAt = Math.max(...(await Promise.all(group)));
        // One connect timeout for the group's connection; written alone, each commit would wait for another.
        expect(groupAt - firstAt).toBeGreaterThan(1_500);
        expect(groupAt - firstAt).toBeLessThan(3_500);
      }, { poolSize: 4, noAnswerMs: 2_000 });
    });

    it('has the server end a transaction its client vanished from, so the rows it locked are free again', async () => {
      await partitioned(async (store, proxy) => {
        await store.execute('CREATE TABLE IF NOT EXISTS partition_locks (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
        await store.execute('INSERT INTO partition_locks (id, n) VALUES (1, 0) ON CONFLICT (id) DO NOTHING');
        let locked!: () => void;
        const rowLocked = new Promise<void>((resolve) => (locked = resolve));
        const vanished = settled(
          store.transaction(async (tx) => {
            await tx.execute('UPDATE partition_locks SET n = n + 1 WHERE id = 1');
            locked();
            await Bun.sleep(200);
            await tx.execute('UPDATE partition_locks SET n = n + 1 WHERE id = 1');
          }),
        );
        await rowLocked;
        proxy.partition();
        expect(await vanished).toMatchObject({ error: { status: 503, code: 'STORE_UNAVAILABLE' } });
        // Another client (not through the proxy) gets the row within the server's idle-in-transaction limit, a second here.
        const other = new pg.Client({ connectionString: database.url });
        await other.connect();
        try {
          await other.query("SET lock_timeout = '5s'");
          expect((await other.query('UPDATE partition_locks SET n = n + 1 WHERE id = 1 RETURNING n')).rows).toEqual([{ n: 1 }]);
        } finally {
          await other.end();
        }
      });
    });
  });

  describe('when its connections are not used for a while', () => {
    it('closes them (a NAT or firewall may forget an idle connection without a word) and opens new ones when work comes', async () => {
      const name = `idle-${crypto.randomUUID().slice(0, 8)}`;
      const store = await openPostgresStore({ url: `${database.url}?application_name=${name}`, poolSize: 3, idleMs: 1_000 });
      const sessions = async () => {
        const [row] = await pgQuery<{ n: number }>("SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE application_name LIKE $1 || ' pool %'", [name]);
        return row?.n;
      };
      try {
        await Promise.all([1, 2, 3].map(() => store.query('SELECT pg_sleep(0.2)')));
        expect(await sessions()).toBe(3);
        await Bun.sleep(2_500);
        expect(await sessions()).toBe(0);
        expect(await store.query<{ one: number }>('SELECT 1 AS one')).toEqual([{ one: 1 }]);
      } finally {
        await store.close();
      }
    });
  });

  describe('when a statement waits long for a lock held by another session', () => {
    /**
     * `store` updates row 1 of `table` while `outside` holds it for 2 s, four times the store's wait for an
     * answer (500 ms): the store asked the server at least twice meanwhile. The update completes.
     */
    const updateBehindALock = async (store: PostgresStore, outside: pg.Client, table: string) => {
      await outside.query('BEGIN');
      await outside.query(`SELECT n FROM ${table} WHERE id = 1 FOR UPDATE`);
      const waiting = store.execute(`UPDATE ${table} SET n = n + 1 WHERE id = 1`);
      await Bun.sleep(2_000);
      await outside.query('COMMIT');
      expect(await waiting).toBe(1);
    };

    it('keeps its connections (the server shows them at work) and the statement completes once the lock is released', async () => {
      const noAnswers: number[] = [];
      const store = await openPostgresStore({ url: database.url, poolSize: 2, noAnswerMs: 500, onNoAnswer: (waitedMs) => void noAnswers.push(waitedMs) });
      const outside = new pg.Client({ connectionString: database.url });
      await outside.connect();
      try {
        await store.execute('CREATE TABLE IF NOT EXISTS long_locks (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
        await store.execute('INSERT INTO long_locks (id, n) VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET n = 0');
        await updateBehindALock(store, outside, 'long_locks');
        expect(noAnswers).toEqual([]);
        const [row] = await store.query<{ sessions: number }>("SELECT COUNT(*)::int AS sessions FROM pg_stat_activity WHERE application_name LIKE 'tickets pool %' AND datname = current_database()");
        expect(row?.sessions).toBeGreaterThanOrEqual(1);
      } finally {
        await outside.end();
        await store.close();
      }
    });

    it('keeps its connections too when the server has none left to answer whether they are at work', async () => {
      const role = `one_conn_${crypto.randomUUID().replaceAll('-', '').slice(0, 12)}`;
      const outside = new pg.Client({ connectionString: database.url });
      await outside.connect();
      const noAnswers: number[] = [];
      try {
        await outside.query(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 1`);
        await outside.query('CREATE TABLE IF NOT EXISTS full_locks (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)');
        await outside.query('INSERT INTO full_locks (id, n) VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET n = 0');
        await outside.query(`GRANT SELECT, UPDATE ON full_locks TO ${role}`);
        const url = new URL(database.url);
        url.username = role;
        const store = await openPostgresStore({ url: url.toString(), poolSize: 1, noAnswerMs: 500, onNoAnswer: (waitedMs) => void noAnswers.push(waitedMs) });
        try {
          await updateBehindALock(store, outside, 'full_locks');
          expect(noAnswers).toEqual([]);
        } finally {
          await store.close();
        }
      } finally {
        await outside.query('ROLLBACK').catch(() => undefined);
        await outside.query(`DROP OWNED BY ${role}`).catch(() => undefined);
        await outside.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
        await outside.end();
      }
    });
  });

  describe('when the server has no connection left for it (SQLSTATE class 53: too many connections, disk full)', () => {
    it('fails with 503 STORE_UNAVAILABLE (retryable), not an internal error', async () => {
      // No connection allowed at all: the server answers 53300 "too many connections for role".
      await asNewRole('CONNECTION LIMIT 0', async (store) => {
        const error = await store.query('SELECT 1').then(() => undefined, (e: unknown) => e);
        expect(error).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE', retryable: true });
      });
    });
  });

  describe("when the server stops accepting this service's credentials while it runs (SQLSTATE class 28: the role locked, its password changed)", () => {
    it('fails with 503 STORE_UNAVAILABLE (retryable), not an internal error', async () => {
      await asNewRole('', async (store, role) => {
        expect(await store.query<{ one: number }>('SELECT 1 AS one')).toEqual([{ one: 1 }]);
        await pgQuery(`ALTER ROLE ${role} NOLOGIN`);
        await pgQuery('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
        // The first statement may meet the ended session; those after it need a new one, which the server refuses.
        const errors: unknown[] = [];
        for (let i = 0; i < 3; i++) errors.push(await store.query('SELECT 1').then(() => undefined, (e: unknown) => e));
        for (const error of errors) expect(error).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE', retryable: true });
        expect((errors.at(-1) as AppError).cause).toMatchObject({ errno: '28000' });
      });
    });
  });

  describe('when the TLS handshake fails (a certificate rotated to an authority not trusted here, one that expired)', () => {
    it('takes it for a database that cannot be reached (503), and a failure of a statement for what it is', () => {
      for (const code of ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_POSTGRES_TLS_UPGRADE_FAILED']) {
        expect([code, asStoreError(Object.assign(new Error('handshake failed'), { code }))]).toMatchObject([code, { status: 503, code: 'STORE_UNAVAILABLE' }]);
      }
      const unexpected = new TypeError('not a function');
      expect(asStoreError(unexpected)).toBe(unexpected);
    });

    it("takes the URL's certificate file gone or overwritten since start-up (a rotation half done) for that too", async () => {
      const dir = makeTempDir('tickets-ca-');
      try {
        const ca = join(dir.path, 'ca.crt');
        writeFileSync(ca, 'not a certificate');
        for (const path of [ca, join(dir.path, 'gone.crt')]) {
          const store = await openPostgresStore({ url: `${database.url}?sslmode=verify-full&sslrootcert=${path}`, poolSize: 1 });
          try {
            const error = await store.query('SELECT 1').then(() => undefined, (e: unknown) => e);
            expect([path, error]).toMatchObject([path, { status: 503, code: 'STORE_UNAVAILABLE', retryable: true }]);
          } finally {
            await store.close().catch(() => undefined);
          }
        }
      } finally {
        await dir.cleanup();
      }
    });
  });

  describe('when the database cannot do the work now (read-only after a failover, a statement_timeout set on it)', () => {
    it('fails with 503 STORE_UNAVAILABLE (retryable), not an internal error, and ping says it takes no writes', async () => {
      const fresh = await createTestDatabase();
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      try {
        const name = new URL(fresh.url).pathname.slice(1);
        const migrated = await openPostgresStore({ url: fresh.url, poolSize: 2 });
        await migrated.migrate();
        await migrated.close();

        await admin.query(`ALTER DATABASE "${name}" SET default_transaction_read_only = on`);
        const readOnly = await openPostgresStore({ url: fresh.url, poolSize: 2 });
        try {
          expect(await readOnly.query<{ one: number }>('SELECT 1 AS one')).toEqual([{ one: 1 }]);
          for (const failing of [() => readOnly.commit(creation('booking/ro-1')), () => readOnly.execute("INSERT INTO checkpoints (name, tx, position, updated_at) VALUES ('x', 0, 0, 'now')")]) {
            expect(await failing().then(() => undefined, (e: unknown) => e)).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE', retryable: true });
          }
          expect(await readOnly.ping().then(() => undefined, (e: unknown) => (e as Error).message)).toContain('takes no writes');
        } finally {
          await readOnly.close();
        }

        await admin.query(`ALTER DATABASE "${name}" RESET default_transaction_read_only`);
        await admin.query(`ALTER DATABASE "${name}" SET statement_timeout = '20ms'`);
        const impatient = await openPostgresStore({ url: fresh.url, poolSize: 2 });
        try {
          expect(await impatient.query('SELECT pg_sleep(0.5)').then(() => undefined, (e: unknown) => e)).toMatchObject({ status: 503, code: 'STORE_UNAVAILABLE', retryable: true });
          await impatient.ping();
        } finally {
          await impatient.close();
        }
      } finally {
        await admin.end();
        await fresh.drop();
      }
    });
  });

  describe('when two pools migrate a new database at once', () => {
    it('both succeed and every migration is applied once', async () => {
      const fresh = await createTestDatabase();
      const stores = await Promise.all([openPostgresStore({ url: fresh.url }), openPostgresStore({ url: fresh.url })]);
      try {
        expect(await stores[0].pendingMigrations()).toEqual(postgresMigrations.map((m) => m.name));
        const applied = await Promise.all(stores.map((store) => store.migrate()));
        // Each says what it applied itself: together, every migration once.
        expect(applied.flat().sort()).toEqual(postgresMigrations.map((m) => m.name).sort());
        expect(await stores[0].pendingMigrations()).toEqual([]);
        expect(await stores[1].pendingMigrations()).toEqual([]);
        expect(await stores[0].query('SELECT name FROM schema_migrations ORDER BY name')).toEqual(postgresMigrations.map((m) => ({ name: m.name })));
      } finally {
        await Promise.all(stores.map((store) => store.close()));
        await fresh.drop();
      }
    });
  });

  describe('when groupable commits arrive while one is being written', () => {
    it('writes them together: one transaction for the first, one for all that waited', async () => {
      const store = await openPostgresStore({ url: database.url, poolSize: 4 });
      try {
        const addresses = Array.from({ length: 10 }, (_, i) => `grouped/${crypto.randomUUID()}-${i}`);
        await Promise.all(
          addresses.map((address) =>
            store.commit(
              creation(address),
              undefined,
              { groupable: true },
            ),
          ),
        );
        const [row] = await store.query<{ transactions: number; messages: number }>(
          "SELECT COUNT(DISTINCT tx_id) AS transactions, COUNT(*) AS messages FROM messages WHERE actor LIKE 'grouped/%'",
        );
        expect(row).toEqual({ transactions: 2, messages: 10 });
      } finally {
        await store.close();
      }
    });
  });

  describe('when a group has just failed', () => {
    /** Six groupable commits at once, `failing` refused by its inline work; resolves to the transactions that committed them. */
    const burst = async (store: PostgresStore, prefix: string, options: { failing?: string; ownRowsOnly?: boolean } = {}) => {
      const addresses = Array.from({ length: 6 }, (_, i) => `paused/${prefix}-${i}`);
      await Promise.allSettled(
        addresses.map((address) =>
          store.commit(
            creation(address),
            options.ownRowsOnly
              ? undefined
              : async () => {
                  if (address === options.failing) throw new Error('refused');
                },
            { groupable: true, ownRowsOnly: options.ownRowsOnly === true },
          ),
        ),
      );
      const [row] = await store.query<{ transactions: number }>('SELECT COUNT(DISTINCT tx_id) AS transactions FROM messages WHERE actor LIKE $1', [`paused/${prefix}-%`]);
      return row?.transactions;
    };

    it('writes the next groupable commits alone for a moment, then groups again', async () => {
      const store = await openPostgresStore({ url: database.url, poolSize: 4 });
      try {
        const id = crypto.randomUUID();
        // The first goes alone, the other five form a group that fails and are written alone.
        expect(await burst(store, `${id}-a`, { failing: `paused/${id}-a-3` })).toBe(5);
        expect(await burst(store, `${id}-b`)).toBe(6);
        await Bun.sleep(300);
        expect(await burst(store, `${id}-c`)).toBe(2);
      } finally {
        await store.close();
      }
    });

    it('pauses only its own lane: work that writes only its own rows goes on grouping', async () => {
      const store = await openPostgresStore({ url: database.url, poolSize: 4 });
      try {
        const id = crypto.randomUUID();
        expect(await burst(store, `${id}-a`, { failing: `paused/${id}-a-3` })).toBe(5);
        expect(await burst(store, `${id}-own`, { ownRowsOnly: true })).toBe(2);
        expect(await burst(store, `${id}-b`)).toBe(6);
      } finally {
        await store.close();
      }
    });
  });

  describe('when a group waits long for a row lock', () => {
    it('gives up the group and writes its commits alone, so a commit that needs no lock does not wait', async () => {
      await withLockedRow('group_locks', async (store, release) => {
        const id = crypto.randomUUID();
        const finished: string[] = [];
        const done = (name: string) => () => void finished.push(name);
        // The first goes alone at once; the other two wait for it and form one group.
        const first = store.commit(creation(`locked/${id}-1`, false), undefined, { groupable: true }).then(done('first'));
        const free = store.commit(creation(`locked/${id}-2`, false), undefined, { groupable: true }).then(done('free'));
        const blocked = store
          .commit(creation(`locked/${id}-3`, false), async (tx) => void (await tx.execute('UPDATE group_locks SET n = n + 1 WHERE id = 1')), { groupable: true })
          .then(done('blocked'));
        await Promise.all([first, free]);
        expect(finished).toEqual(['first', 'free']);

        await release();
        await blocked;
        expect(finished).toEqual(['first', 'free', 'blocked']);
        expect(await store.query('SELECT n FROM group_locks WHERE id = 1')).toEqual([{ n: 1 }]);
      });
    });
  });

  describe('when a commit of a failed group waits alone for a row lock', () => {
    it('does not hold up the groups of its lane behind it', async () => {
      await withLockedRow('lane_hold_locks', async (store, release) => {
        const id = crypto.randomUUID();
        const finished: string[] = [];
        const done = (name: string) => () => void finished.push(name);
        const first = store.commit(creation(`hold/${id}-1`, false), undefined, { groupable: true }).then(done('first'));
        const free = store.commit(creation(`hold/${id}-2`, false), undefined, { groupable: true }).then(done('free'));
        const blocked = store
          .commit(creation(`hold/${id}-3`, false), async (tx) => void (await tx.execute('UPDATE lane_hold_locks SET n = n + 1 WHERE id = 1')), { groupable: true })
          .then(done('blocked'));
        await Promise.all([first, free]);
        // Past the pause that follows a failed group: these group again in the lane.
        await Bun.sleep(400);
        const later = [1, 2, 3].map((i) => store.commit(creation(`hold/${id}-later-${i}`, false), undefined, { groupable: true }).then(done(`later-${i}`)));
        await Promise.all(later);
        expect(finished).not.toContain('blocked');

        await release();
        await blocked;
      });
    });

    it('leaves most of the pool to other work while many commits wait for the same lock, and refuses them by the deadline', async () => {
      const store = await openPostgresStore({ url: database.url, poolSize: 4, commitLockTimeoutMs: 1_000 });
      try {
        await withLockedRow('crowd_locks', async (_, release) => {
          const id = crypto.randomUUID();
          const startedAt = performance.now();
          const blocked = Array.from({ length: 8 }, (_, i) => store
            .commit(creation(`crowd/${id}-blocked-${i}`, false), async (tx) => void (await tx.execute('UPDATE crowd_locks SET n = n + 1 WHERE id = 1')))
            .then(() => 'committed', (error: unknown) => [(error as AppError).code, Math.round(performance.now() - startedAt)] as const));
          await Bun.sleep(300);
          const freeStartedAt = performance.now();
          await Promise.all([1, 2, 3].map((i) => store.commit(creation(`crowd/${id}-free-${i}`, false))));
          expect(performance.now() - freeStartedAt).toBeLessThan(500);

          const outcomes = await Promise.all(blocked);
          for (const outcome of outcomes) {
            expect(outcome[0]).toBe('CONCURRENT_UPDATE');
            expect(outcome[1]).toBeLessThan(2_500);
          }
          await release();
        });
      } finally {
        await store.close();
      }
    });

    it('gives up past the commit lock timeout with 409 CONCURRENT_UPDATE (retryable), writing nothing', async () => {
      const store = await openPostgresStore({ url: database.url, poolSize: 4, commitLockTimeoutMs: 300 });
      try {
        await withLockedRow('commit_timeout_locks', async (_, release) => {
          const address = `timeout/${crypto.randomUUID()}`;
          const startedAt = performance.now();
          const error = await store
            .commit(creation(address), async (tx) => void (await tx.execute('UPDATE commit_timeout_locks SET n = n + 1 WHERE id = 1')), { groupable: true })
            .then(() => undefined, (e: unknown) => e);
          expect(performance.now() - startedAt).toBeLessThan(2_000);
          expect(error).toBeInstanceOf(AppError);
          expect(error).toMatchObject({ status: 409, code: 'CONCURRENT_UPDATE', retryable: true });
          expect(await store.query('SELECT address FROM actors WHERE address = $1', [address])).toEqual([]);
          await release();
        });
      } finally {
        await store.close();
      }
    });
  });

  describe('when groupable work that writes only its own rows arrives while a commit waits for a lock', () => {
    it('writes it at once in its own lane instead of queueing it behind the blocked commit', async () => {
      await withLockedRow('lane_locks', async (store, release) => {
        const id = crypto.randomUUID();
        const finished: string[] = [];
        const done = (name: string) => () => void finished.push(name);
        const blocked = store
          .commit(creation(`lanes/${id}-shared`), async (tx) => void (await tx.execute('UPDATE lane_locks SET n = n + 1 WHERE id = 1')), { groupable: true })
          .then(done('shared'));
        await Bun.sleep(50);
        const own = [1, 2, 3].map((i) => store.commit(creation(`lanes/${id}-own-${i}`), undefined, { groupable: true, ownRowsOnly: true }).then(done(`own-${i}`)));
        await Promise.all(own);
        expect(finished).toEqual(['own-1', 'own-2', 'own-3']);

        await release();
        await blocked;
        expect(finished.at(-1)).toBe('shared');
        const [row] = await store.query<{ messages: number }>('SELECT COUNT(*) AS messages FROM messages WHERE actor LIKE $1', [`lanes/${id}-%`]);
        expect(row).toEqual({ messages: 4 });
      });
    });
  });

  describe('when a transaction that wrote a message is still open', () => {
    let store: PostgresStore;
    let client: pg.Client;

    beforeAll(async () => {
      store = await openPostgresStore({ url: database.url, poolSize: 4 });
      await store.migrate();
      client = new pg.Client({ connectionString: database.url });
      await client.connect();
    });

    afterAll(async () => {
      await client.end();
      await store.close();
    });

    it('never skips a message whose transaction took its id first but its position last', async () => {
      await store.execute('TRUNCATE actors, messages, journal, timers, idempotency_keys RESTART IDENTITY');
      await client.query('BEGIN');
      await client.query('SELECT pg_current_xact_id()');
      const fastMessage = { id: 'second-1', name: 'Fast_v1', kind: 'event' as const, actor: 'thing/b', actorSeq: 1, data: {}, metadata: { correlation_id: 'c' }, occurredAt: '2030-01-01T00:00:00.000Z' };
      await store.commit({
        address: 'thing/b', kind: 'thing', machineId: 'thing-v1', expectedVersion: 0, state: 'done', status: 'done', snapshot: {},
        messages: [fastMessage], timers: { set: [], cancel: [], cancelAll: false },
        journal: { event: { type: 'thing.go' }, fromState: 'idle', toState: 'done', messageIds: ['second-1'], at: '2030-01-01T00:00:00.000Z' },
        at: '2030-01-01T00:00:00.000Z',
      });
      await client.query(
        `INSERT INTO messages (id, name, kind, actor, actor_seq, data, metadata, occurred_at)
         VALUES ('first-1', 'Slow_v1', 'event', 'thing/a', 1, '{}', '{"correlation_id":"c"}', '2030-01-01T00:00:00.000Z')`,
      );
      await client.query('COMMIT');
      // A reader that checkpoints what it read and reads again must end with both messages.
      let cursor = LOG_START;
      const seen: string[] = [];
      for (let attempt = 0; attempt < 250 && seen.length < 2; attempt++) {
        for (const message of await store.readMessages(cursor, 1)) {
          seen.push(message.id);
          cursor = message.cursor;
        }
        if (seen.length < 2) await Bun.sleep(20);
      }
      expect(seen).toEqual(['first-1', 'second-1']);
    });

    it('reads nothing at or past it until it commits, then both in position order', async () => {
      await store.execute('TRUNCATE actors, messages, journal, timers, idempotency_keys RESTART IDENTITY');
      await client.query('BEGIN');
      const [open] = (
        await client.query<{ position: string }>(
          `INSERT INTO messages (id, name, kind, actor, actor_seq, data, metadata, occurred_at)
           VALUES ('open-1', 'Slow_v1', 'event', 'thing/slow', 1, '{}', '{"correlation_id":"c"}', '2030-01-01T00:00:00.000Z')
           RETURNING position`,
        )
      ).rows;

      const committed = await store.commit({
        address: 'thing/fast',
        kind: 'thing',
        machineId: 'thing-v1',
        expectedVersion: 0,
        state: 'done',
        status: 'done',
        snapshot: {},
        messages: [
          {
            id: 'fast-1',
            name: 'Fast_v1',
            kind: 'event',
            actor: 'thing/fast',
            actorSeq: 1,
            data: {},
            metadata: { correlation_id: 'c' },
            occurredAt: '2030-01-01T00:00:00.000Z',
          },
        ],
        timers: { set: [], cancel: [], cancelAll: false },
        journal: { event: { type: 'thing.go' }, fromState: 'idle', toState: 'done', messageIds: ['fast-1'], at: '2030-01-01T00:00:00.000Z' },
        at: '2030-01-01T00:00:00.000Z',
      });
      expect(committed[0]!.position).toBeGreaterThan(Number(open!.position));
      expect(await store.readActorMessages('thing/fast')).toEqual(committed);
      expect(await store.readMessages(LOG_START, 100)).toEqual([]);

      await client.query('COMMIT');
      // Other sessions on the server hold the horizon back too, so wait for it to pass.
      for (let attempt = 0; attempt < 250 && (await store.readMessages(LOG_START, 100)).length < 2; attempt++) await Bun.sleep(20);
      expect((await store.readMessages(LOG_START, 100)).map((m) => [m.id, m.position])).toEqual([
        ['open-1', Number(open!.position)],
        ['fast-1', committed[0]!.position],
      ]);
    });
  });
});
