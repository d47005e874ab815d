import { jsonParam, type SqlExecutor, type Store } from '../actors/ports';
import { isoNow, type Clock } from '../kernel/clock';
import type { BusMessage } from './ports';
import { keysetAfter } from '../kernel/statementShapes';

/** `dead` until a redrive succeeds (`redriven`), or an operator resolves it: its call had taken effect (`resolved`). */
export type DeadLetterStatus = 'dead' | 'redriven' | 'resolved';

/** A message one handler failed to process within its retry budget (table `dead_letters`). */
export interface DeadLetter {
  id: string;
  handler: string;
  /** The stream the message was consumed from. */
  stream: string;
  messageId: string;
  message: BusMessage;
  /** The message of the last error. */
  error: string;
  /** Attempts made, including the failed redrives. */
  attempts: number;
  status: DeadLetterStatus;
  failedAt: string;
  redrivenAt: string | null;
}

/** A dead letter as the consumers write it. */
export type NewDeadLetter = Omit<DeadLetter, 'status' | 'redrivenAt'>;

/** Where a page of the newest-first list ends: the next page starts after it. */
export interface DeadLetterKey {
  failedAt: string;
  id: string;
}

/** A page of the list: at most `limit`, after `after`, optionally in one status. */
export interface DeadLetterQuery {
  status?: DeadLetterStatus | undefined;
  limit: number;
  after?: DeadLetterKey | undefined;
}

/** One page of the list. */
export interface DeadLetterPage {
  items: DeadLetter[];
  /** Set when there are more: pass it as `after` for the next page. */
  next: DeadLetterKey | undefined;
}

/**
 * What a redrive did: `not_dead` when it was redriven already (nothing ran); `in_progress` when another
 * redrive of it is running (nothing ran); `failed` when the handler failed again (still `dead`, with the
 * new error). `deadLetter` is the row after the redrive.
 */
export type RedriveResult =
  | { outcome: 'not_found' }
  | { outcome: 'not_dead'; deadLetter: DeadLetter }
  | { outcome: 'in_progress'; deadLetter: DeadLetter }
  | { outcome: 'redriven'; deadLetter: DeadLetter }
  | { outcome: 'failed'; deadLetter: DeadLetter };

/** What a resolve did: as a redrive, or `not_resolvable` (nothing ran) for a handler that cannot go on without its call. */
export type ResolveResult =
  | Exclude<RedriveResult, { outcome: 'redriven' }>
  | { outcome: 'resolved'; deadLetter: DeadLetter }
  | { outcome: 'not_resolvable'; deadLetter: DeadLetter };

/** A dead letter of a handler that cannot go on without its call (see ExternalHandlerDefinition.answerWhenTookEffect). */
export class NotResolvableError extends Error {
  override name = 'NotResolvableError';
}

/** Runs one handler on one message through the consumers' processing path (see createConsumers). */
export interface Redeliverer {
  /** `attempt` numbers this run among the message's attempts, for its row in `delivery_attempts` when it fails. */
  redeliver(handler: string, message: BusMessage, attempt: number): Promise<void>;
  /** The same, going on from the answer the handler's call gives when it took effect (see createConsumers). */
  resolve(handler: string, message: BusMessage, attempt: number): Promise<void>;
}

