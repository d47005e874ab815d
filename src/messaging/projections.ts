import { Counter, Gauge, type Registry } from 'prom-client';
import { LOG_START, type LogCursor, type LoggedMessage, type Message, type SqlExecutor, type Store } from '../actors/ports';
import { isoNow, type Clock } from '../kernel/clock';
import { isStoreUnavailable } from '../kernel/errors';
import type { Logger } from '../observability/logger';
import { forScrape } from '../observability/metrics';
import { advanceCheckpoint, readCheckpoint } from './checkpoints';
import { claimLease, LeaseHeldError } from './leases';
import { paddedToPowerOfTwo, placeholders, powerOfTwoAtMost, powerOfTwoChunks } from '../kernel/statementShapes';

/**
 * Read models (projections). A projection tails the store's event log in commit order from its own
 * checkpoint `projection:<name>` (it does not consume the bus) and applies each batch of facts together
 * with the checkpoint advance in one store transaction, so every fact is applied exactly once and the
 * table can be rebuilt from the log deterministically.
 *
 * Changing a projection's columns or its `evolve` means rebuilding it (`tickets projections rebuild <name>`).
 */

/** How a column is stored: TEXT, BIGINT, or JSON as TEXT (parsed on read), in both SQLite and Postgres. */
export type ColumnType = 'text' | 'integer' | 'json';

/** A row of a read model as the runner handles it: column name → value. */
export type ProjectionRow = Record<string, unknown>;

/**
 * A read model in the spirit of STYLE.md §6: the facts it handles, a pure `evolve(row, fact)`, and its
 * table. Build one with `defineProjection`, query it with `rowsOf`.
 *
 *   defineProjection<ShowRow>({
 *     name: 'shows', table: 'shows_view', key: 'show_id',
 *     columns: { show_id: 'text', sold: 'integer', updated_at: 'text' },
 *     handles: ['SeatsSold_v1'],
 *     keyOf: (fact) => String(fact.data.show_id),
 *     evolve: (row, fact) => ({ show_id: String(fact.data.show_id), sold: (row?.sold ?? 0) + Number(fact.data.seats), updated_at: fact.occurredAt }),
 *   });
 */
export interface Projection<Row extends object = ProjectionRow> {
  /** Stable name: the checkpoint is `projection:<name>` and `rebuild` takes it. */
  readonly name: string;
  /** The live table, lowercase snake_case. */
  readonly table: string;
  /** The primary key column; it must be a `text` column. */
  readonly key: keyof Row & string;
  readonly columns: { readonly [C in keyof Row & string]-?: ColumnType };
  /** Secondary indexes: name suffix → columns. The index is named `<table>_<suffix>`. */
  readonly indexes?: Readonly<Record<string, readonly (keyof Row & string)[]>>;
  /** The fact names this projection reads; every other message only moves its checkpoint. */
  readonly handles: readonly string[];
  /** The keys of the rows a fact touches (evolved in this order). */
  keyOf(fact: Message): string | readonly string[];
  /**
   * The row after the fact (null deletes it). Pure: time comes from the fact (`occurredAt`), never
   * from a clock, so that a rebuild gives the same rows. Returning `row` itself means "unchanged".
   * `key` says which of the fact's rows this is, for facts that touch several.
   */
  evolve(row: Row | null, fact: Message, key: string): Row | null;
}

/** Any projection, whatever its row type: the runner only moves rows between the table and `evolve`. */
export type AnyProjection = Projection<ProjectionRow>;

/** Thrown when a projection name is not one the runner knows; the message lists the known names. */
export class UnknownProjectionError extends Error {
  override name = 'UnknownProjectionError';
  constructor(
    readonly given: string,
    readonly known: readonly string[],
  ) {
    super(`unknown projection "${given}"; known projections: ${known.length > 0 ? known.join(', ') : '(none)'}`);
  }
}

const IDENTIFIER = /^[a-z][a-z0-9_]*$/;
/** PostgreSQL truncates longer identifiers, which would make the derived index names collide. */
const MAX_IDENTIFIER_LENGTH = 63;
const REBUILD_SUFFIX = '__rebuild';

