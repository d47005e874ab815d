import { SpanKind, type Span } from '@opentelemetry/api';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from '../actors/ports';
import { backoffMs, sleep } from '../kernel/backoff';
import { isoNow, type Clock } from '../kernel/clock';
import { AppError, isStoreUnavailable, isTerminalFailure, mayHaveActed, retryAfterMsOf } from '../kernel/errors';
import type { IdSource } from '../kernel/ids';
import type { Logger } from '../observability/logger';
import { recordError, type Tracing } from '../observability/tracing';
import { errorText, NotResolvableError, recordDeadLetter, type Redeliverer } from './deadLetters';
import { PoisonMessageError, type Handler, type HandlerContext, type MessageHandler } from './handlers';
import type { Bus, BusEntry, BusMessage } from './ports';
import { INBOX_RETENTION_MS } from './retention';
import { paddedToPowerOfTwo, placeholders } from '../kernel/statementShapes';
import { Throttle } from '../kernel/throttle';
import { fieldsOf, streamOf, toBusMessage } from './wire';

/**
 * In-process retries of a failing handler: `attempts` in all (earlier deliveries included), exponential
 * backoff with jitter from `baseMs`, each wait at most `maxMs`, and at least what a `Retry-After` asked
 * (still at most `maxMs`).
 */
export interface RetryPolicy {
  attempts: number;
  baseMs: number;
  maxMs: number;
}

/** Dependencies and tuning of createConsumers; the defaults are those of production. */
export interface ConsumersOptions {
  store: Store;
  bus: Bus;
  handlers: readonly Handler[];
  clock: Clock;
  ids: IdSource;
  logger: Logger;
  tracing?: Tracing | undefined;
  /** Where the consumer metrics are registered (the service's registry); a private one when absent. */
  registry?: Registry | undefined;
  /** This instance's name among the consumers of each group, e.g. the instance id. */
  consumerName: string;
  retry?: Partial<RetryPolicy> | undefined;
  /** How long an entry stays pending before another consumer takes it over (its consumer is presumed dead). */
  claimIdleMs?: number | undefined;
  /** How long one read waits for new entries; also bounds how long `stop()` waits for an idle loop. */
  blockMs?: number | undefined;
  /**
   * Entries taken per read (default 128). A loop reads again once the whole read is processed, and each
   * entry waits on round trips and a shared commit, so the read size bounds a handler's rate.
   */
  batchSize?: number | undefined;
}

/** The running consumers of one instance. */
export interface Consumers extends Redeliverer {
  /** Starts one loop per (handler, stream). Bus failures are retried by the loops, so this never fails. */
  start(): void;
  /** Lets every loop finish the entries it holds, then stops them. */
  stop(): Promise<void>;
  /**
   * For tests: resolves once every group has no undelivered and no pending entry (everything was
   * processed or dead-lettered, and acked); rejects after `timeoutMs`.
   */
  drain(timeoutMs?: number): Promise<void>;
  /**
   * Runs `handler` on `message` once, now, through the same path as a delivery (earlier messages of
   * the actor first, inbox, span), without retries or dead-lettering: rejects with the handler's error,
   * after recording it as attempt number `attempt` in `delivery_attempts`.
   */
  redeliver(handler: string, message: BusMessage, attempt: number): Promise<void>;
  /**
   * The same, for a dead letter whose call an operator found had taken effect: `handler` goes on from
   * its `answerWhenTookEffect` instead of calling. Rejects with NotResolvableError, having run nothing,
   * when the handler has no such answer.
   */
  resolve(handler: string, message: BusMessage, attempt: number): Promise<void>;
}

/**
 * How a handler's processing of a message is recorded in its inbox row, for the timeline: `refused`, a
 * call the service refused; `resolved`, a call an operator found had taken effect (no call made);
 * `settled` (written by the dead letters' `settle`), a step done by a later ask of it.
 */
type DeliveryEffect = 'local' | 'external' | 'refused' | 'resolved';

/** A failure of a `notRepeatable` handler after it reached the service it calls: repeating it could do the call twice. */
class MayHaveActedError extends Error {
  override name = 'MayHaveActedError';
  readonly mayHaveActed = true;
  constructor(cause: unknown) {
    super(errorText(cause), { cause });
  }
}

/**
 * Thrown out of a handler by its call context: another delivery of the same message (another entry of
 * it, published again after Redis lost its publish marker or by the delivery audit) is starting this
 * call, or started it so recently that it may be making it now. Retried after `retryAfterSeconds`; by
 * then the call has been recorded (nothing is left to do), or its row is as old as a delivery that
 * stopped (MayHaveActedError).
 */
class CallInProgressError extends Error {
  override name = 'CallInProgressError';
  constructor(
    message: string,
    readonly retryAfterSeconds = 0,
  ) {
    super(message);
  }
}

/** Thrown out of a handler by its call context: another delivery processed the message meanwhile. */
class ProcessedMeanwhile extends Error {
  override name = 'ProcessedMeanwhile';
}