/** Ops access to the dead letters: list them and redrive them. */
export interface DeadLetters {
  /** Newest first (by `failedAt`, then id), optionally only those in one status. */
  list(query: DeadLetterQuery): Promise<DeadLetterPage>;
  get(id: string): Promise<DeadLetter | null>;
  /**
   * Runs the dead letter's handler on its message again, now, through the consumers' processing path
   * (the inbox still applies, so a message processed meanwhile is not processed twice). Success marks
   * it `redriven`; failure keeps it `dead` with the new error and one more attempt.
   */
  redrive(id: string): Promise<RedriveResult>;
  /**
   * For a dead letter whose call an operator checked and found had taken effect at a service that does
   * not deduplicate (Dead Nation, the spreadsheets): the handler goes on from that outcome without
   * calling again. Success marks it `resolved`; a failure after that keeps it `dead`, as a redrive.
   */
  resolve(id: string): Promise<ResolveResult>;
  /**
   * Redrives every `dead` letter, oldest first, so that the messages of one actor keep their order;
   * skips (and counts) those whose call may have taken effect, which only an operator can redrive.
   */
  redriveAll(): Promise<{ redriven: number; failed: number; skipped: number }>;
  /**
   * Redrives the oldest dead letter of `handler` for a message of `actor`, if there is one and running
   * the handler again cannot repeat an effect: not when a call of a `notRepeatable` handler may have
   * taken effect (its `calls_started` row is still there), which waits for an operator. For a step that
   * must move on by itself once the service it calls is back (a VIP bundle's step check).
   */
  redriveIfSafe(handler: string, actor: string): Promise<RedriveResult['outcome'] | 'none' | 'may_have_acted'>;
  /**
   * Marks as redriven the dead letters of `handler` for messages of `actor` that `settled` picks: their
   * step has since been asked again and done (a VIP bundle's step check sends a new command), so they
   * need no operator. Each is recorded as processed by the handler too (its inbox row, in the same
   * transaction), so that no later delivery or catch-up of the actor's messages runs it again: a dead
   * letter no longer `dead` with no inbox row would read as a message never handled. Resolves to how many.
   */
  settle(handler: string, actor: string, settled: (message: BusMessage) => boolean): Promise<number>;
}

/** What the dead-letter service needs: the store, the clock, and the consumers that redrive. */
export interface DeadLettersOptions {
  store: Store;
  clock: Clock;
  consumers: Redeliverer;
}

/**
 * How long a redrive holds its letter: far longer than one handler run (calls time out in seconds), so
 * only the redrive of an instance that stopped during it lets a later one in, after this long.
 */
const REDRIVE_LEASE_MS = 5 * 60_000;
const COLUMNS = 'id, handler, stream, message_id, message, error, attempts, status, failed_at, redriven_at';
/**
 * Of a dead letter `d`: how many calls its handler started for its message and never recorded the end
 * of (`calls_started` rows). More than none: a call may have taken effect at a service that does not
 * deduplicate, so the letter is not redriven without an operator.
 */
const CALLS_STARTED = '(SELECT COUNT(*) FROM calls_started c WHERE c.handler = d.handler AND c.message_id = d.message_id) AS started';

interface DeadLetterRow {
  id: string;
  handler: string;
  stream: string;
  message_id: string;
  message: string;
  error: string;
  attempts: number;
  status: DeadLetterStatus;
  failed_at: string;
  redriven_at: string | null;
}

function toDeadLetter(row: DeadLetterRow): DeadLetter {
  return {
    id: row.id,
    handler: row.handler,
    stream: row.stream,
    messageId: row.message_id,
    message: JSON.parse(row.message) as BusMessage,
    error: row.error,
    attempts: row.attempts,
    status: row.status,
    failedAt: row.failed_at,
    redrivenAt: row.redriven_at,
  };
}

/**
 * Writes a dead letter. When this handler dead-lettered this message before (it was published again),
 * the row is replaced by the new failure and keeps its id.
 */
export async function recordDeadLetter(db: SqlExecutor, letter: NewDeadLetter): Promise<void> {
  await db.execute(
    `INSERT INTO dead_letters (id, handler, stream, message_id, message, error, attempts, status, failed_at, redriven_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'dead', $8, NULL)
     ON CONFLICT (handler, message_id) DO UPDATE
        SET stream = excluded.stream, message = excluded.message, error = excluded.error, attempts = excluded.attempts,
            status = 'dead', failed_at = excluded.failed_at, redriven_at = NULL`,
    [letter.id, letter.handler, letter.stream, letter.messageId, jsonParam(letter.message), letter.error, letter.attempts, letter.failedAt],
  );
}

