import { SQL } from 'bun';
import {
  LOG_START,
  VersionConflictError,
  type ActorCommit,
  type ClaimOutcome,
  type CommitOptions,
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
import { concurrentUpdate, isStoreUnavailable, storeUnavailable, type AppError } from '../kernel/errors';
import { keysetAfter } from '../kernel/statementShapes';
import { withTimeout } from '../kernel/timeout';
import { RECORD_MIGRATION, SELECT_APPLIED_MIGRATIONS, pendingOf, postgresMigrations, unknownOf } from './migrations';
import * as shared from './shared';

export interface PostgresStoreOptions {
  url: string;
  /** Connections in the pool (default 10). */
  poolSize?: number;
  /** How long a commit written alone waits for a row lock before it gives up (default COMMIT_LOCK_TIMEOUT_MS). */
  commitLockTimeoutMs?: number;
  /** How long a connection may stay unused before it is closed (default IDLE_MS). */
  idleMs?: number;
  /** How long a statement may wait for its answer before the pool's connections are taken for lost (default NO_ANSWER_MS). */
  noAnswerMs?: number;
  /** Told when that happened, with how long the oldest statement had waited; the pool has been made again. */
  onNoAnswer?: (waitedMs: number) => void;
}

/**
 * Opens the distributed store on Bun's built-in PostgreSQL client: a native driver that prepares each
 * statement once per connection and pipelines statements issued together on one connection (see
 * shared.writeCommit); both measured faster than node-postgres (bench/RESULTS.md). Transactions are READ COMMITTED: `commit` does an explicit compare-and-set
 * on the actor's version. Rows are normalised to what SQLite gives: int8 as numbers, json/jsonb as
 * text, which the typed methods parse. Call `migrate()` before use.
 */
export async function openPostgresStore(opts: PostgresStoreOptions): Promise<PostgresStore> {
  const poolSize = opts.poolSize ?? 10;
  const noAnswerMs = opts.noAnswerMs ?? NO_ANSWER_MS;
  const urlParams = new URL(opts.url).searchParams;
  // A `connect_timeout` in the URL is the operator's; the option would override it.
  const connectTimeout = urlParams.has('connect_timeout') ? {} : { connectionTimeout: Math.ceil(Math.min(noAnswerMs, CONNECT_TIMEOUT_MS) / 1000) };
  const openPool = (applicationName: string) =>
    new SQL({
      url: opts.url,
      max: poolSize,
      bigint: false,
      idleTimeout: Math.ceil((opts.idleMs ?? IDLE_MS) / 1000),
      ...connectTimeout,
      connection: {
        application_name: applicationName,
        idle_in_transaction_session_timeout: String(Math.min(noAnswerMs, IDLE_IN_TRANSACTION_MS)),
      },
    });
  return new PostgresStore(openPool, {
    applicationName: (urlParams.get('application_name') || 'tickets').slice(0, 40),
    commitLockTimeoutMs: opts.commitLockTimeoutMs ?? COMMIT_LOCK_TIMEOUT_MS,
    lockWaitConnections: Math.max(1, Math.floor(poolSize / 4)),
    noAnswerMs,
    onNoAnswer: opts.onNoAnswer ?? (() => undefined),
  });
}

/**
 * How long a statement may go without an answer before the store asks the server, on a new connection,
 * whether its pool's sessions are at work. A network path that vanished without a reset (a partition, a
 * NAT or proxy that forgot the connection) leaves a connection waiting for hours, and the driver queues
 * further statements behind it. When none of the pool's sessions is running a statement (or the server
 * cannot be reached), the pool is closed, failing what waits on it (503), and made again; when one is
 * (a long lock wait behind an operator's ALTER TABLE, say), it is left alone, as closing it would leave
 * its sessions waiting on the server. Short enough that, while the network is down (the question then
 * waits for CONNECT_TIMEOUT_MS), the requests waiting get their 503 before the HTTP server's 30 s idle
 * timeout closes their connections without an answer.
 */
const NO_ANSWER_MS = 15_000;
/**
 * How long a connection may stay unused before it is closed: NATs, load balancers and firewalls forget
 * a connection idle for some minutes (350 s on AWS, 4 min on Azure) without telling either end, and its
 * next statement would get no answer (NO_ANSWER_MS). Under light load the driver keeps using one
 * connection, and the others close.
 */
const IDLE_MS = 60_000;
/**
 * How long the server lets a session of this service sit idle inside a transaction before it ends it
 * (or noAnswerMs when shorter): this service sends a transaction's statements without pausing, so such
 * a session's client is gone, and meanwhile its row locks stay taken and every reader of the event log
 * waits for it (readMessages reads below the oldest open transaction).
 */
const IDLE_IN_TRANSACTION_MS = 10_000;
/** How long making a connection may take (or noAnswerMs when shorter): one made during a partition never completes. */
const CONNECT_TIMEOUT_MS = 5_000;

/** Key of the advisory lock held while migrating: any fixed number ("tick" in ASCII). */
const MIGRATION_LOCK_KEY = 0x7469636b;

/** The most members written in one group transaction. */
const MAX_GROUP = 64;
/** How long a group transaction waits for a row lock before its commits are written alone instead. */
const GROUP_LOCK_TIMEOUT_MS = 200;
/**
 * How long a commit waits in all for row locks: this service holds a show's row for milliseconds, so a
 * longer wait means a lock held elsewhere (a stuck session, a manual transaction). The commit then
 * fails with 409 CONCURRENT_UPDATE (retryable) instead of holding its caller for as long as the lock
 * lasts. A commit first waits GROUP_LOCK_TIMEOUT_MS; then it waits patiently, on one of a few
 * connections only (a quarter of the pool), so that commits piling up on one locked row never take
 * the connections every other request needs.
 */
const COMMIT_LOCK_TIMEOUT_MS = 5_000;
/**
 * After a group failed, its lane's work goes alone for this long: where refusals are common (a show
 * selling out) a group would mostly fail and be written twice.
 */
const GROUP_PAUSE_MS = 250;

/** The 409s of commits that gave up waiting for a row lock (see commitAlone). */
const lockTimeouts = new WeakSet<object>();

/**
 * How a commit written alone waits for row locks: `quick` at most GROUP_LOCK_TIMEOUT_MS, `patient` up
 * to COMMIT_LOCK_TIMEOUT_MS on a connection reserved for such waits, `both` the one and then the other.
 */
type Patience = 'quick' | 'patient' | 'both';

/** At most `slots` holders at a time; the others wait in turn, each until its own deadline. */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];

  constructor(slots: number) {
    this.free = slots;
  }

  /** Resolves to a release function once a slot is free, or to undefined when `deadline` (performance.now()) comes first. */
  async take(deadline: number): Promise<(() => void) | undefined> {
    if (this.free > 0) {
      this.free -= 1;
      return this.releaser();
    }
    let turn: () => void = () => undefined;
    const granted = new Promise<boolean>((resolve) => {
      turn = () => resolve(true);
      this.waiting.push(turn);
    });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), Math.max(0, deadline - performance.now()));
    });
    const inTime = await Promise.race([granted, late]);
    clearTimeout(timer);
    if (inTime) return this.releaser();
    const index = this.waiting.indexOf(turn);
    if (index >= 0) this.waiting.splice(index, 1);
    // Granted just as the deadline came: hand the slot on.
    else this.releaser()();
    return undefined;
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next();
      else this.free += 1;
    };
  }
}

