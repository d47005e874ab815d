import { assertStillThere, FileGoneError, ownerOnly } from '../kernel/files';
import { storeUnavailable } from '../kernel/errors';
import { AsyncLocalStorage } from 'node:async_hooks';
import { Database, SQLiteError, type SQLQueryBindings } from 'bun:sqlite';
import type {
  ActorCommit,
  ClaimOutcome,
  DueTimer,
  IdempotencyClaim,
  InTransaction,
  JournalEntry,
  LogCursor,
  LoggedMessage,
  Message,
  SqlExecutor,
  Store,
  StoredActor,
  StoredResponse,
  TimerSet,
  Tx,
} from '../actors/ports';
import { LOG_START } from '../actors/ports';
import { RECORD_MIGRATION, SELECT_APPLIED_MIGRATIONS, pendingOf, sqliteMigrations, unknownOf } from './migrations';
import * as shared from './shared';

export interface SqliteStoreOptions {
  /** A file path, or `':memory:'` for a private in-memory database. */
  path: string;
  /** How long `ping` fails after a statement failed for want of space or an I/O error; FAILED_WRITE_REPORT_MS by default. */
  failedWriteReportMs?: number;
}

/**
 * How long the store is reported not ready after a write failed for want of space or an I/O error:
 * a few readiness polls, so that a load balancer sees it, short enough that the instance comes back
 * soon after space is freed (its next write failing puts it out again).
 */
const FAILED_WRITE_REPORT_MS = 10_000;

/**
 * Opens the embedded store. For a file: one write connection (WAL, `synchronous=FULL`) whose
 * transactions are serialised by an in-process lock, and a read-only connection for reads outside
 * transactions, so that a read never sees another caller's uncommitted writes. `':memory:'` has a
 * single connection, so reads take the lock too. Call `migrate()` before use.
 */
export async function openSqliteStore(opts: SqliteStoreOptions): Promise<SqliteStore> {
  return SqliteStore.open(opts.path, opts.failedWriteReportMs);
}

/**
 * How a SQLite error is about the database file rather than the statement: `unavailable`, the disk
 * (or a quota) is full or a read or write of the file failed (SQLITE_IOERR_*, e.g. the volume is
 * gone), so the same statement may pass once that is repaired; `unusable`, the file is not a
 * database, is damaged, or cannot be opened or written. Undefined for anything else (a constraint, a
 * syntax error), which is the statement's.
 */
export function fileFailureOf(error: unknown): 'unavailable' | 'unusable' | undefined {
  if (!(error instanceof SQLiteError)) return undefined;
  const code = error.code ?? '';
  if (code === 'SQLITE_FULL' || code.startsWith('SQLITE_IOERR')) return 'unavailable';
  if (/^SQLITE_(NOTADB|CORRUPT|CANTOPEN|READONLY|PERM)/.test(code)) return 'unusable';
  return undefined;
}

/** Serialises async work: each `run` starts after every earlier one has settled. */
class AsyncLock {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const result = this.tail.then(work);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** `$1` → `?1`: the ports' placeholders in SQLite's numbered form. */
function toSqliteSql(sql: string): string {
  return sql.replace(/\$(\d+)/g, '?$1');
}

function toBindings(params: unknown[]): SQLQueryBindings[] {
  return params.map((param) => {
    const value = shared.normalizeParam(param);
    if (typeof value === 'boolean') return value ? 1 : 0;
    return value as SQLQueryBindings;
  });
}

/** Raw SQL straight on one connection; the caller decides which connection and holds the lock if needed. */
function connectionExecutor(db: Database): SqlExecutor {
  return {
    dialect: 'sqlite',
    async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
      return db.query(toSqliteSql(sql)).all(...toBindings(params)) as T[];
    },
    async execute(sql: string, params: unknown[] = []): Promise<number> {
      return db.query(toSqliteSql(sql)).run(...toBindings(params)).changes;
    },
  };
}

/** The Store port on bun:sqlite; see openSqliteStore. */
export class SqliteStore implements Store {
  readonly dialect = 'sqlite' as const;
  private readonly lock = new AsyncLock();
  /** Set while a transaction callback runs, to refuse store calls that would wait for their own lock. */
  private readonly inTransaction = new AsyncLocalStorage<true>();
  private readonly writeConnection: SqlExecutor;
  private closing: Promise<void> | undefined;
  /** The last failure for want of space or an I/O error, reported by `ping` for failedWriteReportMs. */
  private lastFileSystemFailure: { at: number; error: SQLiteError } | undefined;

  private constructor(
    private readonly path: string,
    private readonly writer: Database,
    /** Null for ':memory:', where the write connection is the only one. */
    private readonly reader: Database | null,
    private readonly failedWriteReportMs: number,
  ) {
    this.writeConnection = connectionExecutor(writer);
  }

