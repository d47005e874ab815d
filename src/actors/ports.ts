/**
 * Ports of the actor runtime. The runtime and everything above it see only these interfaces; src/store
 * implements them twice (SQLite for embedded mode, Postgres for distributed mode) and one contract
 * suite (test/int/store.contract.ts) holds both to the same behaviour.
 *
 * Conventions shared by both implementations:
 * - Times are RFC 3339 UTC strings with milliseconds (`2030-01-01T00:00:00.000Z`), stored as text so that
 *   they compare lexicographically in both databases.
 * - SQL passed to `query`/`execute` uses `$1, $2, …` placeholders and the subset of SQL both databases
 *   share (`ON CONFLICT`, `RETURNING`, conditional `UPDATE`); `dialect` says which one runs it.
 */

/** Metadata carried by every message, from the request that caused it to every handler and call. */
export interface MessageMetadata {
  correlation_id: string;
  traceparent?: string;
  idempotency_key?: string;
  /** Id of the message or request that caused this one. */
  causation_id?: string;
}

/**
 * A message in the event log: a fact (`BookingMade_v1`, kind `event`) or an outbound command
 * (`BookFlight`, kind `command`). Facts are named `Name_vN`; anything else an actor emits is a command.
 */
export interface Message {
  id: string;
  name: string;
  kind: 'event' | 'command';
  /** Address of the actor that emitted it, `<kind>/<id>`. */
  actor: string;
  /** 1-based, gapless sequence within the actor. */
  actorSeq: number;
  /** Global position in commit order, assigned by the store. */
  position: number;
  data: Record<string, unknown>;
  metadata: MessageMetadata;
  occurredAt: string;
}

export type NewMessage = Omit<Message, 'position'>;

/**
 * A point in the event log's commit order. Positions alone are not commit order in Postgres (two
 * overlapping transactions may commit out of position order), so readers order by the writing
 * transaction's id first; in SQLite, whose single writer commits in position order, `tx` is always 0.
 */
export interface LogCursor {
  tx: number;
  position: number;
}

export const LOG_START: LogCursor = Object.freeze({ tx: 0, position: 0 });

/** A message read from the log, with the cursor just past it (what a reader checkpoints). */
export interface LoggedMessage extends Message {
  cursor: LogCursor;
}

/** A persisted actor: its machine, its optimistic-concurrency version and its persisted snapshot. */
export interface StoredActor {
  address: string;
  kind: string;
  /** The versioned machine id that wrote the snapshot, e.g. `booking-v1`. */
  machineId: string;
  /** Incremented by every committed transition; 0 means "not yet stored". */
  version: number;
  /** actorSeq of the last message this actor emitted (0 when none). */
  lastSeq: number;
  /** Dotted state value, e.g. `held` or `payment.awaiting`. */
  state: string;
  status: 'active' | 'done' | 'error' | 'stopped';
  snapshot: unknown;
  createdAt: string;
  updatedAt: string;
}

/** A durable timer: fires `event` into `address` at `dueAt`. One timer per (address, name). */
export interface TimerSet {
  name: string;
  dueAt: string;
  event: { type: string } & Record<string, unknown>;
}

export interface DueTimer extends TimerSet {
  address: string;
  /** How many times this timer has been claimed, this claim included. */
  attempts: number;
  /** Trace context of the transition that scheduled it, so that its firing can link back. */
  traceparent?: string;
  correlationId?: string;
}

/** One step of an actor's history: what came in, where it went, what it looked like after. */
export interface JournalEntry {
  address: string;
  /** The actor version this step produced (for rejections: the version it was rejected at). */
  version: number;
  event: { type: string } & Record<string, unknown>;
  fromState: string;
  toState: string;
  /** The persisted snapshot after the step (null for rejections). */
  snapshot: unknown;
  /** Ids of the messages emitted by this step. */
  messageIds: string[];
  rejected: boolean;
  at: string;
  correlationId?: string;
  traceId?: string;
  /** The timer instructions of the step (absent for rejections and for steps written before they were recorded). */
  timers?: JournalTimers;
}

