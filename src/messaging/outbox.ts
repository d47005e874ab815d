import { Database } from 'bun:sqlite';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { LogCursor, LoggedMessage, Message, Store } from '../actors/ports';
import { isoNow, type Clock } from '../kernel/clock';
import { assertStillThere, ownerOnly } from '../kernel/files';
import { inSpan, spanContextOf, SpanKind } from '../kernel/tracing';
import { keysetAfter } from '../kernel/statementShapes';
import type { Logger } from '../observability/logger';
import { advanceCheckpoint, readCheckpoint } from './checkpoints';
import { Loop } from '../kernel/loop';
import { Throttle } from '../kernel/throttle';
import type { Bus, BusMessage } from './ports';
import { streamOf, toBusMessage } from './wire';

/** How much the outbox still has to publish. */
export interface OutboxStats {
  /** Messages committed but not yet published. */
  depth: number;
  /** Seconds since the oldest of them occurred (0 when there are none). */
  oldestAgeSeconds: number;
}

/**
 * Delivers committed messages to the bus (DESIGN.md "Delivery"): every committed message is published
 * to its stream (`streamOf`) at least once, each stream in commit order, and the bus's idempotent
 * publish makes a re-send harmless.
 */
export interface Outbox {
  /** Hand over committed messages (called synchronously from the runtime's afterCommit). Never throws. */
  enqueue(messages: Message[]): void;
  /** Starts publishing in the background. */
  start(): void;
  /** Stops publishing; finishes the batch in flight. The outbox cannot be started again. */
  stop(): Promise<void>;
  /** Publishes everything currently pending once (tests and shutdown use it). Rejects when publishing fails. */
  flush(): Promise<void>;
  stats(): Promise<OutboxStats>;
  /** Rejects while the outbox cannot take or read what it publishes (its readiness check, `outbox`). */
  check(): Promise<void>;
}

export interface LogRelayOptions {
  store: Store;
  bus: Bus;
  clock: Clock;
  logger?: Logger;
  /** Where the outbox metrics are registered; none when absent. */
  registry?: Registry;
  /** Messages read and published per step (default 500). */
  batchSize?: number;
  /** How long an idle loop waits before it looks again when nothing woke it (default 200 ms). */
  pollMs?: number;
  /** Longest wait before a retry after failures (default 5 000 ms). */
  maxBackoffMs?: number;
}

export interface BufferedRelayOptions extends LogRelayOptions {
  /** The local SQLite buffer file of this instance (created if missing). */
  bufferPath: string;
  /** How old a logged message must be before the reconciler publishes it (default 5 000 ms). */
  graceMs?: number;
  /** How long the idle reconciler waits before it reads the log again (default 1 000 ms). */
  reconcileMs?: number;
  /**
   * Commits are appended to the buffer together at most this often (default 10 ms): each append is one
   * fsync on the event loop, so under load many commits share one.
   */
  appendEveryMs?: number;
  /** Opens the buffer file (default: bun:sqlite); tests open it themselves to fill or break it. */
  openBuffer?: (path: string) => Database;
  /** How long the readiness check fails after an append failed (default APPEND_FAILURE_REPORT_MS). */
  appendFailureReportMs?: number;
}

/** Checkpoint of the embedded relay in the `checkpoints` table. */
export const RELAY_CHECKPOINT = 'relay';
/** Checkpoint of the distributed mode's reconciler in the `checkpoints` table. */
export const RECONCILER_CHECKPOINT = 'reconciler';

const DEFAULT_BATCH_SIZE = 500;
const DEFAULT_POLL_MS = 200;
const DEFAULT_MAX_BACKOFF_MS = 5_000;
const DEFAULT_GRACE_MS = 5_000;
const DEFAULT_RECONCILE_MS = 1_000;
const DEFAULT_APPEND_EVERY_MS = 10;
/** How many ids of messages its buffer published a buffered relay remembers for its reconciler. */
const PUBLISHED_MEMORY = 100_000;
/**
 * How long the `outbox` readiness check fails after an append to the buffer failed (disk full, I/O
 * error: smaller appends may still fit meanwhile), and how often such failures are logged.
 */
const APPEND_FAILURE_REPORT_MS = 10_000;