/** Groupable work waiting for the group transaction in flight to finish. */
interface Queued {
  /** Its statements, run in the group's transaction. */
  work(tx: Tx): Promise<unknown>;
  /** The same in a transaction of its own (see `PostgresStore.commitAlone` for `patience`). */
  alone(patience?: Patience): Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Groupable work of one kind waiting for the lane's group transaction in flight to finish. */
interface Lane {
  queued: Queued[];
  /** A group of this lane is being written. */
  writing: boolean;
  /** Until when (performance.now()) this lane's work goes alone, after one of its groups failed. */
  pausedUntil: number;
}

function newLane(): Lane {
  return { queued: [], writing: false, pausedUntil: 0 };
}

/** 409 CONCURRENT_UPDATE of a commit that waited its time for row locks held by others. */
function rowsLocked(): AppError {
  const refusal = concurrentUpdate('Rows this change needs are locked by another transaction; retry');
  lockTimeouts.add(refusal);
  return refusal;
}

/** Unique constraints that a lost race on one actor trips: it is a version conflict, not a bug. */
const CONFLICT_CONSTRAINTS = new Set(['actors_pkey', 'messages_actor_seq_key']);

function isVersionConflict(error: unknown): boolean {
  if (!(error instanceof SQL.PostgresError)) return false;
  // 40001 serialization_failure, 40P01 deadlock_detected, 23505 unique_violation.
  if (error.errno === '40001' || error.errno === '40P01') return true;
  return error.errno === '23505' && error.constraint !== undefined && CONFLICT_CONSTRAINTS.has(error.constraint);
}

// Type OIDs whose values Bun returns differently from SQLite: int8 (as text), json and jsonb (parsed).
const INT8 = 20;
const JSON_OID = 114;
const JSONB = 3802;

type Result = Record<string, unknown>[] & { count: number; columns: { name: string; type: number }[] | null };

/** Rows as the shared code reads them in both dialects: a plain array, int8 as numbers, JSON as its text. */
function normalizeRows<T>(result: Result): T[] {
  const rows = Array.from(result) as T[];
  const converted = (result.columns ?? []).filter((c) => c.type === INT8 || c.type === JSON_OID || c.type === JSONB);
  if (converted.length === 0) return rows;
  for (const row of result) {
    for (const { name, type } of converted) {
      const value = row[name];
      if (value === null || value === undefined) continue;
      row[name] = type === INT8 ? Number(value) : JSON.stringify(value);
    }
  }
  return rows;
}

/** Anything that runs a statement: the pool, a reserved connection or a transaction. */
type Runner = Pick<SQL, 'unsafe'>;

/** Driver codes of a server that cannot be reached or that dropped the connection. */
const CONNECTION_LOST = new Set([
  'ERR_POSTGRES_CONNECTION_REFUSED',
  'ERR_POSTGRES_CONNECTION_CLOSED',
  'ERR_POSTGRES_CONNECTION_TIMEOUT',
  'ERR_POSTGRES_IDLE_TIMEOUT',
  'ERR_POSTGRES_LIFETIME_TIMEOUT',
]);

/**
 * SQLSTATEs of a database that cannot do the work now, though nothing is wrong with the request:
 * 25006 a read-only transaction (a standby after a failover, `default_transaction_read_only`), 57014 a
 * statement cancelled (a `statement_timeout` set on the role or database, an operator's cancel).
 */
const CANNOT_NOW = new Set(['25006', '57014']);

/**
 * Driver codes of a connection that could not be made: its TLS handshake failed (OpenSSL's verification
 * codes such as CERT_HAS_EXPIRED or UNABLE_TO_VERIFY_LEAF_SIGNATURE, Node's ERR_TLS_*: a certificate
 * rotated to an authority this service does not trust, one that expired; ERR_BORINGSSL: the URL's
 * `sslrootcert` no longer holds a certificate) or its authentication did.
 */
const CANNOT_CONNECT = /^ERR_POSTGRES_(CONNECTION_FAILED|TLS_|SASL_|AUTHENTICATION_|CHANNEL_BINDING_|UNSUPPORTED_AUTHENTICATION|UNKNOWN_AUTHENTICATION)|^ERR_(TLS|SSL|OSSL)_|^ERR_BORINGSSL$|CERT|^UNABLE_TO_|SELF_SIGNED|^INVALID_CA$|^HOSTNAME_MISMATCH$/;

/** The driver's TypeError for a certificate file of the URL (`sslrootcert`, …) gone since start-up. */
const CERTIFICATE_FILE_GONE = /^Unable to access (ca|cert|key)File path$/;

/**
 * `error` as the store's callers should see it: a lost, refused or failed connection, a server that
 * is shutting down (SQLSTATE class 08, 57P), that refuses this service's credentials (class 28: the
 * role's password changed, pg_hba.conf no longer lets it in), short of resources (class 53: too many
 * connections, disk full, out of memory) or that cannot do the work now (CANNOT_NOW) becomes 503
 * STORE_UNAVAILABLE; anything else (a constraint, a lock timeout, a syntax error) is passed on as it is.
 */
export function asStoreError(error: unknown): unknown {
  const { code, errno } = (error ?? {}) as { code?: unknown; errno?: unknown };
  const driverCode = typeof code === 'string' ? code : '';
  const sqlState = typeof errno === 'string' ? errno : '';
  const fileGone = error instanceof TypeError && CERTIFICATE_FILE_GONE.test(error.message);
  const unavailable = fileGone || CONNECTION_LOST.has(driverCode) || CANNOT_CONNECT.test(driverCode) || ['08', '28', '53', '57P'].some((c) => sqlState.startsWith(c)) || CANNOT_NOW.has(sqlState);
  return unavailable ? storeUnavailable(error) : error;
}

const rethrowAsStoreError = (error: unknown): never => {
  throw asStoreError(error);
};

/** A statement sent, and when. */
interface Sent {
  readonly at: number;
}

/**
 * The statements sent and not answered yet, oldest first (a Set iterates in insertion order): what
 * tells a lost connection from a busy one (NO_ANSWER_MS).
 */
class Unanswered {
  private readonly waiting = new Set<Sent>();