/** What one journal step did to the actor's timers. */
export interface JournalTimers {
  set: { name: string; dueAt: string }[];
  /** Names of timers cancelled. */
  cancel: string[];
  /** Every timer of the actor was cancelled (it reached a final state). */
  cancelAll: boolean;
  /** The timer whose firing this step was. */
  fired?: { name: string; dueAt: string };
}

/** Everything one accepted command changes, written in one transaction. */
export interface ActorCommit {
  address: string;
  kind: string;
  machineId: string;
  /** The version the transition was computed from (0 for a new actor): compare-and-set. */
  expectedVersion: number;
  state: string;
  status: StoredActor['status'];
  snapshot: unknown;
  /** Messages with actorSeq already assigned (lastSeq + 1, …). */
  messages: NewMessage[];
  timers: {
    set: TimerSet[];
    /** Names of timers to delete. */
    cancel: string[];
    /** Delete every timer of the actor (it reached a final state). */
    cancelAll: boolean;
    /** The timer whose firing caused this commit; deleted unless `set` schedules the same name again. */
    fired?: { name: string; dueAt: string };
  };
  journal: Omit<JournalEntry, 'address' | 'version' | 'snapshot' | 'rejected'>;
  /** Trace context stored with timers set by this commit. */
  traceparent?: string;
  correlationId?: string;
  at: string;
}

/** Thrown by `commit` when the actor's version is not `expectedVersion` (or a serialization failure). */
export class VersionConflictError extends Error {
  override name = 'VersionConflictError';
  constructor(readonly address: string) {
    super(`version conflict on ${address}`);
  }
}

/**
 * A parameter bound to a JSON column (jsonb in Postgres, text in SQLite). SQLite stores its text; the
 * Postgres driver encodes the value itself — given text, it would store a JSON string instead.
 */
export class JsonParam {
  constructor(readonly value: unknown) {}
}

/** Wraps a value for a JSON column; see JsonParam. */
export const jsonParam = (value: unknown): JsonParam => new JsonParam(value);

/** Raw SQL access shared by both dialects; see the placeholder and type conventions above. */
export interface SqlExecutor {
  readonly dialect: 'sqlite' | 'postgres';
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
  /** Runs a statement; resolves to the number of rows changed. */
  execute(sql: string, params?: unknown[]): Promise<number>;
}

export interface IdempotencyClaim {
  /** Who the key belongs to (caller identity + route), so that two callers never share a key. */
  scope: string;
  key: string;
  /** Hash of method, path and body: the same key with another body is refused. */
  fingerprint: string;
  now: string;
  /** Until when this claim blocks others (a crashed claimer's key frees up after it). */
  lockedUntil: string;
  /** Until when the completed record is kept (at least 24 h). */
  expiresAt: string;
}

export interface StoredResponse {
  status: number;
  body: string;
  headers: Record<string, string>;
}

export type ClaimOutcome =
  | { outcome: 'claimed' }
  | { outcome: 'replay'; response: StoredResponse }
  | { outcome: 'mismatch' }
  | { outcome: 'in_progress' };

/** A transaction: raw SQL plus the store-owned writes that must share it. */
export interface Tx extends SqlExecutor {
  /** Marks a claimed idempotency key completed with the response, inside this transaction. */
  completeIdempotency(scope: string, key: string, response: StoredResponse): Promise<void>;
}

/** How a commit (or a transaction) may be written. */
export interface CommitOptions {
  /**
   * It may share one transaction with other commits and transactions (group commit): its `inTx` (or
   * the transaction's function) only writes rows of its own or changes shared rows with single
   * conditional statements, never reading a row to decide what to write, so that others' statements
   * interleaved with it change nothing. Each still succeeds or fails on its own.
   */
  groupable?: boolean;
  /**
   * With `groupable`: it writes only rows that no other actor's commit writes (its actor row, its
   * messages and journal entries, an inbox row of its own), so it can never wait on a lock that a
   * commit changing shared rows (a show's seat count) holds. Such work is grouped apart from the rest,
   * and the two kinds of group are written side by side.
   */
  ownRowsOnly?: boolean;
}