/** For callers that pass no policy (tests, tools); the service passes the configured one (HANDLER_RETRY_*). */
const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 100, maxMs: 5_000 };
const DEFAULT_CLAIM_IDLE_MS = 30_000;
const DEFAULT_BLOCK_MS = 1_000;
const DEFAULT_BATCH_SIZE = 128;
const DRAIN_POLL_MS = 10;
/** A message's retries given up because the consumers stop: it stays pending on the bus. */
class ConsumersStopping extends Error {
  override name = 'ConsumersStopping';
  constructor() {
    super('the consumers are stopping: the message stays pending for the next start');
  }
}

/** How often a bus outage that fails the consumer loops is logged (one line for every loop). */
const LOOP_FAILURES_LOG_EVERY_MS = 10_000;
/**
 * The longest wait of a consumer loop between failed reads (the bus down, its connection being made
 * again), whatever a handler's retries may wait: a failed read costs little, and the loops are back
 * within this long of the bus's return (they waited up to HANDLER_RETRY_MAX_DELAY_MS, 10 s).
 */
const LOOP_MAX_BACKOFF_MS = 2_000;

const IN_INBOX = 'SELECT 1 AS found FROM inbox WHERE handler = $1 AND message_id = $2';
const INSERT_INBOX = 'INSERT INTO inbox (handler, message_id, processed_at, effect) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING';
/**
 * A `notRepeatable` handler's call, committed before it starts; its inbox row's transaction deletes it.
 * Not inserted when the message is in the inbox already: a delivery that checked the inbox just before
 * another one finished must not start the call again.
 */
const INSERT_CALL_STARTED = `INSERT INTO calls_started (handler, message_id, started_at, started_by)
  SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM inbox WHERE handler = $1 AND message_id = $2)
  ON CONFLICT DO NOTHING`;
const DROP_START_OF_PROCESSED = `DELETE FROM calls_started WHERE handler = $1 AND message_id = $2
  AND EXISTS (SELECT 1 FROM inbox WHERE handler = $1 AND message_id = $2)`;
const SELECT_CALL_STARTED = 'SELECT started_at, started_by FROM calls_started WHERE handler = $1 AND message_id = $2';
const DELETE_CALL_STARTED = 'DELETE FROM calls_started WHERE handler = $1 AND message_id = $2';
/** One failed attempt, for the debugger's timeline; successes are not recorded (the inbox says it). */
const INSERT_ATTEMPT = 'INSERT INTO delivery_attempts (handler, effect, message_id, attempt, error, at) VALUES ($1, $2, $3, $4, $5, $6)';
/**
 * Which of some messages a handler has settled: processed, or given up on (a `dead` message waits for
 * ops to redrive it). `$1` the handler, then the message ids (a power of two of them, see statementShapes).
 */
const settledAmongSql = (count: number): string => {
  const ids = placeholders(count, 2);
  return `SELECT message_id FROM inbox WHERE handler = $1 AND message_id IN (${ids})
          UNION ALL SELECT message_id FROM dead_letters WHERE handler = $1 AND message_id IN (${ids}) AND status = 'dead'`;
};
/** How many (handler, actor) pairs `settledThrough` remembers; the oldest are forgotten first. */
const SETTLED_MEMORY = 100_000;

/** One consumer loop: a handler's group reading one stream. */
interface Loop {
  handler: Handler;
  stream: string;
  /**
   * The consumer name of this loop in its group. One per loop, because the Redis bus gives each
   * consumer name one connection for its blocking reads, and loops must not queue behind each other.
   */
  consumer: string;
  /** Its group exists (ensureGroup succeeded). */
  ready: boolean;
  done: Promise<void> | undefined;
}

/**
 * Creates the message consumers of one instance (DESIGN.md "Delivery"): for every handler, the
 * consumer group `tickets.<name>` on the stream of each message it handles, read by one loop per
 * stream (`readNew` with a finite block, and `claimIdle` every `claimIdleMs` for the entries of dead
 * consumers); the entries of one read are processed one actor at a time in stream order, different
 * actors concurrently, and each is acked after it is processed or dead-lettered.
 *
 * Processing one message for one handler:
 * 1. already in the handler's inbox (or dead-lettered and not redriven yet): skipped;
 * 2. earlier messages of the same actor that this handler handles but has not processed yet (they may
 *    still travel on another stream) are processed first, from the event log, in actor order, so that
 *    a handler sees the messages of one actor in order; their own later delivery is then a no-op;
 * 3. the handler runs (`local`: in one transaction with its inbox row; `external`: then its inbox row),
 *    in a CONSUMER span continuing the message's trace, with a logger carrying its correlation id;
 * 4. a failure is retried with exponential backoff and jitter until `retry.attempts` attempts, earlier
 *    deliveries of the entry counted as one attempt each (a crash does not reset the budget); a
 *    terminal failure (`isTerminalFailure`: a PoisonMessageError, an external 4xx, an AppError refusal) is not retried,
 *    nor is a call of a `notRepeatable` handler that may have taken effect, including one an earlier
 *    delivery started and never recorded (`calls_started`). Then the message is written to `dead_letters` and the group moves on.
 *    Each failed attempt is also written to `delivery_attempts` (one row per failure, best-effort), for the debugger.
 *
 * Metrics on `registry`: `handler_duration_seconds{handler}`, `handler_retries_total{handler}`,
 * `dead_letters_total{handler}`, `consumer_lag{group,stream}` (undelivered + pending entries) and
 * `consumer_oldest_age_seconds{group,stream}` (how long the oldest of them has waited).
 */