/**
 * EMBEDDED mode: the store's `messages` table, written in the commit transaction, is the outbox. The
 * relay tails it with `readMessages` from the `relay` checkpoint in commit order, publishes each batch
 * and then advances the checkpoint with compare-and-set (when another relay moved it first, it re-reads
 * the checkpoint and goes on from there). `enqueue` only wakes the relay, so a commit is published
 * without waiting for the next poll. A crash between publishing and advancing re-publishes a batch,
 * which the bus skips.
 */
export function createLogRelay(opts: LogRelayOptions): Outbox {
  return new LogRelay(opts);
}

/**
 * DISTRIBUTED mode: `enqueue` collects the committed messages and appends them to this instance's SQLite
 * buffer (WAL, `synchronous=FULL`) in one synchronous transaction (commits arriving within
 * `appendEveryMs` share it), then wakes the publisher, which drains the buffer in insertion order to the
 * bus. Published rows are deleted by the next append's transaction (or once the publisher is idle), so
 * one fsync covers both; after a crash the rows published but not yet deleted are sent again and the
 * bus skips them. While the bus is down the rows stay, `enqueue` keeps accepting and the publisher
 * retries with capped exponential backoff and jitter.
 *
 * The Postgres log is the record: a reconciler tails it from the `reconciler` checkpoint in commit
 * order and publishes every message older than `graceMs` that this instance's buffer has not published
 * (another instance's messages it re-sends, and the bus skips the duplicates), so messages a crash kept
 * out of the buffer, or a lost buffer file, are still delivered. It stops at the first message younger
 * than the grace period.
 *
 * Each instance's buffer is published in its own commit order. Messages of one stream committed by two
 * instances at nearly the same time may reach the stream in either order; consumers that need one
 * actor's order across instances check `actorSeq`.
 */
export function createBufferedRelay(opts: BufferedRelayOptions): Outbox {
  return new BufferedRelay(opts);
}

/**
 * The readiness check `bus`: passes while the bus answers (the shape of src/http/health.ts's
 * ReadinessCheck). It fails during a bus outage, although the buffered outbox keeps accepting commits.
 */
export function busReadiness(bus: Pick<Bus, 'ping'>): { name: string; check: () => Promise<void> } {
  return { name: 'bus', check: () => bus.ping() };
}

/** The readiness check of the outbox: what it publishes from answers (the SQLite buffer; embedded, the log). */
export function outboxReadiness(outbox: Pick<Outbox, 'check'>): { name: string; check: () => Promise<void> } {
  return { name: 'outbox', check: () => outbox.check() };
}

class LogRelay implements Outbox {
  private readonly store: Store;
  private readonly bus: Bus;
  private readonly clock: Clock;
  private readonly batchSize: number;
  private readonly metrics: OutboxMetrics;
  private readonly loop: Loop;
  /** The checkpoint as last read or written; re-read after a failure. */
  private cursor: LogCursor | undefined;

  constructor(opts: LogRelayOptions) {
    this.store = opts.store;
    this.bus = opts.bus;
    this.clock = opts.clock;
    this.batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    const logger = opts.logger ?? silentLogger;
    this.metrics = outboxMetrics(opts.registry, () => this.stats(), logger);
    this.loop = new Loop({
      step: () => this.relayBatch(),
      idleMs: opts.pollMs ?? DEFAULT_POLL_MS,
      maxBackoffMs: opts.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS,
      onError: (error, failures) => {
        this.cursor = undefined;
        this.metrics.failed('relay');
        logger.warn('outbox relay failed; retrying', { failures, err: error });
      },
    });
  }

  enqueue(_messages: Message[]): void {
    this.loop.wake();
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }

  flush(): Promise<void> {
    return this.loop.exclusive(async () => {
      while (await this.relayBatch());
    });
  }

  async check(): Promise<void> {
    await this.stats();
  }

