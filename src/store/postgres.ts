import pg from 'pg';
import {
  VersionConflictError,
  type ActorCommit,
  type ClaimOutcome,
  type DueTimer,
  type IdempotencyClaim,
  type InTransaction,
  type JournalEntry,
  type LogCursor,
  type LoggedMessage,
  type Message,
  type SqlExecutor,
  type Store,
  type StoredActor,
  type StoredResponse,
  type TimerSet,
  type Tx,
} from '../actors/ports';
import { RECORD_MIGRATION, SELECT_APPLIED_MIGRATIONS, pendingOf, postgresMigrations } from './migrations';
import * as shared from './shared';

export interface PostgresStoreOptions {
  url: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
}

/**
 * Opens the distributed store on a pg pool. Transactions are READ COMMITTED: `commit` does an explicit
 * compare-and-set on the actor's version. int8 columns come back as numbers and json/jsonb columns as
 * text (as in SQLite); the typed methods parse them. Call `migrate()` before use.
 */
export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresStore> {
  const types = new pg.TypeOverrides();
  types.setTypeParser(pg.types.builtins.INT8, Number);
  types.setTypeParser(pg.types.builtins.JSON, (text: string) => text);
  types.setTypeParser(pg.types.builtins.JSONB, (text: string) => text);
  const pool = new pg.Pool({ connectionString: opts.url, max: opts.poolSize ?? 10, types });
  // An idle client that loses its connection is dropped by the pool; the next query reconnects and
  // reports any lasting failure. Without a listener the error would crash the process.
  pool.on('error', () => {});
  return new PostgresStore(pool);
}

/** Key of the advisory lock held while migrating: any fixed number ("tick" in ASCII). */
const MIGRATION_LOCK_KEY = 0x7469636b;

/** Unique constraints that a lost race on one actor trips: it is a version conflict, not a bug. */
const CONFLICT_CONSTRAINTS = new Set(['actors_pkey', 'messages_actor_seq_key']);

function isVersionConflict(error: unknown): boolean {
  if (!(error instanceof pg.DatabaseError)) return false;
  // 40001 serialization_failure, 40P01 deadlock_detected, 23505 unique_violation.
  if (error.code === '40001' || error.code === '40P01') return true;
  return error.code === '23505' && error.constraint !== undefined && CONFLICT_CONSTRAINTS.has(error.constraint);
}

function toParams(params: unknown[]): unknown[] {
  return params.map(shared.normalizeParam);
}

function executorOn(client: pg.Pool | pg.PoolClient): SqlExecutor {
  return {
    dialect: 'postgres',
    async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
      const result = await client.query(sql, toParams(params));
      return result.rows as T[];
    },
    async execute(sql: string, params: unknown[] = []): Promise<number> {
      const result = await client.query(sql, toParams(params));
      return result.rowCount ?? 0;
    },
  };
}