  /** Marks a statement as sent; give what it returns to `answered` once the statement settles. */
  sent(): Sent {
    const entry = { at: performance.now() };
    this.waiting.add(entry);
    return entry;
  }

  answered(entry: Sent): void {
    this.waiting.delete(entry);
  }

  /** `statement`, counted as unanswered until it settles. */
  async settled<T>(statement: PromiseLike<T>): Promise<T> {
    const entry = this.sent();
    try {
      return await statement;
    } finally {
      this.answered(entry);
    }
  }

  /** How long the oldest statement has waited (0 when none waits). */
  longestWaitMs(): number {
    for (const entry of this.waiting) return performance.now() - entry.at;
    return 0;
  }

  /** Forgets every statement: their connections are being closed. */
  clear(): void {
    this.waiting.clear();
  }
}

/** `runner`'s statements, with the store's errors; counted in `unanswered` when given. */
function executorOn(runner: Runner, unanswered?: Unanswered): SqlExecutor {
  const send = (sql: string, params: unknown[]) => runner.unsafe(sql, params.map((param) => shared.normalizeParam(param, true))) as unknown as Promise<Result>;
  const run = async (sql: string, params: unknown[]): Promise<Result> => {
    const sent = unanswered?.sent();
    try {
      return await send(sql, params);
    } catch (error) {
      throw asStoreError(error);
    } finally {
      if (sent) unanswered?.answered(sent);
    }
  };
  return {
    dialect: 'postgres',
    async query<T>(sql: string, params: unknown[] = []): Promise<T[]> {
      return normalizeRows<T>(await run(sql, params));
    },
    async execute(sql: string, params: unknown[] = []): Promise<number> {
      return (await run(sql, params)).count;
    },
  };
}

interface PoolOptions {
  /** The start of the sessions' application_name. */
  applicationName: string;
  noAnswerMs: number;
  onNoAnswer: (waitedMs: number) => void;
}

/**
 * The connection pool, closed and made again when its connections are lost (NO_ANSWER_MS). Each pool
 * has its own application_name, by which pg_stat_activity shows its sessions.
 */
class RenewedPool {
  /** The statements sent on the pool (counted by the executors that are given it). */
  readonly unanswered = new Unanswered();
  private current: SQL;
  private name: string;
  private readonly checks: ReturnType<typeof setInterval>;
  private checking = false;
  private nextCheckAt = 0;
  private closed = false;