/** Creates the ops service over the `dead_letters` table. */
export function createDeadLetters(options: DeadLettersOptions): DeadLetters {
  const { store, clock, consumers } = options;

  const get = async (id: string): Promise<DeadLetter | null> => {
    const [row] = await store.query<DeadLetterRow>(`SELECT ${COLUMNS} FROM dead_letters WHERE id = $1`, [id]);
    return row ? toDeadLetter(row) : null;
  };

  /** The row as it is now; it exists, because dead letters are never deleted. */
  const reload = async (id: string): Promise<DeadLetter> => {
    const letter = await get(id);
    if (!letter) throw new Error(`dead letter ${id} disappeared`);
    return letter;
  };

  /** Claims of redrives started before this are stale: their instance stopped during the redrive. */
  const staleClaimsBefore = () => new Date(clock.now().getTime() - REDRIVE_LEASE_MS).toISOString();

  /**
   * Runs the letter's handler again (`redrive`: calling again; `resolve`: going on from the answer of a
   * call that took effect), claimed by compare-and-set, so that two at once (two ops, two instances) do
   * not both run the handler: a service that does not deduplicate would get the call twice.
   */
  const runClaimed = async (id: string, how: 'redrive' | 'resolve'): Promise<RedriveResult | ResolveResult> => {
    const letter = await get(id);
    if (!letter) return { outcome: 'not_found' };
    if (letter.status !== 'dead') return { outcome: 'not_dead', deadLetter: letter };
    const now = clock.now();
    const claimed = await store.execute(
      "UPDATE dead_letters SET redrive_started_at = $2 WHERE id = $1 AND status = 'dead' AND (redrive_started_at IS NULL OR redrive_started_at < $3)",
      [id, now.toISOString(), staleClaimsBefore()],
    );
    if (claimed === 0) {
      const current = await reload(id);
      return current.status === 'dead' ? { outcome: 'in_progress', deadLetter: current } : { outcome: 'not_dead', deadLetter: current };
    }
    // A call started after the letter's failure and never ended: a redrive whose instance stopped during
    // it. It may have taken effect, which the letter does not say yet: the operator is told, and only a
    // redrive after that (the operator's decision, as for any letter that says so) calls again.
    if (how === 'redrive') {
      const [started] = await store.query<{ started_at: string }>(
        'SELECT started_at FROM calls_started WHERE handler = $1 AND message_id = $2 AND started_at > $3',
        [letter.handler, letter.messageId, letter.failedAt],
      );
      if (started !== undefined) {
        const error = `a redrive started this call at ${started.started_at} and never recorded its end (its instance stopped during the call): it may have taken effect; check the service, then resolve this letter, or redrive it again to call anyway`;
        await store.execute('UPDATE dead_letters SET error = $2, failed_at = $3, redrive_started_at = NULL WHERE id = $1', [id, error, isoNow(clock)]);
        return { outcome: 'failed', deadLetter: await reload(id) };
      }
    }
    try {
      await (how === 'redrive' ? consumers.redeliver : consumers.resolve)(letter.handler, letter.message, letter.attempts + 1);
    } catch (error) {
      if (error instanceof NotResolvableError) {
        await store.execute('UPDATE dead_letters SET redrive_started_at = NULL WHERE id = $1', [id]);
        return { outcome: 'not_resolvable', deadLetter: await reload(id) };
      }
      await store.execute('UPDATE dead_letters SET error = $2, attempts = attempts + 1, failed_at = $3, redrive_started_at = NULL WHERE id = $1', [id, errorText(error), isoNow(clock)]);
      return { outcome: 'failed', deadLetter: await reload(id) };
    }
    const status = how === 'redrive' ? 'redriven' : 'resolved';
    await store.execute("UPDATE dead_letters SET status = $3, redriven_at = $2, redrive_started_at = NULL WHERE id = $1 AND status = 'dead'", [id, isoNow(clock), status]);
    return { outcome: status, deadLetter: await reload(id) };
  };
  const redrive = (id: string) => runClaimed(id, 'redrive') as Promise<RedriveResult>;

  return {
    get,
    redrive,
    resolve: (id) => runClaimed(id, 'resolve') as Promise<ResolveResult>,

    async list({ status, limit, after }) {
      const conditions: string[] = [];
      const params: unknown[] = [];
      if (status !== undefined) {
        params.push(status);
        conditions.push(`status = $${params.length}`);
      }
      if (after !== undefined) {
        params.push(after.failedAt, after.id);
        conditions.push(keysetAfter(['failed_at', 'id'], [`$${params.length - 1}`, `$${params.length}`], 'desc'));
      }
      params.push(limit + 1);
      const where = conditions.length === 0 ? '' : `WHERE ${conditions.join(' AND ')}`;
      const rows = await store.query<DeadLetterRow>(
        `SELECT ${COLUMNS} FROM dead_letters ${where} ORDER BY failed_at DESC, id DESC LIMIT $${params.length}`,
        params,
      );
      const items = rows.slice(0, limit).map(toDeadLetter);
      const last = items.at(-1);
      return { items, next: rows.length > limit && last ? { failedAt: last.failedAt, id: last.id } : undefined };
    },

    async settle(handler, actor, settled) {
      const rows = await store.query<{ id: string; message: string }>(
        `SELECT d.id, d.message FROM dead_letters d JOIN messages m ON m.id = d.message_id
          WHERE d.handler = $1 AND d.status = 'dead' AND m.actor = $2`,
        [handler, actor],
      );
      let count = 0;
      for (const row of rows) {
        const message = JSON.parse(row.message) as BusMessage;
        if (!settled(message)) continue;
        const at = isoNow(clock);
        count += await store.transaction(async (tx) => {
          const marked = await tx.execute("UPDATE dead_letters SET status = 'redriven', redriven_at = $2 WHERE id = $1 AND status = 'dead'", [row.id, at]);
          if (marked > 0) {
            await tx.execute("INSERT INTO inbox (handler, message_id, processed_at, effect) VALUES ($1, $2, $3, 'settled') ON CONFLICT DO NOTHING", [handler, message.id, at]);
          }
          return marked;
        });
      }
      return count;
    },

    async redriveIfSafe(handler, actor) {
      const [letter] = await store.query<{ id: string; started: number | string }>(
        `SELECT d.id, ${CALLS_STARTED}
           FROM dead_letters d JOIN messages m ON m.id = d.message_id
          WHERE d.handler = $1 AND d.status = 'dead' AND m.actor = $2
          ORDER BY d.failed_at, d.id LIMIT 1`,
        [handler, actor],
      );
      if (letter === undefined) return 'none';
      if (Number(letter.started) > 0) return 'may_have_acted';
      return (await redrive(letter.id)).outcome;
    },

    async redriveAll() {
      const rows = await store.query<{ id: string; started: number | string; redrive_started_at: string | null }>(
        `SELECT d.id, d.redrive_started_at, ${CALLS_STARTED}
           FROM dead_letters d WHERE d.status = 'dead' ORDER BY d.failed_at, d.id`,
      );
      const counts = { redriven: 0, failed: 0, skipped: 0 };
      const staleBefore = staleClaimsBefore();
      for (const { id, started, redrive_started_at: redriveStartedAt } of rows) {
        // Its call may have taken effect at a service that does not deduplicate: only an operator who
        // checked that service redrives it, alone. Unless the call is a redrive's under way (another
        // instance's, say): that one is neither ours nor the operator's to check.
        if (Number(started) > 0) {
          if (redriveStartedAt === null || redriveStartedAt < staleBefore) counts.skipped += 1;
          continue;
        }
        const result = await redrive(id);
        if (result.outcome === 'redriven') counts.redriven += 1;
        if (result.outcome === 'failed') counts.failed += 1;
      }
      return counts;
    },
  };
}

/** The text stored for an error: its message. */
export function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