/** Checks a projection definition (identifiers, key, indexes) and returns it frozen. */
export function defineProjection<Row extends object>(definition: Projection<Row>): Projection<Row> {
  const { name, table, key, columns, indexes = {}, handles } = definition;
  const fail = (problem: string): never => {
    throw new Error(`projection ${name}: ${problem}`);
  };
  if (name.length === 0) fail('the name is empty');
  if (!IDENTIFIER.test(table) || table.includes(REBUILD_SUFFIX)) fail(`table "${table}" must be lowercase snake_case without "${REBUILD_SUFFIX}"`);
  for (const column of Object.keys(columns)) {
    if (!IDENTIFIER.test(column)) fail(`column "${column}" must be lowercase snake_case`);
  }
  if (columns[key] !== 'text') fail(`the key column "${key}" must be a text column`);
  for (const [suffix, indexColumns] of Object.entries(indexes)) {
    if (!IDENTIFIER.test(suffix)) fail(`index "${suffix}" must be lowercase snake_case`);
    if (indexColumns.length === 0) fail(`index "${suffix}" has no columns`);
    for (const column of indexColumns) if (!(column in columns)) fail(`index "${suffix}" uses unknown column "${column}"`);
  }
  const longest = `${table}${REBUILD_SUFFIX}_${[...Object.keys(indexes), 'pkey'].sort((a, b) => b.length - a.length)[0]}`;
  if (longest.length > MAX_IDENTIFIER_LENGTH) fail(`"${longest}" is longer than ${MAX_IDENTIFIER_LENGTH} characters; shorten the table or index names`);
  if (handles.length === 0) fail('it handles no facts');
  return Object.freeze({ ...definition, indexes });
}

/**
 * Reads rows of a projection's live table, json columns parsed: `SELECT <columns> FROM <table> <clause>`
 * with `clause` the rest of the statement (`WHERE status = $1 ORDER BY opened_at LIMIT 50`). The one way
 * routes query read models: each projection file exports its queries built on it.
 */
export async function rowsOf<Row extends object>(projection: Projection<Row>, db: SqlExecutor, clause = '', params: unknown[] = []): Promise<Row[]> {
  return selectRows(projection, projection.table, db, clause, params);
}

/**
 * Folds facts into rows in memory exactly as the runner folds them into the table (facts the projection
 * does not handle are skipped): "given these facts, these rows". `rows` is the state before, by key.
 */
export function project<Row extends object>(projection: Projection<Row>, facts: readonly Message[], rows: ReadonlyMap<string, Row> = new Map()): Map<string, Row> {
  const state = new Map<string, Row | null>(rows);
  evolveAll(projection, state, facts.filter((fact) => projection.handles.includes(fact.name)));
  const result = new Map<string, Row>();
  for (const [key, row] of state) if (row !== null) result.set(key, row);
  return result;
}

export interface ProjectionRunnerOptions {
  store: Store;
  projections: readonly AnyProjection[];
  clock: Clock;
  logger?: Logger;
  /** Registers `projection_applied_total` and `projection_lag_messages` here. */
  registry?: Registry;
  /** Log messages read per transaction (default 500). */
  batchSize?: number;
  /** How long the loop sleeps at the log head when nobody calls `notify` (default 200 ms). */
  pollMs?: number;
}

/** Reported by `rebuild` after each replayed batch. */
export interface RebuildProgress {
  /** Log messages read so far. */
  read: number;
  /** Facts applied to the new table so far. */
  applied: number;
  /** Log position of the last message read. */
  position: number;
}

export interface RebuildResult {
  name: string;
  table: string;
  read: number;
  applied: number;
  /** Rows in the table after the swap. */
  rows: number;
  /** The checkpoint the live runner continues from. */
  checkpoint: LogCursor;
}

export interface SettleOptions {
  /** How long the caller may wait; past it, the read model is served as it is. */
  timeoutMs: number;
}

