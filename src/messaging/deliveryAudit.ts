import { Counter, type Registry } from 'prom-client';
import { LOG_START, type LogCursor, type LoggedMessage, type Store } from '../actors/ports';
import { isoNow, type Clock } from '../kernel/clock';
import { paddedToPowerOfTwo, placeholders } from '../kernel/statementShapes';
import type { Logger } from '../observability/logger';
import { advanceCheckpoint, readCheckpoint } from './checkpoints';
import type { Handler } from './handlers';
import { Loop } from '../kernel/loop';
import { olderThan, publishByStream } from './outbox';
import type { Bus } from './ports';

export interface DeliveryAuditOptions {
  store: Store;
  bus: Bus;
  clock: Clock;
  logger: Logger;
  /** The bus handlers: which message names each one must process. */
  handlers: readonly Pick<Handler, 'name' | 'on'>[];
  registry?: Registry;
  /** How old a message must be before every handler is expected to have it (default 2 minutes). */
  graceMs?: number;
  /** How long the audit waits between passes (default 10 s). */
  everyMs?: number;
  /** Messages read per pass (default 1 000). */
  batchSize?: number;
}

export interface DeliveryAudit {
  start(): void;
  stop(): Promise<void>;
  /** One pass; resolves to how many messages the bus had lost and got again. For tests. */
  runOnce(): Promise<number>;
}

/** The audit's checkpoint in the `checkpoints` table: every message before it reached every handler. */
export const DELIVERY_AUDIT_CHECKPOINT = 'delivery-audit';

const DEFAULT_GRACE_MS = 2 * 60_000;
const DEFAULT_EVERY_MS = 10_000;
const DEFAULT_BATCH_SIZE = 1_000;
const MAX_BACKOFF_MS = 30_000;
/** Missing messages sent to the bus again at a time; see `resend`. */
const RESENT_PER_CHUNK = 100;
/** Batches a pass reads at most, past the first missing message, after a loss; see `pass`. */
const LOOKAHEAD_BATCHES = 10;
/** Message ids per inbox lookup, padded to a power of two so that a few statement shapes serve all. */
const LOOKUP_CHUNK = 256;

/**
 * DISTRIBUTED mode. Redis holds the messages in flight; when it loses them after the outbox published
 * them (a restart without persistence, a failover, a stream deleted), nothing else would send them
 * again: the outbox's reconciler has passed them, and the handlers' groups start afresh. The audit
 * tails the event log behind the handlers. Once a message is `graceMs` old, every handler subscribed to
 * it should have processed it (an inbox row) or given up on it (a dead letter). For a message that some
 * handler has neither for, it asks the bus to republish it: a stream that still holds the message (in
 * flight, or being retried) appends nothing; a stream that lost it, or trimmed it before a handler
 * added since had its group, gets it again, and the handlers that had it already skip it by their inbox. The checkpoint
 * moves past a message only once every handler has it, so a message lost while its handler was far
 * behind is still found. Instances may audit at the same time: the bus appends a message once, and the
 * checkpoint moves by compare-and-set. The audit starts at the log's head the first time it runs.
 */