export function createConsumers(options: ConsumersOptions): Consumers {
  const { store, bus, handlers, clock, ids, logger, tracing } = options;
  const retry: RetryPolicy = { ...DEFAULT_RETRY, ...options.retry };
  const claimIdleMs = options.claimIdleMs ?? DEFAULT_CLAIM_IDLE_MS;
  const blockMs = options.blockMs ?? DEFAULT_BLOCK_MS;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(retry.attempts) || retry.attempts < 1) {
    throw new RangeError(`retry.attempts must be a positive integer, got ${retry.attempts}`);
  }

  const byName = new Map<string, Handler>();
  for (const handler of handlers) {
    if (byName.has(handler.name)) throw new Error(`two handlers are named ${handler.name}`);
    byName.set(handler.name, handler);
  }
  const loops: Loop[] = handlers.flatMap((handler) =>
    handler.streams.map((stream) => ({
      handler,
      stream,
      consumer: `${options.consumerName}:${handler.name}:${stream}`,
      ready: false,
      done: undefined,
    })),
  );
  const metrics = createMetrics(options.registry ?? new Registry(), bus, loops);

  let started = false;
  let stopping: Promise<void> | undefined;
  /** Wakes the loops' pauses between failed reads when stopping. */
  const wakers = new Set<() => void>();

  /** The messages among `messageIds` that `handler` has settled: one query for a whole read. */
  const settledAmong = async (handler: Handler, messageIds: string[]): Promise<Set<string>> => {
    if (messageIds.length === 0) return new Set();
    const ids = paddedToPowerOfTwo(messageIds);
    const rows = await store.query<{ message_id: string }>(settledAmongSql(ids.length), [handler.name, ...ids]);
    return new Set(rows.map((row) => row.message_id));
  };
  const isSettled = async (handler: Handler, messageId: string) => (await settledAmong(handler, [messageId])).has(messageId);

  /**
   * Per handler and actor, the highest actor_seq this instance has processed. Processing a message
   * settles the handler's earlier messages of that actor first, so everything up to it is settled and
   * catchUp need not ask the store. Only a successful processing is remembered (an inbox row is
   * permanent; a dead letter is not, ops may redrive it).
   */
  const settledThrough = new Map<string, number>();
  const memoryKey = (handler: Handler, actor: string) => `${handler.name} ${actor}`;
  const rememberProcessed = (handler: Handler, message: BusMessage) => {
    const key = memoryKey(handler, message.actor);
    if ((settledThrough.get(key) ?? 0) >= message.actorSeq) return;
    // Re-inserted, so the Map's insertion order is the order of use and the first key the stalest.
    settledThrough.delete(key);
    settledThrough.set(key, message.actorSeq);
    if (settledThrough.size > SETTLED_MEMORY) settledThrough.delete(settledThrough.keys().next().value as string);
  };

  /**
   * Runs `work` in a CONSUMER span continuing the message's trace, with a logger for this handling;
   * `links`: traces that caused this run without being its parent (the request of a redrive).
   */
  const inSpan = <T>(handler: Handler, stream: string, message: BusMessage, work: (log: Logger, span?: Span) => Promise<T>, links: readonly (string | undefined)[] = []): Promise<T> => {
    const logFor = (traceId: string | undefined) =>
      logger.child({
        handler: handler.name,
        message_id: message.id,
        message_name: message.name,
        actor: message.actor,
        correlation_id: message.metadata.correlation_id,
        ...(traceId === undefined ? {} : { trace_id: traceId }),
      });
    if (tracing === undefined) return work(logFor(message.metadata.traceparent?.split('-')[1]));
    const attributes = {
      'messaging.operation.type': 'process',
      'messaging.destination.name': stream,
      'messaging.consumer.group.name': handler.group,
      'messaging.message.id': message.id,
      correlation_id: message.metadata.correlation_id,
      actor: message.actor,
      'actor.seq': message.actorSeq,
    };
    return tracing.withSpan(`${handler.name} ${message.name}`, attributes, (span) => work(logFor(span.spanContext().traceId), span), {
      kind: SpanKind.CONSUMER,
      traceparent: message.metadata.traceparent,
      links,
    });
  };

  /**
   * A handler's context for one attempt; `reached` tells whether the attempt asked for a call context,
   * `started` whether that committed the call's `calls_started` row (a `notRepeatable` handler's first
   * ask), `refused` whether a call it made was refused (a terminal answer, which the handler may have handled).
   */
  const contextOf = (handler: Handler, message: BusMessage, log: Logger, firstDelivery: boolean, entryIsNew: boolean): HandlerContext & { readonly reached: boolean; readonly started: boolean; readonly refused: boolean } => {
    let reached = false;
    let started = false;
    let refused = false;
    const traceparent = tracing?.currentTraceparent() ?? message.metadata.traceparent;
    const key = callKey(handler, message);
    return {
      firstDelivery,
      callAnswered(answer) {
        answers.set(key, answer);
      },
      answered: <T>() => answers.get(key) as T | undefined,
      handler: handler.name,
      messageId: message.id,
      correlationId: message.metadata.correlation_id,
      traceparent,
      fields: fieldsOf(message),
      logger: log,
      idempotencyKey: (suffix) => `${handler.name}:${message.id}${suffix === undefined ? '' : `:${suffix}`}`,
      async callContext() {
        reached = true;
        // Committed right before the call, after whatever the handler reads first: a crash in between
        // leaves a row for a call that was never made, and the narrower that gap, the fewer such rows.
        if (handler.effect === 'external' && handler.notRepeatable === true && !started && !answers.has(key)) {
          if (!(await startCall(handler, message, key, isoNow(clock), entryIsNew))) throw new ProcessedMeanwhile();
          started = true;
        }
        return {
          correlationId: message.metadata.correlation_id,
          traceparent,
          onOutcome: (outcome) => {
            if (outcome === 'terminal') refused = true;
          },
        };
      },
      get reached() {
        return reached;
      },
      get started() {
        return started;
      },
      get refused() {
        return refused;
      },
    };
  };

  const callKey = (handler: Handler, message: BusMessage) => `${handler.name} ${message.id}`;
  /**
   * Messages whose `notRepeatable` handler ran to the end but whose inbox row could not be written: a
   * retry writes the row without calling again. A crash in that gap leaves the call's `calls_started` row.
   */
  const ranThrough = new Set<string>();
  /**
   * What the calls of `notRepeatable` handlers answered (`callAnswered`) while the message is not yet
   * processed: a retry on this instance goes on from the answer. The call's `calls_started` row stays
   * until the inbox row replaces it, so no other instance calls meanwhile.
   */
  const answers = new Map<string, unknown>();
  /** The (handler, message) pairs being resolved by an operator (see `resolve`): their inbox rows say so. */
  const resolving = new Set<string>();
  /** Messages whose `calls_started` row is this instance's and whose call did nothing, but the row could not be deleted. */
  const startedButUnsent = new Set<string>();
  /**
   * The tokens of `calls_started` rows whose commit failed here, by message: the row may have been
   * committed all the same (the connection dropped on the way back), but the call was not made.
   */
  const unsureStarts = new Map<string, string>();

  /**
   * Commits the `calls_started` row of a `notRepeatable` handler's call before it is made. Returns false
   * when the message was processed meanwhile; throws a MayHaveActedError when an earlier delivery
   * started the call and never recorded its end: its instance stopped during the call, which may have
   * taken effect, so it is not made again without an operator. `entryIsNew`: this entry was never
   * delivered before, so the row may be another entry's of the same message whose delivery is alive:
   * while the row is younger than a delivery that stopped (claimIdleMs), a CallInProgressError. (An entry
   * delivered before comes here only once its consumer left it idle that long.)
   */
  const startCall = async (handler: Handler, message: BusMessage, key: string, at: string, entryIsNew: boolean): Promise<boolean> => {
    if (startedButUnsent.delete(key)) return true;
    const params = [handler.name, message.id];
    const token = ids.uuid();
    let inserted: number;
    try {
      inserted = await store.transaction(async (tx) => {
        if ((await tx.execute(INSERT_CALL_STARTED, [...params, at, token])) === 0) return 0;
        // Postgres (READ COMMITTED): an insert that waited on another delivery's row went through once
        // that delivery committed its record of the call and deleted the row, and its NOT EXISTS read the
        // inbox as it was before. A later statement sees that record: then the row goes, and no call is made.
        return (await tx.execute(DROP_START_OF_PROCESSED, params)) > 0 ? 0 : 1;
      }, { groupable: true, ownRowsOnly: true });
    } catch (error) {
      unsureStarts.set(key, token);
      throw error;
    }
    if (inserted > 0) {
      unsureStarts.delete(key);
      return true;
    }
    if ((await store.query(IN_INBOX, params)).length > 0) return false;
    const [row] = await store.query<{ started_at: string; started_by: string | null }>(SELECT_CALL_STARTED, params);
    // Neither the row its insert met nor a record of the call: that row was not committed yet (another
    // delivery is starting the call), or its delivery recorded the call between the two reads above (or
    // deleted the row of a call that did nothing). A fresh look tells.
    if (row === undefined) throw new CallInProgressError('another delivery was starting or recording this call at the same moment');
    if (row.started_by !== null && (row.started_by === token || row.started_by === unsureStarts.get(key))) {
      // The row of an attempt here whose commit seemed to fail (this one, through a group that failed
      // and was written again alone, or an earlier one): it did commit, and no call was made.
      unsureStarts.delete(key);
      return true;
    }
    const age = clock.now().getTime() - Date.parse(row.started_at);
    if (entryIsNew && age < claimIdleMs) throw new CallInProgressError(`another delivery started this call at ${row.started_at} and may be making it now`, (claimIdleMs - age) / 1000);
    throw new MayHaveActedError(new Error(`an earlier delivery started this call at ${row.started_at} and never recorded its end (its instance stopped, or could not reach the database, during or after the call; or, rarely, that delivery's call is still running after a long wait)`));
  };

  /** The call did nothing (it failed before it reached the service, or the service said so): a retry may make it. */
  const unstartCall = async (handler: Handler, message: BusMessage, key: string, log: Logger): Promise<void> => {
    try {
      await store.execute(DELETE_CALL_STARTED, [handler.name, message.id]);
    } catch (error) {
      startedButUnsent.add(key);
      log.warn('could not delete the row of a call that did nothing', { err: error });
    }
  };

  const timed = async (handler: Handler, run: () => Promise<void> | void) => {
    const end = metrics.duration.startTimer({ handler: handler.name });
    try {
      await run();
    } finally {
      end();
    }
  };

  /**
   * One attempt; the inbox makes a message this handler already processed a no-op. `checked`: the
   * caller has just found the message unprocessed, so an external handler need not look again.
   */
  const attempt = async (handler: Handler, message: BusMessage, log: Logger, checked = false, firstDelivery = false, entryIsNew = false): Promise<void> => {
    const ctx = contextOf(handler, message, log, firstDelivery, entryIsNew);
    if (handler.effect === 'local') {
      const run = functionFor(handler.name, handler.on, message.name);
      await store.transaction(
        async (tx) => {
          // Inserted first: a concurrent duplicate waits on this row and then finds it taken.
          if ((await tx.execute(INSERT_INBOX, [handler.name, message.id, isoNow(clock), handler.effect])) === 0) return;
          await timed(handler, () => run(message, { ...ctx, tx }));
        },
        { groupable: handler.groupable === true },
      );
      rememberProcessed(handler, message);
      return;
    }
    const run = functionFor(handler.name, handler.on, message.name);
    if (!checked && (await store.query(IN_INBOX, [handler.name, message.id])).length > 0) return;
    // Stamped with when the call began: what its reply caused comes after it in the actor's timeline.
    const calledAt = isoNow(clock);
    const ranKey = callKey(handler, message);
    const notRepeatable = handler.notRepeatable === true;
    const runsNow = !ranThrough.has(ranKey);
    if (runsNow) {
      try {
        await timed(handler, () => run(message, ctx));
      } catch (error) {
        // Another delivery processed it between this one's check and its call: nothing is left to do.
        if (error instanceof ProcessedMeanwhile) return;
        // The call was answered and what followed failed: a retry here goes on from the answer. An
        // answered call's `calls_started` row is this instance's, still there until the inbox row.
        if (notRepeatable && answers.has(ranKey)) throw error;
        // An earlier delivery started the call and never recorded its end (callContext).
        if (error instanceof MayHaveActedError) throw error;
        // Past the start of its call, a handler of a service that does not deduplicate cannot tell
        // whether repeating would do the call twice, unless the call itself said it did nothing.
        if (ctx.started && mayHaveActed(error) !== false) throw new MayHaveActedError(error);
        if (ctx.started) await unstartCall(handler, message, ranKey, log);
        throw error;
      }
      if (notRepeatable) ranThrough.add(ranKey);
    }
    // What the timeline shows: an external call when the handler asked for a call context (it called
    // another service), refused when that service refused it (the handler reported the refusal), a
    // delivery when it only told actors.
    const effect: DeliveryEffect = resolving.has(ranKey) ? 'resolved' : runsNow && !ctx.reached ? 'local' : runsNow && ctx.refused ? 'refused' : 'external';
    // Rows of its own, conflict ignored: it may share a transaction with other commits (CommitOptions).
    await store.transaction(
      async (tx) => {
        await tx.execute(INSERT_INBOX, [handler.name, message.id, calledAt, effect]);
        if (notRepeatable) await tx.execute(DELETE_CALL_STARTED, [handler.name, message.id]);
      },
      { groupable: true, ownRowsOnly: true },
    );
    ranThrough.delete(ranKey);
    answers.delete(ranKey);
    unsureStarts.delete(ranKey);
    rememberProcessed(handler, message);
  };

  /**
   * Records a failed attempt outside the handler's (rolled back) transaction. Best-effort: the attempt has
   * failed already, and a store that cannot take this row must not change what happens to the message.
   */
  const recordFailure = async (handler: Handler, message: BusMessage, attemptNo: number, error: unknown, log: Logger): Promise<void> => {
    try {
      await store.execute(INSERT_ATTEMPT, [handler.name, handler.effect, message.id, attemptNo, errorText(error), isoNow(clock)]);
    } catch (unrecorded) {
      log.warn('could not record the failed attempt', { attempt: attemptNo, err: unrecorded });
    }
  };

  /**
   * A failure of the store rather than of the handler: the database cannot take the work now (503
   * STORE_UNAVAILABLE), or rows it needs stay locked by another session or keep changing under it (409
   * CONCURRENT_UPDATE). Retried past the budget: an outage or an operator's long lock is no reason for a
   * dead letter that someone would have to redrive (a 60 s table lock left two refunds unfinished). Nor
   * when all that is left of a `notRepeatable` delivery is to record the answer of its call: a dead letter
   * (which the store could not take either) or another instance taking the message over would find only
   * the call's row, and report as "may have taken effect" a call that was made once and answered.
   */
  const storeCannotNow = (error: unknown): boolean => isStoreUnavailable(error) || (error instanceof AppError && error.code === 'CONCURRENT_UPDATE');
  /** This instance made the call of a `notRepeatable` handler for this key and has its answer (or ran it through). */
  const holdsAnswer = (key: string) => answers.has(key) || ranThrough.has(key);

  /**
   * Attempts until success or the budget is spent (`spent` attempts are already used), then dead-letters;
   * past the budget only while the store fails (storeCannotNow).
   * Callers have just found the message unprocessed (see `attempt`).
   */
  const processWithRetries = (handler: Handler, stream: string, message: BusMessage, spent: number): Promise<void> =>
    inSpan(handler, stream, message, async (log, span) => {
      let attempts = spent;
      let failure: unknown = new Error(`delivered ${spent} times without completing: the retry budget is spent`);
      // An answer this instance holds is recorded whatever the deliveries so far.
      let waitsForStore = holdsAnswer(callKey(handler, message));
      while (attempts < retry.attempts || waitsForStore) {
        attempts += 1;
        try {
          await attempt(handler, message, log, attempts === spent + 1, attempts === 1, spent === 0);
          return;
        } catch (error) {
          failure = error;
          await recordFailure(handler, message, attempts, error, log);
          if (isTerminalFailure(error)) break;
          waitsForStore = storeCannotNow(error);
          if (attempts >= retry.attempts && !waitsForStore) break;
          if (handler.effect === 'external' && handler.notRepeatable === true && mayHaveActed(error) === true) {
            failure = new Error(`not retried: the call may have taken effect and the service does not deduplicate; check it before a redrive (${errorText(error)})`, { cause: error });
            break;
          }
          metrics.retries.inc({ handler: handler.name });
          span?.addEvent('retry', { attempt: attempts, 'exception.message': errorText(error) });
          log.warn('handler failed, retrying', { attempt: attempts, err: error });
          await pause(waitsForStore && attempts >= retry.attempts ? retry.maxMs : Math.min(retry.maxMs, Math.max(backoffMs(attempts, retry.baseMs, retry.maxMs), retryAfterMsOf(error) ?? 0)));
          // A stop neither waits out the budget nor spends it: the entry stays unacknowledged, and the
          // next start (or another instance, after claimIdleMs) delivers it again with its attempts counted.
          if (stopping !== undefined) {
            log.info('handler retry left for the next start: the consumers stop', { attempt: attempts });
            throw new ConsumersStopping();
          }
        }
      }
      try {
        await recordDeadLetter(store, {
          id: ids.uuid(),
          handler: handler.name,
          stream,
          messageId: message.id,
          message,
          error: errorText(failure),
          attempts,
          failedAt: isoNow(clock),
        });
      } catch (unrecorded) {
        // Its entry is not acked: it is delivered again (its attempts counted) once the store is back.
        log.error('message not dead-lettered: the store cannot take it; it stays pending and is delivered again', { attempts, error: errorText(failure), dead_letter_error: errorText(unrecorded) });
        throw unrecorded;
      }
      metrics.deadLetters.inc({ handler: handler.name });
      if (span !== undefined) recordError(span, failure);
      log.error('message dead-lettered', { attempts, err: failure });
    });

  /**
   * Processes, in actor order, the earlier messages of `message`'s actor that `handler` handles and has
   * neither processed nor dead-lettered (they may still be on their way through another stream), of
   * the last INBOX_RETENTION_MS: an older one was delivered long ago, and its inbox row may be swept.
   * Processing a message settles every earlier one first, so when the latest earlier one is settled, all
   * are: that lookup is the common case, and the long history of a busy actor is not scanned each time.
   */
  const catchUp = async (handler: Handler, message: BusMessage): Promise<void> => {
    if (message.actorSeq <= 1 || (settledThrough.get(memoryKey(handler, message.actor)) ?? 0) >= message.actorSeq - 1) return;
    const names = placeholders(handler.messageNames.length, 4);
    // Messages older than the inbox keeps its rows were delivered long ago: their rows may be gone.
    const earlier = `SELECT m.id FROM messages m WHERE m.actor = $1 AND m.actor_seq < $2 AND m.occurred_at >= $3 AND m.name IN (${names})`;
    const params = [message.actor, message.actorSeq, new Date(clock.now().getTime() - INBOX_RETENTION_MS).toISOString(), ...handler.messageNames];
    const [latest] = await store.query<{ id: string }>(`${earlier} ORDER BY m.actor_seq DESC LIMIT 1`, params);
    if (latest === undefined || (await isSettled(handler, latest.id))) return;
    const handlerParam = `$${params.length + 1}`;
    const missing = await store.query<{ id: string }>(
      `${earlier}
         AND NOT EXISTS (SELECT 1 FROM inbox i WHERE i.handler = ${handlerParam} AND i.message_id = m.id)
         AND NOT EXISTS (SELECT 1 FROM dead_letters d WHERE d.handler = ${handlerParam} AND d.message_id = m.id AND d.status = 'dead')`,
      [...params, handler.name],
    );
    const missingIds = new Set(missing.map((row) => row.id));
    for (const previous of await store.readActorMessages(message.actor)) {
      if (!missingIds.has(previous.id)) continue;
      logger.info('processing an earlier message of the actor first', {
        handler: handler.name,
        actor: message.actor,
        message_id: previous.id,
        before_message_id: message.id,
        correlation_id: previous.metadata.correlation_id,
      });
      await processWithRetries(handler, streamOf(previous), toBusMessage(previous, isoNow(clock)), 0);
    }
  };

  /**
   * Processes one entry (not acked yet). Throws only when the store fails (the entry stays pending).
   * `settled`: whether the entry was found settled when its read was checked as a whole; absent, it is looked up now.
   */
  const consume = async (loop: Loop, entry: BusEntry, settled?: boolean): Promise<void> => {
    const { handler } = loop;
    if (settled ?? (await isSettled(handler, entry.message.id))) return;
    await catchUp(handler, entry.message);
    await processWithRetries(handler, entry.stream, entry.message, entry.deliveries - 1);
  };

  /**
   * Processes a batch: the entries of one actor one after another in stream order, different actors
   * concurrently, so one slow delivery (an external call, a retry's backoff) does not hold up the
   * others. The entries processed are acked together; when one failed, its entry stays pending (and the
   * later ones of its actor) and the batch rejects.
   */
  const consumeBatch = async (loop: Loop, entries: BusEntry[]): Promise<void> => {
    if (entries.length === 0) return;
    // A local handler's transaction inserts its inbox row first, so an entry settled meanwhile is still
    // a no-op and the whole read can be checked at once. An external handler's call has no such guard:
    // each entry is checked right before its turn.
    const settled = loop.handler.effect === 'local' ? await settledAmong(loop.handler, entries.map((entry) => entry.message.id)) : undefined;
    const processed: string[] = [];
    const byActor = new Map<string, BusEntry[]>();
    for (const entry of entries) {
      const queue = byActor.get(entry.message.actor);
      if (queue) queue.push(entry);
      else byActor.set(entry.message.actor, [entry]);
    }
    // While the read is worked on (a retry can wait long), its entries are kept from other consumers'
    // claimIdle, which would otherwise take them as a stopped consumer's and run them a second time.
    const kept = entries.map((entry) => entry.entryId);
    const keeping = setInterval(() => {
      bus.keepClaimed(loop.stream, loop.handler.group, loop.consumer, kept).catch(() => {
        // The bus is down: the next read fails and says so; the entries may be claimed meanwhile.
      });
    }, claimIdleMs / 3);
    const results = await Promise.allSettled(
      [...byActor.values()].map(async (queue) => {
        for (const entry of queue) {
          await consume(loop, entry, settled?.has(entry.message.id));
          processed.push(entry.entryId);
        }
      }),
    );
    clearInterval(keeping);
    if (processed.length > 0) await bus.ack(loop.stream, loop.handler.group, processed);
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  };

  /** A pause between failed rounds that `stop()` cuts short. */
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      wakers.add(wake);
    });

  /**
   * An outage of the bus fails every loop (one per handler) at every retry: one error line for them all
   * at most every LOOP_FAILURES_LOG_EVERY_MS, with how many loops fail and how many reads failed since,
   * and one line once the last of them reads again.
   */
  const outage = (() => {
    const failing = new Set<Loop>();
    const log = new Throttle(LOOP_FAILURES_LOG_EVERY_MS);
    let failingSince = Number.NEGATIVE_INFINITY;
    return {
      failed(loop: Loop, error: unknown) {
        const now = performance.now();
        if (failing.size === 0) failingSince = now;
        failing.add(loop);
        const failedReads = log.hit();
        if (failedReads === undefined) return;
        // The first line of an outage is a warning (a dropped connection mends itself within a second);
        // the next, LOOP_FAILURES_LOG_EVERY_MS later and still failing, is an error.
        const level = now - failingSince < LOOP_FAILURES_LOG_EVERY_MS ? 'warn' : 'error';
        logger[level]('consumer loops failing', { loops_failing: failing.size, failed_reads_since_last_log: failedReads, group: loop.handler.group, stream: loop.stream, consumer: loop.consumer, err: error });
      },
      recovered(loop: Loop) {
        if (!failing.delete(loop) || failing.size > 0) return;
        logger.info('consumer loops read again', { loops: loops.length });
        log.reset();
      },
    };
  })();

  const run = async (loop: Loop): Promise<void> => {
    const { handler, stream, consumer } = loop;
    let lastClaimAt = -Infinity;
    let claimedSome = false;
    let failures = 0;
    while (stopping === undefined) {
      try {
        if (!loop.ready) {
          await bus.ensureGroup(stream, handler.group);
          loop.ready = true;
        }
        let entries: BusEntry[] = [];
        // Claimed again at once while there are more: a dead consumer may have left many behind.
        if (claimedSome || performance.now() - lastClaimAt >= claimIdleMs) {
          lastClaimAt = performance.now();
          entries = await bus.claimIdle(stream, handler.group, consumer, claimIdleMs, batchSize);
          claimedSome = entries.length > 0;
        }
        if (entries.length === 0) entries = await bus.readNew(stream, handler.group, consumer, batchSize, blockMs);
        await consumeBatch(loop, entries);
        if (failures > 0) outage.recovered(loop);
        failures = 0;
      } catch (error) {
        if (error instanceof ConsumersStopping) return;
        failures += 1;
        // The group may be gone (a Redis that restarted empty): create it again before the next read.
        loop.ready = false;
        outage.failed(loop, error);
        await pause(backoffMs(failures, retry.baseMs, Math.min(retry.maxMs, LOOP_MAX_BACKOFF_MS)));
      }
    }
  };

  /** A redrive (`tookEffect` false: the call is made again) or a resolve (the call took effect: its answer is given). */
  const runAgain = async (handlerName: string, message: BusMessage, attemptNo: number, tookEffect: boolean): Promise<void> => {
    const handler = byName.get(handlerName);
    if (handler === undefined) throw new Error(`no handler named ${handlerName} is registered`);
    if (tookEffect) {
      if (handler.effect !== 'external' || handler.notRepeatable !== true || handler.answerWhenTookEffect === undefined) {
        throw new NotResolvableError(`handler ${handlerName} cannot go on without its call: redrive the dead letter instead`);
      }
      answers.set(callKey(handler, message), handler.answerWhenTookEffect);
      resolving.add(callKey(handler, message));
    }
    await catchUp(handler, message);
    // A redrive is the operator's decision that the call may be made again, also after a crash during it.
    if (handler.effect === 'external' && handler.notRepeatable === true) await store.execute(DELETE_CALL_STARTED, [handlerName, message.id]);
    // Runs in the message's trace, linked to the operator's request that asked for it.
    await inSpan(handler, streamOf(message), message, async (log) => {
      try {
        await attempt(handler, message, log);
      } catch (error) {
        await recordFailure(handler, message, attemptNo, error, log);
        log.warn(tookEffect ? 'resolve failed' : 'redrive failed', { err: error });
        // The answer an operator gave holds for this resolve only: a later redrive calls again.
        if (tookEffect) answers.delete(callKey(handler, message));
        throw error;
      } finally {
        resolving.delete(callKey(handler, message));
      }
    }, [tracing?.currentTraceparent()]);
  };

  return {
    start() {
      if (started) throw new Error('the consumers were started already');
      started = true;
      for (const loop of loops) loop.done = run(loop);
    },

    stop() {
      stopping ??= (async () => {
        for (const wake of [...wakers]) wake();
        await Promise.all(loops.map((loop) => loop.done));
      })();
      return stopping;
    },

    async drain(timeoutMs = 10_000) {
      if (!started) throw new Error('drain() needs started consumers');
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const left: string[] = [];
        for (const loop of loops) {
          if (!loop.ready) {
            left.push(`${loop.handler.group} on ${loop.stream}: no group yet`);
            continue;
          }
          const lag = await bus.lag(loop.stream, loop.handler.group);
          if (lag.undelivered + lag.pending > 0) {
            left.push(`${loop.handler.group} on ${loop.stream}: ${lag.undelivered} undelivered, ${lag.pending} pending`);
          }
        }
        if (left.length === 0) return;
        if (performance.now() > deadline) throw new Error(`the consumers did not drain within ${timeoutMs} ms: ${left.join('; ')}`);
        await sleep(DRAIN_POLL_MS);
      }
    },

    redeliver: (handlerName, message, attemptNo) => runAgain(handlerName, message, attemptNo, false),
    resolve: (handlerName, message, attemptNo) => runAgain(handlerName, message, attemptNo, true),
  };
}

