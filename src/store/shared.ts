/**
 * The statements and row mapping both stores share. Everything here runs unchanged on SQLite and on
 * PostgreSQL through a SqlExecutor: `$n` placeholders, `ON CONFLICT`, `RETURNING`, text times, and JSON
 * read back as text in both dialects (the Postgres pool returns json/jsonb unparsed) and parsed here.
 */
import {
  VersionConflictError,
  type ActorCommit,
  type ClaimOutcome,
  type DueTimer,
  type IdempotencyClaim,
  JsonParam,
  jsonParam,
  type JournalEntry,
  type JournalTimers,
  type Message,
  type NewMessage,
  type SqlExecutor,
  type StoredActor,
  type StoredResponse,
  type TimerSet,
} from '../actors/ports';
import { placeholders } from '../kernel/statementShapes';

/**
 * Parameter values both drivers bind the same way: Dates as RFC 3339 text, `undefined` as NULL; a
 * JsonParam as its text unless `jsonAsValue` (the Postgres driver encodes JSON itself).
 */
export function normalizeParam(value: unknown, jsonAsValue = false): unknown {
  if (value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (value instanceof JsonParam) return jsonAsValue ? value.value : JSON.stringify(value.value);
  return value;
}

/** The lease end of a timer claimed at `now` for `leaseMs`, in the stored time format. */
export function leaseUntil(now: string, leaseMs: number): string {
  return new Date(Date.parse(now) + leaseMs).toISOString();
}

const parseJson = (text: string): unknown => JSON.parse(text);
const parseNullableJson = (text: string | null): unknown => (text === null ? null : JSON.parse(text));

export interface MessageRow {
  position: number;
  id: string;
  name: string;
  kind: Message['kind'];
  actor: string;
  actor_seq: number;
  data: string;
  metadata: string;
  occurred_at: string;
}

/**
 * Columns selected for a MessageRow. The JSON columns are cast to text in SQL: the Postgres driver
 * would otherwise parse them, only for the row mapping to turn them back into text and parse them again.
 */
export const MESSAGE_COLUMNS = 'position, id, name, kind, actor, actor_seq, CAST(data AS text) AS data, CAST(metadata AS text) AS metadata, occurred_at';

/** Maps a row selected with MESSAGE_COLUMNS to a Message. */
export function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    actor: row.actor,
    actorSeq: row.actor_seq,
    position: row.position,
    data: parseJson(row.data) as Message['data'],
    metadata: parseJson(row.metadata) as Message['metadata'],
    occurredAt: row.occurred_at,
  };
}

export const SELECT_ACTOR_MESSAGES = `SELECT ${MESSAGE_COLUMNS} FROM messages WHERE actor = $1 ORDER BY actor_seq`;

interface ActorRow {
  address: string;
  kind: string;
  machine_id: string;
  version: number;
  last_seq: number;
  state: string;
  status: StoredActor['status'];
  snapshot: string;
  created_at: string;
  updated_at: string;
}