export interface ProjectionRunner {
  readonly projections: readonly AnyProjection[];
  /** The projection called `name`; throws UnknownProjectionError. */
  projection(name: string): AnyProjection;
  /**
   * Creates missing live tables and indexes. A table created afresh starts from the log's start, whatever
   * checkpoint an earlier table left. Call before `start`; safe to run from several instances at once.
   */
  ensureTables(): Promise<void>;
  /** Starts tailing the log in the background; a failing projection is retried with backoff, the others go on. */
  start(): void;
  /** Stops the loop and waits for the batch in flight. */
  stop(): Promise<void>;
  /** Wakes the loop (call after a commit) instead of waiting for the next poll. */
  notify(): void;
  /**
   * Applies everything up to the log head as the store shows it (Postgres shows no commit newer than a
   * transaction still open anywhere on the server), one projection after the other; errors are thrown.
   */
  catchUp(): Promise<void>;
  /**
   * Read-your-writes barrier: resolves to true once projection `name` has applied every message committed
   * before the call, on any instance (its checkpoint has reached the store's `logHead()` read first). It
   * steps the projection itself in this runner's turn rather than waiting for the loop. A transaction
   * still open below the head (Postgres) holds it back until that transaction ends. After `timeoutMs`, or
   * at once when the projection is failing, it logs a warning and resolves to false: the caller serves the
   * read model as it is. Never rejects; throws UnknownProjectionError for an unknown name.
   */
  settle(name: string, options: SettleOptions): Promise<boolean>;
  /**
   * Rebuilds a projection from the whole log into `<table>__rebuild` while the live table keeps serving,
   * then in one transaction swaps it in and sets the checkpoint. An interrupted rebuild leaves the live
   * table and its checkpoint untouched. One rebuild of a projection at a time, across processes: a
   * second is refused (LeaseHeldError) while the first runs, and takes over one killed a minute ago.
   */
  rebuild(name: string, onProgress?: (progress: RebuildProgress) => void | Promise<void>): Promise<RebuildResult>;
}

/** Rows written per statement are capped so that bound parameters stay well below both databases' limits. */
const MAX_PARAMS = 10_000;
/** Keys per `IN (…)` list: a power of two within MAX_PARAMS (lists are padded to powers of two, see statementShapes). */
const MAX_IN_LIST = powerOfTwoAtMost(MAX_PARAMS);
/** A projection that keeps failing is retried after at most this many loop rounds. */
const MAX_BACKOFF_ROUNDS = 64;
/** How often a rebuild's swap may find the live checkpoint moved between reading and claiming it. */
const MAX_SWAP_ATTEMPTS = 20;
/**
 * A rebuild renews its lease after every batch; one not renewed for this long was killed, and the next
 * rebuild of the projection takes over.
 */
const REBUILD_LEASE_STALE_MS = 60_000;
/** How long `settle` pauses when nothing is readable yet: a transaction below the head is still open. */
const SETTLE_RETRY_MS = 5;