  constructor(
    private readonly open: (applicationName: string) => SQL,
    private readonly opts: PoolOptions,
  ) {
    this.name = this.newName();
    this.current = open(this.name);
    this.checks = setInterval(() => void this.checkAnswers(), Math.min(1_000, opts.noAnswerMs));
    this.checks.unref();
  }

  /** The pool now: read it for each use, as it may have been made again since. */
  get sql(): SQL {
    return this.current;
  }

  close(waitMs?: number): Promise<void> {
    this.closed = true;
    clearInterval(this.checks);
    return this.current.close(waitMs === undefined ? undefined : { timeout: waitMs / 1000 });
  }

  private newName(): string {
    return `${this.opts.applicationName} pool ${crypto.randomUUID().slice(0, 8)}`;
  }

  private async checkAnswers(): Promise<void> {
    const waitedMs = this.unanswered.longestWaitMs();
    if (waitedMs < this.opts.noAnswerMs || this.checking || performance.now() < this.nextCheckAt) return;
    this.checking = true;
    try {
      if (await this.atWork()) {
        this.nextCheckAt = performance.now() + this.opts.noAnswerMs;
        return;
      }
      if (this.closed) return;
      this.renew();
      this.opts.onNoAnswer(waitedMs);
    } finally {
      this.checking = false;
    }
  }

