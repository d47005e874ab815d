import type { SqlExecutor } from '../actors/ports';
import type { Clock } from '../kernel/clock';
import { Loop } from '../kernel/loop';
import type { Logger } from '../observability/logger';

/** How long a handler's inbox row is kept: longer than the bus remembers what it published (a day). */
export const INBOX_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

/** Rows one statement deletes: small enough to hold no lock for long, on a table in use. */
const BATCH = 1_000;
const DEFAULT_EVERY_MS = 60_000;
const BACKLOG_PAUSE_MS = 50;
const MAX_BACKOFF_MS = 60_000;

export interface RetentionOptions {
  db: SqlExecutor;
  clock: Clock;
  logger: Logger;
  /** Pause between sweeps once nothing is left to delete (default a minute). */
  everyMs?: number;
}

export interface Retention {
  start(): void;
  stop(): Promise<void>;
  /** Deletes what is due, a batch at a time, until nothing is; resolves to the rows deleted. For tests and tools. */
  sweep(): Promise<number>;
}

/**
 * Deletes the rows that are kept only for a while, so that they do not grow without bound at a steady
 * business rate: idempotency records past their `expires_at` (API.md: keys live at least 24 h; the
 * record's own expiry says when), and handlers' inbox rows older than INBOX_RETENTION_MS (a message
 * is never delivered again that late: the bus skips re-sends for a day, and the delivery audit works
 * minutes behind). The event log, the journal and the read models are the record and are kept.
 * Several instances may sweep at once: each deletes what it finds.
 */
export function createRetention({ db, clock, logger, everyMs = DEFAULT_EVERY_MS }: RetentionOptions): Retention {
  const statements = [
    {
      table: 'idempotency_keys',
      sql: `DELETE FROM idempotency_keys WHERE (scope, key) IN
              (SELECT scope, key FROM idempotency_keys WHERE expires_at < $1 LIMIT ${BATCH})`,
      before: (now: number) => new Date(now).toISOString(),
    },
    {
      table: 'inbox',
      sql: `DELETE FROM inbox WHERE (handler, message_id) IN
              (SELECT handler, message_id FROM inbox WHERE processed_at < $1 LIMIT ${BATCH})`,
      before: (now: number) => new Date(now - INBOX_RETENTION_MS).toISOString(),
    },
  ];

  /** One batch of each table; true when a table had a full batch (more may be due). */
  const step = async (): Promise<{ deleted: number; more: boolean }> => {
    const now = clock.now().getTime();
    let deleted = 0;
    let more = false;
    for (const { sql, before } of statements) {
      const count = await db.execute(sql, [before(now)]);
      deleted += count;
      if (count >= BATCH) more = true;
    }
    // A backlog (the first sweep after an upgrade) is deleted a batch at a time with a breath between,
    // so that the requests' writes (embedded mode: one SQLite writer) are not kept waiting meanwhile.
    if (more) await new Promise((resolve) => setTimeout(resolve, BACKLOG_PAUSE_MS));
    return { deleted, more };
  };

  const loop = new Loop({
    step: async () => (await step()).more,
    idleMs: everyMs,
    maxBackoffMs: MAX_BACKOFF_MS,
    onError: (error, failures) => logger.warn('retention sweep failed; retrying', { failures, err: error }),
  });

  return {
    start: () => loop.start(),
    stop: () => loop.stop(),
    sweep: () =>
      loop.exclusive(async () => {
        let total = 0;
        for (;;) {
          const { deleted, more } = await step();
          total += deleted;
          if (!more) return total;
        }
      }),
  };
}