/** Creates the runner of a set of projections; see ProjectionRunner. */
export function createProjectionRunner(options: ProjectionRunnerOptions): ProjectionRunner {
  const { store, projections, clock, logger } = options;
  const batchSize = options.batchSize ?? 500;
  const pollMs = options.pollMs ?? 200;

  const byName = new Map<string, AnyProjection>();
  const tables = new Set<string>();
  for (const projection of projections) {
    if (byName.has(projection.name)) throw new Error(`projection ${projection.name} registered twice`);
    if (tables.has(projection.table)) throw new Error(`table ${projection.table} used by two projections`);
    byName.set(projection.name, projection);
    tables.add(projection.table);
  }

  const appliedTotal = options.registry
    ? new Counter({
        name: 'projection_applied_total',
        help: 'Facts applied to each read model by the live runner',
        labelNames: ['projection'] as const,
        registers: [options.registry],
      })
    : undefined;
  if (options.registry) {
    new Gauge({
      name: 'projection_lag_messages',
      help: 'Log messages after each read model checkpoint (head position minus checkpoint position; approximate in Postgres)',
      labelNames: ['projection'] as const,
      registers: [options.registry],
      async collect() {
        try {
          const [head, ...checkpoints] = await forScrape(Promise.all([
            store.query<{ head: number | null }>('SELECT MAX(position) AS head FROM messages').then(([row]) => Number(row?.head ?? 0)),
            ...projections.map((projection) => readCheckpoint(store, checkpointOf(projection))),
          ]));
          projections.forEach((projection, i) => {
            this.set({ projection: projection.name }, Math.max(0, (head as number) - (checkpoints[i] as LogCursor).position));
          });
        } catch (error) {
          // A scrape must not fail, nor wait, because the database is away or hangs; the last values stay.
          logger?.warn('projection lag not measured', { err: error });
        }
      },
    });
  }
  for (const projection of projections) appliedTotal?.inc({ projection: projection.name }, 0);

  const projectionNamed = (name: string): AnyProjection => {
    const projection = byName.get(name);
    if (!projection) throw new UnknownProjectionError(name, [...byName.keys()]);
    return projection;
  };

  /**
   * Applies `batch`, read from `from` up to `to`, to `projection` inside `tx`: the number of facts
   * applied, or null when another runner moved the checkpoint first (then nothing is written).
   */
  const applyBatch = async (tx: SqlExecutor, projection: AnyProjection, from: LogCursor, to: LogCursor, batch: LoggedMessage[]): Promise<number | null> => {
    // The checkpoint first: a second runner blocks here (Postgres) and finds it moved, before touching a row.
    if (!(await advanceCheckpoint(tx, checkpointOf(projection), from, to, isoNow(clock)))) return null;
    const facts = factsOf(projection, batch);
    await applyFacts(tx, projection, projection.table, facts);
    return facts.length;
  };

  /**
   * Reads one batch after `from` and applies it, in one transaction, to `members` (projections whose
   * checkpoint is `from`); resolves to the number of messages read (0 at the head).
   */
  const stepFrom = async (from: LogCursor, members: AnyProjection[]): Promise<number> => {
    const batch = await store.readMessages(from, batchSize);
    const last = batch.at(-1);
    if (!last) return 0;
    // In the projections' order on every runner, so two runners lock the checkpoints in the same order.
    const applied = await store.transaction(async (tx) => {
      const counts: (number | null)[] = [];
      for (const projection of members) counts.push(await applyBatch(tx, projection, from, last.cursor, batch));
      return counts;
    });
    // A lost compare-and-set wrote nothing: another runner applied this batch, so re-read from its checkpoint.
    members.forEach((projection, i) => {
      const count = applied[i];
      if (count !== null && count !== undefined) appliedTotal?.inc({ projection: projection.name }, count);
    });
    return batch.length;
  };

  /** One projection's step: its next batch after its checkpoint. */
  const step = async (projection: AnyProjection): Promise<number> => stepFrom(await readCheckpoint(store, checkpointOf(projection)), [projection]);

  let turn: Promise<unknown> = Promise.resolve();
  /** The loop and catchUp() of one runner take turns; across runners the checkpoint CAS decides. */
  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    const result = turn.then(work);
    turn = result.catch(() => undefined);
    return result;
  };

  const backoff = new Map<string, { failures: number; retryRound: number }>();
  const failed = (projection: AnyProjection, error: unknown, round: number) => {
    const failures = (backoff.get(projection.name)?.failures ?? 0) + 1;
    backoff.set(projection.name, { failures, retryRound: round + Math.min(2 ** failures, MAX_BACKOFF_ROUNDS) });
    // A dropped connection fails a pass or two and mends itself: a warning; failing on is an error,
    // unless the store is what fails (unreachable, read-only): /ready and the refused requests say so.
    const storeDown = isStoreUnavailable(error);
    const level = failures < 3 || storeDown ? 'warn' : 'error';
    logger?.[level]('projection failed; it will be retried', { projection: projection.name, failures, err: error });
  };

  /**
   * One pass over all projections; resolves to true when any of them read something (more may follow).
   * Projections at the same checkpoint (the steady state) share one read of the log and one transaction;
   * when that transaction fails, each goes alone, so one failing projection does not hold up the others.
   */
  const poll = async (round: number): Promise<boolean> => {
    const atCursor = new Map<string, { from: LogCursor; members: AnyProjection[] }>();
    for (const projection of projections) {
      const failing = backoff.get(projection.name);
      if (failing && round < failing.retryRound) continue;
      try {
        const from = await readCheckpoint(store, checkpointOf(projection));
        const key = `${from.tx}:${from.position}`;
        const group = atCursor.get(key);
        if (group) group.members.push(projection);
        else atCursor.set(key, { from, members: [projection] });
      } catch (error) {
        failed(projection, error, round);
      }
    }
    let busy = false;
    for (const { from, members } of atCursor.values()) {
      try {
        if ((await stepFrom(from, members)) > 0) busy = true;
        for (const projection of members) backoff.delete(projection.name);
      } catch (error) {
        if (members.length === 1) {
          failed(members[0]!, error, round);
          continue;
        }
        for (const projection of members) {
          try {
            if ((await step(projection)) > 0) busy = true;
            backoff.delete(projection.name);
          } catch (alone) {
            failed(projection, alone, round);
          }
        }
      }
    }
    return busy;
  };

  const settle = (name: string, { timeoutMs }: SettleOptions): Promise<boolean> => {
    const projection = projectionNamed(name);
    const checkpoint = checkpointOf(projection);
    const started = performance.now();
    const late = () => performance.now() - started >= timeoutMs;
    let head = LOG_START;
    let at = LOG_START;
    const atHead = async () => compareCursors((at = await readCheckpoint(store, checkpoint)), head) >= 0;

    const reach = async (): Promise<boolean> => {
      head = await store.logHead();
      if (await atHead()) return true;
      if (backoff.has(projection.name)) return false;
      while (!late()) {
        const outcome = await exclusive(async () => {
          // The loop or another caller may have got there while this one waited for the turn.
          if (await atHead()) return 'reached';
          if (late()) return 'late';
          return (await stepFrom(at, [projection])) > 0 ? 'moved' : 'blocked';
        });
        if (outcome === 'reached') return true;
        if (outcome === 'blocked') await pause(SETTLE_RETRY_MS);
      }
      return false;
    };

    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const attempt = reach().catch((error: unknown) => {
      logger?.warn('read model barrier failed; the read model is served as it is', { projection: name, err: error });
      return null;
    });
    return Promise.race([attempt, timeout]).then((done) => {
      clearTimeout(timer);
      if (done === false) {
        logger?.warn('read model not caught up with the log in time; it is served as it is', {
          projection: name,
          timeout_ms: timeoutMs,
          head: head.position,
          checkpoint: at.position,
          failing: backoff.has(projection.name),
        });
      }
      return done === true;
    });
  };

  let loop: Promise<void> | undefined;
  let stopping = false;
  let notified = false;
  let wake: (() => void) | undefined;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      wake = done;
    });

  const run = async () => {
    for (let round = 1; !stopping; round++) {
      notified = false;
      const busy = await exclusive(() => poll(round));
      if (!busy && !notified && !stopping) await sleep(pollMs);
    }
  };

  const ensureTables = async () => {
    for (const projection of projections) {
      // Two instances starting together can race on CREATE TABLE in Postgres; the loser finds the table on retry.
      for (let attempt = 1; ; attempt++) {
        try {
          await store.transaction(async (tx) => {
            if (!(await tableExists(tx, projection.table))) {
              await tx.execute(createTableSql(projection, projection.table));
              const checkpoint = checkpointOf(projection);
              const current = await readCheckpoint(tx, checkpoint);
              if (!(await advanceCheckpoint(tx, checkpoint, current, LOG_START, isoNow(clock)))) {
                throw new Error(`checkpoint ${checkpoint} moved while its table was being created`);
              }
            }
            for (const sql of createIndexesSql(projection, projection.table)) await tx.execute(sql);
          });
          break;
        } catch (error) {
          if (attempt >= 3) throw error;
        }
      }
    }
  };

  const rebuild = async (name: string, onProgress?: (progress: RebuildProgress) => void | Promise<void>): Promise<RebuildResult> => {
    const projection = projectionNamed(name);
    const building = `${projection.table}${REBUILD_SUFFIX}`;
    const lease = await claimLease(store, clock, `rebuild:${name}`, `pid ${process.pid} ${Math.random().toString(36).slice(2, 8)}`, REBUILD_LEASE_STALE_MS)
      .catch((error: unknown) => {
        if (!(error instanceof LeaseHeldError)) throw error;
        throw new LeaseHeldError(`a rebuild of ${name} is running already (${error.message}); wait for it to end, or, if it was killed, retry in a minute`);
      });
    const checkpoint = checkpointOf(projection);
    let cursor = LOG_START;
    let progress: RebuildProgress = { read: 0, applied: 0, position: 0 };
    const advance = (batch: LoggedMessage[], applied: number) => {
      const last = batch.at(-1);
      if (!last) return;
      cursor = last.cursor;
      progress = { read: progress.read + batch.length, applied: progress.applied + applied, position: last.cursor.position };
    };
    /** Applies batches into the new table until a short one: under steady commits an empty read may never come. */
    const replay = async () => {
      for (;;) {
        const batch = await store.readMessages(cursor, batchSize);
        const facts = factsOf(projection, batch);
        // Renewed in the transaction that writes: a rebuild whose lease was taken over (it stalled a
        // minute) writes nothing more into the table the new holder fills.
        await store.transaction(async (tx) => {
          await lease.renew(tx);
          if (facts.length > 0) await applyFacts(tx, projection, building, facts);
        });
        advance(batch, facts.length);
        if (batch.length > 0) await onProgress?.(progress);
        if (batch.length < batchSize) return;
      }
    };

    try {
      await store.transaction(async (tx) => {
        await tx.execute(`DROP TABLE IF EXISTS ${quote(building)}`);
        await tx.execute(createTableSql(projection, building));
      });
      await replay();
      // Postgres renames indexes at the swap, so they are built now, outside it. SQLite cannot rename an
      // index: it builds them inside the swap, which only holds back writers (WAL readers go on).
      if (store.dialect === 'postgres') {
        await store.transaction(async (tx) => {
          await lease.renew(tx);
          for (const sql of createIndexesSql(projection, building)) await tx.execute(sql);
        });
        // A new table has no statistics until autovacuum passes (never, where it is off): the planner
        // would take the swapped-in table for an empty one and scan it. They follow it through the rename.
        await store.execute(`ANALYZE ${quote(building)}`);
      }
      for (let attempt = 1; ; attempt++) {
        const swapped = await store.transaction(async (tx) => {
          // Still ours: a rebuild that took the lease over (this one seemed killed) fills its own table.
          await lease.renew(tx);
          const live = await readCheckpoint(tx, checkpoint);
          // Claimed first: a live runner's next advance waits for this transaction, then finds the checkpoint moved.
          if (!(await advanceCheckpoint(tx, checkpoint, live, live, isoNow(clock)))) return null;
          const read: LoggedMessage[] = [];
          let applied = 0;
          for (let from = cursor; ; ) {
            // Read through the store, on another connection: it shows everything the live runner applied (and in
            // SQLite nothing commits while this transaction holds the writer).
            const batch = await store.readMessages(from, batchSize);
            const facts = factsOf(projection, batch);
            await applyFacts(tx, projection, building, facts);
            read.push(...batch);
            applied += facts.length;
            from = batch.at(-1)?.cursor ?? from;
            if (batch.length < batchSize) break;
          }
          const target = read.at(-1)?.cursor ?? cursor;
          if (compareCursors(live, target) > 0) {
            throw new Error(`rebuild of ${name}: the log reads up to position ${target.position}, behind the live checkpoint at ${live.position}`);
          }
          if (!(await advanceCheckpoint(tx, checkpoint, live, target, isoNow(clock)))) return null;
          await swapTables(tx, projection, building);
          return { read, applied };
        });
        if (swapped) {
          advance(swapped.read, swapped.applied);
          break;
        }
        if (attempt >= MAX_SWAP_ATTEMPTS) throw new Error(`rebuild of ${name}: the live checkpoint kept moving; try again`);
      }
    } catch (error) {
      // A rebuild that lost its lease leaves the table alone: the one that took it over is filling it.
      if (error instanceof LeaseHeldError) throw error;
      await store.execute(`DROP TABLE IF EXISTS ${quote(building)}`).catch((dropError: unknown) => {
        logger?.warn('could not drop the table of an interrupted rebuild; the next rebuild drops it', { projection: name, err: dropError });
      });
      throw error;
    } finally {
      await lease.release().catch(() => undefined);
    }
    const [count] = await store.query<{ n: number }>(`SELECT COUNT(*) AS n FROM ${quote(projection.table)}`);
    return { name, table: projection.table, read: progress.read, applied: progress.applied, rows: Number(count?.n ?? 0), checkpoint: cursor };
  };

  return {
    projections,
    projection: projectionNamed,
    ensureTables,
    start() {
      if (loop) return;
      stopping = false;
      loop = run();
    },
    async stop() {
      stopping = true;
      wake?.();
      await loop;
      loop = undefined;
    },
    notify() {
      notified = true;
      wake?.();
    },
    catchUp: () =>
      exclusive(async () => {
        for (const projection of projections) {
          while ((await step(projection)) > 0);
        }
      }),
    settle,
    rebuild,
  };
}