  /**
   * Whether the server shows a session of this pool running a statement; false when it cannot be asked
   * within noAnswerMs. True when it has no connection left for the question.
   */
  private async atWork(): Promise<boolean> {
    const probe = this.open(`${this.name} check`);
    try {
      const asked = probe.unsafe(
        `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND wait_event IS DISTINCT FROM 'ClientWrite') AS at_work`,
        [this.name],
      ) as unknown as Promise<{ at_work: boolean }[]>;
      const [row] = await withTimeout(asked, this.opts.noAnswerMs, () => new Error('the check got no answer'));
      return row?.at_work === true;
    } catch (error) {
      // Out of connections (class 53): the server is there and busy, which does not tell; ask again later.
      return error instanceof SQL.PostgresError && (error.errno ?? '').startsWith('53');
    } finally {
      void probe.close({ timeout: 0 }).catch(() => undefined);
    }
  }

  /** Closes every connection, failing what waits on them (503), and opens a new pool for what comes next. */
  private renew(): void {
    const lost = this.current;
    this.name = this.newName();
    this.current = this.open(this.name);
    this.unanswered.clear();
    void lost.close({ timeout: 0 }).catch(() => undefined);
  }
}

/** The Store port on PostgreSQL; see openPostgresStore. */
export class PostgresStore implements Store {
  readonly dialect = 'postgres' as const;
  private readonly pool: RenewedPool;
  private readonly pooled: SqlExecutor;
  private closing: Promise<void> | undefined;
  /** Groupable work that may change shared rows, and groupable work that writes only its own rows. */
  private readonly lanes: Record<'shared' | 'ownRows', Lane> = { shared: newLane(), ownRows: newLane() };

  /** The connections commits may hold while they wait patiently for a row lock. */
  private readonly lockWaits: Slots;
  private readonly commitLockTimeoutMs: number;

  constructor(openPool: (applicationName: string) => SQL, opts: PoolOptions & { commitLockTimeoutMs: number; lockWaitConnections: number }) {
    this.pool = new RenewedPool(openPool, opts);
    this.pooled = executorOn({ unsafe: (sql, params) => this.pool.sql.unsafe(sql, params) }, this.pool.unanswered);
    this.lockWaits = new Slots(opts.lockWaitConnections);
    this.commitLockTimeoutMs = opts.commitLockTimeoutMs;
  }

  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.pooled.query<T>(sql, params);
  }

  execute(sql: string, params?: unknown[]): Promise<number> {
    return this.pooled.execute(sql, params);
  }