/** Loads one actor; null when it was never committed. */
export async function loadActor(db: SqlExecutor, address: string): Promise<StoredActor | null> {
  const [row] = await db.query<ActorRow>(
    `SELECT address, kind, machine_id, version, last_seq, state, status, CAST(snapshot AS text) AS snapshot, created_at, updated_at
       FROM actors WHERE address = $1`,
    [address],
  );
  if (!row) return null;
  return {
    address: row.address,
    kind: row.kind,
    machineId: row.machine_id,
    version: row.version,
    lastSeq: row.last_seq,
    state: row.state,
    status: row.status,
    snapshot: parseJson(row.snapshot),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Postgres and SQLite both cap bound parameters per statement; 8 per message keeps a batch well below. */
const MESSAGE_BATCH = 500;

/**
 * Writes one actor transition inside `tx`: the version compare-and-set, the messages, the timers and
 * the journal entry. Resolves to the messages with their positions; throws VersionConflictError when
 * the stored version is not `commit.expectedVersion`.
 *
 * The statements are issued together and awaited together: the Postgres driver pipelines them on the
 * transaction's connection (one round trip instead of one per statement), SQLite runs them as they are
 * issued. The server runs them in issue order either way, so the timer deletions still precede the
 * upserts. A lost compare-and-set is only known at the end; the transaction is then rolled back with
 * whatever the others wrote.
 */
export async function writeCommit(tx: SqlExecutor, commit: ActorCommit): Promise<Message[]> {
  const snapshot = jsonParam(commit.snapshot);
  const lastMessage = commit.messages.at(-1);
  const actorWrite =
    commit.expectedVersion === 0
      ? tx.execute(
          `INSERT INTO actors (address, kind, machine_id, version, last_seq, state, status, snapshot, created_at, updated_at)
           VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $8)
           ON CONFLICT (address) DO NOTHING`,
          [commit.address, commit.kind, commit.machineId, lastMessage?.actorSeq ?? 0, commit.state, commit.status, snapshot, commit.at],
        )
      : tx.execute(
          `UPDATE actors
              SET machine_id = $3, version = version + 1, last_seq = COALESCE($4, last_seq),
                  state = $5, status = $6, snapshot = $7, updated_at = $8
            WHERE address = $1 AND version = $2`,
          [commit.address, commit.expectedVersion, commit.machineId, lastMessage?.actorSeq ?? null, commit.state, commit.status, snapshot, commit.at],
        );
  const messagesWrite = insertMessages(tx, commit.messages);

  const { timers } = commit;
  const others: Promise<unknown>[] = [];
  if (timers.cancelAll) others.push(tx.execute('DELETE FROM timers WHERE address = $1', [commit.address]));
  for (const name of timers.cancel) {
    others.push(tx.execute('DELETE FROM timers WHERE address = $1 AND name = $2', [commit.address, name]));
  }
  // Deleted before the upserts, so a fired timer that `set` schedules again survives as the new one.
  if (timers.fired) others.push(tx.execute(DELETE_TIMER_AT, [commit.address, timers.fired.name, timers.fired.dueAt]));
  for (const timer of timers.set) others.push(upsertTimer(tx, commit, timer));
  others.push(
    insertJournal(tx, {
      ...commit.journal,
      address: commit.address,
      version: commit.expectedVersion + 1,
      snapshot: commit.snapshot,
      rejected: false,
      timers: {
        set: timers.set.map((t) => ({ name: t.name, dueAt: t.dueAt })),
        cancel: timers.cancel,
        cancelAll: timers.cancelAll,
        ...(timers.fired ? { fired: timers.fired } : {}),
      },
    }),
  );

  const [changed, messages, ...rest] = await Promise.allSettled([actorWrite, messagesWrite, ...others]);
  if (changed.status === 'fulfilled' && changed.value === 0) throw new VersionConflictError(commit.address);
  for (const outcome of [changed, messages, ...rest]) if (outcome.status === 'rejected') throw outcome.reason;
  return (messages as PromiseFulfilledResult<Message[]>).value;
}

async function insertMessages(tx: SqlExecutor, messages: NewMessage[]): Promise<Message[]> {
  const written: Message[] = [];
  for (let start = 0; start < messages.length; start += MESSAGE_BATCH) {
    const batch = messages.slice(start, start + MESSAGE_BATCH);
    const params: unknown[] = [];
    const rows = batch.map((m) => {
      const first = params.length + 1;
      params.push(m.id, m.name, m.kind, m.actor, m.actorSeq, jsonParam(m.data), jsonParam(m.metadata), m.occurredAt);
      return `(${placeholders(8, first)})`;
    });
    const returned = await tx.query<{ id: string; position: number }>(
      `INSERT INTO messages (id, name, kind, actor, actor_seq, data, metadata, occurred_at)
       VALUES ${rows.join(', ')}
       RETURNING id, position`,
      params,
    );
    // RETURNING order is not guaranteed, so positions are matched by id.
    const positions = new Map(returned.map((r) => [r.id, r.position]));
    for (const message of batch) {
      const position = positions.get(message.id);
      if (position === undefined) throw new Error(`message ${message.id} was not written`);
      written.push({ ...message, position });
    }
  }
  return written;
}

async function upsertTimer(tx: SqlExecutor, commit: ActorCommit, timer: TimerSet): Promise<void> {
  await tx.execute(
    `INSERT INTO timers (address, name, due_at, event, lease_owner, lease_until, attempts, traceparent, correlation_id)
     VALUES ($1, $2, $3, $4, NULL, NULL, 0, $5, $6)
     ON CONFLICT (address, name) DO UPDATE
        SET due_at = excluded.due_at, event = excluded.event, lease_owner = NULL, lease_until = NULL,
            attempts = 0, traceparent = excluded.traceparent, correlation_id = excluded.correlation_id`,
    [commit.address, timer.name, timer.dueAt, jsonParam(timer.event), commit.traceparent ?? null, commit.correlationId ?? null],
  );
}

/** Deletes a timer only while it is still the one due at the given time. */
export const DELETE_TIMER_AT = 'DELETE FROM timers WHERE address = $1 AND name = $2 AND due_at = $3';

/** Lists the timers of one actor, soonest first. */
export async function listTimers(db: SqlExecutor, address: string): Promise<TimerSet[]> {
  const rows = await db.query<{ name: string; due_at: string; event: string }>(
    'SELECT name, due_at, event FROM timers WHERE address = $1 ORDER BY due_at, name',
    [address],
  );
  return rows.map((row) => ({ name: row.name, dueAt: row.due_at, event: parseJson(row.event) as TimerSet['event'] }));
}

export interface DueTimerRow {
  address: string;
  name: string;
  due_at: string;
  event: string;
  attempts: number;
  traceparent: string | null;
  correlation_id: string | null;
}

/** Maps claimed timer rows (address, name, due_at, event, attempts, traceparent, correlation_id) to DueTimers, soonest first (RETURNING gives no order). */
export function toDueTimers(rows: DueTimerRow[]): DueTimer[] {
  return rows
    .map((row) => ({
      address: row.address,
      name: row.name,
      dueAt: row.due_at,
      event: parseJson(row.event) as DueTimer['event'],
      attempts: row.attempts,
      ...(row.traceparent !== null ? { traceparent: row.traceparent } : {}),
      ...(row.correlation_id !== null ? { correlationId: row.correlation_id } : {}),
    }))
    .sort((a, b) => (a.dueAt < b.dueAt ? -1 : a.dueAt > b.dueAt ? 1 : 0));
}

/** Appends one journal entry. Its timer instructions are stored only when the step touched a timer. */
export async function insertJournal(db: SqlExecutor, entry: JournalEntry): Promise<void> {
  const { timers } = entry;
  const touched = timers !== undefined && (timers.set.length > 0 || timers.cancel.length > 0 || timers.cancelAll || timers.fired !== undefined);
  await db.execute(
    `INSERT INTO journal (address, version, event, from_state, to_state, snapshot, message_ids, rejected, at, correlation_id, trace_id, timers)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
    [
      entry.address,
      entry.version,
      jsonParam(entry.event),
      entry.fromState,
      entry.toState,
      entry.snapshot === null ? null : jsonParam(entry.snapshot),
      jsonParam(entry.messageIds),
      entry.rejected,
      entry.at,
      entry.correlationId ?? null,
      entry.traceId ?? null,
      touched ? jsonParam(timers) : null,
    ],
  );
}

/** A rejected command as a journal entry: the actor stayed where it was (`toState` = `fromState`). */
export function rejectionEntry(entry: Omit<JournalEntry, 'rejected' | 'snapshot' | 'messageIds' | 'toState'>): JournalEntry {
  return { ...entry, toState: entry.fromState, snapshot: null, messageIds: [], rejected: true };
}

interface JournalRow {
  address: string;
  version: number;
  event: string;
  from_state: string;
  to_state: string;
  snapshot: string | null;
  message_ids: string;
  rejected: boolean | number;
  at: string;
  correlation_id: string | null;
  trace_id: string | null;
  timers: string | null;
}

/** The journal of one actor, oldest first. */
export async function readJournal(db: SqlExecutor, address: string): Promise<JournalEntry[]> {
  const rows = await db.query<JournalRow>(
    `SELECT address, version, event, from_state, to_state, snapshot, message_ids, rejected, at, correlation_id, trace_id, timers
       FROM journal WHERE address = $1 ORDER BY id`,
    [address],
  );
  return rows.map((row) => ({
    address: row.address,
    version: row.version,
    event: parseJson(row.event) as JournalEntry['event'],
    fromState: row.from_state,
    toState: row.to_state,
    snapshot: parseNullableJson(row.snapshot),
    messageIds: parseJson(row.message_ids) as string[],
    // SQLite stores booleans as 0/1.
    rejected: Boolean(row.rejected),
    at: row.at,
    ...(row.correlation_id !== null ? { correlationId: row.correlation_id } : {}),
    ...(row.trace_id !== null ? { traceId: row.trace_id } : {}),
    ...(row.timers !== null ? { timers: parseJson(row.timers) as JournalTimers } : {}),
  }));
}

interface IdempotencyRow {
  fingerprint: string;
  state: 'in_progress' | 'completed';
  status: number | null;
  body: string | null;
  headers: string | null;
}

/**
 * Claims an idempotency key: inserts it, or takes over a record whose lock (in progress) or retention
 * (completed) ran out; otherwise reports what the live record says.
 */
export async function claimIdempotency(db: SqlExecutor, claim: IdempotencyClaim): Promise<ClaimOutcome> {
  // A record released between the two statements leaves nothing to read; the claim is simply tried again.
  for (let attempt = 0; attempt < 5; attempt++) {
    const claimed = await db.query(
      `INSERT INTO idempotency_keys (scope, key, fingerprint, state, locked_until, expires_at, created_at)
       VALUES ($1, $2, $3, 'in_progress', $4, $5, $6)
       ON CONFLICT (scope, key) DO UPDATE
          SET fingerprint = excluded.fingerprint, state = 'in_progress', status = NULL, body = NULL, headers = NULL,
              locked_until = excluded.locked_until, expires_at = excluded.expires_at, created_at = excluded.created_at
        WHERE (idempotency_keys.state = 'in_progress' AND idempotency_keys.locked_until <= excluded.created_at)
           OR (idempotency_keys.state = 'completed' AND idempotency_keys.expires_at <= excluded.created_at)
       RETURNING scope`,
      [claim.scope, claim.key, claim.fingerprint, claim.lockedUntil, claim.expiresAt, claim.now],
    );
    if (claimed.length > 0) return { outcome: 'claimed' };

    const [row] = await db.query<IdempotencyRow>(
      'SELECT fingerprint, state, status, body, headers FROM idempotency_keys WHERE scope = $1 AND key = $2',
      [claim.scope, claim.key],
    );
    if (!row) continue;
    if (row.fingerprint !== claim.fingerprint) return { outcome: 'mismatch' };
    if (row.state === 'in_progress' || row.status === null || row.body === null || row.headers === null) {
      return { outcome: 'in_progress' };
    }
    return {
      outcome: 'replay',
      response: { status: row.status, body: row.body, headers: parseJson(row.headers) as StoredResponse['headers'] },
    };
  }
  throw new Error(`idempotency key ${claim.scope}/${claim.key} keeps changing; giving up`);
}

/**
 * Stores the response of a claimed key. A key that is no longer in progress (released, or completed by
 * a claimer that took over after the lock ran out) is left as it is.
 */
export async function completeIdempotency(db: SqlExecutor, scope: string, key: string, response: StoredResponse): Promise<void> {
  await db.execute(
    `UPDATE idempotency_keys SET state = 'completed', status = $3, body = $4, headers = $5
      WHERE scope = $1 AND key = $2 AND state = 'in_progress'`,
    [scope, key, response.status, response.body, jsonParam(response.headers)],
  );
}

/** Drops an in-progress claim; a completed record is kept. */
export async function releaseIdempotency(db: SqlExecutor, scope: string, key: string, claimedAt: string): Promise<void> {
  // Only the claim made at `claimedAt`: one another claimer took over after its lock ran out is theirs.
  await db.execute("DELETE FROM idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_progress' AND created_at = $3", [scope, key, claimedAt]);
}