const checkpointOf = (projection: AnyProjection): string => `projection:${projection.name}`;

const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const factsOf = (projection: AnyProjection, batch: readonly LoggedMessage[]): LoggedMessage[] =>
  batch.filter((message) => projection.handles.includes(message.name));

/** Orders cursors as the log does: by transaction, then position. */
function compareCursors(a: LogCursor, b: LogCursor): number {
  return a.tx !== b.tx ? a.tx - b.tx : a.position - b.position;
}

const keysOf = (projection: Pick<AnyProjection, 'keyOf'>, fact: Message): readonly string[] => {
  const keys = projection.keyOf(fact);
  return typeof keys === 'string' ? [keys] : keys;
};

/** Evolves `state` (key → row, null = none) through the facts; returns the keys whose row changed. */
function evolveAll<Row extends object>(projection: Projection<Row>, state: Map<string, Row | null>, facts: readonly Message[]): Set<string> {
  const changed = new Set<string>();
  for (const fact of facts) {
    for (const key of keysOf(projection, fact)) {
      const before = state.get(key) ?? null;
      const after = projection.evolve(before, fact, key);
      if (after === before) continue;
      if (after !== null && (after as Record<string, unknown>)[projection.key] !== key) {
        throw new Error(`projection ${projection.name}: evolve of ${fact.name} ${fact.id} returned a row not keyed "${key}"`);
      }
      state.set(key, after);
      changed.add(key);
    }
  }
  return changed;
}