/** The function of `handler` for `messageName`; a message it does not handle can never succeed. */
function functionFor<C extends HandlerContext>(handler: string, on: Record<string, MessageHandler<C>>, messageName: string): MessageHandler<C> {
  const run = on[messageName];
  if (run === undefined) throw new PoisonMessageError(`handler ${handler} does not handle ${messageName}`);
  return run;
}


function createMetrics(registry: Registry, bus: Bus, loops: readonly Loop[]) {
  new Gauge({
    name: 'consumer_lag',
    help: 'Entries of a stream not yet processed by a consumer group: undelivered plus delivered but not acked',
    labelNames: ['group', 'stream'] as const,
    registers: [registry],
    async collect() {
      // Reset so that a group whose lag cannot be read right now (bus down) shows no stale value.
      this.reset();
      await Promise.all(
        loops.map(async ({ handler, stream }) => {
          const lag = await bus.lag(stream, handler.group).catch(() => undefined);
          if (lag !== undefined) this.set({ group: handler.group, stream }, lag.undelivered + lag.pending);
        }),
      );
    },
  });
  new Gauge({
    name: 'consumer_oldest_age_seconds',
    help: 'How long the oldest entry of a stream a consumer group has not processed has waited since it was published (0: none waits)',
    labelNames: ['group', 'stream'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const now = Date.now();
      await Promise.all(
        loops.map(async ({ handler, stream }) => {
          const oldest = await bus.oldestUnacked(stream, handler.group).catch(() => undefined);
          if (oldest !== undefined) this.set({ group: handler.group, stream }, oldest === null ? 0 : Math.max(0, (now - oldest) / 1000));
        }),
      );
    },
  });
  return {
    duration: new Histogram({
      name: 'handler_duration_seconds',
      help: 'Time a message handler took per attempt',
      labelNames: ['handler'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'handler_retries_total',
      help: 'Failed handler attempts that were retried',
      labelNames: ['handler'] as const,
      registers: [registry],
    }),
    deadLetters: new Counter({
      name: 'dead_letters_total',
      help: 'Messages moved to the dead letters after their retry budget or a terminal error',
      labelNames: ['handler'] as const,
      registers: [registry],
    }),
  };
}
