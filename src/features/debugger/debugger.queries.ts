import type { SqlExecutor } from '../../actors/ports';
import { keysetAfter, paddedToPowerOfTwo, placeholders } from '../../kernel/statementShapes';
import type { DeadLetterRow, Delivery, FailedAttempt } from './debugger.timeline';

/** A found actor, as the search lists it. */
export interface ActorSummary {
  address: string;
  kind: string;
  machineId: string;
  version: number;
  state: string;
  status: string;
  updatedAt: string;
}

/** What the actor search filters on; every filter is optional. */
export interface ActorSearch {
  kind?: string | undefined;
  /** A state or a parent state (`payment` finds `payment.awaiting`). */
  state?: string | undefined;
  /** Part of the address (the id) or of the snapshot (the customer's e-mail), case-insensitive. */
  q?: string | undefined;
  limit: number;
  /** The `[updated_at, address]` of the last actor of the previous page. */
  after?: readonly string[] | undefined;
}

interface ActorRow {
  address: string;
  kind: string;
  machine_id: string;
  version: number | string;
  state: string;
  status: string;
  updated_at: string;
  /** Only when asked for: the snapshot as stored (JSON text in SQLite). */
  snapshot?: unknown;
}

/** `text` as a LIKE pattern that matches it literally (`%` and `_` are text, not wildcards), with `\` as the escape. */
const likeLiteral = (text: string) => text.replace(/[\\%_]/g, (c) => `\\${c}`);

/** Actors read per round when SQLite's are searched for `q` here (see searchActors). */
const SCAN_CHUNK = 256;

/**
 * Finds actors, most recently changed first. PostgreSQL matches `q` itself; SQLite's LOWER() folds
 * ASCII only (`Å`, `К` would never match `å`, `к`), so in embedded mode the actors are read in pages
 * and `q` is matched here, with JavaScript's Unicode lower case.
 */
export async function searchActors(db: SqlExecutor, search: ActorSearch): Promise<ActorSummary[]> {
  const wanted = search.limit + 1; // one more than the page: whether there is a next page (pageOf)
  if (!search.q || db.dialect === 'postgres') return (await actorRows(db, search, wanted)).map(toSummary);
  const q = search.q.toLowerCase();
  const found: ActorRow[] = [];
  let after = search.after;
  for (;;) {
    const rows = await actorRows(db, { ...search, q: undefined, after }, SCAN_CHUNK, true);
    found.push(...rows.filter((r) => r.address.toLowerCase().includes(q) || String(r.snapshot).toLowerCase().includes(q)));
    if (found.length >= wanted || rows.length < SCAN_CHUNK) return found.slice(0, wanted).map(toSummary);
    const last = rows.at(-1)!;
    after = [last.updated_at, last.address];
  }
}

/** One page of actors that pass the filters SQL applies, in the search's order. */
function actorRows(db: SqlExecutor, search: ActorSearch, limit: number, withSnapshot = false): Promise<ActorRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => (params.push(value), `$${params.length}`);
  if (search.kind) where.push(`kind = ${param(search.kind)}`);
  if (search.state) where.push(`(state = ${param(search.state)} OR state LIKE ${param(`${likeLiteral(search.state)}.%`)} ESCAPE '\\')`);
  if (search.q) {
    const like = param(`%${likeLiteral(search.q.toLowerCase())}%`);
    where.push(`(LOWER(address) LIKE ${like} ESCAPE '\\' OR LOWER(snapshot::text) LIKE ${like} ESCAPE '\\')`);
  }
  if (search.after) {
    where.push(keysetAfter(['updated_at', 'address'], [param(search.after[0]), param(search.after[1])], 'desc'));
  }
  return db.query<ActorRow>(
    `SELECT address, kind, machine_id, version, state, status, updated_at${withSnapshot ? ', snapshot' : ''} FROM actors
     ${where.length > 0 ? `WHERE ${where.join(' AND ')}` : ''}
     ORDER BY updated_at DESC, address DESC LIMIT ${param(limit)}`,
    params,
  );
}