/** Loads the rows the facts touch, evolves them and writes back the changed ones, inside `tx`. */
async function applyFacts(tx: SqlExecutor, projection: AnyProjection, table: string, facts: readonly Message[]): Promise<void> {
  if (facts.length === 0) return;
  const keys = [...new Set(facts.flatMap((fact) => keysOf(projection, fact)))];
  const state = new Map<string, ProjectionRow | null>();
  for (const chunk of chunksOf(keys, MAX_IN_LIST)) {
    const padded = paddedToPowerOfTwo(chunk);
    const rows = await selectRows(projection, table, tx, `WHERE ${quote(projection.key)} IN (${placeholders(padded.length)})`, padded);
    for (const row of rows) state.set(String(row[projection.key]), row);
  }
  const changed = evolveAll(projection, state, facts);

  const upserts: ProjectionRow[] = [];
  const deletes: string[] = [];
  for (const key of changed) {
    const row = state.get(key);
    if (row) upserts.push(row);
    else deletes.push(key);
  }
  const columns = Object.keys(projection.columns);
  const updates = columns.filter((column) => column !== projection.key).map((column) => `${quote(column)} = excluded.${quote(column)}`);
  const onConflict = `ON CONFLICT (${quote(projection.key)}) ${updates.length > 0 ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING'}`;
  // The chunks hold different keys, so they are sent together (one round trip on Postgres).
  await Promise.all(
    powerOfTwoChunks(upserts, Math.floor(MAX_PARAMS / columns.length)).map((chunk) => {
      const params: unknown[] = [];
      const values = chunk.map((row) => {
        const first = params.length;
        params.push(...columns.map((column) => toSqlValue(projection.columns[column], row[column])));
        return `(${placeholders(columns.length, first + 1)})`;
      });
      return tx.execute(`INSERT INTO ${quote(table)} (${columns.map(quote).join(', ')}) VALUES ${values.join(', ')} ${onConflict}`, params);
    }),
  );
  for (const chunk of chunksOf(deletes, MAX_IN_LIST)) {
    const padded = paddedToPowerOfTwo(chunk);
    await tx.execute(`DELETE FROM ${quote(table)} WHERE ${quote(projection.key)} IN (${placeholders(padded.length)})`, padded);
  }
}