  async stats(): Promise<OutboxStats> {
    const checkpoint = await readCheckpoint(this.store, RELAY_CHECKPOINT);
    const [row] = this.store.dialect === 'sqlite'
      ? await this.store.query<BacklogRow>(
          'SELECT COUNT(*) AS depth, MIN(occurred_at) AS oldest FROM messages WHERE position > $1',
          [checkpoint.position],
        )
      : await this.store.query<BacklogRow>(
          `SELECT COUNT(*) AS depth, MIN(occurred_at) AS oldest FROM messages
            WHERE ${keysetAfter(['tx_id', 'position'], ['$1::text::xid8', '$2'], 'asc')}`,
          [String(checkpoint.tx), checkpoint.position],
        );
    return toStats(row, this.clock);
  }

  /** Publishes one batch and advances the checkpoint; true when more may be waiting. */
  private async relayBatch(): Promise<boolean> {
    const cursor = this.cursor ?? (await readCheckpoint(this.store, RELAY_CHECKPOINT));
    this.cursor = cursor;
    const batch = await this.store.readMessages(cursor, this.batchSize);
    const last = batch.at(-1);
    if (!last) return false;
    await publishByStream(this.bus, batch, isoNow(this.clock));
    this.metrics.published('relay', batch.length);
    if (await advanceCheckpoint(this.store, RELAY_CHECKPOINT, cursor, last.cursor, isoNow(this.clock))) {
      this.cursor = last.cursor;
      return batch.length === this.batchSize;
    }
    this.cursor = await readCheckpoint(this.store, RELAY_CHECKPOINT);
    return true;
  }
}