  /** Applies pending migrations, each in its own transaction, under a session advisory lock. */
  async migrate(): Promise<string[]> {
    const connection = await this.pool.sql.reserve().catch(rethrowAsStoreError);
    const appliedNow: string[] = [];
    try {
      await connection.unsafe('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
      try {
        const applied = await appliedMigrations(executorOn(connection));
        for (const migration of pendingOf(postgresMigrations, applied)) {
          await connection.unsafe('BEGIN');
          try {
            // Several statements per file: the simple protocol takes them in one go.
            await connection.unsafe(migration.sql).simple();
            await connection.unsafe(RECORD_MIGRATION, [migration.name, new Date().toISOString()]);
            await connection.unsafe('COMMIT');
            appliedNow.push(migration.name);
          } catch (error) {
            await connection.unsafe('ROLLBACK');
            throw error;
          }
        }
      } finally {
        await connection.unsafe('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]);
      }
    } finally {
      connection.release();
    }
    return appliedNow;
  }

  async pendingMigrations(): Promise<string[]> {
    const applied = await appliedMigrations(this.pooled);
    return pendingOf(postgresMigrations, applied).map((migration) => migration.name);
  }

  async unknownMigrations(): Promise<string[]> {
    return unknownOf(postgresMigrations, await appliedMigrations(this.pooled));
  }

  /** Fails when the database cannot be reached, or takes no writes (a standby, `default_transaction_read_only`). */
  async ping(): Promise<void> {
    const [row] = await this.pooled.query<{ read_only: string }>("SELECT current_setting('transaction_read_only') AS read_only");
    if (row?.read_only === 'on') throw new Error('the database takes no writes (transaction_read_only is on: a standby, or default_transaction_read_only)');
  }

  async serverTime(): Promise<Date> {
    const [row] = await this.pooled.query<{ now: Date }>('SELECT clock_timestamp() AS now');
    return new Date(row!.now);
  }

  loadActor(address: string): Promise<StoredActor | null> {
    return shared.loadActor(this.pooled, address);
  }

  /**
   * Group commit: groupable commits (CommitOptions) share transactions. Groupable work goes to one of
   * two lanes, each with one group transaction in flight at a time: work that may change shared rows
   * (a show's seat count), and work that writes only its own rows (CommitOptions.ownRowsOnly). Groups
   * of one lane never deadlock on each other, and a group of own rows never waits on a lock of the
   * other lane, so the two lanes write side by side. The work that arrives while a lane's group is in
   * flight forms its next group, so a lone commit waits for nothing and under load one transaction
   * (one WAL flush, a few round trips) carries many. When any member of a group fails, the group is
   * rolled back and each member is written alone, which gives every caller its own outcome; for the
   * next GROUP_PAUSE_MS the work of that lane goes alone (a seat refusal does not stop the grouping of
   * inbox rows).
   */
  commit(commit: ActorCommit, inTx?: InTransaction, options: CommitOptions = {}): Promise<Message[]> {
    const work = async (tx: Tx) => {
      const messages = await shared.writeCommit(tx, commit);
      if (inTx) await inTx(tx, messages);
      return messages;
    };
    const alone = async (patience: Patience = 'both') => {
      try {
        return await this.commitAlone(work, patience);
      } catch (error) {
        if (isVersionConflict(error)) throw new VersionConflictError(commit.address);
        throw error;
      }
    };
    return options.groupable ? this.grouped(work, alone, options) : alone();
  }

  /** A write transaction; a groupable one (see CommitOptions and `commit`) may share it with others. */
  transaction<T>(fn: (tx: Tx) => Promise<T>, options: CommitOptions = {}): Promise<T> {
    return options.groupable ? this.grouped(fn, (patience = 'both') => this.commitAlone(fn, patience), options) : this.transactionAlone(fn);
  }

  /**
   * Commit work in a transaction of its own. `quick`: waiting at most GROUP_LOCK_TIMEOUT_MS for a row
   * lock; `patient`: then up to commitLockTimeoutMs from now in all, on one of the few connections
   * reserved for such waits (taking one counts against the time too); `both`: the one, then the other.
   * Past its time, 409 CONCURRENT_UPDATE, remembered in `lockTimeouts`.
   */
  private async commitAlone<T>(fn: (tx: Tx) => Promise<T>, patience: Patience): Promise<T> {
    if (patience === 'both') {
      try {
        return await this.commitAlone(fn, 'quick');
      } catch (error) {
        if (!lockTimeouts.has(error as object)) throw error;
        return this.commitAlone(fn, 'patient');
      }
    }
    if (patience === 'quick') return this.committedWithin(fn, () => GROUP_LOCK_TIMEOUT_MS);
    const deadline = performance.now() + this.commitLockTimeoutMs;
    const release = await this.lockWaits.take(deadline);
    if (release === undefined) throw rowsLocked();
    try {
      // Measured once it has its connection: the wait for one counts against the deadline too.
      return await this.committedWithin(fn, () => Math.max(1, Math.round(deadline - performance.now())));
    } finally {
      release();
    }
  }

  /** `fn` in a transaction of its own whose statements wait at most `lockTimeoutMs()` (asked once connected) for a row lock. */
  private async committedWithin<T>(fn: (tx: Tx) => Promise<T>, lockTimeoutMs: () => number): Promise<T> {
    try {
      return await this.transactionAlone(fn, lockTimeoutMs);
    } catch (error) {
      // 55P03 lock_not_available: lock_timeout ran out.
      if (error instanceof SQL.PostgresError && error.errno === '55P03') throw rowsLocked();
      throw error;
    }
  }

  /**
   * `fn` in a transaction of its own; with `lockTimeoutMs` (asked once a connection is reserved), a
   * statement that waits longer for a lock fails (55P03).
   */
  private async transactionAlone<T>(fn: (tx: Tx) => Promise<T>, lockTimeoutMs?: () => number): Promise<T> {
    const connection = await this.pool.sql.reserve().catch(rethrowAsStoreError);
    try {
      const tx: Tx = {
        ...executorOn(connection, this.pool.unanswered),
        completeIdempotency: (scope, key, response) => shared.completeIdempotency(tx, scope, key, response),
      };
      // BEGIN is not awaited alone: the driver sends it in one write with fn's first statements, which
      // saves a round trip per transaction (sql.begin() waits for it). It must be a tagged query: the
      // driver prepares those and pipelines them, whereas `unsafe` without values is sent on the simple
      // protocol, and nothing queued behind a simple query goes out before its answer is back.
      const begun = this.pool.unanswered.settled(connection`BEGIN`.execute());
      // set_config(…, true) is SET LOCAL; with a bound value it is pipelined with fn's statements (a
      // statement without values goes on the simple protocol, which stops the pipeline). Issued before
      // fn is called, so that it runs first.
      const limited = lockTimeoutMs === undefined ? undefined : tx.query('SELECT set_config($1, $2, true)', ['lock_timeout', `${lockTimeoutMs()}ms`]);
      let result: T;
      try {
        [, result] = await Promise.all([begun, fn(tx), limited]);
      } catch (error) {
        await this.pool.unanswered.settled(connection`ROLLBACK`).catch(() => undefined);
        throw asStoreError(error);
      }
      try {
        await this.pool.unanswered.settled(connection`COMMIT`);
      } catch (error) {
        throw asStoreError(error);
      }
      return result;
    } finally {
      connection.release();
    }
  }

  private grouped<T>(work: (tx: Tx) => Promise<T>, alone: (patience?: Patience) => Promise<T>, options: CommitOptions): Promise<T> {
    const lane = options.ownRowsOnly ? this.lanes.ownRows : this.lanes.shared;
    if (performance.now() < lane.pausedUntil) return alone();
    return new Promise<T>((resolve, reject) => {
      lane.queued.push({ work, alone, resolve: resolve as (value: unknown) => void, reject });
      if (!lane.writing) void this.writeQueued(lane);
    });
  }

  private async writeQueued(lane: Lane): Promise<void> {
    lane.writing = true;
    try {
      // The lane waits for nothing longer than a group's lock timeout: work that waits longer for a
      // lock (held outside, a stuck session) goes on alone, and the next groups do not queue behind it.
      while (lane.queued.length > 0) {
        const group = lane.queued.splice(0, MAX_GROUP);
        if (group.length === 1) {
          await this.writeLone(group[0]!);
        } else if (!(await this.writeGroup(group))) {
          lane.pausedUntil = performance.now() + GROUP_PAUSE_MS;
          for (const item of group) void item.alone().then(item.resolve, item.reject);
        }
      }
    } finally {
      lane.writing = false;
    }
  }

  /** Writes a group of one alone: at once when it gets its locks within the group's lock timeout, else patiently in the background. */
  private async writeLone(item: Queued): Promise<void> {
    try {
      item.resolve(await item.alone('quick'));
    } catch (error) {
      if (lockTimeouts.has(error as object)) void item.alone('patient').then(item.resolve, item.reject);
      else item.reject(error);
    }
  }

  /**
   * Writes the whole group in one transaction; false (rolled back) when any member failed or a lock wait
   * ran out, for each member to be written alone. A group the database cannot take (503: unreachable, out
   * of connections…) fails as a whole: written alone, each member would wait for the same answer again.
   */
  private async writeGroup(group: Queued[]): Promise<boolean> {
    let results: unknown[];
    try {
      // Groups of two instances can lock two shared rows (two shows) in opposite orders; rather than
      // wait for the deadlock detector (a second by default), a group gives up on a long lock wait
      // and its members go alone.
      results = await this.transactionAlone(async (tx) => {
        // Issued together, so the driver pipelines every member's statements on the one connection.
        const outcomes = await Promise.allSettled(group.map((item) => item.work(tx)));
        const failed = outcomes.find((outcome) => outcome.status === 'rejected');
        if (failed) throw failed.reason;
        return outcomes.map((outcome) => (outcome as PromiseFulfilledResult<unknown>).value);
      }, () => GROUP_LOCK_TIMEOUT_MS);
    } catch (error) {
      if (!isStoreUnavailable(error)) return false;
      for (const item of group) item.reject(error);
      return true;
    }
    group.forEach((item, i) => item.resolve(results[i]));
    return true;
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
        WHERE ${keysetAfter(['tx_id', 'position'], ['$1::text::xid8', '$2'], 'asc')}
          AND tx_id < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY tx_id, position LIMIT $3`,
      [String(after.tx), after.position, limit],
    );
    return rows.map((row) => ({ ...shared.toMessage(row), cursor: { tx: Number(row.tx), position: row.position } }));
  }

  /** Backwards along messages_commit_order: the greatest (tx_id, position) this statement's snapshot sees. */
  async logHead(): Promise<LogCursor> {
    const [row] = await this.pooled.query<{ tx: string; position: number | string }>(
      'SELECT tx_id::text AS tx, position FROM messages ORDER BY tx_id DESC, position DESC LIMIT 1',
    );
    return row ? { tx: Number(row.tx), position: Number(row.position) } : LOG_START;
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

  releaseIdempotency(scope: string, key: string, claimedAt: string): Promise<void> {
    return shared.releaseIdempotency(this.pooled, scope, key, claimedAt);
  }

  close(options: { waitMs?: number } = {}): Promise<void> {
    this.closing ??= this.pool.close(options.waitMs);
    return this.closing;
  }
}

async function appliedMigrations(db: SqlExecutor): Promise<string[]> {
  const [table] = await db.query<{ present: boolean }>("SELECT to_regclass('schema_migrations') IS NOT NULL AS present");
  if (!table?.present) return [];
  const rows = await db.query<{ name: string }>(SELECT_APPLIED_MIGRATIONS);
  return rows.map((row) => row.name);
}