async function selectRows<Row extends object>(projection: Projection<Row>, table: string, db: SqlExecutor, clause: string, params: unknown[]): Promise<Row[]> {
  const columns = Object.entries<ColumnType>(projection.columns);
  const records = await db.query<Record<string, unknown>>(`SELECT ${columns.map(([column]) => quote(column)).join(', ')} FROM ${quote(table)} ${clause}`, params);
  return records.map((record) => {
    const row: Record<string, unknown> = {};
    for (const [column, type] of columns) row[column] = fromSqlValue(type, record[column]);
    return row as Row;
  });
}

function toSqlValue(type: ColumnType | undefined, value: unknown): unknown {
  if (value === undefined || value === null) return null;
  return type === 'json' ? JSON.stringify(value) : value;
}

function fromSqlValue(type: ColumnType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'json') return JSON.parse(String(value));
  if (type === 'integer') return Number(value);
  return value;
}

const SQL_TYPES: Record<ColumnType, string> = { text: 'TEXT', integer: 'BIGINT', json: 'TEXT' };

/** Identifiers are validated lowercase snake_case; quoting keeps words like `order` usable as column names. */
const quote = (identifier: string): string => `"${identifier}"`;

/** The table with a primary key constraint named after it, so that a rebuilt table's constraint can be renamed. */
function createTableSql(projection: AnyProjection, table: string): string {
  const columns = Object.entries<ColumnType>(projection.columns).map(
    ([column, type]) => `${quote(column)} ${SQL_TYPES[type]}${column === projection.key ? ' NOT NULL' : ''}`,
  );
  return `CREATE TABLE ${quote(table)} (${columns.join(', ')}, CONSTRAINT ${quote(`${table}_pkey`)} PRIMARY KEY (${quote(projection.key)}))`;
}