/** Called inside the commit transaction with the committed messages (positions assigned). Throwing rolls back. */
export type InTransaction = (tx: Tx, messages: Message[]) => Promise<void>;

export interface Store extends SqlExecutor {
  /**
   * Applies pending migrations under a lock (advisory lock in Postgres); safe to run concurrently.
   * Resolves to the names of those this call applied (none when another process applied them first).
   */
  migrate(): Promise<string[]>;
  /** Names of migrations not yet applied (empty when up to date). */
  pendingMigrations(): Promise<string[]>;
  /** Names of applied migrations this build does not have: a newer version migrated the database (empty normally). */
  unknownMigrations(): Promise<string[]>;
  /** Resolves when the database answers. */
  ping(): Promise<void>;
  /** The database server's clock now (PostgreSQL's `clock_timestamp()`; SQLite: this machine's). */
  serverTime(): Promise<Date>;

  loadActor(address: string): Promise<StoredActor | null>;
  /**
   * Writes one transition atomically: version compare-and-set, messages (global position in commit
   * order), snapshot, timers, journal, then `inTx`. Throws VersionConflictError on a lost race.
   */
  commit(commit: ActorCommit, inTx?: InTransaction, options?: CommitOptions): Promise<Message[]>;
  /** Runs `fn` in a write transaction (for changes that do not go through an actor). */
  transaction<T>(fn: (tx: Tx) => Promise<T>, options?: CommitOptions): Promise<T>;

  /** All messages of one actor, in actorSeq order. */
  readActorMessages(address: string): Promise<Message[]>;
  /**
   * Messages after `after`, in commit order, at most `limit`. Never returns a message while a transaction
   * that could still commit before it is open (Postgres: only transactions below the xmin horizon), so a
   * reader that checkpoints the last cursor it saw never skips one.
   */
  readMessages(after: LogCursor, limit: number): Promise<LoggedMessage[]>;
  /**
   * The cursor of the last message in commit order among those committed when it is asked (LOG_START for
   * an empty log). Unlike `readMessages` it does not stop at transactions still open: a reader whose
   * checkpoint has reached it has applied every message committed before the call.
   */
  logHead(): Promise<LogCursor>;
  readJournal(address: string): Promise<JournalEntry[]>;
  /** Records a rejected command in the journal (outside any transaction). */
  recordRejection(entry: Omit<JournalEntry, 'rejected' | 'snapshot' | 'messageIds' | 'toState'>): Promise<void>;

  /**
   * Leases up to `limit` timers due at `now` that nobody holds (or whose lease ran out) to `owner` for
   * `leaseMs`, incrementing attempts. Two concurrent callers never get the same timer.
   */
  claimDueTimers(now: string, limit: number, owner: string, leaseMs: number): Promise<DueTimer[]>;
  /** Deletes a timer if it is still the one that was due at `dueAt` (a re-scheduled one survives). */
  deleteTimer(address: string, name: string, dueAt: string): Promise<void>;
  listTimers(address: string): Promise<TimerSet[]>;

  /** Claims an idempotency key; see ClaimOutcome. Expired records are replaced. */
  claimIdempotency(claim: IdempotencyClaim): Promise<ClaimOutcome>;
  /** Completes a claimed key outside any other transaction. */
  completeIdempotency(scope: string, key: string, response: StoredResponse): Promise<void>;
  /**
   * Drops the in-progress claim made at `claimedAt` (its `created_at`): the request failed unexpectedly
   * and may be retried. A claim another claimer has taken over since is left alone.
   */
  releaseIdempotency(scope: string, key: string, claimedAt: string): Promise<void>;

  /**
   * Closes the store once the statements sent are answered; with `waitMs`, those still unanswered then
   * fail (a database that does not answer). A second call returns the first one's promise.
   */
  close(options?: { waitMs?: number }): Promise<void>;
}