/** The Store port on PostgreSQL; see openPostgresStore. */
export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  private readonly pooled: SqlExecutor;
  private closing: Promise<void> | undefined;

  constructor(private readonly pool: pg.Pool) {
    this.pooled = executorOn(pool);
  }

  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.pooled.query<T>(sql, params);
  }

  execute(sql: string, params?: unknown[]): Promise<number> {
    return this.pooled.execute(sql, params);
  }

  /** Applies pending migrations, each in its own transaction, under a session advisory lock. */
  async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      try {
        const applied = await appliedMigrations(executorOn(client));
        for (const migration of pendingOf(postgresMigrations, applied)) {
          await client.query('BEGIN');
          try {
            await client.query(migration.sql);
            await client.query(RECORD_MIGRATION, [migration.name, new Date().toISOString()]);
            await client.query('COMMIT');
          } catch (error) {
            await client.query('ROLLBACK');
            throw error;
          }
        }
      } finally {
        await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      }
      client.release();
    } catch (error) {
      // The connection's state (lock, transaction) is unknown: do not hand it back to the pool.
      client.release(true);
      throw error;
    }
  }

  async pendingMigrations(): Promise<string[]> {
    const applied = await appliedMigrations(this.pooled);
    return pendingOf(postgresMigrations, applied).map((migration) => migration.name);
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1');
  }

  loadActor(address: string): Promise<StoredActor | null> {
    return shared.loadActor(this.pooled, address);
  }

  async commit(commit: ActorCommit, inTx?: InTransaction): Promise<Message[]> {
    try {
      return await this.transaction(async (tx) => {
        const messages = await shared.writeCommit(tx, commit);
        if (inTx) await inTx(tx, messages);
        return messages;
      });
    } catch (error) {
      if (isVersionConflict(error)) throw new VersionConflictError(commit.address);
      throw error;
    }
  }

  async transaction<T>(fn: (tx: Tx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx: Tx = {
      ...executorOn(client),
      completeIdempotency: (scope, key, response) => shared.completeIdempotency(tx, scope, key, response),
    };
    try {
      await client.query('BEGIN');
      const result = await fn(tx);
      await client.query('COMMIT');
      client.release();
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
        client.release();
      } catch {
        client.release(true);
      }
      throw error;
    }
  }

  async readActorMessages(address: string): Promise<Message[]> {
    const rows = await this.pooled.query<shared.MessageRow>(shared.SELECT_ACTOR_MESSAGES, [address]);
    return rows.map(shared.toMessage);
  }

  /**
   * Stops below the oldest transaction still running: everything older has committed or rolled back,
   * so no smaller position can appear later from a transaction that has its id already.
   */
  async readMessages(after: LogCursor, limit: number): Promise<LoggedMessage[]> {
    const rows = await this.pooled.query<shared.MessageRow & { tx: string }>(
      `SELECT ${shared.MESSAGE_COLUMNS}, tx_id::text AS tx FROM messages
        WHERE (tx_id > $1::text::xid8 OR (tx_id = $1::text::xid8 AND position > $2))
          AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY tx_id, position LIMIT $3`,
      [String(after.tx), after.position, limit],
    );
    return rows.map((row) => ({ ...shared.toMessage(row), cursor: { tx: Number(row.tx), position: row.position } }));
  }

  readJournal(address: string): Promise<JournalEntry[]> {
    return shared.readJournal(this.pooled, address);
  }

  recordRejection(entry: Omit<JournalEntry, 'rejected' | 'snapshot' | 'messageIds' | 'toState'>): Promise<void> {
    return shared.insertJournal(this.pooled, shared.rejectionEntry(entry));
  }

  async claimDueTimers(now: string, limit: number, owner: string, leaseMs: number): Promise<DueTimer[]> {
    // SKIP LOCKED: a timer another claimer is leasing right now is passed over, never handed out twice.
    const rows = await this.pooled.query<shared.DueTimerRow>(
      `WITH due AS MATERIALIZED (
         SELECT address, name FROM timers
          WHERE due_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
          ORDER BY due_at LIMIT $2
          FOR UPDATE SKIP LOCKED)
       UPDATE timers AS t SET lease_owner = $3, lease_until = $4, attempts = t.attempts + 1
         FROM due WHERE t.address = due.address AND t.name = due.name
       RETURNING t.address, t.name, t.due_at, t.event, t.attempts, t.traceparent, t.correlation_id`,
      [now, limit, owner, shared.leaseUntil(now, leaseMs)],
    );
    return shared.toDueTimers(rows);
  }

  async deleteTimer(address: string, name: string, dueAt: string): Promise<void> {
    await this.pooled.execute(shared.DELETE_TIMER_AT, [address, name, dueAt]);
  }

  listTimers(address: string): Promise<TimerSet[]> {
    return shared.listTimers(this.pooled, address);
  }

  claimIdempotency(claim: IdempotencyClaim): Promise<ClaimOutcome> {
    return shared.claimIdempotency(this.pooled, claim);
  }

  completeIdempotency(scope: string, key: string, response: StoredResponse): Promise<void> {
    return shared.completeIdempotency(this.pooled, scope, key, response);
  }

  releaseIdempotency(scope: string, key: string): Promise<void> {
    return shared.releaseIdempotency(this.pooled, scope, key);
  }

  close(): Promise<void> {
    this.closing ??= this.pool.end();
    return this.closing;
  }
}

async function appliedMigrations(db: SqlExecutor): Promise<string[]> {
  const [table] = await db.query<{ present: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS present");
  if (!table?.present) return [];
  const rows = await db.query<{ name: string }>(SELECT_APPLIED_MIGRATIONS);
  return rows.map((row) => row.name);
}