function createIndexesSql(projection: AnyProjection, table: string): string[] {
  return Object.entries<readonly string[]>(projection.indexes ?? {}).map(
    ([suffix, columns]) => `CREATE INDEX IF NOT EXISTS ${quote(`${table}_${suffix}`)} ON ${quote(table)} (${columns.map(quote).join(', ')})`,
  );
}

/**
 * Replaces the live table by the rebuilt one inside `tx`. Index names are global in both databases, so
 * the rebuilt table's indexes take the live names: renamed in Postgres, built afresh in SQLite (which
 * renames only the primary key's automatic index with its table).
 */
async function swapTables(tx: SqlExecutor, projection: AnyProjection, building: string): Promise<void> {
  const live = projection.table;
  await tx.execute(`DROP TABLE IF EXISTS ${quote(live)}`);
  await tx.execute(`ALTER TABLE ${quote(building)} RENAME TO ${quote(live)}`);
  if (tx.dialect === 'postgres') {
    for (const suffix of ['pkey', ...Object.keys(projection.indexes ?? {})]) {
      await tx.execute(`ALTER INDEX ${quote(`${building}_${suffix}`)} RENAME TO ${quote(`${live}_${suffix}`)}`);
    }
  } else {
    for (const sql of createIndexesSql(projection, live)) await tx.execute(sql);
  }
}

async function tableExists(db: SqlExecutor, table: string): Promise<boolean> {
  const sql =
    db.dialect === 'postgres'
      ? 'SELECT 1 AS present FROM pg_tables WHERE schemaname = current_schema() AND tablename = $1'
      : "SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = $1";
  return (await db.query(sql, [table])).length > 0;
}

function chunksOf<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}