const BUFFER_SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox_buffer (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message TEXT NOT NULL,
  occurred_at TEXT NOT NULL
);
`;

interface BufferRow {
  seq: number;
  message: string;
}

interface BacklogRow {
  depth: number;
  oldest: string | null;
}

class BufferedRelay implements Outbox {
  private readonly store: Store;
  private readonly bus: Bus;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly batchSize: number;
  private readonly graceMs: number;
  private readonly metrics: OutboxMetrics;
  private readonly db: Database;
  private readonly bufferPath: string;
  private readonly appendEveryMs: number;
  /** Appends `messages` and deletes the rows up to `published` in one transaction (one fsync). */
  private readonly append: (messages: Message[], published: number) => void;
  private readonly forget: (published: number) => void;
  /** Committed messages waiting to be appended together; see appendEveryMs. */
  private unbuffered: Message[] = [];
  private appendTimer: ReturnType<typeof setTimeout> | undefined;
  private lastAppendAt = 0;
  /** The last row handed to the bus; the publisher reads after it. */
  private publishedThrough = 0;
  /** The last row deleted; rows up to publishedThrough are deleted with the next append. */
  private deletedThrough = 0;
  private readonly publisher: Loop;
  private readonly reconciler: Loop;
  /**
   * Ids of messages the buffer has published and the reconciler has not passed yet: it skips them
   * instead of sending each message a second time. Oldest first; only a bounded number is kept, and a
   * forgotten one is merely re-sent (the bus ignores it).
   */
  private readonly publishedIds = new Set<string>();
  /** The reconciler's checkpoint as last read or written; re-read after a failure. */
  private reconciled: LogCursor | undefined;
  private stopping: Promise<void> | undefined;
  /** The last append that failed (performance.now()): the readiness check reports it for appendFailureReportMs. */
  private appendFailure: { at: number; error: unknown } | undefined;
  private readonly appendFailureReportMs: number;
  private readonly appendFailureLog = new Throttle(APPEND_FAILURE_REPORT_MS);
  /** Set by a failed append, cleared (with a log line) by the next that succeeds. */
  private appendsFailing = false;
  private readonly appendRecoveryLog = new Throttle(APPEND_FAILURE_REPORT_MS);

  constructor(opts: BufferedRelayOptions) {
    this.store = opts.store;
    this.bus = opts.bus;
    this.clock = opts.clock;
    this.logger = opts.logger ?? silentLogger;
    this.batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
    this.metrics = outboxMetrics(opts.registry, () => this.stats(), this.logger);

    // In distributed mode DATA_DIR holds only this buffer, so nothing else has created it yet.
    this.bufferPath = opts.bufferPath;
    mkdirSync(dirname(opts.bufferPath), { recursive: true });
    this.db = (opts.openBuffer ?? ((path) => new Database(path, { create: true, readwrite: true, strict: true })))(opts.bufferPath);
    ownerOnly(opts.bufferPath);
    this.db.run('PRAGMA busy_timeout = 5000');
    this.db.run('PRAGMA journal_mode = WAL');
    this.db.run('PRAGMA synchronous = FULL');
    this.db.run(BUFFER_SCHEMA);
    this.appendEveryMs = opts.appendEveryMs ?? DEFAULT_APPEND_EVERY_MS;
    this.appendFailureReportMs = opts.appendFailureReportMs ?? APPEND_FAILURE_REPORT_MS;
    const insert = this.db.query('INSERT INTO outbox_buffer (message, occurred_at) VALUES (?, ?)');
    // Rows appended meanwhile have higher seqs (AUTOINCREMENT never reuses one), so they stay.
    const remove = this.db.query('DELETE FROM outbox_buffer WHERE seq <= ?');
    this.forget = (published) => {
      remove.run(published);
      this.deletedThrough = published;
    };
    // bun:sqlite commits when the function returns, so it stays synchronous.
    const append = this.db.transaction((messages: Message[], published: number) => {
      if (published > this.deletedThrough) remove.run(published);
      for (const message of messages) insert.run(JSON.stringify(message), message.occurredAt);
    });
    this.append = (messages, published) => {
      append(messages, published);
      this.deletedThrough = Math.max(this.deletedThrough, published);
    };

    const maxBackoffMs = opts.maxBackoffMs ?? DEFAULT_MAX_BACKOFF_MS;
    this.publisher = new Loop({
      step: () => this.drainBatch(),
      idleMs: opts.pollMs ?? DEFAULT_POLL_MS,
      maxBackoffMs,
      onError: (error, failures) => {
        this.metrics.failed('buffer');
        this.logger.warn('outbox publish failed; the buffer keeps the messages and retries', { failures, err: error });
      },
    });
    this.reconciler = new Loop({
      step: () => this.reconcileBatch(),
      idleMs: opts.reconcileMs ?? DEFAULT_RECONCILE_MS,
      maxBackoffMs,
      onError: (error, failures) => {
        this.reconciled = undefined;
        this.metrics.failed('reconciler');
        this.logger.warn('outbox reconciler failed; retrying', { failures, err: error });
      },
    });
  }

  enqueue(messages: Message[]): void {
    if (messages.length === 0) return;
    // Commits close together share one buffer transaction, so one fsync (synchronous=FULL) covers many
    // commits instead of one each; the first after a quiet spell is appended on the next turn.
    this.unbuffered.push(...messages);
    if (this.appendTimer === undefined) {
      const wait = Math.max(0, this.lastAppendAt + this.appendEveryMs - performance.now());
      this.appendTimer = setTimeout(() => this.appendUnbuffered(), wait);
    }
  }

  /** Appends what `enqueue` collected to the buffer; called by the timer, and before flush and stop. */
  private appendUnbuffered(): void {
    clearTimeout(this.appendTimer);
    this.appendTimer = undefined;
    const messages = this.unbuffered;
    if (messages.length === 0) return;
    this.unbuffered = [];
    this.lastAppendAt = performance.now();
    try {
      this.append(messages, this.publishedThrough);
    } catch (error) {
      // The commits stand: the reconciler publishes these from the log once the grace period is over.
      this.appendFailure = { at: performance.now(), error };
      this.appendsFailing = true;
      const failed = this.appendFailureLog.hit();
      if (failed !== undefined) {
        this.logger.error('outbox buffer append failed; the reconciler will publish the messages, seconds later', { appends_failed_since_last_log: failed, err: error });
      }
      return;
    }
    if (this.appendsFailing) {
      this.appendsFailing = false;
      // A disk nearly full lets small appends through between failed ones: one such line per interval.
      if (this.appendRecoveryLog.hit() !== undefined) {
        this.logger.info('outbox buffer appends work again', { appends_failed_since_last_log: this.appendFailureLog.drain() });
      }
    }
    this.publisher.wake();
  }

  start(): void {
    this.publisher.start();
    this.reconciler.start();
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.appendUnbuffered();
      await Promise.all([this.publisher.stop(), this.reconciler.stop()]);
      try {
        this.forgetPublished();
      } catch (error) {
        // A full or failing disk: the next start publishes those rows again, which the bus skips.
        this.logger.warn('the outbox buffer could not forget the published messages before the stop', { err: error });
      }
      this.db.close();
    })();
    return this.stopping;
  }

  async flush(): Promise<void> {
    this.appendUnbuffered();
    await this.publisher.exclusive(async () => {
      while (await this.drainBatch());
      this.forgetPublished();
    });
    await this.reconciler.exclusive(async () => {
      while (await this.reconcileBatch());
    });
  }

  /**
   * Fails while the buffer's file is gone, and for appendFailureReportMs after an append failed: the
   * commits of that append reach the bus only through the reconciler, seconds late.
   */
  async check(): Promise<void> {
    await this.stats();
    const failure = this.appendFailure;
    if (failure !== undefined && performance.now() - failure.at < this.appendFailureReportMs) {
      const ago = Math.round((performance.now() - failure.at) / 1000);
      const reason = failure.error instanceof Error ? failure.error.message : String(failure.error);
      throw new Error(`the outbox buffer could not be written ${ago} s ago: ${reason}`, { cause: failure.error });
    }
  }

  async stats(): Promise<OutboxStats> {
    assertStillThere(this.bufferPath, 'the outbox buffer');
    this.appendUnbuffered();
    const row = this.db
      .query<BacklogRow, [number]>('SELECT COUNT(*) AS depth, MIN(occurred_at) AS oldest FROM outbox_buffer WHERE seq > ?')
      .get(this.publishedThrough);
    return toStats(row ?? undefined, this.clock);
  }

  /** Publishes the oldest unpublished rows of the buffer; true when more may be waiting. */
  private async drainBatch(): Promise<boolean> {
    const rows = this.db
      .query<BufferRow, [number, number]>('SELECT seq, message FROM outbox_buffer WHERE seq > ? ORDER BY seq LIMIT ?')
      .all(this.publishedThrough, this.batchSize);
    const last = rows.at(-1);
    if (!last) {
      // Under load each append deletes the published rows in its own transaction; once quiet, here.
      this.forgetPublished();
      return false;
    }
    const messages = rows.map((row) => JSON.parse(row.message) as Message);
    await publishByStream(this.bus, messages, isoNow(this.clock));
    for (const message of messages) this.publishedIds.add(message.id);
    for (const id of this.publishedIds) {
      if (this.publishedIds.size <= PUBLISHED_MEMORY) break;
      this.publishedIds.delete(id);
    }
    this.publishedThrough = last.seq;
    this.metrics.published('buffer', rows.length);
    return rows.length === this.batchSize;
  }

  /** Deletes the published rows that no append has deleted yet. */
  private forgetPublished(): void {
    if (this.publishedThrough > this.deletedThrough) this.forget(this.publishedThrough);
  }

  /** Publishes the next logged messages older than the grace period; true when more may be waiting. */
  private async reconcileBatch(): Promise<boolean> {
    const cursor = this.reconciled ?? (await readCheckpoint(this.store, RECONCILER_CHECKPOINT));
    this.reconciled = cursor;
    const batch = await this.store.readMessages(cursor, this.batchSize);
    const due = olderThan(batch, this.clock.now().getTime() - this.graceMs);
    const last = due.at(-1);
    if (!last) return false;
    const unpublished = due.filter((message) => !this.publishedIds.has(message.id));
    if (unpublished.length > 0) await publishByStream(this.bus, unpublished, isoNow(this.clock));
    for (const message of due) this.publishedIds.delete(message.id);
    this.metrics.published('reconciler', unpublished.length);
    if (await advanceCheckpoint(this.store, RECONCILER_CHECKPOINT, cursor, last.cursor, isoNow(this.clock))) {
      this.reconciled = last.cursor;
      return due.length === this.batchSize;
    }
    this.reconciled = await readCheckpoint(this.store, RECONCILER_CHECKPOINT);
    return true;
  }
}

/** The leading messages of `batch` that occurred at or before `horizon` (epoch ms): commit order decides. */
export function olderThan(batch: LoggedMessage[], horizon: number): LoggedMessage[] {
  const firstYoung = batch.findIndex((message) => Date.parse(message.occurredAt) > horizon);
  return firstYoung === -1 ? batch : batch.slice(0, firstYoung);
}

/**
 * Publishes each message to its stream, every stream's messages in the order given, and resolves to how
 * many the bus appended (it skips those it already holds). Streams are published concurrently; when
 * one fails the whole call fails after the others settle, and the caller re-sends all of them.
 */
export function publishByStream(bus: Bus, messages: Message[], publishedAt: string, how: 'publish' | 'republish' = 'publish'): Promise<number> {
  // One PRODUCER span per batch, linked to the sampled traces of (up to 32 of) the messages it carries;
  // a batch of unsampled traces only (a caller who asked for none) records none.
  const links = [...new Set(messages.map((m) => m.metadata.traceparent))].filter(isSampled).slice(0, 32);
  if (links.length === 0) return publishStreams(bus, messages, publishedAt, how);
  return inSpan('outbox publish', { 'messaging.batch.message_count': messages.length }, () => publishStreams(bus, messages, publishedAt, how), { kind: SpanKind.PRODUCER, links });
}

/** Whether a W3C traceparent is valid and has its sampled flag set. */
const isSampled = (traceparent: string | undefined): traceparent is string => ((spanContextOf(traceparent)?.traceFlags ?? 0) & 1) === 1;

async function publishStreams(bus: Bus, messages: Message[], publishedAt: string, how: 'publish' | 'republish'): Promise<number> {
  const byStream = new Map<string, BusMessage[]>();
  for (const message of messages) {
    const stream = streamOf(message);
    const batch = byStream.get(stream) ?? [];
    batch.push(toBusMessage(message, publishedAt));
    byStream.set(stream, batch);
  }
  const results = await Promise.allSettled([...byStream].map(([stream, batch]) => bus[how](stream, batch)));
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
  return results.reduce((sum, result) => sum + (result.status === 'fulfilled' ? result.value : 0), 0);
}

function toStats(row: BacklogRow | undefined, clock: Clock): OutboxStats {
  if (!row || row.oldest === null) return { depth: Number(row?.depth ?? 0), oldestAgeSeconds: 0 };
  const ageMs = clock.now().getTime() - Date.parse(row.oldest);
  return { depth: Number(row.depth), oldestAgeSeconds: Math.max(0, ageMs) / 1_000 };
}

type Source = 'relay' | 'buffer' | 'reconciler';

interface OutboxMetrics {
  published(source: Source, count: number): void;
  failed(source: Source): void;
}

/**
 * The outbox metrics on `registry` (none without one): depth and age are sampled from `stats()` when
 * scraped, one sample shared by both gauges.
 */
function outboxMetrics(registry: Registry | undefined, stats: () => Promise<OutboxStats>, logger: Logger): OutboxMetrics {
  if (!registry) return { published: () => {}, failed: () => {} };
  let sampling: Promise<OutboxStats | undefined> | undefined;
  const sample = () =>
    (sampling ??= stats()
      .catch((error: unknown) => {
        logger.warn('outbox stats unavailable', { err: error });
        return undefined;
      })
      .finally(() => {
        sampling = undefined;
      }));

  new Gauge({
    name: 'outbox_depth',
    help: 'Messages committed but not yet published to the bus',
    registers: [registry],
    async collect() {
      const current = await sample();
      if (current) this.set(current.depth);
    },
  });
  new Gauge({
    name: 'outbox_oldest_age_seconds',
    help: 'Age of the oldest message not yet published to the bus',
    registers: [registry],
    async collect() {
      const current = await sample();
      if (current) this.set(current.oldestAgeSeconds);
    },
  });
  const published = new Counter({
    name: 'outbox_published_total',
    help: 'Messages handed to the bus, by source (relay, buffer, reconciler); the reconciler re-sends messages the buffer already published, which the bus skips',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  const failures = new Counter({
    name: 'outbox_publish_failures_total',
    help: 'Failed outbox steps (each retried after a backoff), by source (relay, buffer, reconciler)',
    labelNames: ['source'] as const,
    registers: [registry],
  });
  return {
    published: (source, count) => published.inc({ source }, count),
    failed: (source) => failures.inc({ source }),
  };
}

const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