export function createDeliveryAudit(opts: DeliveryAuditOptions): DeliveryAudit {
  const { store, bus, clock, logger } = opts;
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  const subscribers = new Map<string, string[]>();
  for (const handler of opts.handlers) {
    for (const name of Object.keys(handler.on)) subscribers.set(name, [...(subscribers.get(name) ?? []), handler.name]);
  }
  const recovered = new Counter({
    name: 'delivery_audit_recovered_total',
    help: 'Messages the bus did not have although a handler had not processed them (a Redis restart without persistence, a deleted stream; or not yet published by an outbox) that the delivery audit published',
    registers: opts.registry ? [opts.registry] : [],
  });

  /** Whether the checkpoint row is known to exist (it is never deleted): asked once, not every pass. */
  let started = false;
  /** The checkpoint; set to the log's head the first time, so that the audit never replays history. */
  const cursor = async (): Promise<LogCursor> => {
    if (!started) {
      const [row] = await store.query('SELECT 1 AS found FROM checkpoints WHERE name = $1', [DELIVERY_AUDIT_CHECKPOINT]);
      if (row === undefined) await advanceCheckpoint(store, DELIVERY_AUDIT_CHECKPOINT, LOG_START, await store.logHead(), isoNow(clock));
      started = true;
    }
    return readCheckpoint(store, DELIVERY_AUDIT_CHECKPOINT);
  };

  /** `handler\0messageId` of every message of `due` that its handler processed or dead-lettered. */
  const settled = async (due: readonly LoggedMessage[]): Promise<Set<string>> => {
    const idsByHandler = new Map<string, string[]>();
    for (const message of due) {
      for (const handler of subscribers.get(message.name) ?? []) idsByHandler.set(handler, [...(idsByHandler.get(handler) ?? []), message.id]);
    }
    const done = new Set<string>();
    for (const [handler, ids] of idsByHandler) {
      for (let at = 0; at < ids.length; at += LOOKUP_CHUNK) {
        const padded = paddedToPowerOfTwo(ids.slice(at, at + LOOKUP_CHUNK));
        const list = placeholders(padded.length, 2);
        const rows = await store.query<{ message_id: string }>(
          `SELECT message_id FROM inbox WHERE handler = $1 AND message_id IN (${list})
           UNION SELECT message_id FROM dead_letters WHERE handler = $1 AND message_id IN (${list})`,
          [handler, ...padded],
        );
        for (const row of rows) done.add(`${handler}\u0000${row.message_id}`);
      }
    }
    return done;
  };

  /**
   * Sends `missing` to the bus again a chunk at a time, oldest first, and on to the next chunk only while
   * the last one appended something: while a handler is merely far behind, its missing messages are still
   * on the stream, and sending them all would be a batch of payloads for Redis to find there; after a
   * loss, every chunk appends. Resolves to how many were appended, and whether every chunk appended.
   */
  const resend = async (missing: readonly LoggedMessage[]): Promise<{ appended: number; allAppended: boolean }> => {
    let appended = 0;
    for (let at = 0; at < missing.length; at += RESENT_PER_CHUNK) {
      const added = await publishByStream(bus, missing.slice(at, at + RESENT_PER_CHUNK), isoNow(clock), 'republish');
      appended += added;
      if (added === 0) return { appended, allAppended: false };
    }
    return { appended, allAppended: true };
  };

  /**
   * One pass: resolves to how many lost messages it got the bus to append again, and whether more are
   * due. The checkpoint moves past the settled messages before the first missing one. After a loss
   * (every resent chunk appended) it reads on past that message, up to LOOKAHEAD_BATCHES batches, so that
   * a lost backlog is sent again at once rather than one batch every pause.
   */
  const pass = async (): Promise<{ recovered: number; more: boolean }> => {
    const from = await cursor();
    const horizon = clock.now().getTime() - graceMs;
    let through = from;
    let readFrom = from;
    let blocked = false;
    let appended = 0;
    let more = false;
    const firstMissing: LoggedMessage[] = [];
    for (let batches = 0; batches < LOOKAHEAD_BATCHES; batches++) {
      const batch = await store.readMessages(readFrom, batchSize);
      const due = olderThan(batch, horizon);
      if (due.length === 0) break;
      const done = await settled(due);
      const missing: LoggedMessage[] = [];
      for (const message of due) {
        const waitingFor = (subscribers.get(message.name) ?? []).filter((handler) => !done.has(`${handler}\u0000${message.id}`));
        if (waitingFor.length > 0) missing.push(message);
        else if (!blocked && missing.length === 0) through = message.cursor;
      }
      blocked ||= missing.length > 0;
      firstMissing.push(...missing.slice(0, 20 - firstMissing.length));
      const sent = await resend(missing);
      appended += sent.appended;
      // Not a whole batch of due messages: the young ones, or the log's end, are next.
      if (due.length < batch.length || batch.length < batchSize) {
        more = !blocked && due.length === batch.length;
        break;
      }
      // Every message so far settled: the loop steps again at once, from the new checkpoint.
      if (!blocked) {
        more = true;
        break;
      }
      // Held at messages still on the bus, which a handler works through: looked at again after the pause.
      if (!sent.allAppended) break;
      readFrom = due.at(-1)!.cursor;
    }
    if (appended > 0) {
      recovered.inc(appended);
      logger.warn('the bus did not have messages that not every handler had processed (Redis lost them, or an outbox has not published them yet); published them', {
        messages: appended,
        message_ids: firstMissing.map((m) => m.id),
      });
    }
    if (through !== from) await advanceCheckpoint(store, DELIVERY_AUDIT_CHECKPOINT, from, through, isoNow(clock));
    return { recovered: appended, more };
  };

  const loop = new Loop({
    step: async () => (await pass()).more,
    idleMs: opts.everyMs ?? DEFAULT_EVERY_MS,
    maxBackoffMs: MAX_BACKOFF_MS,
    onError: (error, failures) => logger.warn('delivery audit failed; retrying', { failures, err: error }),
  });

  return {
    start: () => loop.start(),
    stop: () => loop.stop(),
    runOnce: () => loop.exclusive(async () => (await pass()).recovered),
  };
}