  /** Opens (and creates) the database at `path`; see openSqliteStore. */
  static open(path: string, failedWriteReportMs = FAILED_WRITE_REPORT_MS): SqliteStore {
    const writer = new Database(path, { create: true, readwrite: true });
    if (path !== ':memory:') ownerOnly(path);
    writer.run('PRAGMA busy_timeout = 5000');
    writer.run('PRAGMA foreign_keys = ON');
    if (path === ':memory:') return new SqliteStore(path, writer, null, failedWriteReportMs);
    writer.run('PRAGMA journal_mode = WAL');
    writer.run('PRAGMA synchronous = FULL');
    const reader = new Database(path, { readonly: true });
    reader.run('PRAGMA busy_timeout = 5000');
    return new SqliteStore(path, writer, reader, failedWriteReportMs);
  }

  async query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    try {
      const statement = this.reader?.query(toSqliteSql(sql));
      if (statement?.readonly) return statement.all(...toBindings(params)) as T[];
    } catch (error) {
      throw this.asStoreError(error);
    }
    return this.write(() => this.writeConnection.query<T>(sql, params));
  }

  async execute(sql: string, params: unknown[] = []): Promise<number> {
    return this.write(() => this.writeConnection.execute(sql, params));
  }

  async migrate(): Promise<string[]> {
    const appliedNow: string[] = [];
    await this.write(async () => {
      for (const migration of sqliteMigrations) {
        let ran = false;
        await this.inWriteTransaction(async () => {
          // Re-read inside the write transaction: another process may have applied it meanwhile.
          if (pendingOf([migration], this.appliedMigrations(this.writer)).length === 0) return;
          this.writer.run(migration.sql);
          await this.writeConnection.execute(RECORD_MIGRATION, [migration.name, new Date().toISOString()]);
          ran = true;
        });
        // Counted once its transaction has committed.
        if (ran) appliedNow.push(migration.name);
      }
    });
    return appliedNow;
  }

  async pendingMigrations(): Promise<string[]> {
    return pendingOf(sqliteMigrations, await this.applied()).map((migration) => migration.name);
  }

  async unknownMigrations(): Promise<string[]> {
    return unknownOf(sqliteMigrations, await this.applied());
  }

  private async applied(): Promise<string[]> {
    return this.reader ? this.appliedMigrations(this.reader) : await this.write(async () => this.appliedMigrations(this.writer));
  }

  /**
   * Fails while the file is gone, or for failedWriteReportMs after a write failed for want of space or
   * an I/O error. Those failures are remembered rather than probed with a write of its own: a small
   * write can fit in the free pages and the WAL file's space when a booking's does not, so only the
   * writes that really failed tell, and they cost nothing to remember.
   */
  async ping(): Promise<void> {
    if (this.path !== ':memory:') assertStillThere(this.path, 'the database file');
    const failure = this.lastFileSystemFailure;
    if (failure !== undefined && Date.now() - failure.at < this.failedWriteReportMs) {
      const ago = Math.round((Date.now() - failure.at) / 1000);
      throw new Error(`disk full or I/O error ${ago} s ago: ${failure.error.message}`, { cause: failure.error });
    }
    await this.query('SELECT 1');
  }

  /** The database is a file on this machine: its clock is this machine's. */
  async serverTime(): Promise<Date> {
    return new Date();
  }

  async loadActor(address: string): Promise<StoredActor | null> {
    return shared.loadActor(this, address);
  }

  async commit(commit: ActorCommit, inTx?: InTransaction): Promise<Message[]> {
    return this.transaction(async (tx) => {
      const messages = await shared.writeCommit(tx, commit);
      if (inTx) await inTx(tx, messages);
      return messages;
    });
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const tx: Tx = {
      ...this.writeConnection,
      completeIdempotency: (scope, key, response) => shared.completeIdempotency(tx, scope, key, response),
    };
    return this.write(() => this.inWriteTransaction(() => this.inTransaction.run(true, () => fn(tx))));
  }

  async readActorMessages(address: string): Promise<Message[]> {
    const rows = await this.query<shared.MessageRow>(shared.SELECT_ACTOR_MESSAGES, [address]);
    return rows.map(shared.toMessage);
  }

  /** One writer at a time commits, so positions are already in commit order. */
  async readMessages(after: LogCursor, limit: number): Promise<LoggedMessage[]> {
    const rows = await this.query<shared.MessageRow>(
      `SELECT ${shared.MESSAGE_COLUMNS} FROM messages WHERE position > $1 ORDER BY position LIMIT $2`,
      [after.position, limit],
    );
    return rows.map((row) => ({ ...shared.toMessage(row), cursor: { tx: 0, position: row.position } }));
  }

  /** Positions are commit order here, so the head is the greatest one. */
  async logHead(): Promise<LogCursor> {
    const [row] = await this.query<{ position: number | null }>('SELECT MAX(position) AS position FROM messages');
    return !row || row.position === null ? LOG_START : { tx: 0, position: Number(row.position) };
  }

  async readJournal(address: string): Promise<JournalEntry[]> {
    return shared.readJournal(this, address);
  }

  async recordRejection(entry: Omit<JournalEntry, 'rejected' | 'snapshot' | 'messageIds' | 'toState'>): Promise<void> {
    await this.write(() => shared.insertJournal(this.writeConnection, shared.rejectionEntry(entry)));
  }

  async claimDueTimers(now: string, limit: number, owner: string, leaseMs: number): Promise<DueTimer[]> {
    // One statement under the write lock: nobody else can claim between the choice and the update.
    const rows = await this.write(() => this.writeConnection.query<shared.DueTimerRow>(
      `UPDATE timers SET lease_owner = $1, lease_until = $2, attempts = attempts + 1
        WHERE (address, name) IN (
          SELECT address, name FROM timers
           WHERE due_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
           ORDER BY due_at LIMIT $4)
       RETURNING address, name, due_at, event, attempts, traceparent, correlation_id`,
      [owner, shared.leaseUntil(now, leaseMs), now, limit],
    ));
    return shared.toDueTimers(rows);
  }

  async deleteTimer(address: string, name: string, dueAt: string): Promise<void> {
    await this.execute(shared.DELETE_TIMER_AT, [address, name, dueAt]);
  }

  async listTimers(address: string): Promise<TimerSet[]> {
    return shared.listTimers(this, address);
  }

  async claimIdempotency(claim: IdempotencyClaim): Promise<ClaimOutcome> {
    return shared.claimIdempotency(this, claim);
  }

  async completeIdempotency(scope: string, key: string, response: StoredResponse): Promise<void> {
    await shared.completeIdempotency(this, scope, key, response);
  }

  async releaseIdempotency(scope: string, key: string, claimedAt: string): Promise<void> {
    await shared.releaseIdempotency(this, scope, key, claimedAt);
  }

  close(): Promise<void> {
    this.closing ??= this.lock.run(async () => {
      this.reader?.close();
      this.writer.close();
    });
    return this.closing;
  }

  /** Runs `work` holding the write lock; refuses to be called from inside a transaction callback. */
  private write<T>(work: () => Promise<T>): Promise<T> {
    if (this.inTransaction.getStore()) {
      return Promise.reject(new Error('store method called inside a transaction callback: use the tx it was given'));
    }
    // bun:sqlite is synchronous, so a chain of writes (a webhook of many tickets, a backlog of handler
    // work) would otherwise run as one long task that no request could get between: each write first
    // lets the event loop serve what has arrived.
    return this.lock.run(async () => {
      await new Promise<void>((resolve) => setImmediate(resolve));
      try {
        // A file deleted while open (DATA_DIR removed or unmounted) still takes writes, which the next
        // start would not find: refused instead, as the readiness check already says (one stat a write).
        if (this.path !== ':memory:') assertStillThere(this.path, 'the database file');
        return await work();
      } catch (error) {
        throw this.asStoreError(error);
      }
    });
  }

  /**
   * The one place SQLite errors become the store's: a full disk or an I/O error is 503
   * STORE_UNAVAILABLE, as a lost Postgres connection is, not an internal error; it is remembered for `ping`.
   */
  private asStoreError(error: unknown): unknown {
    if (error instanceof FileGoneError) return storeUnavailable(error);
    if (fileFailureOf(error) !== 'unavailable') return error;
    this.lastFileSystemFailure = { at: Date.now(), error: error as SQLiteError };
    return storeUnavailable(error);
  }

  /** BEGIN IMMEDIATE … COMMIT around async work; the caller holds the write lock. */
  private async inWriteTransaction<T>(work: () => Promise<T>): Promise<T> {
    this.writer.run('BEGIN IMMEDIATE');
    try {
      const result = await work();
      this.writer.run('COMMIT');
      return result;
    } catch (error) {
      // Some errors (e.g. SQLITE_FULL) have already rolled the transaction back.
      if (this.writer.inTransaction) this.writer.run('ROLLBACK');
      throw error;
    }
  }

  private appliedMigrations(db: Database): string[] {
    const table = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
    if (!table) return [];
    return db.query<{ name: string }, []>(SELECT_APPLIED_MIGRATIONS).all().map((row) => row.name);
  }
}