const toSummary = (r: ActorRow): ActorSummary => ({ address: r.address, kind: r.kind, machineId: r.machine_id, version: Number(r.version), state: r.state, status: r.status, updatedAt: r.updated_at });

const EFFECTS = ['local', 'external', 'refused', 'resolved', 'settled'] as const;
const effectOf = (effect: string | null): Delivery['effect'] => EFFECTS.find((known) => known === effect) ?? null;

/** Which handlers processed these messages, when, and whether they called another service. */
export async function deliveriesOf(db: SqlExecutor, messageIds: readonly string[]): Promise<Delivery[]> {
  if (messageIds.length === 0) return [];
  const ids = paddedToPowerOfTwo(messageIds);
  const rows = await db.query<{ handler: string; message_id: string; processed_at: string; effect: string | null }>(
    `SELECT handler, message_id, processed_at, effect FROM inbox WHERE message_id IN (${placeholders(ids.length)}) ORDER BY processed_at, handler`,
    ids,
  );
  return rows.map((r) => ({ handler: r.handler, messageId: r.message_id, processedAt: r.processed_at, effect: effectOf(r.effect) }));
}

/** The failed handler attempts on these messages, oldest first. */
export async function failedAttemptsOf(db: SqlExecutor, messageIds: readonly string[]): Promise<FailedAttempt[]> {
  if (messageIds.length === 0) return [];
  const ids = paddedToPowerOfTwo(messageIds);
  const rows = await db.query<{ handler: string; effect: string; message_id: string; attempt: number | string; error: string; at: string }>(
    `SELECT handler, effect, message_id, attempt, error, at FROM delivery_attempts
     WHERE message_id IN (${placeholders(ids.length)}) ORDER BY id`,
    ids,
  );
  return rows.map((r) => ({ handler: r.handler, effect: r.effect === 'external' ? 'external' : 'local', messageId: r.message_id, attempt: Number(r.attempt), error: r.error, at: r.at }));
}

/** The dead letters of these messages, redriven ones included. */
export async function deadLettersOf(db: SqlExecutor, messageIds: readonly string[]): Promise<DeadLetterRow[]> {
  if (messageIds.length === 0) return [];
  const ids = paddedToPowerOfTwo(messageIds);
  const rows = await db.query<{ id: string; handler: string; message_id: string; error: string; attempts: number | string; status: string; failed_at: string; redriven_at: string | null }>(
    `SELECT id, handler, message_id, error, attempts, status, failed_at, redriven_at FROM dead_letters
     WHERE message_id IN (${placeholders(ids.length)}) ORDER BY failed_at, handler`,
    ids,
  );
  return rows.map((r) => ({
    id: r.id,
    handler: r.handler,
    messageId: r.message_id,
    error: r.error,
    attempts: Number(r.attempts),
    status: r.status,
    failedAt: r.failed_at,
    redrivenAt: r.redriven_at ?? null,
  }));
}

/**
 * A cheap summary of what happened to an actor's messages after they were written (deliveries, failed
 * attempts, dead letters and their redrives): it changes whenever the timeline gains such an entry,
 * which the actor's version does not tell.
 */
export async function deliveryActivityOf(db: SqlExecutor, address: string): Promise<string> {
  const ofActor = 'message_id IN (SELECT id FROM messages WHERE actor = $1)';
  const [row] = await db.query<Record<string, number | string | null>>(
    `SELECT (SELECT COUNT(*) FROM inbox WHERE ${ofActor}) AS deliveries,
            (SELECT COUNT(*) FROM delivery_attempts WHERE ${ofActor}) AS failures,
            (SELECT COUNT(*) FROM dead_letters WHERE ${ofActor}) AS letters,
            (SELECT COUNT(*) FROM dead_letters WHERE ${ofActor} AND status = 'dead') AS dead,
            (SELECT COALESCE(SUM(attempts), 0) FROM dead_letters WHERE ${ofActor}) AS letter_attempts`,
    [address],
  );
  return ['deliveries', 'failures', 'letters', 'dead', 'letter_attempts'].map((column) => Number(row?.[column] ?? 0)).join('/');
}
